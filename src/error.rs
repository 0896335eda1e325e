//! Errors: what a future resolves to when the job did not return a value, and why a pool could
//! not be built or could not accept a job.

use std::error::Error;
use std::fmt;

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

impl Error for FutureError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FutureError::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

/// A panic caught in a job, carried by [`FutureError::Panicked`].
///
/// Only the message is kept (a `&str` or `String` payload; other payloads are described as
/// such), so the error stays `Clone` and `PartialEq` like every other [`FutureError`].
///
/// # Examples
///
/// ```
/// use poolbridge::{FutureError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(1);
/// match pool.submit(|| -> u8 { panic!("index {} out of range", 7) }).join() {
///     Err(FutureError::Panicked(p)) => assert_eq!(p.message(), "index 7 out of range"),
///     other => unreachable!("{other:?}"),
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PanicError {
    message: String,
}

impl PanicError {
    pub(crate) fn new(message: String) -> PanicError {
        PanicError { message }
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
