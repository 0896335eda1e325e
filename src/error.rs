//! Errors: what a future resolves to when the job did not return a value, and why a pool could
//! not be built or could not accept a job.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::sync::Arc;

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
    /// The job panicked; the message is kept, and the payload until someone takes it.
    Panicked(PanicError),
    /// The job was submitted after the executor was shut down; it never ran.
    Shutdown,
    /// The pool can no longer run jobs, for the reason given (a worker initializer panicked, or no
    /// worker thread could be started).
    BrokenPool(String),
}

impl FutureError {
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
            FutureError::Cancelled => f.write_str("the job was cancelled before it started"),
            FutureError::Timeout => f.write_str(
                "timed out waiting for the job (the job itself was not stopped and may still finish)",
            ),
            FutureError::Panicked(p) => write!(f, "the job panicked: {}", p.message()),
            FutureError::Shutdown => {
                f.write_str("cannot run the job: the executor has been shut down")
            }
            FutureError::BrokenPool(reason) => write!(f, "the pool cannot run jobs: {reason}"),
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
            FutureError::Timeout => io::ErrorKind::TimedOut,
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

/// [`ThreadPoolBuilder::build`](crate::ThreadPoolBuilder::build) was given settings it cannot use.
///
/// # Examples
///
/// ```
/// let err = poolbridge::ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "max_workers must be greater than 0");
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
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for BuildError {}

/// Why [`ThreadPoolExecutor::try_submit`](crate::ThreadPoolExecutor::try_submit) refused a job.
/// The job is handed back by [`SubmitError::into_inner`].
///
/// # Examples
///
/// ```
/// let pool = poolbridge::ThreadPoolExecutor::new(1);
/// pool.shutdown(true, false);
/// let err = pool.try_submit(|| "not run").unwrap_err();
/// assert_eq!(err.to_string(), "cannot schedule new jobs after shutdown");
/// let job = err.into_inner();
/// assert_eq!(job(), "not run");
/// ```
pub struct SubmitError<F> {
    job: F,
    reason: FutureError,
}

impl<F> SubmitError<F> {
    pub(crate) fn new(job: F, reason: FutureError) -> SubmitError<F> {
        SubmitError { job, reason }
    }

    /// Gives the refused closure back, unrun.
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
        self.job
    }

    /// `true` if the executor had been shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// pool.shutdown(true, false);
    /// assert!(pool.try_submit(|| ()).unwrap_err().is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.reason.is_shutdown()
    }

    /// `true` if the pool is broken (a worker initializer panicked).
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
        self.reason.is_broken_pool()
    }

    /// The error the job's future would have resolved to ([`FutureError::Shutdown`] or
    /// [`FutureError::BrokenPool`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::FutureError;
    ///
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// pool.shutdown(true, false);
    /// assert_eq!(pool.try_submit(|| ()).unwrap_err().reason(), &FutureError::Shutdown);
    /// ```
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
