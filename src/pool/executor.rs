//! [`ThreadPoolExecutor`], the handle of a thread pool: submits, maps, shutdown, metrics. Built
//! by `builder.rs` (which also holds `new`, `builder` and `Default`: the builder names this
//! file, never the reverse).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::SubmitError;
use crate::future::PoolFuture;
use crate::map::{Map, MapOptions};
use crate::options::SubmitOptions;
use crate::pool::metrics::PoolMetrics;
use crate::pool::registry::Registry;

/// A pool of worker threads that runs submitted closures and hands out [`PoolFuture`]s:
/// Python's `concurrent.futures.ThreadPoolExecutor`.
///
/// * Threads start lazily: a submit starts a thread only when no idle worker can take the job
///   and fewer than `max_workers` threads exist. A pool that was never used owns no thread.
///   A submit never waits for a worker to take its job: the first submit of a burst starts one
///   thread before it returns, and each worker that takes a job while more are queued wakes or
///   starts the next, so a burst of `n` jobs has `min(n, max_workers)` threads within
///   milliseconds (of the order of a thread start per worker), not by the time `submit` returns.
/// * Jobs submitted from outside go to a shared injector queue; jobs submitted from a worker go
///   to that worker's own deque; idle workers steal. Idle workers park (an idle pool uses no
///   CPU) and exit after the keep-alive.
/// * A panicking job does not take its worker down: its future resolves to
///   [`FutureError::Panicked`](crate::FutureError::Panicked).
/// * Dropping the executor is `shutdown(wait = true, cancel_futures = false)`: like leaving a
///   Python `with ThreadPoolExecutor() as pool:` block, it waits for the queued jobs.
///
/// # Examples
///
/// ```
/// use poolbridge::{ThreadPoolExecutor, as_completed};
///
/// let pool = ThreadPoolExecutor::new(4);
/// let futures: Vec<_> = (1..=4u64).map(|n| pool.submit(move || n * n)).collect();
/// let mut squares: Vec<u64> = as_completed(futures).map(|f| f.join().unwrap()).collect();
/// squares.sort();
/// assert_eq!(squares, [1, 4, 9, 16]);
/// ```
pub struct ThreadPoolExecutor {
    registry: Arc<Registry>,
    /// `false` once the registry was handed to the default executor, which shuts it down itself.
    shutdown_on_drop: bool,
}

impl ThreadPoolExecutor {
    /// The id of its pool (`Registry::id`): what a worker's state is tagged with.
    pub(crate) fn pool_id(&self) -> u32 {
        self.registry.id()
    }

    pub(crate) fn from_registry(registry: Arc<Registry>) -> ThreadPoolExecutor {
        ThreadPoolExecutor {
            registry,
            shutdown_on_drop: true,
        }
    }

    /// A handle that does not own the pool: dropping it does not shut the pool down (the
    /// handle of `default_executor`).
    pub(crate) fn handle(registry: Arc<Registry>) -> ThreadPoolExecutor {
        ThreadPoolExecutor {
            registry,
            shutdown_on_drop: false,
        }
    }

    /// Hands the pool over without shutting it down (the default executor takes it).
    pub(crate) fn into_registry(mut self) -> Arc<Registry> {
        self.shutdown_on_drop = false;
        Arc::clone(&self.registry)
    }

    /// The most worker threads this pool runs at once.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(poolbridge::ThreadPoolExecutor::new(3).max_workers(), 3);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.registry.config().max_workers
    }

    /// Worker threads alive now (started lazily, retired after the keep-alive). Not in Python's
    /// API; useful to check that a pool reuses its threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(8);
    /// assert_eq!(pool.num_threads(), 0); // threads start lazily
    /// for n in 0..100 {
    ///     pool.submit(move || n).join().unwrap(); // one job at a time
    /// }
    /// assert_eq!(pool.num_threads(), 1); // ... needs one thread
    /// ```
    pub fn num_threads(&self) -> usize {
        self.registry.num_threads()
    }

    /// Worker threads that are idle now: spinning briefly or parked, ready to take a job without
    /// a new thread being started.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(2);
    /// pool.submit(|| ()).join().unwrap();
    /// // The worker that ran the job is idle now (searching or parked).
    /// while pool.num_idle() != pool.num_threads() {
    ///     std::thread::yield_now();
    /// }
    /// ```
    pub fn num_idle(&self) -> usize {
        self.registry.sleep.counts().idle()
    }

    /// `true` once [`shutdown`](Self::shutdown) was called or the pool broke.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// assert!(!pool.is_shutdown());
    /// pool.shutdown(false, false);
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.registry.is_closed()
    }

    /// Schedules `f` and returns its future at once. The job runs whether or not anyone waits.
    ///
    /// On a pool built with [`max_queued(n)`](crate::ThreadPoolBuilder::max_queued), it first waits
    /// while `n` jobs wait for a worker (blocking this thread; async code should use
    /// [`submit_async`](Self::submit_async)). A submit from one of the pool's own jobs never
    /// waits: it goes past the bound rather than risk a deadlock.
    ///
    /// After [`shutdown`](Self::shutdown) the returned future is already done with
    /// `Err(FutureError::Shutdown)` and `f` is dropped unrun; on a broken pool, with
    /// `Err(FutureError::BrokenPool(_))`. Use [`try_submit`](Self::try_submit) to get `f` back
    /// instead.
    ///
    /// Called from inside a job with a deadline, the new job inherits that deadline (see
    /// [`submit_with`](Self::submit_with)); so do the other submits that return a future
    /// ([`try_submit`](Self::try_submit), [`submit_async`](Self::submit_async),
    /// [`submit_call`](Self::submit_call), [`map`](Self::map)), but not
    /// [`execute`](Self::execute).
    ///
    /// The closure and its value cross threads, so both must be `Send`:
    ///
    /// ```compile_fail
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// let shared = std::rc::Rc::new(5);
    /// pool.submit(move || *shared + 1); // error: `Rc<i32>` cannot be sent between threads
    /// ```
    ///
    /// ```compile_fail
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// pool.submit(|| std::rc::Rc::new(5)); // error: the value `Rc<i32>` is not `Send`
    /// ```
    pub fn submit<F, T>(&self, f: F) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.registry.submit(f)
    }

    /// [`submit`](Self::submit) with [`SubmitOptions`]: the options last, as on the process
    /// pool. The settings that apply to a thread pool are the deadline ones:
    ///
    /// * [`deadline`](SubmitOptions::deadline) / [`deadline_at`](SubmitOptions::deadline_at): a
    ///   job not started by then never runs: its future resolves to
    ///   [`FutureError::DeadlineExceeded`](crate::FutureError::DeadlineExceeded)` { started:
    ///   false }` at the deadline (a waiter in
    ///   [`result`](PoolFuture::result) wakes then, even while the job is still queued) and its
    ///   closure is dropped unrun. A job still running then is asked to stop:
    ///   [`cancelled()`](crate::cancelled()) turns `true` inside it, as after
    ///   [`request_cancel`](PoolFuture::request_cancel), and if it returns after seeing that,
    ///   it resolves to `DeadlineExceeded { started: true }` (its value is dropped). A job that
    ///   returns a value without having looked keeps it: a thread cannot be stopped from
    ///   outside. If `request_cancel` asked first, the job resolves to `Cancelled` instead.
    ///   Both kinds count in [`PoolMetrics::deadline_exceeded`].
    /// * [`inherit_deadline`](SubmitOptions::inherit_deadline) (on by default): called from
    ///   inside a job with a deadline, the new job gets the earlier of its own and that job's.
    ///   Inside a job with a deadline, [`poolbridge::deadline()`](crate::deadline()) returns it.
    ///
    /// [`timeout`](SubmitOptions::timeout) is ignored here: it kills a process pool's worker
    /// process, and a thread cannot be killed. Use a deadline, and check
    /// [`cancelled()`](crate::cancelled()) in the job.
    ///
    /// Done callbacks of a job that its deadline ends while it is queued run on the pool's
    /// deadline timer thread (one per process), as those of a job ended by
    /// [`cancel`](PoolFuture::cancel) run on the cancelling thread: keep them short.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::{FutureError, SubmitOptions, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let options = SubmitOptions::default().deadline(Duration::from_millis(50));
    /// let search = pool.submit_with(
    ///     || {
    ///         assert!(poolbridge::deadline().is_some());
    ///         let mut best = 0u64;
    ///         while !poolbridge::cancelled() {
    ///             best += 1; // refine the answer until time is up
    ///             std::thread::sleep(Duration::from_millis(1));
    ///         }
    ///         best
    ///     },
    ///     options.clone(),
    /// );
    /// // The only worker is busy until the deadline: this job never starts.
    /// let late = pool.submit_with(|| "never runs", options);
    /// assert_eq!(late.result(), Err(FutureError::DeadlineExceeded { started: false }));
    /// assert_eq!(search.result(), Err(FutureError::DeadlineExceeded { started: true }));
    /// assert_eq!(pool.metrics().deadline_exceeded, 2);
    /// ```
    pub fn submit_with<F, T>(&self, f: F, options: SubmitOptions) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.registry.submit_with(f, &options)
    }

    /// Runs `f` on the pool with no future to look at: fire and forget, the path of Java's
    /// `Executor.execute`, `threadpool::ThreadPool::execute` and an un-awaited tokio
    /// `spawn_blocking`. The job is queued exactly as by [`submit`](Self::submit) (same queues,
    /// same wake-ups, the same wait for room under
    /// [`max_queued`](crate::ThreadPoolBuilder::max_queued)), but nothing is built for a handle: the
    /// queue holds the closure alone, so each job costs less memory and less work than a
    /// submit whose future is dropped at once.
    ///
    /// The job runs whether or not anything else happens; `shutdown(wait = true)` and dropping
    /// the pool wait for it like for any job, and `shutdown(_, cancel_futures = true)` drops it
    /// unrun if it has not started. A panic in it is caught (the worker goes on), counted in
    /// [`metrics`](Self::metrics) and reported like a panicking done callback: to the hook set
    /// with [`set_report_hook`](crate::set_report_hook), or to standard error. Inside it,
    /// [`cancelled()`](crate::cancelled()) is always `false` (no handle can ask it to stop).
    /// Nor has it a deadline: called from a job with one, it does not inherit it (there is no
    /// future to resolve to `DeadlineExceeded`), and `poolbridge::deadline()` is `None` in it.
    ///
    /// # Errors
    ///
    /// A pool that is shut down or broken refuses the job and hands `f` back in the
    /// [`SubmitError`] (`is_shutdown()`, `is_broken_pool()`), so no work is lost silently.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(4);
    /// let (tx, rx) = mpsc::channel();
    /// for i in 0..100u64 {
    ///     let tx = tx.clone();
    ///     pool.execute(move || tx.send(i * i).unwrap()).unwrap();
    /// }
    /// drop(tx);
    /// assert_eq!(rx.iter().sum::<u64>(), (0..100u64).map(|i| i * i).sum::<u64>());
    ///
    /// pool.shutdown(true, false);
    /// let refused = pool.execute(|| println!("never runs")).unwrap_err();
    /// assert!(refused.is_shutdown());
    /// ```
    pub fn execute<F>(&self, f: F) -> Result<(), SubmitError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.registry.execute(f)
    }

    /// Like [`submit`](Self::submit), but a pool that is shut down or broken refuses the job and
    /// gives the closure back in the [`SubmitError`]. So does a pool whose queue is full (built
    /// with [`max_queued`](crate::ThreadPoolBuilder::max_queued)): [`SubmitError::is_queue_full`] says
    /// so, and trying again later may succeed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::builder().max_workers(1).max_queued(1).build().unwrap();
    /// let (release, gate) = mpsc::channel::<()>();
    /// let (started, running) = mpsc::channel();
    /// let _busy = pool.submit(move || {
    ///     started.send(()).unwrap(); // its place in the queue is free from here
    ///     gate.recv().unwrap();
    /// });
    /// running.recv().unwrap();
    /// let queued = pool.try_submit(|| 1).unwrap(); // waits for the worker
    /// let refused = pool.try_submit(|| 2).unwrap_err();
    /// assert!(refused.is_queue_full());
    /// let job = refused.into_inner(); // the closure, unrun
    /// release.send(()).unwrap();
    /// assert_eq!(queued.join(), Ok(1));
    /// assert_eq!(job(), 2);
    /// ```
    ///
    /// # Caveats
    ///
    /// A `shutdown` racing with this call from another thread may land just after the job was
    /// queued; the job then either runs or its future resolves to `FutureError::Shutdown`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// assert_eq!(pool.try_submit(|| 1).unwrap().join(), Ok(1));
    /// pool.shutdown(true, false);
    /// let refused = pool.try_submit(|| 2).unwrap_err();
    /// assert!(refused.is_shutdown());
    /// ```
    pub fn try_submit<F, T>(&self, f: F) -> Result<PoolFuture<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.registry.try_submit(f)
    }

    /// Like [`submit`](Self::submit), but awaits room in the queue without blocking the thread:
    /// the submit for async code on a pool built with
    /// [`max_queued`](crate::ThreadPoolBuilder::max_queued). Without `max_queued` it is `submit`, ready
    /// at the first poll.
    ///
    /// Submitters waiting for room are served first come, first served: each freed place goes
    /// to the longest waiting one. Cancel-safe: dropping the future while it waits (a
    /// `select!`, a timeout) gives up its place, or the place granted to it meanwhile, to the
    /// next waiter, and drops `f` unrun. After [`shutdown`](Self::shutdown) the future
    /// resolves at once to a `PoolFuture` already done with `Err(FutureError::Shutdown)`, as
    /// `submit` does; so do waiters when the pool shuts down.
    ///
    /// The returned `PoolFuture` can be awaited in turn (it is `IntoFuture`).
    ///
    /// # Examples
    ///
    /// A producer faster than the pool, held back instead of filling memory (asyncio would use
    /// a `Semaphore` for this):
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::builder().max_workers(2).max_queued(4).build().unwrap();
    /// let mut futures = Vec::new();
    /// for i in 0..100u64 {
    ///     // Suspends this task (never the runtime's thread) while 4 jobs wait.
    ///     futures.push(pool.submit_async(move || i * i).await);
    ///     assert!(pool.metrics().queued <= 4);
    /// }
    /// let mut sum = 0;
    /// for f in futures {
    ///     sum += f.await.unwrap();
    /// }
    /// assert_eq!(sum, 328_350);
    /// # });
    /// ```
    pub async fn submit_async<F, T>(&self, f: F) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Without a bound this is `submit`: no inner future to build and poll.
        if self.registry.is_bounded() {
            self.registry.submit_async(f).await
        } else {
            self.registry.submit(f)
        }
    }

    /// Calls `f` on every item, in parallel, and yields the results in input order: Python's
    /// `Executor.map`.
    ///
    /// Every item is submitted at once (Python semantics); use [`map_with`](Self::map_with) and
    /// [`MapOptions::buffersize`] to bound the jobs in flight, or [`MapOptions::timeout`] to bound
    /// the whole iteration. A panicking item yields its `Err(FutureError::Panicked)` and the
    /// iteration goes on. Dropping the [`Map`] once iterated cancels its jobs that have not
    /// started and asks the running ones to stop; dropped before any `next()`, it lets them all
    /// run (see [`Map`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(4);
    /// let lengths: Vec<usize> = pool
    ///     .map(|s: &str| s.len(), ["a", "bb", "ccc"])
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(lengths, [1, 2, 3]);
    /// ```
    pub fn map<I, F, T>(&self, f: F, items: I) -> Map<T>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        self.map_eager(f, items, &MapOptions::default())
    }

    /// [`map`](Self::map) with options: a timeout for the whole iteration, measured from this
    /// call, and a `buffersize` that keeps at most that many jobs in flight and pulls items
    /// lazily, so an infinite iterator works.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::{MapOptions, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let first: Vec<u64> = pool
    ///     .map_with(|n: u64| n * 10, 0.., MapOptions::default().buffersize(4))
    ///     .take(3)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(first, [0, 10, 20]);
    /// ```
    ///
    /// # Caveats
    ///
    /// Unlike `map`, the iterator must be `Send + 'static`: with a `buffersize` it is kept inside
    /// the returned [`Map`] and pulled as results are consumed.
    pub fn map_with<I, F, T>(&self, f: F, items: I, options: MapOptions) -> Map<T>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        let registry = Arc::clone(&self.registry);
        let closed = Arc::clone(&self.registry);
        Map::submitting(
            items.into_iter(),
            &options,
            move |item| {
                let f = Arc::clone(&f);
                registry.submit(move || f(item))
            },
            move || closed.is_closed(),
        )
    }

    /// Submits a job per item now.
    fn map_eager<I, F, T>(&self, f: F, items: I, options: &MapOptions) -> Map<T>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        let pending = items
            .into_iter()
            .map(|item| {
                let f = Arc::clone(&f);
                self.registry.submit(move || f(item))
            })
            .collect();
        Map::eager(pending, options)
    }

    /// Stops accepting jobs: Python's `Executor.shutdown(wait, cancel_futures)`.
    ///
    /// * Later `submit`s return futures already done with `Err(FutureError::Shutdown)`.
    /// * `cancel_futures = true` cancels every job that has not started. Called right after a
    ///   burst of submits, that can be every one of them: a submit does not wait for a worker to
    ///   take its job (CPython's `test_cancel_futures` counts on at least one having started;
    ///   this pool makes no such promise). Wait for the jobs that must run first.
    /// * `wait = true` returns once every job that was not cancelled has finished and every
    ///   worker thread has exited; `wait = false` returns at once while the queued jobs still run.
    ///
    /// Idempotent. Safe to call from one of the pool's own jobs, where `wait = true` cannot wait
    /// (another job may be waiting on the caller's job) and returns at once: the workers finish
    /// the queued jobs and exit once the caller's job returns. Python deadlocks or raises there.
    /// [`shutdown_timeout`](Self::shutdown_timeout) can wait there, for a bounded time.
    ///
    /// Submitters waiting for room in a full queue ([`max_queued`](crate::ThreadPoolBuilder::max_queued))
    /// wake up, and their jobs are refused with `FutureError::Shutdown`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use poolbridge::{FutureError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (release, held) = mpsc::channel::<()>();
    /// let running = pool.submit(move || held.recv().unwrap());
    /// while !running.running() {
    ///     std::thread::yield_now();
    /// }
    /// let queued = pool.submit(|| "never runs");
    /// pool.shutdown(false, true); // cancel what has not started; do not wait
    /// assert_eq!(queued.result(), Err(FutureError::Cancelled));
    /// release.send(()).unwrap();
    /// assert_eq!(running.result(), Ok(())); // a started job finishes
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.registry.shutdown(wait, cancel_futures);
    }

    /// Shuts down, then waits at most `timeout` for the jobs to end and the threads to exit:
    /// tokio's `Runtime::shutdown_timeout`. Returns `true` if everything ended in time.
    ///
    /// Like `shutdown(wait = false, cancel_futures = false)` followed by a bounded wait: queued
    /// jobs still run (call `shutdown(false, true)` first to cancel them). When the time is up,
    /// threads still running a job are detached: they finish their jobs (whose futures complete
    /// as usual) and exit on their own, and dropping the executor no longer waits for them.
    /// Running jobs are not interrupted; ask them to stop with
    /// [`PoolFuture::request_cancel`] if they check [`cancelled()`](crate::cancelled()).
    ///
    /// Called from one of the pool's own jobs, it waits for the *other* jobs and threads (the
    /// caller's own job obviously cannot end first) and returns `true` if they all ended in
    /// time. A job that waits on the caller's job cannot end, so the wait is bounded by
    /// `timeout` rather than a deadlock, as it would be with `shutdown(wait = true)` (which
    /// returns at once there).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let quick = pool.submit(|| 1);
    /// let slow = pool.submit(|| std::thread::sleep(Duration::from_millis(300)));
    /// assert!(!pool.shutdown_timeout(Duration::from_millis(20)), "the slow job is still running");
    /// assert_eq!(quick.result(), Ok(1));
    /// slow.wait(); // it still finishes, on its detached thread
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        self.registry.shutdown_timeout(timeout)
    }

    /// A snapshot of what the pool is doing: threads, idle threads, queued and running jobs, and
    /// counts of jobs completed, panicked, cancelled and stolen, and of threads started and
    /// retired. See [`PoolMetrics`].
    ///
    /// Cheap enough to poll (a few loads per worker slot and two short locks); counting
    /// costs the workers no shared write per job.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(4);
    /// let fut = pool.submit(|| -> u32 { panic!("boom") });
    /// fut.wait();
    /// let m = pool.metrics();
    /// assert_eq!((m.completed, m.panicked), (0, 1));
    /// assert_eq!(m.spawned, 1);
    /// ```
    pub fn metrics(&self) -> PoolMetrics {
        self.registry.metrics()
    }
}

impl Drop for ThreadPoolExecutor {
    /// `shutdown(wait = true, cancel_futures = false)`; after a
    /// [`shutdown_timeout`](Self::shutdown_timeout) that ran out, `wait = false`: the threads it
    /// detached are not waited for. Nothing for a handle from
    /// [`default_executor`](crate::default_executor), which does not own its pool.
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let wait = !self.registry.is_detached();
            self.registry.shutdown(wait, false);
        }
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = self.registry.sleep.counts();
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.max_workers())
            .field("threads", &counts.threads)
            .field("idle", &counts.idle())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}
