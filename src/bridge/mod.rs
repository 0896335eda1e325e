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
use crate::pool::worker;

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
/// * Dropping it before it completes cancels the job if it has not started; a running job
///   finishes and its value is dropped. So `tokio::time::timeout` and `select!` cancel queued work.
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
    ExecutorFuture {
        fut: future,
        completed: false,
    }
}

/// The awaitable outcome of a job: returned by [`run_in_executor`], [`to_thread`] and
/// [`wrap_future`]. `Send` and `Unpin`.
///
/// Dropping it before it completes cancels the job if the job has not started.
#[must_use = "an ExecutorFuture cancels its job if dropped before the job starts"]
pub struct ExecutorFuture<T> {
    fut: PoolFuture<T>,
    /// The outcome was returned by `poll`.
    completed: bool,
}

impl<T> ExecutorFuture<T> {
    /// Cancels the job if it has not started; see [`PoolFuture::cancel`].
    pub fn cancel(&self) -> bool {
        self.fut.cancel()
    }

    /// Gives up awaiting but keeps the job: returns the plain handle, and dropping that does not
    /// cancel anything.
    ///
    /// # Panics
    ///
    /// Calling a value-reading method of the returned handle panics if this future had already
    /// completed (its value was moved out by `poll`).
    pub fn into_pool_future(mut self) -> PoolFuture<T> {
        // Nobody will poll again: forget the waker, and disarm the cancel-on-drop.
        self.fut.core().clear_waker();
        self.completed = true;
        self.fut.share()
    }

    /// The handle of the job, to check its state or add callbacks without giving up the await.
    pub fn pool_future(&self) -> &PoolFuture<T> {
        &self.fut
    }
}

impl<T> Future for ExecutorFuture<T> {
    type Output = Result<T, FutureError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.completed, "`ExecutorFuture` polled after completion");
        // A worker thread of the job's own pool (an executor driven inside a job) runs the job
        // itself if it has not started, rather than sleep on a pool it may be saturating.
        if worker::current(self.fut.core().pool()).is_some() {
            let _ = self.fut.try_run_inline();
        }
        let poll = self.fut.core().poll_take(cx);
        if poll.is_ready() {
            self.completed = true;
        }
        poll
    }
}

impl<T> Drop for ExecutorFuture<T> {
    fn drop(&mut self) {
        if !self.completed {
            self.fut.core().clear_waker();
            self.fut.cancel();
        }
    }
}

impl<T> fmt::Debug for ExecutorFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorFuture")
            .field("future", &self.fut)
            .field("completed", &self.completed)
            .finish()
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
