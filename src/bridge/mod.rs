//! The async bridge: asyncio's `loop.run_in_executor`, `asyncio.to_thread` and
//! `asyncio.wrap_future`.
//!
//! A job's completion reaches an async task through the waker stored by the latest poll of its
//! [`ExecutorFuture`]: the worker that finishes the job takes that waker under the future's lock
//! as it marks the future settled, and wakes it after releasing the lock. A poll that races with
//! the completion either finds the future settled or leaves its waker before the completer takes
//! it (both happen under the same lock), so no wakeup is lost; `tests/loom_bridge.rs` checks it.

mod call;
mod default;

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

pub use self::call::Call;
pub use self::default::{
    DEFAULT_THREAD_NAME_PREFIX, set_default_executor, shutdown_default_executor,
};
use crate::error::FutureError;
use crate::future::PoolFuture;
use crate::pool::ThreadPoolExecutor;

/// Runs `f(args...)` on `executor` (or on the default executor if `None`) and returns a future
/// of its outcome: asyncio's `loop.run_in_executor(executor, func, *args)`.
///
/// * The job is submitted now, not at the first poll.
/// * The returned future is runtime-agnostic: it is woken through the `Waker` of its latest poll
///   exactly when the job finishes, and polling never blocks. It works under tokio (either
///   flavour), `futures::executor::block_on`, smol, or any other executor.
/// * One exception, to avoid a deadlock: polled on a worker thread of the job's own pool (an
///   executor driven inside a job, e.g. `block_on` in a job), a job that has not started runs
///   inline, as the blocking waits do; on a saturated pool nothing else could run it.
/// * Dropping it before it completes cancels the job if it has not started, and asks a running
///   job to stop ([`PoolFuture::request_cancel`]): a job that checks
///   [`cancelled()`](crate::cancelled()) returns early, one that does not finishes and its value
///   is dropped. So `tokio::time::timeout` and `select!` cancel queued work and stop
///   cooperative running work.
/// * `None` uses the process-wide default executor, built on first use with
///   `min(32, available_parallelism + 4)` lazily started threads.
///
/// `f` is any function or closure of 0 to 8 arguments, `args` the tuple of its arguments
/// (see [`Call`]).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// use poolbridge::{ThreadPoolExecutor, run_in_executor};
///
/// let text = run_in_executor(None, std::fs::read_to_string, ("Cargo.toml",)).await;
/// assert!(text.unwrap().unwrap().contains("poolbridge"));
///
/// let pool = ThreadPoolExecutor::new(2);
/// let sum = run_in_executor(Some(&pool), |a: u64, b: u64| a + b, (1, 2)).await;
/// assert_eq!(sum, Ok(3));
/// # });
/// ```
///
/// The arguments cross threads too, so they must be `Send`:
///
/// ```compile_fail
/// let cell = std::rc::Rc::new(std::cell::Cell::new(1));
/// let _ = poolbridge::run_in_executor(None, |c: std::rc::Rc<std::cell::Cell<i32>>| c.get(), (cell,));
/// ```
pub fn run_in_executor<F, A, T>(
    executor: Option<&ThreadPoolExecutor>,
    f: F,
    args: A,
) -> ExecutorFuture<T>
where
    F: Call<A, Output = T> + Send + 'static,
    A: Send + 'static,
    T: Send + 'static,
{
    let job = move || f.call(args);
    let fut = match executor {
        Some(executor) => executor.submit(job),
        None => default::submit(job),
    };
    wrap_future(fut)
}

/// Runs `f` on the default executor: asyncio's `asyncio.to_thread(func)`, the same as
/// `run_in_executor(None, f, ())`.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let n = poolbridge::to_thread(|| (1..=10u64).product::<u64>()).await;
/// assert_eq!(n, Ok(3_628_800));
/// # });
/// ```
pub fn to_thread<F, T>(f: F) -> ExecutorFuture<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    run_in_executor(None, f, ())
}

/// Turns a [`PoolFuture`] into an awaitable [`ExecutorFuture`]: asyncio's `wrap_future`. The same
/// as `future.into_future()` (or simply `future.await`).
pub fn wrap_future<T: Send + 'static>(future: PoolFuture<T>) -> ExecutorFuture<T> {
    ExecutorFuture { fut: Some(future) }
}

/// The awaitable outcome of a job: returned by [`run_in_executor`], [`to_thread`] and
/// [`wrap_future`]. `Send` and `Unpin`.
///
/// Dropping it before it completes cancels the job if the job has not started, and asks the job
/// to stop if it is running ([`PoolFuture::request_cancel`]; the job sees it through
/// [`cancelled()`](crate::cancelled())).
#[must_use = "an ExecutorFuture cancels its job if dropped before the job ends"]
pub struct ExecutorFuture<T> {
    /// The job; `None` once `poll` has returned its outcome (which also frees the job early).
    fut: Option<PoolFuture<T>>,
}

const COMPLETED: &str =
    "the ExecutorFuture already completed (its job's outcome was returned by `poll`)";

impl<T> ExecutorFuture<T> {
    /// Cancels the job if it has not started; see [`PoolFuture::cancel`]. `false` once the
    /// future has completed.
    pub fn cancel(&self) -> bool {
        self.fut.as_ref().is_some_and(PoolFuture::cancel)
    }

    /// Gives up awaiting but keeps the job: returns the plain handle, and dropping that does not
    /// cancel anything.
    ///
    /// # Panics
    ///
    /// If this future already completed: its outcome was returned by `poll` and the job's handle
    /// went with it.
    pub fn into_pool_future(mut self) -> PoolFuture<T> {
        let fut = self.fut.take().expect(COMPLETED);
        // Nobody will poll again: forget the waker.
        fut.core().clear_waker();
        fut
    }

    /// The handle of the job, to check its state or add callbacks without giving up the await.
    ///
    /// # Panics
    ///
    /// If this future already completed.
    pub fn pool_future(&self) -> &PoolFuture<T> {
        self.fut.as_ref().expect(COMPLETED)
    }
}

impl<T> Future for ExecutorFuture<T> {
    type Output = Result<T, FutureError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self
            .fut
            .as_ref()
            .expect("`ExecutorFuture` polled after completion");
        // A worker thread of the job's own pool (an executor driven inside a job) runs the job
        // itself if it has not started, rather than sleep on a pool it may be saturating.
        let _ = fut.run_inline_if_worker();
        let poll = fut.core().poll_take(cx);
        if poll.is_ready() {
            self.fut = None;
        }
        poll
    }
}

impl<T> Drop for ExecutorFuture<T> {
    /// Nobody will await the outcome: cancel the job if it is pending, ask it to stop if it runs
    /// (asyncio cancels the concurrent future; here a cooperative job stops too).
    fn drop(&mut self) {
        if let Some(fut) = &self.fut {
            fut.core().clear_waker();
            fut.request_cancel();
        }
    }
}

impl<T> fmt::Debug for ExecutorFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fut {
            Some(fut) => f.debug_tuple("ExecutorFuture").field(fut).finish(),
            None => f.write_str("ExecutorFuture(<completed>)"),
        }
    }
}

impl<T: Send + 'static> IntoFuture for PoolFuture<T> {
    type Output = Result<T, FutureError>;
    type IntoFuture = ExecutorFuture<T>;

    /// The same as [`wrap_future`]: dropping the awaitable before the job starts cancels it.
    fn into_future(self) -> ExecutorFuture<T> {
        wrap_future(self)
    }
}
