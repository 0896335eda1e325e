//! [`ThreadPoolBuilder`]: every setting of a pool, checked once at `build`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::BuildError;
use crate::pool::config::{Config, StateInit};
use crate::pool::executor::ThreadPoolExecutor;
use crate::pool::registry::Registry;
use crate::pool::sleep::MAX_THREADS;
use crate::pool::state::StatefulPool;
use crate::pool::worker;

/// How long an idle worker waits for a job before its thread exits, unless
/// [`ThreadPoolBuilder::keep_alive`] says otherwise. Long enough that a pool serving steady
/// traffic never re-spawns threads, short enough that a burst's extra threads go away (tokio's
/// blocking pool uses the same value).
///
/// # Examples
///
/// ```
/// use poolbridge::ThreadPoolExecutor;
/// use poolbridge::thread::DEFAULT_KEEP_ALIVE;
///
/// assert_eq!(DEFAULT_KEEP_ALIVE.as_secs(), 10);
/// // Idle threads of this pool never exit.
/// let pool = ThreadPoolExecutor::builder().keep_alive(None).build().unwrap();
/// ```
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The largest `max_workers` a pool accepts.
///
/// # Examples
///
/// ```
/// use poolbridge::ThreadPoolExecutor;
/// use poolbridge::thread::MAX_WORKERS;
///
/// assert!(ThreadPoolExecutor::builder().max_workers(MAX_WORKERS).build().is_ok());
/// assert!(ThreadPoolExecutor::builder().max_workers(MAX_WORKERS + 1).build().is_err());
/// ```
pub const MAX_WORKERS: usize = if MAX_THREADS < 65_536 {
    MAX_THREADS
} else {
    65_536
};

/// The smallest [`ThreadPoolBuilder::stack_size`] a pool accepts: 64 KiB. Below that, the panic
/// machinery itself overflows the stack when a job panics (std rounds smaller sizes up to the
/// platform minimum, 16 KiB on Linux), and the process aborts.
///
/// # Examples
///
/// ```
/// use poolbridge::ThreadPoolExecutor;
/// use poolbridge::thread::MIN_STACK_SIZE;
///
/// assert!(ThreadPoolExecutor::builder().stack_size(MIN_STACK_SIZE).build().is_ok());
/// assert!(ThreadPoolExecutor::builder().stack_size(MIN_STACK_SIZE - 1).build().is_err());
/// ```
pub const MIN_STACK_SIZE: usize = 64 * 1024;

/// The largest [`ThreadPoolBuilder::stack_size`] a pool accepts: 1 GiB on 64-bit targets, 64 MiB
/// on 32-bit ones. Larger sizes are typos (a count of bytes given in kilobytes twice over) that
/// the OS refuses at the first thread start, or that exhaust the address space.
///
/// # Examples
///
/// ```
/// use poolbridge::ThreadPoolExecutor;
/// use poolbridge::thread::MAX_STACK_SIZE;
///
/// let err = ThreadPoolExecutor::builder().stack_size(usize::MAX).build().unwrap_err();
/// assert!(err.to_string().contains(&MAX_STACK_SIZE.to_string()));
/// ```
pub const MAX_STACK_SIZE: usize = if usize::BITS >= 64 { 1 << 30 } else { 1 << 26 };

/// `min(32, available_parallelism + 4)`: Python's default, which leaves room for I/O-bound jobs
/// while keeping CPU-bound ones from oversubscribing large machines.
///
/// # Examples
///
/// ```
/// let cpus = std::thread::available_parallelism().unwrap().get();
/// assert_eq!(poolbridge::default_max_workers(), (cpus + 4).min(32));
/// ```
pub fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus + 4).min(32)
}

/// Builds a [`ThreadPoolExecutor`] with non-default settings.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use poolbridge::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(4)
///     .thread_name_prefix("db")
///     .keep_alive(Some(Duration::from_secs(60)))
///     .build()
///     .unwrap();
/// let name = pool.submit(|| std::thread::current().name().unwrap().to_owned()).join().unwrap();
/// assert_eq!(name, "db_0");
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    thread_name_prefix: Option<String>,
    initializer: Option<Arc<dyn Fn() + Send + Sync>>,
    stack_size: Option<usize>,
    keep_alive: Option<Duration>,
    max_queued: Option<usize>,
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
}

impl Default for ThreadPoolExecutor {
    /// `ThreadPoolExecutor::new(default_max_workers())`: `min(32, available_parallelism + 4)`.
    fn default() -> Self {
        ThreadPoolExecutor::new(default_max_workers())
    }
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        ThreadPoolBuilder {
            max_workers: None,
            thread_name_prefix: None,
            initializer: None,
            stack_size: None,
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            max_queued: None,
        }
    }
}

impl ThreadPoolBuilder {
    /// A builder with the defaults: [`default_max_workers`] workers, threads named
    /// `ThreadPoolExecutor-{n}_{index}`, no initializer, the platform's stack size, and a
    /// [`DEFAULT_KEEP_ALIVE`] keep-alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolBuilder::new().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn new() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// The most worker threads the pool will run at once. Threads are started lazily, up to this
    /// number, one for each queued job that finds no idle worker; a submit starts at most one and
    /// never waits for it to take the job, and the workers start the rest as they take jobs (see
    /// [`ThreadPoolExecutor`]). `0` is refused by `build`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// assert_eq!(pool.num_threads(), 0); // none started yet
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Names the worker threads `"{prefix}_{index}"`, with `index` in `0..max_workers`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::builder()
    ///     .max_workers(1)
    ///     .thread_name_prefix("resize")
    ///     .build()
    ///     .unwrap();
    /// let name = pool.submit(|| std::thread::current().name().map(str::to_owned)).join();
    /// assert_eq!(name, Ok(Some("resize_0".to_owned())));
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// Runs `f` once at the start of every worker thread, before it takes any job: Python's
    /// `initializer`. Python's `initargs` are what `f` captures; `f` is called once per thread,
    /// so it borrows or clones them (`move || init(&args)`, `move || init(args.clone())`).
    ///
    /// If `f` panics, the pool is broken: every pending job and every later submit resolves to
    /// [`FutureError::BrokenPool`](crate::FutureError::BrokenPool), as in Python.
    ///
    /// For a per-worker value (a connection per thread), a fallible initializer, or the worker's
    /// index, use [`build_with_state`](Self::build_with_state) instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let greeting = String::from("worker up"); // not Copy: the closure borrows it per call
    /// let pool = ThreadPoolExecutor::builder()
    ///     .initializer(move || assert_eq!(greeting.as_str(), "worker up"))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.submit(|| 1).join(), Ok(1));
    /// ```
    pub fn initializer<F: Fn() + Send + Sync + 'static>(mut self, f: F) -> Self {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// The stack size of every worker thread, in bytes: between [`MIN_STACK_SIZE`] and
    /// [`MAX_STACK_SIZE`] (`build` refuses other sizes). Defaults to the platform's (2 MiB for
    /// Rust threads, or `RUST_MIN_STACK`).
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// // Deep recursion in jobs.
    /// let pool = ThreadPoolExecutor::builder().stack_size(64 << 20).build().unwrap();
    /// fn depth(n: u64) -> u64 { if n == 0 { 0 } else { 1 + depth(n - 1) } }
    /// assert_eq!(pool.submit(|| depth(100_000)).join(), Ok(100_000));
    ///
    /// let err = ThreadPoolExecutor::builder().stack_size(4096).build().unwrap_err();
    /// assert!(err.to_string().contains("stack_size"));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// How long an idle worker waits for a job before its thread exits; `None` keeps idle threads
    /// forever (Python's behaviour). Defaults to [`DEFAULT_KEEP_ALIVE`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = poolbridge::ThreadPoolExecutor::builder()
    ///     .keep_alive(Some(Duration::from_millis(20)))
    ///     .build()
    ///     .unwrap();
    /// pool.submit(|| ()).join().unwrap();
    /// assert_eq!(pool.num_threads(), 1);
    /// std::thread::sleep(Duration::from_millis(200));
    /// assert_eq!(pool.num_threads(), 0); // retired
    /// ```
    pub fn keep_alive(mut self, idle: Option<Duration>) -> Self {
        self.keep_alive = idle;
        self
    }

    /// Bounds the jobs waiting for a worker: back-pressure for a producer faster than the pool.
    /// Without it (the default, as in Python) the queue grows without limit.
    ///
    /// With `max_queued(n)`, a job holds a place from its submit until a thread starts it (or it
    /// is cancelled: its place is free at once), so at most `n` jobs wait while the workers are
    /// busy:
    ///
    /// * [`submit`](crate::ThreadPoolExecutor::submit) blocks the calling thread while `n` jobs
    ///   wait;
    /// * [`submit_async`](crate::ThreadPoolExecutor::submit_async) awaits room without blocking
    ///   the thread (asyncio code would use a `Semaphore` for this);
    /// * [`try_submit`](crate::ThreadPoolExecutor::try_submit) hands the closure back in a
    ///   [`SubmitError`](crate::SubmitError) whose
    ///   [`is_queue_full`](crate::SubmitError::is_queue_full) is `true`.
    ///
    /// Waiting submitters get room first come, first served. `n` counts waiting jobs only: up to
    /// `max_workers` more run at the same time. `0` is refused by `build`.
    ///
    /// # Caveats
    ///
    /// * A submit from one of the pool's own jobs (sub-jobs) never waits: the workers it would
    ///   wait for could all be doing the same, and nobody would drain the queue. It takes a
    ///   place when there is one and goes past the bound when there is none.
    /// * [`run_in_executor`](crate::run_in_executor), `map` and `map_with` submit with `submit`,
    ///   so they block the calling thread while the queue is full; in async code use
    ///   `submit_async(..).await` and await the returned future instead.
    /// * The process pool has the same setting (`ProcessPoolBuilder::max_queued`) with the same
    ///   meaning: there a job leaves the queue when it is written to a worker process.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::builder().max_workers(2).max_queued(8).build().unwrap();
    /// // A producer of a million items holds at most 8 queued jobs (and their inputs) at once.
    /// let total: u64 = (0..1_000u64)
    ///     .map(|i| pool.submit(move || i % 7))
    ///     .collect::<Vec<_>>()
    ///     .into_iter()
    ///     .map(|f| f.join().unwrap())
    ///     .sum();
    /// assert_eq!(total, 2_997);
    /// ```
    pub fn max_queued(mut self, n: usize) -> Self {
        self.max_queued = Some(n);
        self
    }

    /// Builds the pool. No thread is started until the first job is submitted.
    ///
    /// # Errors
    ///
    /// If `max_workers` is 0 (`"max_workers must be greater than 0"`) or larger than
    /// [`MAX_WORKERS`], if `stack_size` is outside [`MIN_STACK_SIZE`]`..=`[`MAX_STACK_SIZE`], if
    /// `max_queued` is 0, or if `thread_name_prefix` contains a NUL byte (the OS cannot name a
    /// thread so). The message names the setting and the value given.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::builder().max_workers(4).build().unwrap();
    /// assert_eq!(pool.submit(|| 1).join(), Ok(1));
    ///
    /// let err = poolbridge::ThreadPoolExecutor::builder().thread_name_prefix("a\0b").build();
    /// assert!(err.unwrap_err().to_string().contains("thread_name_prefix"));
    /// ```
    pub fn build(self) -> Result<ThreadPoolExecutor, BuildError> {
        self.build_pool(None)
    }

    /// Builds a pool whose every worker thread owns a value of type `S`: `init(index)` runs once
    /// at the start of each worker thread (after the [`initializer`](Self::initializer), if
    /// any), with the worker's index (`0..max_workers`, the `_{index}` of its thread name), and
    /// its `Ok` value is that worker's state until the thread exits. Jobs borrow it with
    /// [`StatefulPool::submit_with_state`].
    ///
    /// * If `init` returns `Err` (or panics), the pool is broken, as with a panicking
    ///   initializer: every pending job and every later submit resolves to
    ///   [`FutureError::BrokenPool`](crate::FutureError::BrokenPool), whose message names the
    ///   worker and quotes the error. To retry instead (a database that is down for a moment),
    ///   make the state an `Option` and reconnect in the jobs.
    /// * A worker that idles for the keep-alive exits and drops its state (so idle connections
    ///   close); a later burst starts workers with new states. An index is unique among the
    ///   running workers and is reused once its worker has exited.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// struct Conn { id: usize }
    /// let pool = ThreadPoolExecutor::builder()
    ///     .max_workers(2)
    ///     .thread_name_prefix("db")
    ///     .build_with_state(|index| -> Result<Conn, String> { Ok(Conn { id: index }) })
    ///     .unwrap();
    /// let id = pool.submit_with_state(|conn: &mut Conn| conn.id).join().unwrap();
    /// assert!(id < 2);
    ///
    /// let broken = ThreadPoolExecutor::builder()
    ///     .build_with_state(|_| Err::<Conn, _>("connection refused"))
    ///     .unwrap();
    /// let err = broken.submit_with_state(|conn: &mut Conn| conn.id).join().unwrap_err();
    /// assert!(err.to_string().contains("connection refused"), "{err}");
    /// ```
    pub fn build_with_state<S, E, F>(self, init: F) -> Result<StatefulPool<S>, BuildError>
    where
        S: 'static,
        E: fmt::Display,
        F: Fn(usize) -> Result<S, E> + Send + Sync + 'static,
    {
        let init: Arc<StateInit> = Arc::new(move |index| match init(index) {
            Ok(state) => Ok(Box::new(state) as Box<dyn std::any::Any>),
            Err(err) => Err(err.to_string()),
        });
        self.build_pool(Some(init)).map(StatefulPool::new)
    }

    fn build_pool(self, state: Option<Arc<StateInit>>) -> Result<ThreadPoolExecutor, BuildError> {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        if max_workers == 0 {
            return Err(BuildError::new("max_workers must be greater than 0"));
        }
        if max_workers > MAX_WORKERS {
            return Err(BuildError::new(format!(
                "max_workers must be at most {MAX_WORKERS}, got {max_workers}"
            )));
        }
        if let Some(bytes) = self.stack_size {
            if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&bytes) {
                return Err(BuildError::new(format!(
                    "stack_size must be between {MIN_STACK_SIZE} bytes (64 KiB: a smaller stack \
                     overflows when a job panics) and {MAX_STACK_SIZE} bytes, got {bytes}"
                )));
            }
        }
        if self.max_queued == Some(0) {
            return Err(BuildError::new(
                "max_queued must be at least 1 (it bounds the jobs waiting for a worker), got 0",
            ));
        }
        if let Some(prefix) = &self.thread_name_prefix {
            if prefix.contains('\0') {
                return Err(BuildError::new(format!(
                    "thread_name_prefix must not contain a NUL byte, got {prefix:?}"
                )));
            }
        }
        let thread_name_prefix = self.thread_name_prefix.unwrap_or_else(|| {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            // ORDERING: Relaxed: only uniqueness matters.
            format!(
                "ThreadPoolExecutor-{}",
                COUNTER.fetch_add(1, Ordering::Relaxed)
            )
        });
        Ok(ThreadPoolExecutor::from_registry(Registry::new(
            Config {
                max_workers,
                thread_name_prefix,
                initializer: self.initializer,
                state,
                stack_size: self.stack_size,
                keep_alive: self.keep_alive,
                max_queued: self.max_queued,
            },
            worker::main,
        )))
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("initializer", &self.initializer.as_ref().map(|_| "Fn()"))
            .field("stack_size", &self.stack_size)
            .field("keep_alive", &self.keep_alive)
            .field("max_queued", &self.max_queued)
            .finish()
    }
}
