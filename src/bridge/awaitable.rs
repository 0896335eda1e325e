//! [`ExecutorFuture`] and [`JoinHandle`], a job awaited from async code, and the functions that
//! return them: [`run_in_executor`], [`to_thread`], [`spawn_blocking`], [`wrap_future`]. Both
//! types are thin wrappers of the one [`Handle`] (`handle.rs`), which differ in their drop policy.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::bridge::call::Call;
use crate::bridge::default;
use crate::bridge::handle::{CancelIfPolled, Detach, Handle};
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
///   executor driven inside a job, e.g. `block_on` in a job) while no other worker of that pool
///   is idle and the pool is at `max_workers`, a job that has not started runs inline: nothing
///   else could run it. Otherwise it is left to the other workers, so the executor driven on
///   this thread keeps running its other tasks.
/// * Dropped without ever being polled, it lets the job run (asyncio's
///   `loop.run_in_executor(None, f)` as a statement, tokio's dropped `JoinHandle`): so
///   `run_in_executor(None, f, ());` and `let _ = ...` run `f`. Dropped after a poll and before
///   it completes, it cancels the job if it has not started and asks a running job to stop
///   ([`PoolFuture::request_cancel`]): a job that checks [`cancelled()`](crate::cancelled())
///   returns early, one that does not finishes and its value is dropped. So
///   `tokio::time::timeout` and a lost `select!` branch (both poll first) cancel queued work and
///   stop cooperative running work. See [`ExecutorFuture`] for the rule.
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
/// The job is submitted now and runs whether or not the future is awaited: a bare
/// `to_thread(f);` statement (or `let _ = to_thread(f);`) runs `f`, as `asyncio.to_thread`
/// scheduled on the default executor and tokio's `spawn_blocking(f);` do. Only a future that was
/// polled (awaited under `tokio::time::timeout`, a `select!` branch) and then dropped before it
/// completes cancels its job; see [`ExecutorFuture`]. At the end of `main`, the jobs still
/// running or queued die with the process unless `main` waits for them:
/// [`#[poolbridge::main]`](crate::main) or [`exit_guard`](crate::exit_guard).
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

/// Runs `f` on the default executor and returns a handle that detaches on drop: the shape of
/// tokio's `spawn_blocking`, so code written for it switches by its `use` line (and
/// [`#[poolbridge::main]`](crate::main) on `main`, below).
///
/// * The job is submitted now and runs whether or not the handle is awaited or kept: dropping
///   the [`JoinHandle`] detaches it, polled or not (tokio's semantics; an [`ExecutorFuture`]
///   from [`to_thread`] cancels its job when dropped after a poll).
/// * `.await` gives `Result<T, FutureError>`; `?` turns the error into `std::io::Error` in
///   functions returning `io::Result` (as for tokio's `JoinError`).
/// * [`JoinHandle::cancel`] (tokio's `abort`) cancels the job if it has not started; a running
///   job is never interrupted.
///
/// Unlike tokio's, it needs no runtime: it works from sync code, under any async runtime, and
/// inside pool jobs. The default executor has `min(32, cpus + 4)` threads where tokio's blocking
/// pool has 512: for many long-blocking jobs, install a larger one with
/// [`set_default_executor`](crate::set_default_executor).
///
/// The default executor outlives any runtime: put [`#[poolbridge::main]`](crate::main) above
/// `#[tokio::main]` (or hold an [`exit_guard`](crate::exit_guard)) so that `main` waits for the
/// jobs still running or queued when it ends, as tokio's runtime waits for its blocking tasks
/// when it shuts down. Without it they die with the process.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use poolbridge::spawn_blocking;
///
/// # futures::executor::block_on(async {
/// let hash = spawn_blocking(|| (1..=20u64).product::<u64>()).await;
/// assert_eq!(hash, Ok(2_432_902_008_176_640_000));
///
/// // Fire and forget: the handle is dropped, the job still runs.
/// let ran = Arc::new(AtomicUsize::new(0));
/// for _ in 0..20 {
///     let ran = Arc::clone(&ran);
///     spawn_blocking(move || ran.fetch_add(1, Ordering::SeqCst)); // ORDERING: a counter
/// }
/// # while ran.load(Ordering::SeqCst) < 20 { std::thread::yield_now(); } // ORDERING: as above
/// # });
/// ```
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    JoinHandle::new(default::submit(f))
}

impl ThreadPoolExecutor {
    /// Submits `f` and returns a handle that detaches on drop: [`spawn_blocking`] on this pool
    /// (tokio's `Handle::spawn_blocking`). The same as `wrap_future(pool.submit(f)).detach()`.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = poolbridge::ThreadPoolExecutor::new(2);
    /// let handle = pool.spawn_blocking(|| "done");
    /// assert_eq!(handle.await, Ok("done"));
    /// # });
    /// ```
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        JoinHandle::new(self.submit(f))
    }
}

/// Turns a [`PoolFuture`] into an awaitable [`ExecutorFuture`]: asyncio's `wrap_future`. The same
/// as `future.into_future()` (or simply `future.await`).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// use poolbridge::{ThreadPoolExecutor, wrap_future};
///
/// let pool = ThreadPoolExecutor::new(1);
/// assert_eq!(wrap_future(pool.submit(|| 6 * 7)).await, Ok(42));
/// # });
/// ```
pub fn wrap_future<T: Send + 'static>(future: PoolFuture<T>) -> ExecutorFuture<T> {
    ExecutorFuture(Handle::new(Some(future)))
}

/// The awaitable outcome of a job: returned by [`run_in_executor`], [`to_thread`] and
/// [`wrap_future`]. `Send` and `Unpin`.
///
/// The job was submitted when the future was made, and what a drop does depends on whether the
/// future was ever polled:
///
/// * **Never polled** (`to_thread(f);`, `let _ = to_thread(f);`, a `Vec` of futures dropped
///   unawaited): the drop lets the job run, as a dropped tokio `JoinHandle` does and as asyncio
///   runs an executor job whether or not it is awaited. Its value is dropped when it ends.
/// * **Polled, then dropped before it completes** (`tokio::time::timeout` ran out, a `select!`
///   took another branch, a task awaiting it was aborted): the drop cancels the job if it has
///   not started, and asks it to stop if it is running ([`PoolFuture::request_cancel`]; the job
///   sees it through [`cancelled()`](crate::cancelled())). This is asyncio's cancellation of an
///   awaited `run_in_executor` future.
///
/// [`cancel`](Self::cancel) cancels explicitly, polled or not; [`detach`](Self::detach) keeps
/// the job running after a poll. One corner of `select!`: a branch that was never polled
/// because another branch was ready at its very first poll counts as never polled, so its job
/// runs; call [`cancel`](Self::cancel) in that arm if it must not.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
/// use std::time::Duration;
/// use poolbridge::{ThreadPoolExecutor, run_in_executor};
///
/// let pool = ThreadPoolExecutor::new(1);
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let busy = pool.submit(move || rx.recv()); // holds the only worker
/// let (timed_out, dropped) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
/// let ran = Arc::clone(&timed_out);
/// // ORDERING: SeqCst flags, read after the pool has shut down.
/// let slow = run_in_executor(Some(&pool), move || ran.store(true, SeqCst), ());
/// // Polled by `timeout`, then dropped at the deadline: the queued job is cancelled.
/// assert!(tokio::time::timeout(Duration::from_millis(10), slow).await.is_err());
/// let ran = Arc::clone(&dropped);
/// // Never polled: the job runs although the future is gone.
/// let _ = run_in_executor(Some(&pool), move || ran.store(true, SeqCst), ());
/// tx.send(()).unwrap();
/// pool.shutdown(true, false);
/// assert!(!timed_out.load(SeqCst) && dropped.load(SeqCst));
/// # let _ = busy;
/// # });
/// ```
///
/// # How an await waits
///
/// A poll that finds the job not ended yet stores the task's waker, so the job's end wakes the
/// task, as the [`Future`] contract asks. For a short while after the first such poll, it also
/// wakes the task itself: the runtime polls it again once its other ready tasks have run, and a
/// short job's outcome is taken at one of those polls, without the wake-up of a sleeping
/// runtime thread (tens of microseconds on a VM whose idle vCPUs halt, and the whole tail of a
/// request/response sequence). Each poll still returns at once; the thread is never blocked.
/// How long it looks follows the polling thread's recent waits on jobs, as a blocking
/// [`join`](PoolFuture::join) does: 8 × their average while that is at most 100 µs (at least
/// 5 µs, at most 100 µs), 5 µs once they are long. One job per thread is looked at at a time,
/// and a thread that polls other jobs meanwhile (a busy runtime, whose other tasks the
/// self-wake would delay) stops looking for 1 ms. Never on a single core, and never on a worker
/// thread of a pool. [`JoinHandle`] awaits the same way.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// use poolbridge::to_thread;
///
/// let fut = to_thread(|| 1 + 1);
/// assert_eq!(fut.await, Ok(2));
/// to_thread(|| println!("runs although nobody awaits it"));
/// # });
/// ```
pub struct ExecutorFuture<T>(Handle<T, CancelIfPolled>);

const COMPLETED: &str =
    "the ExecutorFuture already completed (its job's outcome was returned by `poll`)";

impl<T> ExecutorFuture<T> {
    /// Cancels the job if it has not started; see [`PoolFuture::cancel`]. `false` once the
    /// future has completed. tokio's `JoinHandle::abort`.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::{FutureError, ThreadPoolExecutor, run_in_executor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let busy = pool.submit(move || rx.recv()); // holds the only worker
    /// let queued = run_in_executor(Some(&pool), || "never runs", ());
    /// assert!(queued.cancel());
    /// # tx.send(()).unwrap(); busy.wait();
    /// # futures::executor::block_on(async {
    /// assert_eq!(queued.await, Err(FutureError::Cancelled));
    /// # });
    /// ```
    #[doc(alias = "abort")]
    pub fn cancel(&self) -> bool {
        self.0.cancel()
    }

    /// `true` once the job has ended (finished or cancelled), or once this future has returned
    /// its outcome: `.await` then no longer waits for the job (at most for done callbacks added
    /// to it that are still running). Never blocks and never panics (unlike
    /// [`pool_future`](Self::pool_future) after completion). tokio's `JoinHandle::is_finished`.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut fut = poolbridge::to_thread(|| 5);
    /// while !fut.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!((&mut fut).await, Ok(5));
    /// assert!(fut.is_finished(), "still true after the outcome was taken");
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Lets the job run on without this future: returns a [`JoinHandle`], which can still be
    /// awaited but detaches when dropped, even after a poll. (An `ExecutorFuture` that was never
    /// polled already lets its job run when dropped; `detach` says so explicitly, and keeps the
    /// job alive after a `select!` or a `timeout` has polled it.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use poolbridge::to_thread;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// to_thread(move || tx.send("ran").unwrap()).detach();
    /// assert_eq!(rx.recv(), Ok("ran"));
    /// ```
    #[doc(alias = "spawn_blocking")]
    pub fn detach(mut self) -> JoinHandle<T> {
        JoinHandle(Handle::new(self.0.take()))
    }

    /// Gives up awaiting but keeps the job: returns the plain handle, and dropping that does not
    /// cancel anything.
    ///
    /// # Panics
    ///
    /// If this future already completed: its outcome was returned by `poll` and the job's handle
    /// went with it.
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = poolbridge::to_thread(|| 3).into_pool_future();
    /// assert_eq!(handle.join(), Ok(3));
    /// ```
    pub fn into_pool_future(mut self) -> PoolFuture<T> {
        // Nobody will poll again: the waker is forgotten.
        self.0.give_up().expect(COMPLETED)
    }

    /// The handle of the job, to check its state or add callbacks without giving up the await.
    ///
    /// # Panics
    ///
    /// If this future already completed (a `select!` on `&mut fut` that took its outcome, for
    /// instance). [`is_finished`](Self::is_finished) never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let fut = poolbridge::to_thread(|| 3);
    /// fut.pool_future().add_done_callback(|f| assert!(f.done()));
    /// # drop(fut);
    /// ```
    pub fn pool_future(&self) -> &PoolFuture<T> {
        self.0.pool_future().expect(COMPLETED)
    }
}

impl<T> Future for ExecutorFuture<T> {
    type Output = Result<T, FutureError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// A job's handle that detaches on drop: tokio's `JoinHandle`. Returned by [`spawn_blocking`],
/// [`ThreadPoolExecutor::spawn_blocking`] and [`ExecutorFuture::detach`]. `Send` and `Unpin`.
///
/// Await it for the job's outcome, [`cancel`](Self::cancel) it (tokio's `abort`) while the job
/// has not started, or drop it: the job runs on regardless, and its value is dropped when it
/// ends. An await waits as [`ExecutorFuture`]'s does ("How an await waits").
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// use std::io;
/// use poolbridge::spawn_blocking;
///
/// async fn read_config() -> io::Result<String> {
///     // `?` twice: the pool's `FutureError`, then the job's own `io::Error`.
///     let text = spawn_blocking(|| std::fs::read_to_string("Cargo.toml")).await??;
///     Ok(text)
/// }
/// assert!(read_config().await.unwrap().contains("[package]"));
/// # });
/// ```
pub struct JoinHandle<T>(Handle<T, Detach>);

impl<T> JoinHandle<T> {
    fn new(fut: PoolFuture<T>) -> JoinHandle<T> {
        JoinHandle(Handle::new(Some(fut)))
    }

    /// Cancels the job if it has not started (tokio's `abort`); see [`PoolFuture::cancel`].
    /// Awaiting the handle then gives `Err(FutureError::Cancelled)`. A running job is never
    /// interrupted: it finishes and the handle gives its outcome. `false` once the job has
    /// started, or the handle has returned its outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let busy = pool.spawn_blocking(move || rx.recv()); // holds the only worker
    /// let queued = pool.spawn_blocking(|| "never runs");
    /// assert!(queued.cancel());
    /// # tx.send(()).unwrap();
    /// # futures::executor::block_on(async {
    /// assert!(queued.await.unwrap_err().is_cancelled());
    /// assert!(busy.await.is_ok());
    /// # });
    /// ```
    #[doc(alias = "abort")]
    pub fn cancel(&self) -> bool {
        self.0.cancel()
    }

    /// `true` once the job has ended (finished or cancelled), or once this handle has returned
    /// its outcome. Never blocks, never panics: tokio's `JoinHandle::is_finished`.
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = poolbridge::spawn_blocking(|| 1);
    /// while !handle.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// ```
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// The plain [`PoolFuture`] of the job (to `join` it from sync code, or to add it to
    /// `wait`/`as_completed`); `None` if this handle already returned the outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = poolbridge::spawn_blocking(|| 2 + 2);
    /// assert_eq!(handle.into_pool_future().unwrap().join(), Ok(4));
    /// ```
    pub fn into_pool_future(mut self) -> Option<PoolFuture<T>> {
        self.0.give_up()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, FutureError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<T> fmt::Debug for ExecutorFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<T: Send + 'static> IntoFuture for PoolFuture<T> {
    type Output = Result<T, FutureError>;
    type IntoFuture = ExecutorFuture<T>;

    /// The same as [`wrap_future`]: dropping the awaitable after a poll and before the job
    /// starts cancels it (so `timeout(d, pool.submit(f))` cancels a queued job).
    fn into_future(self) -> ExecutorFuture<T> {
        wrap_future(self)
    }
}
