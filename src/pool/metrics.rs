//! [`PoolMetrics`]: what a pool is doing, counted without slowing it down.
//!
//! The gauges (`threads`, `idle`) come from the sleep word every submit already reads; `queued`
//! from the lengths of the queues. The job counters are per worker slot (`context::JobCounters`,
//! one cache line each, written by the slot's thread alone with plain stores) and summed here:
//! no atomic shared between workers is touched per job.

/// A snapshot of a pool's activity, from
/// [`ThreadPoolExecutor::metrics`](crate::ThreadPoolExecutor::metrics).
///
/// The counters (`u64`) only grow, from the pool's creation; the gauges (`usize`) are values at
/// the moment of the snapshot. The fields are read one after another while the pool runs, so
/// they may disagree by a job or two (a job counted `completed` whose thread still counts as
/// `running`).
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
    /// Worker threads alive now.
    pub threads: usize,
    /// Worker threads waiting for a job now (searching or parked).
    pub idle: usize,
    /// Jobs waiting for a worker: queue entries not yet taken. A job cancelled while queued stays
    /// counted until a worker takes its entry and drops it (at once when a worker is idle).
    pub queued: usize,
    /// Jobs running now on the pool's threads (a job that a worker runs inline while it waits
    /// for it counts too).
    pub running: usize,
    /// Jobs that ran and returned a value (the job's own `Err` values included).
    pub completed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Jobs cancelled: before they started (counted when the pool drops their queue entry),
    /// or while running, when they stopped after seeing [`cancelled()`](crate::cancelled()).
    pub cancelled: u64,
    /// Jobs a worker took from another worker's deque (work stealing).
    pub stolen: u64,
    /// Worker threads started.
    pub spawned: u64,
    /// Worker threads that exited (idle past the keep-alive, or at shutdown).
    pub retired: u64,
    /// Submits waiting for room in the queue
    /// ([`ThreadPoolBuilder::max_queued`](crate::ThreadPoolBuilder::max_queued)).
    pub waiting_submits: usize,
}
