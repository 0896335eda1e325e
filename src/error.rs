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
///
/// Either the pool is closed for good ([`is_shutdown`](Self::is_shutdown),
/// [`is_broken_pool`](Self::is_broken_pool)), or its queue is full for now
/// ([`is_queue_full`](Self::is_queue_full), with
/// [`max_queued`](crate::ThreadPoolBuilder::max_queued)): then trying again later may succeed.
///
/// # Examples
///
/// ```
/// use poolbridge::{FutureError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(1);
/// pool.shutdown(true, false);
/// let err = pool.try_submit(|| 42).unwrap_err();
/// assert!(err.is_shutdown() && !err.is_queue_full());
/// assert_eq!(err.reason(), &FutureError::Shutdown);
/// assert_eq!(err.to_string(), "cannot schedule new jobs after shutdown");
/// assert_eq!(err.into_inner()(), 42);
/// ```
pub struct SubmitError<F> {
    job: F,
    reason: FutureError,
    /// Refused because the queue was full, not because the pool is closed.
    queue_full: bool,
}

impl<F> SubmitError<F> {
    pub(crate) fn new(job: F, reason: FutureError) -> SubmitError<F> {
        SubmitError {
            job,
            reason,
            queue_full: false,
        }
    }

    /// The queue of a pool with `max_queued` was full.
    pub(crate) fn queue_full(job: F) -> SubmitError<F> {
        SubmitError {
            job,
            // What the job's future would be if the caller gave up on it: not run, by choice.
            reason: FutureError::Cancelled,
            queue_full: true,
        }
    }

    /// Gives the refused closure back, unrun.
    pub fn into_inner(self) -> F {
        self.job
    }

    /// `true` if the executor had been shut down.
    pub fn is_shutdown(&self) -> bool {
        !self.queue_full && self.reason.is_shutdown()
    }

    /// `true` if the pool is broken (a worker initializer panicked).
    pub fn is_broken_pool(&self) -> bool {
        !self.queue_full && self.reason.is_broken_pool()
    }

    /// `true` if the pool's queue was full: [`max_queued`](crate::ThreadPoolBuilder::max_queued)
    /// jobs were waiting for a worker. The pool is fine; trying again later may succeed, and
    /// [`submit`](crate::ThreadPoolExecutor::submit) or
    /// [`submit_async`](crate::ThreadPoolExecutor::submit_async) would wait for room instead.
    pub fn is_queue_full(&self) -> bool {
        self.queue_full
    }

    /// The error the job's future would have resolved to ([`FutureError::Shutdown`] or
    /// [`FutureError::BrokenPool`]). For a full queue, where no future would have failed, it is
    /// [`FutureError::Cancelled`]: the job was not run, and will not be unless it is submitted
    /// again; check [`is_queue_full`](Self::is_queue_full) first.
    pub fn reason(&self) -> &FutureError {
        &self.reason
    }
}

impl<F> fmt::Debug for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SubmitError");
        if self.queue_full {
            d.field("queue_full", &true);
        } else {
            d.field("reason", &self.reason);
        }
        d.finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SubmitError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            _ if self.queue_full => f.write_str(
                "the queue is full: max_queued jobs are waiting for a worker (try again later)",
            ),
            FutureError::Shutdown => f.write_str("cannot schedule new jobs after shutdown"),
            other => fmt::Display::fmt(other, f),
        }
    }
}

impl<F> Error for SubmitError<F> {}
