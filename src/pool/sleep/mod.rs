//! The worker sleep protocol: how idle workers spin, park and retire, and how a new job finds a
//! worker. The design note `README.md` beside this file states the protocol and proves that no
//! wakeup is lost; the loom model `tests/loom_sleep.rs` checks it.
//!
//! A worker is, at any moment, in one of these states, recorded in one atomic word so that a
//! submitter reads all counts in one load:
//!
//! | state     | counted in  | meaning                                                            |
//! |-----------|-------------|--------------------------------------------------------------------|
//! | busy      | `threads`   | running a job, or between jobs                                     |
//! | searching | `searching` | spinning over the queues; will find any job pushed meanwhile       |
//! | sleeping  | `sleeping`  | on the sleepers stack, parked (or about to park) on its `Parker`   |
//!
//! `searching` and `sleeping` workers are also counted in `threads`.

use std::time::{Duration, Instant};

use crate::loom::sync::atomic::{AtomicUsize, Ordering, fence};
use crate::loom::sync::{Condvar, Mutex};
use crate::loom::{lock, wait, wait_timeout};

const FIELD_BITS: u32 = 21;
const FIELD_MASK: usize = (1 << FIELD_BITS) - 1;
const SEARCHING_SHIFT: u32 = 0;
const SLEEPING_SHIFT: u32 = FIELD_BITS;
const THREADS_SHIFT: u32 = 2 * FIELD_BITS;
const ONE_SEARCHING: usize = 1 << SEARCHING_SHIFT;
const ONE_SLEEPING: usize = 1 << SLEEPING_SHIFT;
const ONE_THREAD: usize = 1 << THREADS_SHIFT;

/// The largest pool the word can count (each field is 21 bits wide).
pub(crate) const MAX_THREADS: usize = FIELD_MASK;

/// A snapshot of the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) searching: usize,
    pub(crate) sleeping: usize,
    pub(crate) threads: usize,
}

impl Counts {
    fn decode(word: usize) -> Counts {
        Counts {
            searching: (word >> SEARCHING_SHIFT) & FIELD_MASK,
            sleeping: (word >> SLEEPING_SHIFT) & FIELD_MASK,
            threads: (word >> THREADS_SHIFT) & FIELD_MASK,
        }
    }
}

/// How a call to [`Sleep::sleep`] ended.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Work (or shutdown) was seen by the re-check before parking; the worker is searching again.
    Recheck,
    /// A waker popped the worker off the stack and unparked it; the worker is searching again.
    Notified,
    /// The keep-alive passed. The worker may still be on the stack: it must call
    /// [`Sleep::try_retire`] (or find it was woken meanwhile).
    TimedOut,
}

/// Sleep/wake bookkeeping for one pool.
pub(crate) struct Sleep {
    /// `threads | sleeping | searching`, 21 bits each.
    word: AtomicUsize,
    /// Indices of sleeping workers, most recent last: waking the most recent one wakes the
    /// warmest cache, and lets the least recently used workers reach their keep-alive and retire.
    sleepers: Mutex<Vec<usize>>,
    /// One parker per worker slot.
    parkers: Box<[Parker]>,
    /// At most this many workers spin at once (the rest park at once): spinning costs a core.
    max_searching: usize,
}

/// A worker's bed: a flag and a condvar, so a notification given before the worker parks is
/// not lost.
struct Parker {
    notified: Mutex<bool>,
    cond: Condvar,
}

impl Sleep {
    pub(crate) fn new(slots: usize, max_searching: usize) -> Sleep {
        Sleep {
            word: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::with_capacity(slots)),
            parkers: (0..slots)
                .map(|_| Parker {
                    notified: Mutex::new(false),
                    cond: Condvar::new(),
                })
                .collect(),
            max_searching: max_searching.max(1),
        }
    }

    /// The counts. Callers that act on them for a job they just pushed issue `fence(SeqCst)`
    /// between the push and this load (see the design note).
    pub(crate) fn counts(&self) -> Counts {
        // ORDERING: Relaxed: the protocol's ordering comes from the SeqCst fence the submitter
        // issues before this load and the SeqCst RMWs + fence on the worker side.
        Counts::decode(self.word.load(Ordering::Relaxed))
    }

    /// busy → searching, unless `max_searching` workers already search. Returns `true` if the
    /// caller is now searching.
    pub(crate) fn try_start_searching(&self) -> bool {
        // ORDERING: Relaxed first read: the CAS below re-checks it.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if Counts::decode(word).searching >= self.max_searching {
                return false;
            }
            // ORDERING: SeqCst like every transition that makes a worker available, so it is
            // ordered against the submitters' fences; Relaxed on failure (we retry).
            match self.word.compare_exchange_weak(
                word,
                word + ONE_SEARCHING,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// searching → busy (the worker found a job). Returns `true` if it was the last searcher: it
    /// must then make sure someone looks at the rest of the queue (see `Registry::notify`).
    pub(crate) fn stop_searching(&self) -> bool {
        // ORDERING: SeqCst: a submitter that reads `searching > 0` relies on this worker; once it
        // stops searching, the cascade check that follows (a SeqCst fence, then the queues) picks
        // up whatever such a submitter pushed.
        let prev = self.word.fetch_sub(ONE_SEARCHING, Ordering::SeqCst);
        Counts::decode(prev).searching == 1
    }

    /// busy|searching → sleeping, then parks until woken or until `keep_alive` passes.
    ///
    /// `has_work` is the re-check made after announcing the sleep: it must return `true` if a job
    /// is queued anywhere or the pool is closing.
    pub(crate) fn sleep(
        &self,
        index: usize,
        searching: bool,
        keep_alive: Option<Duration>,
        has_work: impl Fn() -> bool,
    ) -> Wake {
        {
            let mut sleepers = lock(&self.sleepers);
            sleepers.push(index);
            let delta = if searching {
                ONE_SLEEPING.wrapping_sub(ONE_SEARCHING)
            } else {
                ONE_SLEEPING
            };
            // ORDERING: SeqCst RMW: announces the sleeper before the re-check below.
            self.word.fetch_add(delta, Ordering::SeqCst);
        }
        // ORDERING: the Dekker fence. Announce (above) → fence → re-check (below), against the
        // submitter's push → fence → read of the word: at least one side sees the other.
        fence(Ordering::SeqCst);
        if has_work() && self.cancel_sleep(index) {
            return Wake::Recheck;
        }
        // Either nothing to do, or a waker already popped us and its notification is on its way:
        // parking consumes it.
        self.park(
            index,
            keep_alive.and_then(|d| Instant::now().checked_add(d)),
        )
    }

    fn park(&self, index: usize, deadline: Option<Instant>) -> Wake {
        let parker = &self.parkers[index];
        let mut notified = lock(&parker.notified);
        loop {
            if *notified {
                *notified = false;
                return Wake::Notified;
            }
            notified = match deadline {
                None => wait(&parker.cond, notified),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Wake::TimedOut;
                    }
                    wait_timeout(&parker.cond, notified, deadline - now).0
                }
            };
        }
    }

    /// sleeping → searching, by the sleeper itself. Fails (returns `false`) if a waker popped it
    /// first; the worker must then consume that waker's notification.
    fn cancel_sleep(&self, index: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        match sleepers.iter().rposition(|&i| i == index) {
            Some(pos) => {
                sleepers.remove(pos);
                // ORDERING: SeqCst like every transition of the word.
                self.word
                    .fetch_add(ONE_SEARCHING.wrapping_sub(ONE_SLEEPING), Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Waits for the notification of a waker that popped this worker (after a failed
    /// `cancel_sleep` or `try_retire`). Returns at once if it was already delivered.
    pub(crate) fn consume_notification(&self, index: usize) {
        let wake = self.park(index, None);
        debug_assert_eq!(wake, Wake::Notified);
    }

    /// sleeping → gone, after the keep-alive passed. Returns `false` if a waker popped the worker
    /// meanwhile (it must then `consume_notification` and go on searching).
    ///
    /// The caller holds the registry's slot lock, the only place `threads` grows, so it may undo
    /// this with [`undo_retire`](Self::undo_retire) without ever exceeding `max_workers`.
    pub(crate) fn try_retire(&self, index: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        match sleepers.iter().rposition(|&i| i == index) {
            Some(pos) => {
                sleepers.remove(pos);
                // ORDERING: SeqCst; the caller follows with a fence and a last look at the queues.
                self.word
                    .fetch_sub(ONE_SLEEPING + ONE_THREAD, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// gone → searching: the retiring worker's last look found a job.
    pub(crate) fn undo_retire(&self) {
        // ORDERING: SeqCst like every transition of the word.
        self.word
            .fetch_add(ONE_THREAD + ONE_SEARCHING, Ordering::SeqCst);
    }

    /// One more thread, if fewer than `max` exist. Called under the registry's slot lock. The
    /// new thread counts as searching until it takes its first job: submitters count on it.
    pub(crate) fn try_add_thread(&self, max: usize) -> bool {
        // ORDERING: Relaxed first read: the CAS below re-checks it.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if Counts::decode(word).threads >= max {
                return false;
            }
            // ORDERING: SeqCst like every transition of the word.
            match self.word.compare_exchange_weak(
                word,
                word + ONE_THREAD + ONE_SEARCHING,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// A busy or searching thread exits (shutdown, broken pool, or its spawn failed).
    pub(crate) fn remove_thread(&self, searching: bool) {
        let delta = if searching {
            ONE_THREAD + ONE_SEARCHING
        } else {
            ONE_THREAD
        };
        // ORDERING: SeqCst like every transition of the word.
        self.word.fetch_sub(delta, Ordering::SeqCst);
    }

    /// Wakes the most recent sleeper, which becomes a searcher. Returns `false` if none sleeps.
    pub(crate) fn wake_one(&self) -> bool {
        let index = {
            let mut sleepers = lock(&self.sleepers);
            let Some(index) = sleepers.pop() else {
                return false;
            };
            // ORDERING: SeqCst like every transition of the word. Done under the sleepers lock
            // together with the pop, so the count never disagrees with the stack for long.
            self.word
                .fetch_add(ONE_SEARCHING.wrapping_sub(ONE_SLEEPING), Ordering::SeqCst);
            index
        };
        self.notify(index);
        true
    }

    /// Wakes every sleeper (shutdown, broken pool).
    pub(crate) fn wake_all(&self) {
        let woken: Vec<usize> = {
            let mut sleepers = lock(&self.sleepers);
            let n = sleepers.len();
            if n > 0 {
                // ORDERING: SeqCst like every transition of the word.
                self.word.fetch_add(
                    (n * ONE_SEARCHING).wrapping_sub(n * ONE_SLEEPING),
                    Ordering::SeqCst,
                );
            }
            sleepers.drain(..).collect()
        };
        for index in woken {
            self.notify(index);
        }
    }

    fn notify(&self, index: usize) {
        let parker = &self.parkers[index];
        *lock(&parker.notified) = true;
        parker.cond.notify_one();
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}
