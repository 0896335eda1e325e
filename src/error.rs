//! Errors: what a future resolves to when the job did not return a value, and why a pool could
//! not be built or could not accept a job.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Why a [`PoolFuture`](crate::PoolFuture) or an [`ExecutorFuture`](crate::ExecutorFuture) has no
/// value.
///
/// Mirrors the exceptions of Python's `concurrent.futures`: `CancelledError`, `TimeoutError`, the
/// exception raised by the job, `RuntimeError('cannot schedule new futures after shutdown')` and
/// `BrokenThreadPool`.
///
/// # Examples
///
/// ```
/// use poolbridge::{FutureError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(1);
/// let err = pool.submit(|| -> u32 { panic!("no route to host") }).join().unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.to_string(), "the job panicked: no route to host");
/// if let FutureError::Panicked(p) = err {
///     assert_eq!(p.message(), "no route to host");
/// }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FutureError {
    /// The job was cancelled, in one of two ways:
    ///
    /// * before it started, so it never ran: by [`PoolFuture::cancel`](crate::PoolFuture::cancel),
    ///   by `shutdown(.., cancel_futures = true)`, or by dropping the polled
    ///   [`ExecutorFuture`](crate::ExecutorFuture), the iterated [`Map`](crate::Map) or the
    ///   [`JoinSet`](crate::JoinSet) that owned it (the future's state is `Cancelled`);
    /// * while it ran, when it was asked to stop
    ///   ([`PoolFuture::request_cancel`](crate::PoolFuture::request_cancel), or a polled
    ///   `ExecutorFuture` dropped) and returned after seeing
    ///   [`cancelled()`](crate::cancelled()): whatever it returned was dropped, so a partial
    ///   result is never taken for a whole one (the state is `Finished`).
    Cancelled,
    /// A timed wait ran out. The job itself is not affected: it still runs (or waits to run) and
    /// its future can be waited on again.
    Timeout,
    /// The job panicked; the message is kept, and the payload until someone takes it.
    Panicked(PanicError),
    /// The job was submitted after the executor was shut down; it never ran.
    Shutdown,
    /// The pool can no longer run jobs, for the [`BrokenReason`] given: a worker initializer
    /// panicked or failed, no worker thread or worker process could be started, or the remote
    /// executor's connection is gone for good. Every queued and later job fails the same way.
    BrokenPool(BrokenReason),
    /// The worker process running the job died (crash, abort, `exit`, killed from outside): only
    /// this job fails; the pool replaces the worker and goes on. See `ProcessPoolExecutor`
    /// (feature `process`).
    WorkerDied(WorkerExit),
    /// The job ran past its own time limit (`SubmitOptions::timeout` or
    /// `ProcessPoolBuilder::job_timeout`, given here): its worker was killed with its whole
    /// process group and replaced.
    JobTimeout(Duration),
    /// The executor's messages could not be exchanged: a frame or a message that breaks the
    /// protocol or cannot be read, a job registered with other argument or output types on the
    /// other side, or arguments or an output larger than a frame or the NATS server's
    /// `max_payload` (and `RemoteBuilder::large_payloads`) allow. The message says which and what
    /// to change.
    ///
    /// A job missing from the registry is [`FutureError::NotRegistered`], and arguments or an
    /// output whose `Serialize` or `Deserialize` impl failed are [`FutureError::Codec`].
    Ipc(String),
    /// The job is not registered in the process that was to run it (this program, a worker
    /// process, or a remote worker host): it was never sent, or never run. Mark the fn
    /// `#[poolbridge::job]`, or register it with `process::register` before `process::init()`,
    /// in every program that submits or runs it.
    NotRegistered {
        /// The job's name, as registered (`module::path::function`).
        job: String,
    },
    /// The job's arguments or output could not be serialized or deserialized: its `Serialize`
    /// or `Deserialize` impl failed or panicked. The [`CodecError`] names the job and the side.
    Codec(CodecError),
    /// The job could not be handed over for now, a transient condition: the NATS server did not
    /// confirm storing it in time (`RemoteBuilder::publish_timeout`, retried for half the dedup
    /// window), or could not be reached. The job may or may not have been stored (and may
    /// still run, its result then dropped): check the server, and submit it again if it must
    /// run (it may then run twice). The executor itself goes on.
    Unavailable(String),
    /// The job's deadline ([`SubmitOptions::deadline`](crate::SubmitOptions::deadline), or one
    /// inherited from the job that submitted it) passed: `started == false`, before the job
    /// started, so it never ran; `started == true`, while it ran, and it was stopped (asked
    /// through [`cancelled()`](crate::cancelled()), and on the process pool and the remote
    /// executor, killed with its worker after the grace period if it did not return).
    DeadlineExceeded {
        /// `true` if the job had started when its deadline passed.
        started: bool,
    },
}

impl FutureError {
    /// `true` for [`FutureError::DeadlineExceeded`], whether the job had started or not.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::FutureError;
    ///
    /// let err = FutureError::DeadlineExceeded { started: false };
    /// assert!(err.is_deadline_exceeded());
    /// assert_eq!(err.to_string(), "the job's deadline passed before it started; it never ran");
    /// ```
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(self, FutureError::DeadlineExceeded { .. })
    }

    /// `true` for [`FutureError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::Promise;
    ///
    /// let (_promise, fut) = Promise::<u8>::new();
    /// fut.cancel();
    /// assert!(fut.join().unwrap_err().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, FutureError::Cancelled)
    }

    /// `true` for [`FutureError::Timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::Promise;
    ///
    /// let (_promise, fut) = Promise::<u8>::new();
    /// let err = fut.result_timeout(Duration::from_millis(1)).unwrap_err();
    /// assert!(err.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, FutureError::Timeout)
    }

    /// `true` for [`FutureError::Panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// let err = pool.submit(|| -> u8 { panic!("boom") }).join().unwrap_err();
    /// assert!(err.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, FutureError::Panicked(_))
    }

    /// `true` for [`FutureError::Shutdown`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// pool.shutdown(true, false);
    /// assert!(pool.submit(|| 1).join().unwrap_err().is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self, FutureError::Shutdown)
    }

    /// `true` for [`FutureError::BrokenPool`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::builder()
    ///     .initializer(|| panic!("no database"))
    ///     .build()
    ///     .unwrap();
    /// let err = pool.submit(|| 1).join().unwrap_err();
    /// assert!(err.is_broken_pool());
    /// assert!(err.to_string().contains("no database"));
    /// ```
    pub fn is_broken_pool(&self) -> bool {
        matches!(self, FutureError::BrokenPool(_))
    }

    /// `true` for [`FutureError::WorkerDied`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "process")] {
    /// #[poolbridge::job]
    /// fn crash() {
    ///     std::process::exit(3);
    /// }
    ///
    /// poolbridge::process::init(); // first in main: a worker process serves jobs here
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// let err = pool.submit(crash, ()).join().unwrap_err();
    /// assert!(err.is_worker_died());
    /// # }
    /// ```
    pub fn is_worker_died(&self) -> bool {
        matches!(self, FutureError::WorkerDied(_))
    }

    /// `true` for [`FutureError::JobTimeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::FutureError;
    ///
    /// let err = FutureError::JobTimeout(Duration::from_secs(30));
    /// assert!(err.is_job_timeout());
    /// assert!(!err.is_timeout(), "a timed wait ran out: another error");
    /// ```
    pub fn is_job_timeout(&self) -> bool {
        matches!(self, FutureError::JobTimeout(_))
    }

    /// `true` for [`FutureError::Ipc`] only (a protocol violation, an unreadable or oversize
    /// frame or message); see also [`is_not_registered`](Self::is_not_registered) and
    /// [`is_codec`](Self::is_codec).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = poolbridge::FutureError::Ipc("worker process 42 sent an unexpected frame".into());
    /// assert!(err.is_ipc());
    /// assert!(!err.is_codec());
    /// ```
    pub fn is_ipc(&self) -> bool {
        matches!(self, FutureError::Ipc(_))
    }

    /// `true` for [`FutureError::NotRegistered`].
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::FutureError;
    ///
    /// let err = FutureError::NotRegistered { job: "app::resize".into() };
    /// assert!(err.is_not_registered());
    /// assert!(err.to_string().contains("#[poolbridge::job]"), "{err}");
    /// ```
    pub fn is_not_registered(&self) -> bool {
        matches!(self, FutureError::NotRegistered { .. })
    }

    /// `true` for [`FutureError::Codec`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "process")] {
    /// #[poolbridge::job]
    /// fn mean(xs: Vec<f64>) -> f64 {
    ///     xs.iter().sum::<f64>() / xs.len() as f64
    /// }
    ///
    /// poolbridge::process::init();
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// if let Err(err) = pool.submit(mean, (vec![1.0, 2.0],)).join() {
    ///     if err.is_codec() {
    ///         eprintln!("fix the serde impls: {err}");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn is_codec(&self) -> bool {
        matches!(self, FutureError::Codec(_))
    }

    /// The [`CodecError`], for a job whose arguments or output could not be serialized or
    /// deserialized.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "process")] {
    /// use poolbridge::CodecSide;
    ///
    /// #[poolbridge::job]
    /// fn echo(text: String) -> String {
    ///     text
    /// }
    ///
    /// poolbridge::process::init();
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// if let Err(err) = pool.submit(echo, ("hi".to_owned(),)).join() {
    ///     if let Some(codec) = err.as_codec() {
    ///         let side = if codec.side() == CodecSide::Arguments { "arguments" } else { "output" };
    ///         eprintln!("the {side} of `{}`: {}", codec.job(), codec.message());
    ///     }
    /// }
    /// # }
    /// ```
    pub fn as_codec(&self) -> Option<&CodecError> {
        match self {
            FutureError::Codec(codec) => Some(codec),
            _ => None,
        }
    }

    /// `true` for [`FutureError::Unavailable`]: a transient condition, where trying again later
    /// may succeed.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = poolbridge::FutureError::Unavailable("NATS did not confirm the job".into());
    /// assert!(err.is_unavailable());
    /// assert!(!err.is_broken_pool(), "the executor goes on");
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(self, FutureError::Unavailable(_))
    }

    /// Why the pool is broken, for [`FutureError::BrokenPool`].
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::BrokenReason;
    ///
    /// let pool = poolbridge::ThreadPoolExecutor::builder()
    ///     .initializer(|| panic!("no database"))
    ///     .build()
    ///     .unwrap();
    /// let err = pool.submit(|| 1).join().unwrap_err();
    /// match err.broken_reason() {
    ///     Some(BrokenReason::InitializerPanicked { panic, .. }) => {
    ///         assert_eq!(panic.message(), "no database");
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn broken_reason(&self) -> Option<&BrokenReason> {
        match self {
            FutureError::BrokenPool(reason) => Some(reason),
            _ => None,
        }
    }

    /// How the worker process exited, if it died running the job.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "process")] {
    /// #[poolbridge::job]
    /// fn crash() {
    ///     std::process::exit(3);
    /// }
    ///
    /// poolbridge::process::init(); // first in main: a worker process serves jobs here
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// let err = pool.submit(crash, ()).join().unwrap_err();
    /// let exit = err.as_worker_exit().unwrap();
    /// assert_eq!(exit.code(), Some(3));
    /// # }
    /// ```
    pub fn as_worker_exit(&self) -> Option<&WorkerExit> {
        match self {
            FutureError::WorkerDied(exit) => Some(exit),
            _ => None,
        }
    }

    /// The panic, if the job panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// let err = pool.submit(|| -> u8 { panic!("disk full") }).join().unwrap_err();
    /// assert_eq!(err.as_panic().map(|p| p.message()), Some("disk full"));
    /// ```
    pub fn as_panic(&self) -> Option<&PanicError> {
        match self {
            FutureError::Panicked(p) => Some(p),
            _ => None,
        }
    }

    /// The panic's payload, to re-raise it with [`std::panic::resume_unwind`]: tokio's
    /// `JoinError::into_panic`. See [`PanicError::into_panic`].
    ///
    /// # Panics
    ///
    /// If the error is not [`FutureError::Panicked`] (use [`try_into_panic`](Self::try_into_panic)).
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let err = pool.submit(|| std::panic::panic_any(7_u32)).join().unwrap_err();
    /// let payload = err.into_panic();
    /// assert_eq!(payload.downcast_ref::<u32>(), Some(&7)); // the payload itself, not a copy
    /// // std::panic::resume_unwind(payload) would re-raise the job's panic here.
    /// ```
    #[doc(alias = "resume_unwind")]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(err) => {
                panic!("`FutureError::into_panic` called on an error that is no panic: {err}")
            }
        }
    }

    /// The panic's payload if the job panicked, else the error back: tokio's
    /// `JoinError::try_into_panic`.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::FutureError;
    ///
    /// assert_eq!(FutureError::Cancelled.try_into_panic().unwrap_err(), FutureError::Cancelled);
    /// ```
    #[allow(clippy::result_large_err)]
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, FutureError> {
        match self {
            FutureError::Panicked(p) => Ok(p.into_panic()),
            other => Err(other),
        }
    }
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Cancelled => f.write_str("the job was cancelled"),
            FutureError::Timeout => f.write_str(
                "timed out waiting for the job (the job itself was not stopped and may still finish)",
            ),
            FutureError::Panicked(p) => write!(f, "the job panicked: {}", p.message()),
            FutureError::Shutdown => {
                f.write_str("cannot run the job: the executor has been shut down")
            }
            FutureError::BrokenPool(reason) => write!(f, "the pool cannot run jobs: {reason}"),
            FutureError::WorkerDied(exit) => write!(f, "the job's {exit}"),
            FutureError::JobTimeout(limit) => write!(
                f,
                "the job ran past its {limit:?} time limit; its worker process was killed with its process group"
            ),
            FutureError::Ipc(reason) => write!(f, "the job could not cross the process boundary: {reason}"),
            FutureError::NotRegistered { job } => write!(
                f,
                "job `{job}` is not registered: mark it #[poolbridge::job], or register it with \
                 poolbridge::process::register before poolbridge::process::init()"
            ),
            FutureError::Codec(codec) => write!(f, "the job could not cross the process boundary: {codec}"),
            FutureError::Unavailable(reason) => write!(f, "the job could not be handed over for now: {reason}"),
            FutureError::DeadlineExceeded { started: false } => {
                f.write_str("the job's deadline passed before it started; it never ran")
            }
            FutureError::DeadlineExceeded { started: true } => {
                f.write_str("the job's deadline passed while it ran; it was stopped")
            }
        }
    }
}

/// No `source()`: the `Display` of [`FutureError::Panicked`] already contains the panic message,
/// and an error chain (`anyhow`'s `{:#}`) would print it twice.
impl Error for FutureError {}

/// `?` on a [`FutureError`] in a function returning `std::io::Result` (tokio has the same for
/// `JoinError`). The kind is [`io::ErrorKind::TimedOut`] for [`FutureError::Timeout`] and
/// [`io::ErrorKind::Other`] otherwise; the `FutureError` itself is the inner error, so
/// `io_err.get_ref()` and `downcast` find it.
///
/// # Examples
///
/// ```
/// use std::io;
/// use poolbridge::{FutureError, ThreadPoolExecutor};
///
/// fn size(pool: &ThreadPoolExecutor) -> io::Result<u64> {
///     let len = pool.submit(|| std::fs::metadata("Cargo.toml").map(|m| m.len())).join()??;
///     Ok(len)
/// }
/// assert!(size(&ThreadPoolExecutor::new(1)).unwrap() > 0);
///
/// let err = io::Error::from(FutureError::Timeout);
/// assert_eq!(err.kind(), io::ErrorKind::TimedOut);
/// let inner = err.get_ref().unwrap().downcast_ref::<FutureError>();
/// assert_eq!(inner, Some(&FutureError::Timeout));
/// ```
impl From<FutureError> for io::Error {
    fn from(err: FutureError) -> io::Error {
        let kind = match err {
            FutureError::Timeout
            | FutureError::JobTimeout(_)
            | FutureError::DeadlineExceeded { .. } => io::ErrorKind::TimedOut,
            FutureError::Ipc(_) | FutureError::Codec(_) => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// The payload of a caught panic, held until someone takes it. Implemented in `crate::unwind`,
/// which drops an untaken payload under a guard (a payload's own `Drop` may panic).
pub(crate) trait Payload: Send + Sync {
    /// The payload, the first time; `None` afterwards.
    fn take(&self) -> Option<Box<dyn Any + Send + 'static>>;
}

/// How a worker process ended, carried by [`FutureError::WorkerDied`]: its pid, its exit code or
/// the signal that killed it, and the job it was running.
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "process")] {
/// #[poolbridge::job]
/// fn crash() {
///     std::process::abort();
/// }
///
/// poolbridge::process::init();
/// let pool = poolbridge::ProcessPoolExecutor::new(1);
/// let err = pool.submit(crash, ()).join().unwrap_err();
/// let exit = err.as_worker_exit().unwrap();
/// assert_eq!(exit.signal_name(), Some("SIGABRT"));
/// println!("{err}"); // the job's worker process 4242 was killed by signal 6 (SIGABRT) while running ...
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "process"), allow(dead_code))]
pub struct WorkerExit {
    pid: u32,
    code: Option<i32>,
    signal: Option<i32>,
    core_dumped: bool,
    job: Option<String>,
    /// The remote worker host the process ran on (`RemoteExecutor`).
    host: Option<String>,
    /// For a remote job given up after `max_deliver` deliveries: how many there were.
    attempts: Option<u32>,
}

#[cfg_attr(not(feature = "process"), allow(dead_code))]
impl WorkerExit {
    pub(crate) fn new(pid: u32, code: Option<i32>, signal: Option<i32>, core_dumped: bool) -> Self {
        WorkerExit {
            pid,
            code,
            signal,
            core_dumped,
            job: None,
            host: None,
            attempts: None,
        }
    }

    pub(crate) fn with_job(mut self, job: &str) -> Self {
        self.job = Some(job.to_owned());
        self
    }

    /// The worker process ran on remote worker host `host`.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn on_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    /// The job was given up after `attempts` deliveries whose host was lost each time.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn given_up_after(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts);
        self
    }

    /// The remote worker host the job ran on, for a job of a `RemoteExecutor` (feature
    /// `nats`): its name (`ServeOptions::name`, by default `hostname-pid`). `None` for a local
    /// process pool.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "process")] {
    /// use poolbridge::FutureError;
    ///
    /// fn where_it_crashed(err: &FutureError) -> String {
    ///     match err.as_worker_exit() {
    ///         Some(exit) => format!("pid {} on {}", exit.pid(), exit.host().unwrap_or("this machine")),
    ///         None => "it did not crash".to_owned(),
    ///     }
    /// }
    /// assert_eq!(where_it_crashed(&FutureError::Cancelled), "it did not crash");
    /// # }
    /// ```
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// For a remote job given up after its host was lost on every delivery (`max_deliver`
    /// reached): the number of deliveries. `None` otherwise (a single crash, reported at once).
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::FutureError;
    ///
    /// fn retried(err: &FutureError) -> u32 {
    ///     err.as_worker_exit().and_then(|exit| exit.attempts()).unwrap_or(1)
    /// }
    /// assert_eq!(retried(&FutureError::Cancelled), 1);
    /// ```
    pub fn attempts(&self) -> Option<u32> {
        self.attempts
    }

    /// The process id the worker had.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "process")] {
    /// #[poolbridge::job]
    /// fn crash() {
    ///     std::process::exit(3);
    /// }
    ///
    /// poolbridge::process::init(); // first in main: a worker process serves jobs here
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// let err = pool.submit(crash, ()).join().unwrap_err();
    /// let exit = err.as_worker_exit().unwrap();
    /// assert!(exit.pid() > 0);
    /// # }
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit code, if the worker exited (`std::process::exit(3)` gives `Some(3)`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "process")] {
    /// #[poolbridge::job]
    /// fn crash() {
    ///     std::process::exit(3);
    /// }
    ///
    /// poolbridge::process::init(); // first in main: a worker process serves jobs here
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// let err = pool.submit(crash, ()).join().unwrap_err();
    /// assert_eq!(err.as_worker_exit().unwrap().code(), Some(3));
    /// # }
    /// ```
    pub fn code(&self) -> Option<i32> {
        self.code
    }

    /// The signal that killed the worker, if one did (`SIGSEGV` is 11 on Linux).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "process")] {
    /// #[poolbridge::job]
    /// fn crash() {
    ///     std::process::exit(3);
    /// }
    ///
    /// poolbridge::process::init(); // first in main: a worker process serves jobs here
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// let err = pool.submit(crash, ()).join().unwrap_err();
    /// assert_eq!(err.as_worker_exit().unwrap().signal(), None); // it exited
    /// # }
    /// ```
    pub fn signal(&self) -> Option<i32> {
        self.signal
    }

    /// The signal's name (`"SIGSEGV"`, `"SIGABRT"`, `"SIGKILL"`, ...), for the usual ones.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "process")] {
    /// #[poolbridge::job]
    /// fn crash() {
    ///     std::process::exit(3);
    /// }
    ///
    /// poolbridge::process::init(); // first in main: a worker process serves jobs here
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// let err = pool.submit(crash, ()).join().unwrap_err();
    /// assert_eq!(err.as_worker_exit().unwrap().signal_name(), None); // it exited, no signal
    /// # }
    /// ```
    pub fn signal_name(&self) -> Option<&'static str> {
        self.signal.and_then(signal_name)
    }

    /// `true` if the worker dumped core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "process")] {
    /// #[poolbridge::job]
    /// fn crash() {
    ///     std::process::exit(3);
    /// }
    ///
    /// poolbridge::process::init(); // first in main: a worker process serves jobs here
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// let err = pool.submit(crash, ()).join().unwrap_err();
    /// assert!(!err.as_worker_exit().unwrap().core_dumped());
    /// # }
    /// ```
    pub fn core_dumped(&self) -> bool {
        self.core_dumped
    }

    /// The name of the job the worker was running (`module::path::function`), if known.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "process")] {
    /// #[poolbridge::job]
    /// fn crash() {
    ///     std::process::exit(3);
    /// }
    ///
    /// poolbridge::process::init(); // first in main: a worker process serves jobs here
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// let err = pool.submit(crash, ()).join().unwrap_err();
    /// assert!(err.as_worker_exit().unwrap().job().unwrap().ends_with("crash"));
    /// # }
    /// ```
    pub fn job(&self) -> Option<&str> {
        self.job.as_deref()
    }
}

#[cfg_attr(not(feature = "process"), allow(dead_code))]
impl WorkerExit {
    /// "exited with code 3", "was killed by signal 11 (SIGSEGV)".
    pub(crate) fn status_text(&self) -> String {
        match (self.signal, self.code) {
            (Some(sig), _) => {
                let detail = match (self.signal_name(), self.core_dumped) {
                    (Some(name), true) => format!(" ({name}, core dumped)"),
                    (Some(name), false) => format!(" ({name})"),
                    (None, true) => " (core dumped)".to_owned(),
                    (None, false) => String::new(),
                };
                format!("was killed by signal {sig}{detail}")
            }
            (None, Some(code)) => format!("exited with code {code}"),
            (None, None) => "ended".to_owned(),
        }
    }
}

impl fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(attempts) = self.attempts {
            f.write_str("worker host")?;
            if let Some(host) = &self.host {
                write!(f, " `{host}`")?;
            }
            if self.pid != 0 {
                write!(f, " (process {})", self.pid)?;
            }
            f.write_str(" was lost")?;
            if let Some(job) = &self.job {
                write!(f, " while running `{job}`")?;
            }
            if attempts == 1 {
                f.write_str(
                    "; the job was delivered once and its host was lost: max_deliver (1) allows \
                     no other delivery",
                )
            } else {
                write!(
                    f,
                    "; the job was delivered {attempts} times and its host was lost each time: \
                     max_deliver ({attempts}) allows no other delivery"
                )
            }
        } else {
            write!(f, "worker process {} {}", self.pid, self.status_text())?;
            if let Some(job) = &self.job {
                write!(f, " while running `{job}`")?;
            }
            if let Some(host) = &self.host {
                write!(f, " on worker host `{host}`")?;
            }
            Ok(())
        }
    }
}

/// The name of the usual signals, as `kill -l` prints them with the `SIG` prefix.
#[cfg(unix)]
fn signal_name(sig: i32) -> Option<&'static str> {
    #[cfg(feature = "process")]
    {
        const NAMES: &[(i32, &str)] = &[
            (libc::SIGHUP, "SIGHUP"),
            (libc::SIGINT, "SIGINT"),
            (libc::SIGQUIT, "SIGQUIT"),
            (libc::SIGILL, "SIGILL"),
            (libc::SIGTRAP, "SIGTRAP"),
            (libc::SIGABRT, "SIGABRT"),
            (libc::SIGBUS, "SIGBUS"),
            (libc::SIGFPE, "SIGFPE"),
            (libc::SIGKILL, "SIGKILL"),
            (libc::SIGUSR1, "SIGUSR1"),
            (libc::SIGSEGV, "SIGSEGV"),
            (libc::SIGUSR2, "SIGUSR2"),
            (libc::SIGPIPE, "SIGPIPE"),
            (libc::SIGALRM, "SIGALRM"),
            (libc::SIGTERM, "SIGTERM"),
            (libc::SIGXCPU, "SIGXCPU"),
            (libc::SIGXFSZ, "SIGXFSZ"),
            (libc::SIGSYS, "SIGSYS"),
        ];
        NAMES.iter().find(|(n, _)| *n == sig).map(|(_, name)| *name)
    }
    #[cfg(not(feature = "process"))]
    {
        let _ = sig;
        None
    }
}

#[cfg(not(unix))]
fn signal_name(_sig: i32) -> Option<&'static str> {
    None
}

/// A panic caught in a job, carried by [`FutureError::Panicked`].
///
/// Keeps the panic message, and the payload itself until someone takes it
/// ([`into_panic`](Self::into_panic), [`take_payload`](Self::take_payload)) to re-raise the panic
/// with [`std::panic::resume_unwind`]. Clones share the one payload: the first to take it gets
/// it. Equality and hashing look at the message only, so the error stays `Clone`, `PartialEq`
/// and `Hash` like every other [`FutureError`].
///
/// # Examples
///
/// ```
/// use poolbridge::{FutureError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(1);
/// let err = pool.submit(|| -> u8 { panic!("disk full") }).join().unwrap_err();
/// let FutureError::Panicked(panic) = err else { unreachable!() };
/// assert_eq!(panic.message(), "disk full");
/// let copy = panic.clone();
/// assert!(copy.take_payload().is_some());
/// assert!(panic.take_payload().is_none(), "taken once, by whichever clone asks first");
/// assert_eq!(copy, panic);
/// ```
#[derive(Clone)]
pub struct PanicError {
    message: String,
    payload: Option<Arc<dyn Payload>>,
}

impl PanicError {
    /// A panic known by its message only (no payload to re-raise): for executors that receive
    /// only the message of a panic that happened elsewhere (another process).
    #[allow(dead_code)]
    pub(crate) fn new(message: String) -> PanicError {
        PanicError {
            message,
            payload: None,
        }
    }

    pub(crate) fn with_payload(message: String, payload: Arc<dyn Payload>) -> PanicError {
        PanicError {
            message,
            payload: Some(payload),
        }
    }

    /// The panic message, as given to `panic!`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// let err = pool.submit(|| -> u8 { panic!("{}", String::from("owned")) }).join().unwrap_err();
    /// assert_eq!(err.as_panic().unwrap().message(), "owned");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Takes the panic's payload, the value given to `panic!` or `panic_any`, if no clone of this
    /// error has taken it yet.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(Debug, PartialEq)]
    /// struct Code(u16);
    ///
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// let err = pool.submit(|| -> u8 { std::panic::panic_any(Code(503)) }).join().unwrap_err();
    /// let payload = err.as_panic().unwrap().take_payload().unwrap();
    /// assert_eq!(payload.downcast_ref::<Code>(), Some(&Code(503)));
    /// assert!(err.as_panic().unwrap().take_payload().is_none(), "taken once");
    /// ```
    pub fn take_payload(&self) -> Option<Box<dyn Any + Send + 'static>> {
        self.payload.as_ref().and_then(|p| p.take())
    }

    /// The panic's payload, to re-raise the panic with [`std::panic::resume_unwind`]: tokio's
    /// `JoinError::into_panic`. If a clone took the payload first, a `String` payload holding the
    /// message stands in for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let err = pool.submit(|| -> u8 { panic!("boom") }).join().unwrap_err();
    /// let payload = err.as_panic().unwrap().clone().into_panic();
    /// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.take_payload() {
            Some(payload) => payload,
            None => Box::new(self.message),
        }
    }
}

impl PartialEq for PanicError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for PanicError {}

impl Hash for PanicError {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.message.hash(state);
    }
}

impl fmt::Debug for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicError")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl Error for PanicError {}

/// Why a pool is broken, carried by [`FutureError::BrokenPool`] (and by
/// [`SubmitError::Broken`]): every queued and later job of the pool fails with it.
///
/// `Display` gives the message, which says what went wrong and what to change.
///
/// # Examples
///
/// ```
/// use poolbridge::{BrokenReason, FutureError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::builder()
///     .initializer(|| panic!("no database"))
///     .build()
///     .unwrap();
/// let err = pool.submit(|| 1).join().unwrap_err();
/// let FutureError::BrokenPool(reason) = err else { unreachable!() };
/// assert!(matches!(reason, BrokenReason::InitializerPanicked { .. }));
/// assert_eq!(reason.to_string(), "a worker thread's initializer panicked (no database)");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BrokenReason {
    /// An initializer panicked: the thread pool's
    /// [`initializer`](crate::ThreadPoolBuilder::initializer), a state initializer
    /// ([`build_with_state`](crate::ThreadPoolBuilder::build_with_state)), or a process pool's
    /// initializer job in a worker process (feature `process`; its panic is known by its
    /// message only).
    #[non_exhaustive]
    InitializerPanicked {
        /// Which initializer, as the message names it: "a worker thread's initializer", "the
        /// state initializer of worker db_0", "the initializer `app::setup` of worker process
        /// 4242".
        initializer: String,
        /// The panic.
        panic: PanicError,
    },
    /// An initializer returned an error (a state initializer's `Err`, a process pool's
    /// initializer job that could not run): the message names it and gives the error.
    InitializerFailed(String),
    /// No thread could be started for the pool (a worker thread, a process pool's thread): the
    /// operating system's error is in the message.
    ThreadStart(String),
    /// A worker process could not be started, or never reached `process::init()` (it runs
    /// `main` instead of serving jobs, it is another program or another build, it died or hung
    /// before its handshake, or died in its initializer). Feature `process`.
    WorkerStart(String),
    /// The remote executor's connection to NATS, or the thread that runs it, is gone for good
    /// (feature `nats`). A connection lost for a while is not this: the client reconnects.
    Disconnected(String),
    /// The job's owner let go of it before it could end: a [`Promise`](crate::Promise) dropped
    /// without completing its future, a process pool dropped while its owner panicked.
    Abandoned(String),
    /// Any other reason, such as one given to [`Promise::set_error`](crate::Promise::set_error)
    /// by code that bridges another API.
    Other(String),
}

impl BrokenReason {
    /// The panic, for [`BrokenReason::InitializerPanicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::builder()
    ///     .initializer(|| panic!("bad config"))
    ///     .build()
    ///     .unwrap();
    /// let err = pool.submit(|| 1).join().unwrap_err();
    /// let panic = err.broken_reason().and_then(|r| r.as_panic()).unwrap();
    /// assert_eq!(panic.message(), "bad config");
    /// ```
    pub fn as_panic(&self) -> Option<&PanicError> {
        match self {
            BrokenReason::InitializerPanicked { panic, .. } => Some(panic),
            _ => None,
        }
    }

    /// An initializer panicked: `initializer` names it for the message.
    pub(crate) fn initializer_panicked(initializer: String, panic: PanicError) -> BrokenReason {
        BrokenReason::InitializerPanicked { initializer, panic }
    }
}

impl fmt::Display for BrokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokenReason::InitializerPanicked { initializer, panic } => {
                write!(f, "{initializer} panicked ({})", panic.message())
            }
            BrokenReason::InitializerFailed(message)
            | BrokenReason::ThreadStart(message)
            | BrokenReason::WorkerStart(message)
            | BrokenReason::Disconnected(message)
            | BrokenReason::Abandoned(message)
            | BrokenReason::Other(message) => f.write_str(message),
        }
    }
}

impl Error for BrokenReason {}

/// Which value of a job could not be serialized or deserialized, in a [`CodecError`].
///
/// # Examples
///
/// ```
/// use poolbridge::{CodecSide, FutureError};
///
/// fn blame(err: &FutureError) -> &'static str {
///     match err.as_codec().map(|c| c.side()) {
///         Some(CodecSide::Arguments) => "the arguments' serde impls",
///         Some(CodecSide::Output) => "the output's serde impls",
///         _ => "something else",
///     }
/// }
/// assert_eq!(blame(&FutureError::Cancelled), "something else");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodecSide {
    /// The job's arguments: serialized by the submitting process, deserialized by the worker.
    Arguments,
    /// The job's output: serialized by the worker, deserialized by the submitting process.
    Output,
}

/// A job's arguments or output could not be serialized or deserialized (its `Serialize` or
/// `Deserialize` impl failed or panicked), carried by [`FutureError::Codec`]: for the process
/// pool and the remote executor (features `process`, `nats`).
///
/// Values too large to send are not this but [`FutureError::Ipc`]: they could be serialized,
/// and it is the frame or the NATS server's `max_payload` that refuses them.
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "process")] {
/// use poolbridge::{CodecSide, FutureError};
///
/// #[poolbridge::job]
/// fn parse(text: String) -> Vec<u32> {
///     text.split(',').filter_map(|t| t.parse().ok()).collect()
/// }
///
/// poolbridge::process::init();
/// let pool = poolbridge::ProcessPoolExecutor::new(1);
/// match pool.submit(parse, ("1,2".to_owned(),)).join() {
///     Ok(numbers) => println!("{numbers:?}"),
///     Err(FutureError::Codec(codec)) if codec.side() == CodecSide::Output => {
///         eprintln!("`{}` returned what the parent cannot read: {}", codec.job(), codec.message())
///     }
///     Err(err) => eprintln!("{err}"),
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CodecError {
    job: String,
    side: CodecSide,
    message: String,
    /// The whole sentence, as `Display` prints it.
    text: String,
}

#[cfg_attr(not(feature = "process"), allow(dead_code))]
impl CodecError {
    /// The submitting process could not serialize the arguments of `job` (`message`: serde's
    /// error, or the panic of the `Serialize` impl).
    pub(crate) fn arguments_unencodable(job: &str, message: String) -> CodecError {
        CodecError {
            text: format!("could not serialize the arguments of job `{job}`: {message}"),
            job: job.to_owned(),
            side: CodecSide::Arguments,
            message,
        }
    }

    /// The submitting process could not deserialize the output of `job`; `what` names the job
    /// ("job", "remote job"), `hint` ends the sentence (what to check, or empty).
    pub(crate) fn output_undecodable(
        what: &str,
        job: &str,
        message: String,
        hint: &str,
    ) -> CodecError {
        CodecError {
            text: format!("could not deserialize the output of {what} `{job}`: {message}{hint}"),
            job: job.to_owned(),
            side: CodecSide::Output,
            message,
        }
    }

    /// A worker process could not deserialize the arguments or serialize the output of `job`.
    pub(crate) fn in_worker(job: &str, side: CodecSide, message: String) -> CodecError {
        let text = match side {
            CodecSide::Arguments => {
                format!("the worker could not deserialize the arguments of job `{job}`: {message}")
            }
            CodecSide::Output => {
                format!("the worker could not serialize the output of job `{job}`: {message}")
            }
        };
        CodecError {
            job: job.to_owned(),
            side,
            message,
            text,
        }
    }

    /// The job's name, as registered (`module::path::function`).
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::FutureError;
    ///
    /// fn job_of(err: &FutureError) -> Option<&str> {
    ///     err.as_codec().map(|codec| codec.job())
    /// }
    /// assert_eq!(job_of(&FutureError::Timeout), None);
    /// ```
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Which value failed: the arguments or the output.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::{CodecSide, FutureError};
    ///
    /// fn output_failed(err: &FutureError) -> bool {
    ///     err.as_codec().is_some_and(|codec| codec.side() == CodecSide::Output)
    /// }
    /// assert!(!output_failed(&FutureError::Cancelled));
    /// ```
    pub fn side(&self) -> CodecSide {
        self.side
    }

    /// The error of the `Serialize` or `Deserialize` impl (serde's message), or what its panic
    /// said.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::FutureError;
    ///
    /// fn serde_message(err: &FutureError) -> &str {
    ///     err.as_codec().map_or("", |codec| codec.message())
    /// }
    /// assert_eq!(serde_message(&FutureError::Shutdown), "");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Error for CodecError {}

/// Why an executor could not be built or connected, or why a remote worker host stopped: a
/// builder was given settings it cannot use
/// ([`ThreadPoolBuilder::build`](crate::ThreadPoolBuilder::build), `ProcessPoolBuilder::build`),
/// a `RemoteExecutor` could not connect (feature `nats`: the server is unreachable, has no
/// JetStream, or holds a stream or consumer with other settings), or `remote::serve` could not
/// start or stopped. The message says what to change.
///
/// # Examples
///
/// ```
/// let err = poolbridge::ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "max_workers must be greater than 0");
/// assert_eq!(err.message(), "max_workers must be greater than 0");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    message: String,
}

impl BuildError {
    pub(crate) fn new(message: impl Into<String>) -> BuildError {
        BuildError {
            message: message.into(),
        }
    }

    /// The message, as `Display` prints it.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = poolbridge::ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err();
    /// assert!(err.message().contains("max_workers"));
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for BuildError {}

/// Why [`ThreadPoolExecutor::try_submit`](crate::ThreadPoolExecutor::try_submit) (or
/// [`execute`](crate::ThreadPoolExecutor::execute)) refused a job. Every variant hands the job
/// back ([`into_inner`](Self::into_inner)): the closure, or, from
/// `ProcessPoolExecutor::try_submit` (feature `process`), the job's arguments.
///
/// Either the pool is closed for good ([`Shutdown`](Self::Shutdown),
/// [`Broken`](Self::Broken)), or its queue is full for now ([`Full`](Self::Full), with
/// [`max_queued`](crate::ThreadPoolBuilder::max_queued)): then trying again later may succeed.
///
/// `Debug` does not need `F: Debug` (closures are not), and leaves the job out.
///
/// # Examples
///
/// ```
/// use poolbridge::{SubmitError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(1);
/// pool.shutdown(true, false);
/// let err = pool.try_submit(|| 42).unwrap_err();
/// assert!(err.is_shutdown() && !err.is_queue_full());
/// assert_eq!(err.to_string(), "cannot schedule new jobs after shutdown");
/// match err {
///     SubmitError::Full(job) => println!("try later: {}", job()),
///     SubmitError::Shutdown(job) => assert_eq!(job(), 42),
///     SubmitError::Broken(_, reason) => eprintln!("broken: {reason}"),
///     _ => unreachable!(),
/// }
/// ```
#[non_exhaustive]
pub enum SubmitError<F> {
    /// The queue of a pool built with [`max_queued`](crate::ThreadPoolBuilder::max_queued) was
    /// full. The pool is fine; trying again later may succeed.
    Full(F),
    /// The executor had been shut down.
    Shutdown(F),
    /// The pool is broken, for the reason given (a worker initializer panicked, a worker could
    /// not be started).
    Broken(F, BrokenReason),
}

impl<F> SubmitError<F> {
    /// Refused because the pool is closed: `err` is what a submitted job's future would be
    /// ([`FutureError::Shutdown`] or [`FutureError::BrokenPool`]).
    pub(crate) fn closed(job: F, err: FutureError) -> SubmitError<F> {
        match err {
            FutureError::BrokenPool(reason) => SubmitError::Broken(job, reason),
            _ => SubmitError::Shutdown(job),
        }
    }

    /// Gives the refused closure back, unrun (from the process pool: the arguments, unsent).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// pool.shutdown(false, false);
    /// let job = pool.try_submit(|| 5).unwrap_err().into_inner();
    /// // Run it elsewhere instead.
    /// assert_eq!(std::thread::spawn(job).join().unwrap(), 5);
    /// ```
    pub fn into_inner(self) -> F {
        match self {
            SubmitError::Full(job) | SubmitError::Shutdown(job) | SubmitError::Broken(job, _) => {
                job
            }
        }
    }

    /// `true` for [`SubmitError::Shutdown`]: the executor had been shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// pool.shutdown(true, false);
    /// assert!(pool.try_submit(|| ()).unwrap_err().is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self, SubmitError::Shutdown(_))
    }

    /// `true` for [`SubmitError::Broken`]: the pool is broken (a worker initializer panicked).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::builder()
    ///     .initializer(|| panic!("bad config"))
    ///     .build()
    ///     .unwrap();
    /// // The first job starts the first thread, whose initializer breaks the pool.
    /// assert!(pool.submit(|| ()).join().unwrap_err().is_broken_pool());
    /// assert!(pool.try_submit(|| ()).unwrap_err().is_broken_pool());
    /// ```
    pub fn is_broken_pool(&self) -> bool {
        matches!(self, SubmitError::Broken(..))
    }

    /// `true` for [`SubmitError::Full`]: [`max_queued`](crate::ThreadPoolBuilder::max_queued)
    /// jobs were waiting for a worker. The pool is fine; trying again later may succeed, and
    /// [`submit`](crate::ThreadPoolExecutor::submit) or
    /// [`submit_async`](crate::ThreadPoolExecutor::submit_async) would wait for room instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::builder().max_workers(1).max_queued(1).build().unwrap();
    /// let (release, held) = mpsc::channel::<()>();
    /// let running = pool.submit(move || held.recv().unwrap());
    /// while !running.running() {
    ///     std::thread::yield_now();
    /// }
    /// let _queued = pool.submit(|| ()); // fills the queue
    /// let refused = pool.try_submit(|| ()).unwrap_err();
    /// assert!(refused.is_queue_full());
    /// release.send(()).unwrap();
    /// ```
    pub fn is_queue_full(&self) -> bool {
        matches!(self, SubmitError::Full(_))
    }

    /// Why the pool is broken, for [`SubmitError::Broken`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::builder()
    ///     .initializer(|| panic!("bad config"))
    ///     .build()
    ///     .unwrap();
    /// let _ = pool.submit(|| ()).join(); // breaks the pool
    /// let refused = pool.try_submit(|| ()).unwrap_err();
    /// assert!(refused.broken_reason().unwrap().to_string().contains("bad config"));
    /// ```
    pub fn broken_reason(&self) -> Option<&BrokenReason> {
        match self {
            SubmitError::Broken(_, reason) => Some(reason),
            _ => None,
        }
    }
}

impl<F> fmt::Debug for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Full(_) => f.write_str("SubmitError::Full(..)"),
            SubmitError::Shutdown(_) => f.write_str("SubmitError::Shutdown(..)"),
            SubmitError::Broken(_, reason) => write!(f, "SubmitError::Broken(.., {reason:?})"),
        }
    }
}

impl<F> fmt::Display for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Full(_) => f.write_str(
                "the queue is full: max_queued jobs are waiting for a worker (try again later)",
            ),
            SubmitError::Shutdown(_) => f.write_str("cannot schedule new jobs after shutdown"),
            SubmitError::Broken(_, reason) => {
                fmt::Display::fmt(&FutureError::BrokenPool(reason.clone()), f)
            }
        }
    }
}

impl<F> Error for SubmitError<F> {}
