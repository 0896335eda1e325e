//! [`ProcessPoolExecutor`]: Python's `concurrent.futures.ProcessPoolExecutor`, where one crash
//! fails one job and never the pool.
//!
//! | file        | concept                                                                 |
//! |-------------|-------------------------------------------------------------------------|
//! | `wire.rs`   | the handshake and the frames, the `CALL` frame's one encoding (`seal_call`) |
//! | `child.rs`  | a worker process as a resource: command, exit watch, kill, exit status  |
//! | `spin.rs`   | a worker's socket: a short spin before blocking, waits that see exits   |
//! | `worker.rs` | the worker side: [`init`], the serve loop, the parent watch             |
//! | `config.rs` | what a pool is built with (read by `pool.rs` and `start.rs`)            |
//! | `start.rs`  | spawning a worker and the handshake, with the messages of every failure |
//! | `queue.rs`  | a submitted call and its typed end, the queue, its places (`max_queued`) |
//! | `timers.rs` | job time limits: the deadlines the timer thread enforces                |
//! | `slots.rs`  | worker slots and their life: connection, phase, calls sent ahead        |
//! | `pool.rs`   | the parent's shared core: one lock over the above, pool threads, metrics |
//! | `executor.rs` | the [`ProcessPoolExecutor`] struct, exported at the crate root         |
//!
//! Each file names only files above it in this table, and none names this one: data flows one
//! way (`.ci/import_cycles.py` checks that no file of `src/` is part of an import circle). This
//! one holds the public API on top: [`ProcessPoolExecutor`]'s methods, [`ProcessPoolBuilder`],
//! and the submit path that the remote executor reuses.
//!
//! # Who sends what to whom
//!
//! ```text
//! user thread                 pool threads (pool.rs)                    worker process
//! ───────────                 ──────────────────────                    ──────────────
//! submit(job, args)
//!  │ a place (queue.rs `Places`, with max_queued)
//!  │ CALL frame (wire::seal_call ← seam::call::encode_call)
//!  ▼
//! PoolCore::submit ─idle worker: written on this thread──── CALL ────▶ serve loop
//!  │ none idle                                                         (worker.rs): split_call,
//!  ▼                                                                   Registry::invoke (seam)
//! CallQueue ──Duty::Start──▶ start.rs: spawn (child.rs), ◀─ handshake ─▶ init()        │
//!                            WorkerSlot (slots.rs); top_up: ─── CALL ──▶               │
//!                            the thread becomes the worker's reader:                   │
//!                            spin.rs reads ◀──────────────────────────── DONE ─────────┘
//!                             under the lock: SentCall out, top_up (more CALLs to
//!                             write), the next call's limit armed (timers.rs)
//!                             outside it: Completion::decode (user Deserialize),
//!                             publish: Promise → PoolFuture (waiters, callbacks;
//!                             the read duty is handed to a spare thread first)
//! timer thread: a deadline passes (timers.rs) → kill the worker's group → its reader sees
//!               the exit → reap: the call fails (JobTimeout, WorkerDied) or is queued again
//!
//! request_cancel (user thread) ─ Promise's stop hook ─▶ PoolCore::stop ── CANCEL(n) on the
//!   control socket ──▶ the worker's watch thread: cancelled() turns true (or the call is
//!   skipped); the timer kills the worker if the job still runs after cancel_grace
//!
//! feature tracing: submit opens the job's `poolbridge.job` span, its trace context rides in
//!   the CALL frame; the worker runs the job in a `poolbridge.run` span and forwards its
//!   events ── LOG(n) ──▶ the reader re-emits them under the job's span (src/trace/)
//! ```
//!
//! The design note `src/process/README.md` follows a job and a worker through their lives and
//! says why no worker outlives its pool.
//!
//! # Registering jobs
//!
//! `#[poolbridge::job]` registers a function at link time, under `module_path!()::name` with
//! its argument and output types as a fingerprint. Only linked crates count: a worker binary
//! (see [`ProcessPoolBuilder::program`]) that never names the crate defining its jobs needs a
//! `use that_crate as _;`. Entries survive release and `lto = true` builds. For what the
//! attribute cannot take, [`register`] a [`JobFn`] before [`init`].
//!
//! A job's arguments and output must be serde types:
//!
//! ```
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Point { x: i32, y: i32 }
//!
//! #[poolbridge::job]
//! fn norm(p: Point) -> u32 { p.x.unsigned_abs() + p.y.unsigned_abs() }
//! ```
//!
//! ```compile_fail,E0277
//! struct Point { x: i32, y: i32 } // no Serialize / Deserialize
//!
//! #[poolbridge::job]
//! fn norm(p: Point) -> u32 { p.x.unsigned_abs() + p.y.unsigned_abs() }
//! ```
//!
//! ```compile_fail,E0277
//! struct Handle(std::rc::Rc<u8>); // neither serde nor Send
//!
//! #[poolbridge::job]
//! fn open() -> Handle { Handle(std::rc::Rc::new(1)) }
//! ```
//!
//! A job is a plain, concrete, synchronous free function with owned arguments; anything else is
//! refused with a message that says what to write instead:
//!
//! ```
//! #[poolbridge::job]
//! fn largest(items: Vec<u64>) -> Option<u64> { items.into_iter().max() }
//! ```
//!
//! ```compile_fail
//! #[poolbridge::job] // error: a #[poolbridge::job] cannot be generic: ... JobFn::new
//! fn largest<T: Ord>(items: Vec<T>) -> Option<T> { items.into_iter().max() }
//! ```
//!
//! ```compile_fail
//! #[poolbridge::job] // error: a #[poolbridge::job] cannot be async
//! async fn largest(items: Vec<u64>) -> Option<u64> { items.into_iter().max() }
//! ```
//!
//! ```compile_fail
//! #[poolbridge::job] // error: argument type must be owned (String, not &str; ...)
//! fn largest(items: &[u64]) -> Option<u64> { items.iter().copied().max() }
//! ```
//!
//! ```compile_fail
//! struct Stats;
//! impl Stats {
//!     #[poolbridge::job] // error: a #[poolbridge::job] cannot take self
//!     fn largest(&self, items: Vec<u64>) -> Option<u64> { items.into_iter().max() }
//! }
//! ```

// Off Unix only the types and the registry compile (build() refuses): no warnings for the rest.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

pub(crate) mod executor;
mod wire;

#[cfg(unix)]
mod child;
#[cfg(unix)]
mod config;
#[cfg(unix)]
mod pool;
#[cfg(unix)]
mod queue;
#[cfg(unix)]
mod slots;
#[cfg(unix)]
mod spin;
#[cfg(unix)]
mod start;
#[cfg(unix)]
mod timers;
#[cfg(unix)]
mod worker;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use self::executor::ProcessPoolExecutor;
use crate::error::{BuildError, FutureError, SubmitError};
use crate::future::Permit;
use crate::future::{PoolFuture, Promise};
use crate::map::{Map, MapOptions};
use crate::options::SubmitOptions;
use crate::pool::PoolMetrics;
use crate::pool::backpressure::Reservation;
#[cfg(unix)]
use crate::seam::call::{Via, encode_call};
#[cfg(unix)]
use crate::seam::completion::Typed;
pub use crate::seam::job::{Job, JobFn, register};

#[cfg(unix)]
pub use self::worker::init;

#[cfg(all(unix, feature = "nats"))]
pub(crate) use self::worker::init_called;

/// On this platform no pool can be built, so no process is ever a worker: returns at once.
///
/// # Examples
///
/// ```
/// poolbridge::process::init();
/// ```
#[cfg(not(unix))]
pub fn init() {}

/// How long a new worker may take to introduce itself (reach [`init`]) before it is killed and
/// the pool reports it broken, unless [`ProcessPoolBuilder::start_timeout`] says otherwise. A
/// worker is usually up in a few milliseconds; the limit only catches programs that never call
/// `init()` and do not exit either.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "process")] {
/// use std::time::Duration;
/// use poolbridge::process::DEFAULT_START_TIMEOUT;
///
/// assert_eq!(DEFAULT_START_TIMEOUT, Duration::from_secs(10));
/// # }
/// ```
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a process job asked to stop ([`PoolFuture::request_cancel`], the drop of its polled
/// awaitable, or its deadline) may take to return before its worker is killed, unless
/// [`ProcessPoolBuilder::cancel_grace`] says otherwise.
///
/// Half a second: a job that checks [`cancelled()`](crate::cancelled()) between steps of a few
/// milliseconds returns well within it (and keeps its warm worker), while a job that never
/// checks holds its worker, and the caller waiting for the slot, only that long before the kill.
/// Longer suits jobs that clean up when stopped (flush a file, roll back a transaction); shorter
/// frees slots sooner at the risk of killing jobs that were about to return.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "process")] {
/// use std::time::Duration;
/// use poolbridge::process::DEFAULT_CANCEL_GRACE;
///
/// assert_eq!(DEFAULT_CANCEL_GRACE, Duration::from_millis(500));
/// # }
/// ```
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_millis(500);

impl ProcessPoolExecutor {
    /// A pool of at most `max_workers` worker processes, with the other settings at their
    /// defaults.
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0 (`"max_workers must be greater than 0"`), or on a platform without
    /// process pools. Use [`builder`](Self::builder) to get an error instead.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// poolbridge::process::init();
    /// let pool = poolbridge::ProcessPoolExecutor::new(4);
    /// assert_eq!(pool.max_workers(), 4);
    /// ```
    pub fn new(max_workers: usize) -> ProcessPoolExecutor {
        match ProcessPoolExecutor::builder()
            .max_workers(max_workers)
            .build()
        {
            Ok(pool) => pool,
            Err(err) => panic!("{err}"),
        }
    }

    /// A builder for a pool with other settings.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use poolbridge::ProcessPoolExecutor;
    ///
    /// poolbridge::process::init();
    /// let pool = ProcessPoolExecutor::builder()
    ///     .max_workers(4)
    ///     .max_tasks_per_child(100)
    ///     .job_timeout(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::new()
    }

    /// The most worker processes this pool runs at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// poolbridge::process::init();
    /// assert_eq!(poolbridge::ProcessPoolExecutor::new(3).max_workers(), 3);
    /// ```
    pub fn max_workers(&self) -> usize {
        #[cfg(unix)]
        return self.shared.config.max_workers;
        #[cfg(not(unix))]
        match self.never {}
    }

    /// Sends `job(args)` to a worker process and returns its future at once.
    ///
    /// The arguments are serialized now, on this thread: a `Serialize` impl that fails (or
    /// panics) resolves the future to [`FutureError::Codec`] at once, and a job that is not
    /// registered to [`FutureError::NotRegistered`]. After [`shutdown`](Self::shutdown) the future is already done with
    /// `Err(FutureError::Shutdown)`; on a broken pool (a worker could not start), with
    /// `Err(FutureError::BrokenPool(_))`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn area(width: f64, height: f64) -> f64 {
    ///     width * height
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = poolbridge::ProcessPoolExecutor::new(2);
    ///     assert_eq!(pool.submit(area, (3.0, 4.0)).join(), Ok(12.0));
    /// }
    /// ```
    pub fn submit<J: Job>(&self, job: J, args: J::Args) -> PoolFuture<J::Output> {
        self.submit_with(job, args, SubmitOptions::default())
    }

    /// [`submit`](Self::submit) with options: a [`timeout`](SubmitOptions::timeout) for this
    /// job.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use poolbridge::{FutureError, ProcessPoolExecutor, SubmitOptions};
    ///
    /// #[poolbridge::job]
    /// fn spin() {
    ///     loop {}
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = ProcessPoolExecutor::new(1);
    ///     let options = SubmitOptions::default().timeout(Duration::from_millis(100));
    ///     let err = pool.submit_with(spin, (), options).join().unwrap_err();
    ///     assert_eq!(err, FutureError::JobTimeout(Duration::from_millis(100)));
    /// }
    /// ```
    pub fn submit_with<J: Job>(
        &self,
        job: J,
        args: J::Args,
        options: SubmitOptions,
    ) -> PoolFuture<J::Output> {
        #[cfg(unix)]
        return submit(&self.shared, job, args, &options);
        #[cfg(not(unix))]
        {
            let _ = (job, args, options);
            match self.never {}
        }
    }

    /// Like [`submit`](Self::submit), but never waits: a pool that is shut down or broken
    /// refuses the job and gives the arguments back in the [`SubmitError`]; so does a pool whose
    /// queue is full (built with [`max_queued`](ProcessPoolBuilder::max_queued)):
    /// [`SubmitError::is_queue_full`] says so, and trying again later may succeed.
    ///
    /// A job that is not registered, or whose arguments fail to serialize, is not refused: its
    /// future resolves to [`FutureError::NotRegistered`] or [`FutureError::Codec`] at once, as
    /// with `submit`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use poolbridge::ProcessPoolExecutor;
    ///
    /// #[poolbridge::job]
    /// fn render(page: u32) -> Vec<u8> {
    ///     vec![0; page as usize]
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = ProcessPoolExecutor::builder().max_workers(1).max_queued(4).build().unwrap();
    ///     let mut later = Vec::new();
    ///     let mut futures = Vec::new();
    ///     for page in 0..100 {
    ///         match pool.try_submit(render, (page,)) {
    ///             Ok(fut) => futures.push(fut),
    ///             Err(refused) if refused.is_queue_full() => later.push(refused.into_inner()),
    ///             Err(refused) => panic!("{refused}"), // shut down or broken
    ///         }
    ///     }
    ///     println!("{} queued, {} for later", futures.len(), later.len());
    /// }
    /// ```
    pub fn try_submit<J: Job>(
        &self,
        job: J,
        args: J::Args,
    ) -> Result<PoolFuture<J::Output>, SubmitError<J::Args>> {
        #[cfg(unix)]
        return match self.shared.try_reserve() {
            Ok(reservation) => Ok(submit_holding(
                &self.shared,
                job,
                args,
                &SubmitOptions::default(),
                reservation,
            )),
            Err(queue::NoRoom::Full) => Err(SubmitError::Full(args)),
            Err(queue::NoRoom::Closed(err)) => Err(SubmitError::closed(args, err)),
        };
        #[cfg(not(unix))]
        {
            let _ = (job, args);
            match self.never {}
        }
    }

    /// Like [`submit`](Self::submit), but awaits room in the queue without blocking the thread:
    /// the submit for async code on a pool built with
    /// [`max_queued`](ProcessPoolBuilder::max_queued). Without `max_queued` it is `submit`,
    /// ready at the first poll.
    ///
    /// Submitters waiting for room are served first come, first served. Cancel-safe: dropping
    /// the future while it waits (a `select!`, a timeout) gives up its place in line, or the
    /// place granted to it meanwhile, to the next one, and drops the arguments unsent. After
    /// [`shutdown`](Self::shutdown) (or once the pool is broken) it resolves at once to a
    /// `PoolFuture` already done with the error, as `submit` does; so do waiters when the pool
    /// shuts down. The arguments are serialized once room is found.
    ///
    /// The returned `PoolFuture` can be awaited in turn (it is `IntoFuture`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use poolbridge::ProcessPoolExecutor;
    ///
    /// #[poolbridge::job]
    /// fn square(n: u64) -> u64 {
    ///     n * n
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = ProcessPoolExecutor::builder().max_workers(2).max_queued(4).build().unwrap();
    ///     let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    ///     let sum = rt.block_on(async {
    ///         let mut futures = Vec::new();
    ///         for n in 0..100 {
    ///             // Suspends this task (never the runtime's thread) while 4 jobs wait.
    ///             futures.push(pool.submit_async(square, (n,)).await);
    ///         }
    ///         let mut sum = 0;
    ///         for f in futures {
    ///             sum += f.await.unwrap();
    ///         }
    ///         sum
    ///     });
    ///     assert_eq!(sum, 328_350);
    /// }
    /// ```
    pub async fn submit_async<J: Job>(&self, job: J, args: J::Args) -> PoolFuture<J::Output> {
        #[cfg(unix)]
        return match self.shared.reserve().await {
            Ok(reservation) => submit_holding(
                &self.shared,
                job,
                args,
                &SubmitOptions::default(),
                reservation,
            ),
            Err(err) => failed(err),
        };
        #[cfg(not(unix))]
        {
            let _ = (job, args);
            match self.never {}
        }
    }

    /// Runs `job` on every item, in worker processes, and yields the results in input order:
    /// Python's `Executor.map`. Every item is submitted at once; see
    /// [`map_with`](Self::map_with) for a bound on the jobs in flight or on the whole iteration.
    /// A failed item (a panic, a crash, a timeout) yields its error and the iteration goes on.
    /// Dropping the [`Map`] once iterated cancels the jobs that have not started; dropped before
    /// any `next()`, it lets them all run (see [`Map`]).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn cube(n: i64) -> i64 {
    ///     n * n * n
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = poolbridge::ProcessPoolExecutor::new(2);
    ///     let cubes: Vec<i64> = pool.map(cube, (1..=4).map(|n| (n,))).map(Result::unwrap).collect();
    ///     assert_eq!(cubes, [1, 8, 27, 64]);
    /// }
    /// ```
    pub fn map<J, I>(&self, job: J, items: I) -> Map<J::Output>
    where
        J: Job,
        I: IntoIterator<Item = J::Args>,
    {
        let pending = items
            .into_iter()
            .map(|args| self.submit(job, args))
            .collect();
        Map::eager(pending, &MapOptions::default())
    }

    /// [`map`](Self::map) with options: a timeout for the whole iteration (measured from this
    /// call) and a `buffersize` that keeps at most that many jobs in flight, pulling items
    /// lazily. It mirrors
    /// [`ThreadPoolExecutor::map_with`](crate::ThreadPoolExecutor::map_with).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use poolbridge::MapOptions;
    ///
    /// #[poolbridge::job]
    /// fn double(n: u64) -> u64 {
    ///     n * 2
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = poolbridge::ProcessPoolExecutor::new(2);
    ///     let first: Vec<u64> = pool
    ///         .map_with(double, (0..).map(|n| (n,)), MapOptions::default().buffersize(4))
    ///         .take(3)
    ///         .map(Result::unwrap)
    ///         .collect();
    ///     assert_eq!(first, [0, 2, 4]);
    /// }
    /// ```
    pub fn map_with<J, I>(&self, job: J, items: I, options: MapOptions) -> Map<J::Output>
    where
        J: Job,
        I: IntoIterator<Item = J::Args>,
        I::IntoIter: Send + 'static,
    {
        #[cfg(unix)]
        {
            let shared = Arc::clone(&self.shared);
            let closed = Arc::clone(&self.shared);
            Map::submitting(
                items.into_iter(),
                &options,
                move |args| submit(&shared, job, args, &SubmitOptions::default()),
                move || closed.is_closed(),
            )
        }
        #[cfg(not(unix))]
        {
            let _ = (job, items, options);
            match self.never {}
        }
    }

    /// Stops accepting jobs: Python's `Executor.shutdown(wait, cancel_futures)`.
    ///
    /// * Later `submit`s return futures already done with `Err(FutureError::Shutdown)`.
    /// * `cancel_futures = true` cancels every job that has not started.
    /// * `wait = true` returns once the running (and, without `cancel_futures`, the queued) jobs
    ///   have finished, every worker process has exited and been reaped, and the pool's threads
    ///   have ended. `wait = false` returns at once; the workers exit when the queue is empty.
    ///   Either way the queued jobs still run (unless cancelled): a worker that retires meanwhile
    ///   ([`max_tasks_per_child`](ProcessPoolBuilder::max_tasks_per_child)) or dies is replaced
    ///   while jobs wait.
    ///
    /// Idempotent; callable from a done callback of one of the pool's own futures.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn nap(ms: u64) {
    ///     std::thread::sleep(std::time::Duration::from_millis(ms));
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = poolbridge::ProcessPoolExecutor::new(1);
    ///     let futures: Vec<_> = (0..10).map(|_| pool.submit(nap, (50,))).collect();
    ///     pool.shutdown(true, true); // the first job finishes, the others are cancelled
    ///     assert!(futures.iter().skip(1).all(|f| f.cancelled()));
    ///     assert!(pool.worker_pids().is_empty());
    /// }
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        #[cfg(unix)]
        self.shared.shutdown(wait, cancel_futures);
        #[cfg(not(unix))]
        {
            let _ = (wait, cancel_futures);
            match self.never {}
        }
    }

    /// Shuts down, then waits at most `timeout` for the jobs to end and the worker processes to
    /// exit: tokio's `Runtime::shutdown_timeout`, as
    /// [`ThreadPoolExecutor::shutdown_timeout`](crate::ThreadPoolExecutor::shutdown_timeout).
    /// Returns `true` if every job ended, every worker process exited and was reaped, and the
    /// pool's threads ended, in time.
    ///
    /// Like `shutdown(wait = false, cancel_futures = false)` followed by a bounded wait: queued
    /// jobs still run (call `shutdown(false, true)` first to cancel them). When the time is up,
    /// what still runs is left to finish: the running jobs are not interrupted, their futures
    /// complete as usual, and each worker exits as soon as no job is left for it (the pool
    /// closes its end of the socket; a pool thread reaps it). Dropping the executor then no
    /// longer waits for them. No worker outlives this process even so: if it exits first, each
    /// worker sees its parent gone (on Linux through a pidfd of the parent, everywhere when the
    /// socket hangs up) and kills its own process group, job included.
    ///
    /// To stop the running jobs too, call [`PoolFuture::request_cancel`] on their futures first:
    /// [`cancelled()`](crate::cancelled()) turns `true` inside them, and those still running
    /// after [`cancel_grace`](ProcessPoolBuilder::cancel_grace) are killed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// #[poolbridge::job]
    /// fn nap(ms: u64) -> u64 {
    ///     std::thread::sleep(Duration::from_millis(ms));
    ///     ms
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = poolbridge::ProcessPoolExecutor::new(2);
    ///     let quick = pool.submit(nap, (1,));
    ///     let slow = pool.submit(nap, (2_000,));
    ///     assert!(!pool.shutdown_timeout(Duration::from_millis(500)), "the slow job still runs");
    ///     assert_eq!(quick.result(), Ok(1));
    ///     drop(pool); // returns at once; the slow job goes on
    ///     assert_eq!(slow.join(), Ok(2_000));
    /// }
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        #[cfg(unix)]
        return self.shared.shutdown_timeout(timeout);
        #[cfg(not(unix))]
        {
            let _ = timeout;
            match self.never {}
        }
    }

    /// The pids of the worker processes alive now (started lazily, replaced when they die or
    /// reach `max_tasks_per_child`). Not in Python's API; useful for monitoring, and to check
    /// that nothing outlives the pool.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn pid() -> u32 {
    ///     std::process::id()
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = poolbridge::ProcessPoolExecutor::new(1);
    ///     assert!(pool.worker_pids().is_empty()); // lazily started
    ///     let worker = pool.submit(pid, ()).join().unwrap();
    ///     assert_eq!(pool.worker_pids(), [worker]);
    /// }
    /// ```
    pub fn worker_pids(&self) -> Vec<u32> {
        #[cfg(unix)]
        return self.shared.pids();
        #[cfg(not(unix))]
        match self.never {}
    }

    /// A snapshot of what the pool is doing, as
    /// [`ThreadPoolExecutor::metrics`](crate::ThreadPoolExecutor::metrics) gives for threads:
    /// see [`PoolMetrics`] for what each field means for worker processes (`threads` counts
    /// worker processes, `stolen` stays 0).
    ///
    /// The counters are plain integers under the pool's lock, added to where each event already
    /// holds it (a few additions per job, beside a socket round trip per job), and read
    /// together under it: the fields of one snapshot agree with each other (but
    /// `waiting_submits`, read just before).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn parse(n: i64) -> i64 {
    ///     assert!(n >= 0, "negative input");
    ///     n
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = poolbridge::ProcessPoolExecutor::new(2);
    ///     let futures: Vec<_> = (-2..8).map(|n| pool.submit(parse, (n,))).collect();
    ///     futures.iter().for_each(|f| f.wait());
    ///     let m = pool.metrics();
    ///     assert_eq!((m.completed, m.panicked), (8, 2));
    ///     assert_eq!((m.queued, m.running), (0, 0));
    ///     assert!(m.spawned >= 1 && m.threads <= 2);
    ///     println!("{m:?}");
    /// }
    /// ```
    pub fn metrics(&self) -> PoolMetrics {
        #[cfg(unix)]
        return self.shared.metrics();
        #[cfg(not(unix))]
        match self.never {}
    }

    /// `true` once [`shutdown`](Self::shutdown) was called or the pool broke.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// poolbridge::process::init();
    /// let pool = poolbridge::ProcessPoolExecutor::new(1);
    /// pool.shutdown(true, false);
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        #[cfg(unix)]
        return self.shared.is_closed();
        #[cfg(not(unix))]
        match self.never {}
    }
}

impl Default for ProcessPoolExecutor {
    /// `ProcessPoolExecutor::new(n)` with `n` the available parallelism (Python's default).
    fn default() -> Self {
        ProcessPoolExecutor::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl Drop for ProcessPoolExecutor {
    /// `shutdown(wait = true, cancel_futures = false)`. While the thread panics, the pool does not
    /// wait for running jobs: it cancels the queued ones, kills the workers (their jobs resolve
    /// to [`FutureError::BrokenPool`]) and reaps them. After a
    /// [`shutdown_timeout`](Self::shutdown_timeout) that ran out, it does not wait for the jobs
    /// left running either (`shutdown(wait = false, ..)`): they finish on their own.
    fn drop(&mut self) {
        #[cfg(unix)]
        if std::thread::panicking() {
            self.shared.terminate(
                "the pool was dropped while its owner panicked; the job's worker was killed",
            );
        } else {
            let wait = !self.shared.is_detached();
            self.shared.shutdown(wait, false);
        }
    }
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(unix)]
        {
            let (workers, idle, queued) = self.shared.counts();
            f.debug_struct("ProcessPoolExecutor")
                .field("max_workers", &self.max_workers())
                .field("workers", &workers)
                .field("idle", &idle)
                .field("queued", &queued)
                .field("shutdown", &self.is_shutdown())
                .finish()
        }
        #[cfg(not(unix))]
        {
            let _ = f;
            match self.never {}
        }
    }
}

/// Builds a [`ProcessPoolExecutor`] with non-default settings.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use poolbridge::ProcessPoolExecutor;
///
/// #[poolbridge::job]
/// fn limit_memory() {
///     // e.g. setrlimit(RLIMIT_AS, ...) in each worker
/// }
///
/// fn main() {
///     poolbridge::process::init();
///     let pool = ProcessPoolExecutor::builder()
///         .max_workers(8)
///         .max_tasks_per_child(50)
///         .initializer(limit_memory)
///         .job_timeout(Duration::from_secs(120))
///         .build()
///         .expect("a valid configuration");
/// }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ProcessPoolBuilder {
    max_workers: Option<usize>,
    max_tasks_per_child: Option<usize>,
    initializer: Option<&'static str>,
    job_timeout: Option<Duration>,
    program: Option<PathBuf>,
    start_timeout: Duration,
    max_queued: Option<usize>,
    cancel_grace: Duration,
}

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        ProcessPoolBuilder {
            max_workers: None,
            max_tasks_per_child: None,
            initializer: None,
            job_timeout: None,
            program: None,
            start_timeout: DEFAULT_START_TIMEOUT,
            max_queued: None,
            cancel_grace: DEFAULT_CANCEL_GRACE,
        }
    }
}

impl ProcessPoolBuilder {
    /// A builder with the defaults: as many workers as the available parallelism, workers that
    /// live until shutdown, no initializer, no job timeout, the current executable as the
    /// worker program, and a [`DEFAULT_START_TIMEOUT`].
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = poolbridge::process::ProcessPoolBuilder::new().max_workers(2);
    /// ```
    pub fn new() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

    /// The most worker processes the pool runs at once; workers start lazily, one per queued
    /// job. `0` is refused by `build`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = poolbridge::ProcessPoolExecutor::builder().max_workers(0).build().unwrap_err();
    /// assert!(err.to_string().contains("max_workers must be greater than 0"));
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// A worker exits after `n` jobs and is replaced by a fresh process (Python's
    /// `max_tasks_per_child`): memory a job leaked, or state a native library kept, goes back to
    /// the OS. `0` is refused by `build`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// poolbridge::process::init();
    /// let pool = poolbridge::ProcessPoolExecutor::builder().max_tasks_per_child(1).build().unwrap();
    /// ```
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// Runs `job` once in each worker process, before its first job (Python's `initializer`;
    /// pass arguments by capturing nothing: read configuration from the environment or a file).
    /// If it panics or kills its worker, the pool is broken: every queued and later job resolves
    /// to [`FutureError::BrokenPool`] with the reason, as in Python.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn warm_up() {
    ///     // load a model, open a connection: kept for every job of this worker
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = poolbridge::ProcessPoolExecutor::builder().initializer(warm_up).build();
    /// }
    /// ```
    pub fn initializer<J: Job<Args = ()>>(mut self, job: J) -> Self {
        self.initializer = Some(job.name());
        self
    }

    /// The default time limit of every job (a [`SubmitOptions::timeout`] overrides it): past it,
    /// the job's worker is killed with its process group, the future resolves to
    /// [`FutureError::JobTimeout`] and the worker is replaced.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// poolbridge::process::init();
    /// let pool = poolbridge::ProcessPoolExecutor::builder()
    ///     .job_timeout(Duration::from_secs(30))
    ///     .build();
    /// ```
    pub fn job_timeout(mut self, d: Duration) -> Self {
        self.job_timeout = Some(d);
        self
    }

    /// The worker program; by default the current executable (`std::env::current_exe()`). It
    /// must call [`init`] first in `main` and register the same jobs as this program (the
    /// handshake checks it). It is started without arguments. A wrapper script must `exec` the
    /// binary: a worker recognizes itself by its parent's pid.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// poolbridge::process::init();
    /// let pool = poolbridge::ProcessPoolExecutor::builder()
    ///     .program("/usr/local/bin/thumbnailer-worker")
    ///     .build();
    /// ```
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.program = Some(path.into());
        self
    }

    /// How long a new worker may take to reach [`init`] before it is killed and the pool is
    /// broken with a message that says so. Defaults to [`DEFAULT_START_TIMEOUT`]. Python's
    /// `ProcessPoolExecutor` has no such limit.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// poolbridge::process::init();
    /// let pool = poolbridge::ProcessPoolExecutor::builder()
    ///     .start_timeout(Duration::from_secs(60)) // a worker binary on a slow network disk
    ///     .build();
    /// ```
    pub fn start_timeout(mut self, d: Duration) -> Self {
        self.start_timeout = d;
        self
    }

    /// Bounds the jobs waiting for a worker process: back-pressure for a producer faster than
    /// the pool, as [`ThreadPoolBuilder::max_queued`](crate::ThreadPoolBuilder::max_queued)
    /// does for threads. Without it (the default, as in Python) the parent's queue, with the
    /// encoded arguments of every job, grows without limit.
    ///
    /// With `max_queued(n)`, a job holds a place from its submit until it leaves the parent's
    /// queue: when it is written to a worker (a job sent ahead of its turn has left too, see
    /// [`ProcessPoolExecutor`]), or is cancelled (its place is free at once), or refused. So at
    /// most `n` jobs wait in the parent while the workers are busy:
    ///
    /// * [`submit`](ProcessPoolExecutor::submit) and
    ///   [`submit_with`](ProcessPoolExecutor::submit_with) block the calling thread while `n`
    ///   jobs wait;
    /// * [`submit_async`](ProcessPoolExecutor::submit_async) awaits room without blocking the
    ///   thread;
    /// * [`try_submit`](ProcessPoolExecutor::try_submit) hands the arguments back in a
    ///   [`SubmitError`] whose [`is_queue_full`](SubmitError::is_queue_full) is `true`.
    ///
    /// Waiting submitters get room first come, first served. `n` counts waiting jobs only: each
    /// worker also holds the job it runs and the one or few sent ahead. `0` is refused by
    /// `build`.
    ///
    /// # Caveats
    ///
    /// * [`map`](ProcessPoolExecutor::map) and [`map_with`](ProcessPoolExecutor::map_with)
    ///   submit with `submit`: they block the calling thread while the queue is full.
    /// * Jobs sent ahead to a worker that dies before reaching them go back to the head of the
    ///   queue without taking a place (they had theirs): for a moment the queue may hold more
    ///   than `n`.
    /// * A submit from a done callback waits like any other (the callback's pool thread has
    ///   handed its duties to another thread, so the queue still drains).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn checksum(block: Vec<u8>) -> u64 {
    ///     block.iter().map(|&b| u64::from(b)).sum()
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = poolbridge::ProcessPoolExecutor::builder()
    ///         .max_workers(2)
    ///         .max_queued(8)
    ///         .build()
    ///         .unwrap();
    ///     // However fast blocks are read, at most 8 wait in memory for a worker.
    ///     let futures: Vec<_> = (0..1_000u32)
    ///         .map(|i| pool.submit(checksum, (i.to_le_bytes().to_vec(),)))
    ///         .collect();
    ///     assert!(pool.metrics().queued <= 8);
    ///     let total: u64 = futures.into_iter().map(|f| f.join().unwrap()).sum();
    ///     println!("{total}");
    /// }
    /// ```
    pub fn max_queued(mut self, n: usize) -> Self {
        self.max_queued = Some(n);
        self
    }

    /// How long a running job asked to stop may take to return before its worker is killed:
    /// [`DEFAULT_CANCEL_GRACE`] (500 ms) unless set.
    ///
    /// A stop request ([`PoolFuture::request_cancel`], the drop of a polled
    /// [`ExecutorFuture`](crate::ExecutorFuture), or the job's
    /// [`deadline`](SubmitOptions::deadline)) first turns [`cancelled()`](crate::cancelled())
    /// `true` inside the job, in its worker process. A job that returns then resolves to
    /// `Err(FutureError::Cancelled)` (or `DeadlineExceeded { started: true }`) and its worker
    /// is kept. One still running when the grace period ends is killed with its worker's
    /// process group, resolves the same way, and the worker is replaced. `Duration::ZERO`
    /// kills at once; `Duration::MAX` never kills (the job stops only if it checks).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use poolbridge::{FutureError, ProcessPoolExecutor};
    ///
    /// #[poolbridge::job]
    /// fn crunch() -> u64 {
    ///     let mut steps = 0;
    ///     while !poolbridge::cancelled() {
    ///         steps += 1; // one step of a long computation
    ///     }
    ///     steps
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let pool = ProcessPoolExecutor::builder()
    ///         .max_workers(1)
    ///         .cancel_grace(Duration::from_secs(2)) // time to clean up
    ///         .build()
    ///         .unwrap();
    ///     let fut = pool.submit(crunch, ());
    ///     while !fut.running() {
    ///         std::thread::yield_now();
    ///     }
    ///     std::thread::sleep(Duration::from_millis(50));
    ///     fut.request_cancel();
    ///     assert_eq!(fut.join(), Err(FutureError::Cancelled));
    ///     assert_eq!(pool.metrics().stopped, 1); // it returned: its worker was kept
    /// }
    /// ```
    pub fn cancel_grace(mut self, d: Duration) -> Self {
        self.cancel_grace = d;
        self
    }

    /// Builds the pool. No process is started until the first job is submitted.
    ///
    /// # Errors
    ///
    /// If `max_workers`, `max_tasks_per_child` or `max_queued` is 0, if the initializer is not a
    /// registered job, if the current executable cannot be found (and no `program` was set), or
    /// on a platform other than Unix (Linux, macOS): the message names the setting.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// poolbridge::process::init();
    /// let pool = poolbridge::ProcessPoolExecutor::builder().max_workers(2).build()?;
    /// # Ok::<(), poolbridge::BuildError>(())
    /// ```
    pub fn build(self) -> Result<ProcessPoolExecutor, BuildError> {
        let max_workers = self
            .max_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if max_workers == 0 {
            return Err(BuildError::new(
                "max_workers must be greater than 0 (ProcessPoolBuilder::max_workers(0))",
            ));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(BuildError::new(
                "max_tasks_per_child must be greater than 0 (ProcessPoolBuilder::max_tasks_per_child(0))",
            ));
        }
        if self.max_queued == Some(0) {
            return Err(BuildError::new(
                "max_queued must be at least 1 (it bounds the jobs waiting for a worker process), \
                 got 0 (ProcessPoolBuilder::max_queued(0))",
            ));
        }
        #[cfg(unix)]
        {
            let registry = crate::seam::job::registry();
            let initializer = match self.initializer {
                None => None,
                Some(name) => match registry.index(name) {
                    Some(index) => Some((index, name)),
                    None => {
                        return Err(BuildError::new(format!(
                            "the initializer `{name}` is not a registered job: mark it \
                             #[poolbridge::job], or register it with \
                             poolbridge::process::register before init()"
                        )));
                    }
                },
            };
            let program = match self.program {
                Some(program) => program,
                None => std::env::current_exe().map_err(|err| {
                    BuildError::new(format!(
                        "cannot find the current executable to start workers from ({err}): \
                         set ProcessPoolBuilder::program"
                    ))
                })?,
            };
            let config = config::Config {
                max_workers,
                max_tasks_per_child: self.max_tasks_per_child,
                initializer,
                job_timeout: self.job_timeout,
                program,
                start_timeout: self.start_timeout,
                registry,
                max_queued: self.max_queued,
                cancel_grace: self.cancel_grace,
            };
            Ok(ProcessPoolExecutor {
                shared: pool::PoolCore::new(config),
            })
        }
        #[cfg(not(unix))]
        Err(BuildError::new(format!(
            "ProcessPoolExecutor is not supported on {}: it needs Unix process groups and \
             socket pairs (Linux, macOS); use ThreadPoolExecutor here",
            std::env::consts::OS
        )))
    }
}

impl fmt::Debug for ProcessPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("initializer", &self.initializer)
            .field("job_timeout", &self.job_timeout)
            .field("program", &self.program)
            .field("start_timeout", &self.start_timeout)
            .field("max_queued", &self.max_queued)
            .field("cancel_grace", &self.cancel_grace)
            .finish()
    }
}

/// Waits for a place in the queue (a pool with `max_queued`), then submits.
#[cfg(unix)]
fn submit<J: Job>(
    shared: &Arc<pool::PoolCore>,
    job: J,
    args: J::Args,
    options: &SubmitOptions,
) -> PoolFuture<J::Output> {
    match shared.reserve_blocking() {
        Ok(reservation) => submit_holding(shared, job, args, options, reservation),
        Err(err) => failed(err),
    }
}

/// A future already done with `err`.
#[cfg(unix)]
fn failed<O: Send + 'static>(err: FutureError) -> PoolFuture<O> {
    let (promise, fut) = Promise::new();
    let _ = promise.set_error(err);
    fut
}

/// Encodes a call and hands it to the pool. The job holds `reservation`, its place in a
/// bounded queue (see `queue::Place`), shared with its future (a cancel gives it back).
#[cfg(unix)]
fn submit_holding<J: Job>(
    shared: &Arc<pool::PoolCore>,
    job: J,
    args: J::Args,
    options: &SubmitOptions,
    reservation: Option<Arc<Reservation>>,
) -> PoolFuture<J::Output> {
    // The deadline is taken now (the submitting thread's own deadline included, if inherited).
    let deadline = options.effective_deadline(std::time::Instant::now());
    let (promise, fut) = Promise::with_hooks(
        reservation.clone().map(|r| r as Arc<dyn Permit>),
        Some(shared.stop_listener()),
    );
    // Given back if the call fails before it is queued.
    let place = queue::Place::new(reservation);
    let name = job.name();
    if let Some(err) = shared.closed_error() {
        let _ = promise.set_error(err);
        return fut;
    }
    // With `tracing`: the job's `poolbridge.job` span, and its context in the frame.
    #[cfg(feature = "tracing")]
    let (span, trace) = crate::trace::job_span(name, "process");
    #[cfg(feature = "tracing")]
    let (room, seal) = (
        wire::TRACED_CALL_HEADER,
        |call: crate::seam::call::EncodedCall| wire::seal_traced_call(call, &trace.to_bytes()),
    );
    #[cfg(not(feature = "tracing"))]
    let (room, seal) = (wire::CALL_HEADER, wire::seal_call);
    let call = encode_call(shared.config.registry, &job, &args, room);
    let frame = match call.and_then(|call| seal(call).map_err(FutureError::Ipc)) {
        Ok(frame) => frame,
        Err(err) => {
            let _ = promise.set_error(err);
            return fut;
        }
    };
    let timeout = options.get_timeout().or(shared.config.job_timeout);
    let key = fut.addr();
    let done = Box::new(Typed::new(promise, name, Via::Process));
    let call = queue::Call::new(name, timeout, deadline, key, done).holding(place);
    #[cfg(feature = "tracing")]
    let call = call.in_span(span);
    shared.submit(frame, call);
    fut
}

/// Runs job `index` of the registry with `args` already postcard-encoded, for a remote worker
/// host: the future holds the encoded output, or the error (panic, crash, timeout) as for a
/// typed job. The output is not decoded here: the host forwards the bytes to its client.
/// `deadline` is the remote job's (`DeadlineExceeded` as for a typed job's).
#[cfg(all(unix, feature = "nats"))]
pub(crate) fn submit_raw(
    pool: &ProcessPoolExecutor,
    index: u32,
    args: &[u8],
    timeout: Option<Duration>,
    deadline: Option<std::time::Instant>,
    trace: crate::trace::Carried,
) -> PoolFuture<Vec<u8>> {
    let shared = &pool.shared;
    let (promise, fut) = Promise::with_hooks(None, Some(shared.stop_listener()));
    let name = shared
        .config
        .registry
        .name(index)
        .unwrap_or("<unknown job>");
    if let Some(err) = shared.closed_error() {
        let _ = promise.set_error(err);
        return fut;
    }
    use crate::seam::call::EncodedCall;
    // With `tracing`: the host's context in the frame, and its span over the forwarded events.
    #[cfg(feature = "tracing")]
    let (sealed, span) = match trace {
        Some((ctx, span)) => {
            let call = EncodedCall::from_encoded(name, index, args, wire::TRACED_CALL_HEADER);
            (wire::seal_traced_call(call, &ctx.to_bytes()), span)
        }
        None => {
            let call = EncodedCall::from_encoded(name, index, args, wire::CALL_HEADER);
            (wire::seal_call(call), tracing::Span::none())
        }
    };
    #[cfg(not(feature = "tracing"))]
    let sealed = {
        let () = trace;
        wire::seal_call(EncodedCall::from_encoded(
            name,
            index,
            args,
            wire::CALL_HEADER,
        ))
    };
    let frame = match sealed {
        Ok(frame) => frame,
        Err(reason) => {
            let _ = promise.set_error(FutureError::Ipc(reason));
            return fut;
        }
    };
    let key = fut.addr();
    let done = Box::new(Typed::raw(promise, name, Via::Process));
    let timeout = timeout.or(shared.config.job_timeout);
    let call = queue::Call::new(name, timeout, deadline, key, done);
    #[cfg(feature = "tracing")]
    let call = call.in_span(span);
    shared.submit(frame, call);
    fut
}

/// What `#[poolbridge::job]` expands to refers to these. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::seam::job::{InvokeError, InvokeFn, JOBS, JobEntry, invoke};
    pub use linkme;

    /// Compile-time check that a job argument type crosses processes.
    pub fn assert_arg<T: serde::Serialize + serde::de::DeserializeOwned>() {}

    /// Compile-time check that a job output type crosses processes.
    pub fn assert_output<T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static>() {}
}
