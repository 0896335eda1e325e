//! Errors: what a future resolves to when the job did not return a value, and why a pool could
//! not be built or could not accept a job.

use std::error::Error;
use std::fmt;
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
    /// The job was cancelled before it started: by [`PoolFuture::cancel`](crate::PoolFuture::cancel),
    /// by `shutdown(.., cancel_futures = true)`, or by dropping the [`Map`](crate::Map) or
    /// [`ExecutorFuture`](crate::ExecutorFuture) that owned it.
    Cancelled,
    /// A timed wait ran out. The job itself is not affected: it still runs (or waits to run) and
    /// its future can be waited on again.
    Timeout,
    /// The job panicked; the payload's message is kept.
    Panicked(PanicError),
    /// The job was submitted after the executor was shut down; it never ran.
    Shutdown,
    /// The pool can no longer run jobs, for the reason given (a worker initializer panicked, or no
    /// worker thread could be started).
    BrokenPool(String),
    /// The worker process running the job died (crash, abort, `exit`, killed from outside): only
    /// this job fails; the pool replaces the worker and goes on. See
    /// [`ProcessPoolExecutor`](crate::ProcessPoolExecutor).
    WorkerDied(WorkerExit),
    /// The job ran past its own time limit (`SubmitOptions::timeout` or
    /// `ProcessPoolBuilder::job_timeout`, given here): its worker was killed with its whole
    /// process group and replaced.
    JobTimeout(Duration),
    /// The job's arguments or output could not cross the process boundary (a `Serialize` or
    /// `Deserialize` impl failed, or the job is not registered in the worker); the message names
    /// the job and the side.
    Ipc(String),
}

impl FutureError {
    /// `true` for [`FutureError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, FutureError::Cancelled)
    }

    /// `true` for [`FutureError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, FutureError::Timeout)
    }

    /// `true` for [`FutureError::Panicked`].
    pub fn is_panic(&self) -> bool {
        matches!(self, FutureError::Panicked(_))
    }

    /// `true` for [`FutureError::Shutdown`].
    pub fn is_shutdown(&self) -> bool {
        matches!(self, FutureError::Shutdown)
    }

    /// `true` for [`FutureError::BrokenPool`].
    pub fn is_broken_pool(&self) -> bool {
        matches!(self, FutureError::BrokenPool(_))
    }

    /// `true` for [`FutureError::WorkerDied`].
    pub fn is_worker_died(&self) -> bool {
        matches!(self, FutureError::WorkerDied(_))
    }

    /// `true` for [`FutureError::JobTimeout`].
    pub fn is_job_timeout(&self) -> bool {
        matches!(self, FutureError::JobTimeout(_))
    }

    /// `true` for [`FutureError::Ipc`].
    pub fn is_ipc(&self) -> bool {
        matches!(self, FutureError::Ipc(_))
    }

    /// How the worker process exited, if it died running the job.
    pub fn as_worker_exit(&self) -> Option<&WorkerExit> {
        match self {
            FutureError::WorkerDied(exit) => Some(exit),
            _ => None,
        }
    }

    /// The panic, if the job panicked.
    pub fn as_panic(&self) -> Option<&PanicError> {
        match self {
            FutureError::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Cancelled => f.write_str("the job was cancelled before it started"),
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
        }
    }
}

impl Error for FutureError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FutureError::Panicked(p) => Some(p),
            _ => None,
        }
    }
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
        }
    }

    pub(crate) fn with_job(mut self, job: &str) -> Self {
        self.job = Some(job.to_owned());
        self
    }

    /// The process id the worker had.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit code, if the worker exited (`std::process::exit(3)` gives `Some(3)`).
    pub fn code(&self) -> Option<i32> {
        self.code
    }

    /// The signal that killed the worker, if one did (`SIGSEGV` is 11 on Linux).
    pub fn signal(&self) -> Option<i32> {
        self.signal
    }

    /// The signal's name (`"SIGSEGV"`, `"SIGABRT"`, `"SIGKILL"`, ...), for the usual ones.
    pub fn signal_name(&self) -> Option<&'static str> {
        self.signal.and_then(signal_name)
    }

    /// `true` if the worker dumped core.
    pub fn core_dumped(&self) -> bool {
        self.core_dumped
    }

    /// The name of the job the worker was running (`module::path::function`), if known.
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
        write!(f, "worker process {} {}", self.pid, self.status_text())?;
        if let Some(job) = &self.job {
            write!(f, " while running `{job}`")?;
        }
        Ok(())
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
/// Only the message is kept (a `&str` or `String` payload; other payloads are described as
/// such), so the error stays `Clone` and `PartialEq` like every other [`FutureError`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PanicError {
    message: String,
}

impl PanicError {
    pub(crate) fn new(message: String) -> PanicError {
        PanicError { message }
    }

    /// The panic message, as given to `panic!`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl Error for PanicError {}

/// [`ThreadPoolBuilder::build`](crate::ThreadPoolBuilder::build) was given settings it cannot use.
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
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for BuildError {}

/// Why [`ThreadPoolExecutor::try_submit`](crate::ThreadPoolExecutor::try_submit) refused a job.
/// The job is handed back by [`SubmitError::into_inner`].
pub struct SubmitError<F> {
    job: F,
    reason: FutureError,
}

impl<F> SubmitError<F> {
    pub(crate) fn new(job: F, reason: FutureError) -> SubmitError<F> {
        SubmitError { job, reason }
    }

    /// Gives the refused closure back, unrun.
    pub fn into_inner(self) -> F {
        self.job
    }

    /// `true` if the executor had been shut down.
    pub fn is_shutdown(&self) -> bool {
        self.reason.is_shutdown()
    }

    /// `true` if the pool is broken (a worker initializer panicked).
    pub fn is_broken_pool(&self) -> bool {
        self.reason.is_broken_pool()
    }

    /// The error the job's future would have resolved to ([`FutureError::Shutdown`] or
    /// [`FutureError::BrokenPool`]).
    pub fn reason(&self) -> &FutureError {
        &self.reason
    }
}

impl<F> fmt::Debug for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            FutureError::Shutdown => f.write_str("cannot schedule new jobs after shutdown"),
            other => fmt::Display::fmt(other, f),
        }
    }
}

impl<F> Error for SubmitError<F> {}
