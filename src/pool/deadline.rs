//! Deadlines of the thread pool's jobs: what a job with a deadline carries ([`Deadline`]), and
//! the timer that ends or stops such jobs when their deadline comes.
//!
//! A job gets a deadline from `SubmitOptions::deadline` (`ThreadPoolExecutor::submit_with`), or
//! inherits the deadline of the job that submits it (any submit that returns a future). Its
//! task is a `Task<F, T, P, Deadline>` (`task.rs`): a plain job's is `Task<F, T, P, ()>`, no
//! bigger and no slower than before deadlines existed.
//!
//! * **Not started by then: never runs.** A runner (a worker, or a wait running the job inline)
//!   that takes the job after its deadline ends it with `DeadlineExceeded { started: false }`
//!   instead of claiming it (`PoolFuture::expire`), and the timer does the same at the deadline
//!   to a job still queued, so its waiters wake then, not when a worker reaches the entry.
//! * **Running then: asked to stop.** The timer makes the same request as
//!   `PoolFuture::request_cancel`, marked as the deadline's (`context::Stop::Deadline`, a bit in
//!   the runner's job cell): `cancelled()` stays one load. A job that saw it and returns
//!   resolves to `DeadlineExceeded { started: true }`; one that returns a value without having
//!   looked keeps it. A thread cannot be killed, so that is all a deadline can do to a running
//!   job (`SubmitOptions::timeout` does not apply to threads).
//!
//! The timer is one thread per process, started by the first job with a deadline, with a binary
//! heap of `(deadline, weak handle to the job)`: a job that ends first costs the timer nothing
//! but a failed upgrade at its deadline (and entries of dropped jobs are purged as the heap
//! grows). Done callbacks of a job the timer ends run on the timer's thread, like those of a
//! job cancelled by `cancel()` run on the cancelling thread.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::thread;
use std::time::Instant;

use crate::unwind::{self, lock};

/// The deadline of one job, and the pool's count of jobs that never ran because of theirs.
pub(crate) struct Deadline {
    at: Instant,
    expired: Arc<AtomicU64>,
}

impl Deadline {
    /// A deadline at `at`, counting expirations in `expired` (the pool's).
    pub(crate) fn new(at: Instant, expired: &Arc<AtomicU64>) -> Deadline {
        Deadline {
            at,
            expired: Arc::clone(expired),
        }
    }

    pub(crate) fn at(&self) -> Instant {
        self.at
    }

    /// `true` once the deadline has come: too late to start the job.
    pub(crate) fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// A job ended by its deadline before it started.
    pub(crate) fn count_expired(&self) {
        // ORDERING: Relaxed: a statistic, summed by `metrics()` (expirations are rare: no
        // per-worker counter needed, and the timer's thread counts here too).
        self.expired.fetch_add(1, Ordering::Relaxed);
    }
}

/// A job the timer can reach at its deadline.
pub(crate) trait Expire: Send + Sync {
    /// The deadline has come: end the job if it has not started, ask it to stop if it runs
    /// (`PoolFuture::deadline_passed`).
    fn deadline_passed(self: Arc<Self>);
}

/// One armed deadline. Ordered by deadline, then by arming order, earliest first (the heap is a
/// max-heap: the comparison is reversed).
struct Entry {
    at: Instant,
    seq: u64,
    job: Weak<dyn Expire>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The heap, under the timer's lock.
struct Heap {
    entries: BinaryHeap<Entry>,
    next_seq: u64,
    /// The timer thread runs.
    started: bool,
    /// The size at which the next arm drops the entries of jobs that no longer exist.
    purge_at: usize,
}

/// The process's deadline timer.
struct Timer {
    heap: Mutex<Heap>,
    /// Signalled when an entry earlier than every other one is armed.
    wake: Condvar,
}

/// Entries kept before the first purge.
const MIN_PURGE: usize = 1024;

fn timer() -> &'static Timer {
    static TIMER: OnceLock<Timer> = OnceLock::new();
    TIMER.get_or_init(|| Timer {
        heap: Mutex::new(Heap {
            entries: BinaryHeap::new(),
            next_seq: 0,
            started: false,
            purge_at: MIN_PURGE,
        }),
        wake: Condvar::new(),
    })
}

/// Tells `job` at `at` that its deadline has come (unless the job no longer exists then).
/// Starts the timer thread on first use.
pub(crate) fn arm(at: Instant, job: Weak<dyn Expire>) {
    let timer_ref = timer();
    let mut heap = lock(&timer_ref.heap);
    if heap.entries.len() >= heap.purge_at {
        // Jobs that ended and were dropped before their deadline: their entries only wait.
        heap.entries.retain(|entry| entry.job.strong_count() > 0);
        heap.purge_at = (heap.entries.len() * 2).max(MIN_PURGE);
    }
    let seq = heap.next_seq;
    heap.next_seq += 1;
    let earliest = heap.entries.peek().is_none_or(|first| at < first.at);
    heap.entries.push(Entry { at, seq, job });
    if !heap.started {
        let spawned = thread::Builder::new()
            .name("poolbridge-deadlines".to_owned())
            .spawn(|| run(timer()));
        // Without the thread (the OS refused one), deadlines still hold when a runner takes
        // a job; the next arm tries again.
        heap.started = spawned.is_ok();
    } else if earliest {
        timer_ref.wake.notify_one();
    }
}

/// The timer thread: sleeps until the earliest deadline, then tells every job whose deadline
/// has come, outside the lock (ending a job runs its done callbacks).
fn run(timer: &'static Timer) {
    let mut due = Vec::new();
    loop {
        {
            let mut heap = lock(&timer.heap);
            loop {
                let now = Instant::now();
                match heap.entries.peek() {
                    None => {
                        heap = timer.wake.wait(heap).unwrap_or_else(|e| e.into_inner());
                    }
                    Some(first) if first.at > now => {
                        let wait = first.at - now;
                        heap = timer
                            .wake
                            .wait_timeout(heap, wait)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    Some(_) => break,
                }
            }
            let now = Instant::now();
            while heap.entries.peek().is_some_and(|first| first.at <= now) {
                if let Some(entry) = heap.entries.pop() {
                    due.push(entry.job);
                }
            }
        }
        for job in due.drain(..) {
            // The job may end and be dropped meanwhile: then nothing is left to do. If it ends
            // while we hold it, the last handle may be ours, and its value is dropped here.
            if let Some(job) = job.upgrade() {
                if let Err(panic) = unwind::catch(|| job.deadline_passed()) {
                    unwind::report("a job ended at its deadline", &panic);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    struct Probe(Mutex<mpsc::Sender<(u32, Instant)>>, u32);

    impl Expire for Probe {
        fn deadline_passed(self: Arc<Self>) {
            let _ = lock(&self.0).send((self.1, Instant::now()));
        }
    }

    #[test]
    fn the_timer_tells_live_jobs_in_deadline_order_and_skips_dropped_ones() {
        let (tx, rx) = mpsc::channel();
        let now = Instant::now();
        let mut keep = Vec::new();
        for (id, ms) in [(3u32, 60u64), (1, 20), (2, 40), (9, 30)] {
            let probe = Arc::new(Probe(Mutex::new(tx.clone()), id));
            arm(
                now + Duration::from_millis(ms),
                Arc::downgrade(&probe) as Weak<dyn Expire>,
            );
            if id != 9 {
                keep.push(probe);
            }
        }
        // Probe 9 is dropped: its entry upgrades to nothing.
        let fired: Vec<(u32, Instant)> = (0..3).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(
            fired.iter().map(|f| f.0).collect::<Vec<_>>(),
            [1, 2, 3],
            "in deadline order"
        );
        for (id, at) in fired {
            let deadline = now + Duration::from_millis(u64::from(id) * 20);
            assert!(at >= deadline, "probe {id} told before its deadline");
        }
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    }
}
