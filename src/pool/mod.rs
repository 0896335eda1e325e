//! [`ThreadPoolExecutor`]: Python's `concurrent.futures.ThreadPoolExecutor` on a work-stealing
//! pool.
//!
//! | file          | concept                                                              |
//! |---------------|----------------------------------------------------------------------|
//! | `builder.rs`  | settings and their validation                                        |
//! | `registry.rs` | the queues, the worker slots, starting threads, shutdown and breaking |
//! | `worker.rs`   | a worker thread's loop, its local deque, its availability around a job |
//! | `sleep/`      | the sleep protocol: searching, parking, waking, retiring; how a new job finds a worker (design note inside) |
//! | `task.rs`     | a job: closure + future core in one allocation, and its queue entry  |
//! | `state.rs`    | per-worker state (`build_with_state`, `StatefulPool`)                |

mod builder;
pub(crate) mod registry;
pub(crate) mod sleep;
mod state;
pub(crate) mod task;
pub(crate) mod worker;

use std::fmt;
use std::sync::Arc;

pub use self::builder::{
    DEFAULT_KEEP_ALIVE, MAX_STACK_SIZE, MAX_WORKERS, MIN_STACK_SIZE, ThreadPoolBuilder,
    default_max_workers,
};
use self::registry::Registry;
pub use self::state::StatefulPool;
use crate::error::SubmitError;
use crate::future::PoolFuture;
use crate::map::{Map, MapOptions};

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
    /// A pool of at most `max_workers` threads, with the other settings at their defaults.
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0 (`"max_workers must be greater than 0"`), or larger than
    /// [`MAX_WORKERS`]. Use [`builder`](Self::builder) to get an error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(4);
    /// assert_eq!(pool.submit(|| "hello").join(), Ok("hello"));
    /// ```
    pub fn new(max_workers: usize) -> ThreadPoolExecutor {
        match ThreadPoolExecutor::builder()
            .max_workers(max_workers)
            .build()
        {
            Ok(pool) => pool,
            Err(err) => panic!("{err}"),
        }
    }

    /// A builder for a pool with other settings (thread names, initializer, stack size,
    /// keep-alive).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::builder()
    ///     .max_workers(8)
    ///     .thread_name_prefix("io")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.max_workers(), 8);
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
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
    /// After [`shutdown`](Self::shutdown) the returned future is already done with
    /// `Err(FutureError::Shutdown)` and `f` is dropped unrun; on a broken pool, with
    /// `Err(FutureError::BrokenPool(_))`. Use [`try_submit`](Self::try_submit) to get `f` back
    /// instead.
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

    /// Like [`submit`](Self::submit), but a pool that is shut down or broken refuses the job and
    /// gives the closure back in the [`SubmitError`].
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
        match self.registry.closed_error() {
            Some(err) => Err(SubmitError::new(f, err)),
            None => Ok(self.registry.submit(f)),
        }
    }

    /// Calls `f` on every item, in parallel, and yields the results in input order: Python's
    /// `Executor.map`.
    ///
    /// Every item is submitted at once (Python semantics); use [`map_with`](Self::map_with) and
    /// [`MapOptions::buffersize`] to bound the jobs in flight, or [`MapOptions::timeout`] to bound
    /// the whole iteration. A panicking item yields its `Err(FutureError::Panicked)` and the
    /// iteration goes on. Dropping the [`Map`] cancels its jobs that have not started;
    /// [`Map::detach`] lets them all run without iterating.
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
        if options.buffer_size().is_some() {
            self.map_lazy(f, items.into_iter(), &options)
        } else {
            self.map_eager(f, items, &options)
        }
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

    /// Submits a job per item as the `Map` asks for them.
    fn map_lazy<It, F, T>(&self, f: F, mut items: It, options: &MapOptions) -> Map<T>
    where
        It: Iterator + Send + 'static,
        It::Item: Send + 'static,
        F: Fn(It::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        let registry = Arc::clone(&self.registry);
        let mut stopped = false;
        Map::lazy(
            move || {
                // Once the executor is shut down, one more item is submitted (its future resolves
                // to `Err(Shutdown)`, as Python's `submit` raises) and the input is left alone.
                if stopped {
                    return None;
                }
                let item = items.next()?;
                stopped = registry.is_closed();
                let f = Arc::clone(&f);
                Some(registry.submit(move || f(item)))
            },
            options,
        )
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
    /// release.send(()).unwrap();
    /// pool.shutdown(true, true); // cancel what has not started, wait for the rest
    /// assert_eq!(queued.result(), Err(FutureError::Cancelled));
    /// assert_eq!(running.result(), Ok(()));
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.registry.shutdown(wait, cancel_futures);
    }
}

impl Default for ThreadPoolExecutor {
    /// `ThreadPoolExecutor::new(default_max_workers())`: `min(32, available_parallelism + 4)`.
    fn default() -> Self {
        ThreadPoolExecutor::new(default_max_workers())
    }
}

impl Drop for ThreadPoolExecutor {
    /// `shutdown(wait = true, cancel_futures = false)`; nothing for a handle from
    /// [`default_executor`](crate::default_executor), which does not own its pool.
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            self.registry.shutdown(true, false);
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
