//! [`PoolMetrics`]: what a pool is doing, counted without slowing it down.
//!
//! The gauges (`threads`, `idle`) come from the sleep word every submit already reads; `queued`
//! from the lengths of the queues. The job counters are per worker slot (`context::JobCounters`,
//! one cache line each, written by the slot's thread alone with plain stores) and summed here:
//! no atomic shared between workers is touched per job.
//!
//! The process pool fills the same struct from counters kept under its state lock
//! (`process/pool.rs`, `Shared::metrics`): every event it counts takes that lock anyway.

/// A snapshot of a pool's activity, from
/// [`ThreadPoolExecutor::metrics`](crate::ThreadPoolExecutor::metrics) or
/// `ProcessPoolExecutor::metrics` (feature `process`).
///
/// The counters (`u64`) only grow, from the pool's creation; the gauges (`usize`) are values at
/// the moment of the snapshot. A thread pool's fields are read one after another while the pool
/// runs, so they may disagree by a job or two (a job counted `completed` whose thread still
/// counts as `running`); a process pool's are read together under its lock (but
/// `waiting_submits`).
///
/// For a process pool, "thread" reads "worker process" (each field says what else differs).
/// A process job whose worker died counts in `worker_died`, one killed at its time limit in
/// `timed_out` (and their workers in `retired`); one whose arguments could not be decoded in the
/// worker, or whose pool was dropped while panicking, counts in none of the job counters.
///
/// # Examples
///
/// ```
/// use poolbridge::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(2);
/// let futures: Vec<_> = (0..10).map(|i| pool.submit(move || i)).collect();
/// futures.iter().for_each(|f| f.wait());
/// let m = pool.metrics();
/// assert_eq!(m.completed, 10);
/// assert_eq!((m.queued, m.running), (0, 0));
/// assert!(m.threads >= 1 && m.threads <= 2);
/// println!("{m:?}");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolMetrics {
    /// Worker threads alive now. Process pool: worker processes up now (started and not yet
    /// reaped; one still starting is not counted).
    pub threads: usize,
    /// Worker threads waiting for a job now (searching or parked). Process pool: worker
    /// processes waiting for a job.
    pub idle: usize,
    /// Jobs waiting for a worker: queue entries not yet taken. A job cancelled while queued stays
    /// counted until a worker takes its entry and drops it (at once when a worker is idle).
    /// Process pool: jobs in the parent's queue (a job sent ahead to a worker has left it; a
    /// cancelled one stays until a worker's turn drops it or, with `max_queued`, until the full
    /// queue drops it to make room).
    pub queued: usize,
    /// Jobs running now on the pool's threads (a job that a worker runs inline while it waits
    /// for it counts too). Process pool: jobs the worker processes hold, the one each runs and
    /// those sent ahead of their turn (whose futures say running too), so it may exceed
    /// `threads`.
    pub running: usize,
    /// Jobs that ran and returned a value (the job's own `Err` values included). Process pool:
    /// jobs whose worker answered with a value (one that then fails to deserialize included).
    pub completed: u64,
    /// Jobs that panicked (in its worker process, for a process pool; the worker survives).
    pub panicked: u64,
    /// Jobs cancelled: before they started (counted when the pool drops their queue entry),
    /// or while running, when they stopped after seeing [`cancelled()`](crate::cancelled()) (a
    /// job stopped that way at its deadline counts in `deadline_exceeded` instead).
    /// Process pool: before they were sent to a worker (counted when the pool drops the entry or
    /// cancels it at shutdown), or sent ahead to a busy worker and taken back by
    /// `request_cancel`; jobs stopped while running count in `stopped` or `killed`.
    pub cancelled: u64,
    /// Process pool: jobs whose worker process died while it ran them (they resolved to
    /// `FutureError::WorkerDied`). Always 0 for a thread pool, where a panic ends only its job.
    pub worker_died: u64,
    /// Process pool: jobs killed with their worker at their time limit (they resolved to
    /// `FutureError::JobTimeout`). Always 0 for a thread pool, whose jobs have no time limit.
    pub timed_out: u64,
    /// Process pool: jobs that returned after a stop request reached them
    /// ([`PoolFuture::request_cancel`](crate::PoolFuture::request_cancel), or their deadline:
    /// `cancelled()` turned `true` in the worker and the job returned); they resolved to
    /// `Cancelled` or `DeadlineExceeded { started: true }`, and their worker was kept.
    pub stopped: u64,
    /// Process pool: jobs asked to stop that ran on past the grace period
    /// (`ProcessPoolBuilder::cancel_grace`) and were killed with their worker (they resolved to
    /// `Cancelled` or `DeadlineExceeded { started: true }`; the worker counts in `retired`).
    pub killed: u64,
    /// Jobs that resolved to [`FutureError::DeadlineExceeded`](crate::FutureError::DeadlineExceeded)
    /// (see [`SubmitOptions::deadline`](crate::SubmitOptions::deadline)), whether they had
    /// started or not: jobs not started by their deadline, which never ran (counted when the pool
    /// ends them: at the deadline or when a worker would take them, or at a submit made after
    /// it), and jobs that ran past it and were stopped (not counted in `cancelled`; on the process
    /// pool those also count in `stopped` or `killed`). A job that ran past its deadline and
    /// returned a value without looking counts in `completed`.
    pub deadline_exceeded: u64,
    /// Jobs a worker took from another worker's deque (work stealing). Always 0 for a process
    /// pool, whose queue is one list in the parent.
    pub stolen: u64,
    /// Worker threads started. Process pool: worker processes started (that completed the
    /// handshake), replacements of crashed or retired ones included.
    pub spawned: u64,
    /// Worker threads that exited (idle past the keep-alive, or at shutdown). Process pool:
    /// worker processes that ended and were reaped, for any reason: a crash, a time limit,
    /// `max_tasks_per_child`, shutdown.
    pub retired: u64,
    /// Submits waiting for room in the queue
    /// ([`ThreadPoolBuilder::max_queued`](crate::ThreadPoolBuilder::max_queued), or
    /// `ProcessPoolBuilder::max_queued`).
    pub waiting_submits: usize,
    /// How long jobs waited from submit to start, over the last 10 to 20 seconds; `None` until
    /// a job was timed in that time. A thread pool times one job in 64 submitted by each thread
    /// (the first one of each thread included; not the jobs of `execute`); a process pool times
    /// every job, from submit to the moment its worker runs it (it was sent to it, or the job
    /// before it answered). See [`LatencySummary`](crate::LatencySummary).
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// assert!(pool.metrics().queue_wait.is_none(), "nothing timed yet");
    /// pool.submit(|| ()).wait();
    /// let wait = pool.metrics().queue_wait.expect("a thread's first job is timed");
    /// assert_eq!(wait.samples, 1);
    /// ```
    pub queue_wait: Option<crate::LatencySummary>,
    /// How long jobs ran, from start to return, over the last 10 to 20 seconds; `None` until a
    /// job was timed in that time (sampled as [`queue_wait`](Self::queue_wait); a job that
    /// panicked is not counted on a thread pool). Process pool: from the moment its worker runs
    /// it to its answer, in the parent.
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// pool.submit(|| std::thread::sleep(Duration::from_millis(5))).wait();
    /// let run = pool.metrics().run_time.expect("a thread's first job is timed");
    /// assert!(run.max >= Duration::from_millis(5));
    /// ```
    pub run_time: Option<crate::LatencySummary>,
    /// The latest progress `(done, total)` of each running job that has reported some with
    /// [`poolbridge::progress()`](crate::progress()), in no particular order; a job that never
    /// reported is not listed (its count is in `running`). Thread pool: the jobs running on
    /// its workers (a job run inline by another thread, e.g. one waited on before it started,
    /// is listed under that thread's pool, if any); process pool: the job each worker runs now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let (reported, seen) = mpsc::channel();
    /// let (release, gate) = mpsc::channel::<()>();
    /// let job = pool.submit(move || {
    ///     poolbridge::progress(3, 10);
    ///     reported.send(()).unwrap();
    ///     gate.recv().unwrap();
    /// });
    /// seen.recv().unwrap();
    /// assert_eq!(pool.metrics().progress, [(3, 10)]);
    /// release.send(()).unwrap();
    /// job.wait();
    /// assert!(pool.metrics().progress.is_empty());
    /// ```
    pub progress: Vec<(u64, u64)>,
}
