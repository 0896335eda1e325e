//! The worker sleep protocol: how idle workers search, park and retire, and how a new job finds a
//! worker. Both halves live here: the submitter's ([`Sleep::job_pushed`], [`Sleep::more_work`])
//! and the worker's ([`Sleep::try_start_searching`], [`Sleep::stop_searching`],
//! [`Sleep::sleep`], [`Sleep::try_retire`]). The design note `README.md` beside this file states
//! the protocol and proves that no wakeup is lost; the loom model `tests/loom_sleep.rs` runs
//! this very code.
//!
//! A worker is, at any moment, in one of these states, recorded in one atomic word so that a
//! submitter reads all counts in one load:
//!
//! | state     | counted in  | meaning                                                            |
//! |-----------|-------------|--------------------------------------------------------------------|
//! | busy      | `threads`   | running a job, its callbacks, or its initializer                   |
//! | searching | `searching` | looking at the queues; will find any job pushed meanwhile          |
//! | sleeping  | `sleeping`  | on the sleepers stack, parked (or about to park) on its `Parker`   |
//!
//! `searching` and `sleeping` workers are also counted in `threads`.

use std::time::{Duration, Instant};

use crate::loom::sync::atomic::{AtomicUsize, Ordering, fence};
use crate::loom::sync::{Condvar, Mutex};
use crate::loom::{lock, wait, wait_timeout};

/// Width of each of the three counts: a third of the word, so the layout is valid on every
/// target (10 bits on 32-bit targets, 21 on 64-bit ones).
const FIELD_BITS: u32 = usize::BITS / 3;
const FIELD_MASK: usize = (1 << FIELD_BITS) - 1;
const SEARCHING_SHIFT: u32 = 0;
const SLEEPING_SHIFT: u32 = FIELD_BITS;
const THREADS_SHIFT: u32 = 2 * FIELD_BITS;
const ONE_SEARCHING: usize = 1 << SEARCHING_SHIFT;
const ONE_SLEEPING: usize = 1 << SLEEPING_SHIFT;
const ONE_THREAD: usize = 1 << THREADS_SHIFT;

/// The largest pool the word can count: 1023 threads on 32-bit targets, about two million on
/// 64-bit ones.
pub(crate) const MAX_THREADS: usize = FIELD_MASK;

// The three fields fit the word on every target.
const _: () = assert!(3 * FIELD_BITS <= usize::BITS);

/// How many queued jobs per searching worker make a worker that takes a job call one more
/// worker (`Sleep::more_work`): the fan-out of a burst over sleeping or not yet started threads.
///
/// What it buys: the threads of a burst of long jobs start their first jobs in a tree, not in a
/// chain of wake-ups; with 128 parked workers and 1,024 jobs of 10 ms (the harness's `sleepy`),
/// the 128th job started 1.6–1.8 ms after the first with a chain (a wake-up costs ≈ 14 µs on the
/// 2-vCPU VM, one after the other), and every later wave kept that lag. What it costs: a burst
/// of short jobs wakes its sleeping workers sooner than they would be reached one by one, and
/// a worker that finds nothing left searches briefly and parks again. Twice the searchers keeps
/// concurrent cascades from calling a worker for a job that a searcher takes anyway.
const FAN_OUT_MARGIN: usize = 2;

/// A snapshot of the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SleepCounts {
    pub(crate) searching: usize,
    pub(crate) sleeping: usize,
    pub(crate) threads: usize,
}

impl SleepCounts {
    fn decode(word: usize) -> SleepCounts {
        SleepCounts {
            searching: (word >> SEARCHING_SHIFT) & FIELD_MASK,
            sleeping: (word >> SLEEPING_SHIFT) & FIELD_MASK,
            threads: (word >> THREADS_SHIFT) & FIELD_MASK,
        }
    }

    /// Idle workers: searching or sleeping.
    pub(crate) fn idle(&self) -> usize {
        self.searching + self.sleeping
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

/// What the submitter's `spawn` callback did (see [`Sleep::job_pushed`]).
#[derive(Debug)]
pub(crate) enum Spawn<E> {
    /// A new thread was started; it counts as a thread (and as searching, if it has no
    /// initializer to run first) from [`Sleep::try_add_thread`] on.
    Spawned,
    /// `max_workers` threads exist: a busy one will come back to the queues.
    AtMax,
    /// No thread could be started (closed pool, or the OS refused).
    Failed(E),
}

/// Sleep/wake bookkeeping for one pool.
pub(crate) struct Sleep {
    /// `threads | sleeping | searching`, `FIELD_BITS` each.
    word: AtomicUsize,
    /// Indices of sleeping workers, most recent last: waking the most recent one wakes the
    /// warmest cache, and lets the least recently used workers reach their keep-alive and retire.
    sleepers: Mutex<Vec<usize>>,
    /// One parker per worker slot.
    parkers: Box<[Parker]>,
    /// The pool's `max_workers`: `threads` never exceeds it.
    max_threads: usize,
    /// At most this many workers search at once (the rest park at once): searching costs a core.
    max_searching: usize,
}

/// A worker's bed: a flag and a condvar, so a notification given before the worker parks is
/// not lost.
struct Parker {
    notified: Mutex<bool>,
    cond: Condvar,
}

impl Sleep {
    /// The bookkeeping of a pool of at most `max_threads` workers, of which at most
    /// `max_searching` search at once.
    pub(crate) fn new(max_threads: usize, max_searching: usize) -> Sleep {
        assert!(
            max_threads <= MAX_THREADS,
            "poolbridge bug: the builder let {max_threads} workers through"
        );
        Sleep {
            word: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::with_capacity(max_threads)),
            parkers: (0..max_threads)
                .map(|_| Parker {
                    notified: Mutex::new(false),
                    cond: Condvar::new(),
                })
                .collect(),
            max_threads,
            max_searching: max_searching.max(1),
        }
    }

    /// The counts, for statistics. The protocol's own reads go through [`job_pushed`] and
    /// [`more_work`], which issue the fence that makes them meaningful.
    ///
    /// [`job_pushed`]: Self::job_pushed
    /// [`more_work`]: Self::more_work
    pub(crate) fn counts(&self) -> SleepCounts {
        // ORDERING: Relaxed: a statistic, or a read that follows the caller's SeqCst fence.
        SleepCounts::decode(self.word.load(Ordering::Relaxed))
    }

    // ---- the submitter's half ----------------------------------------------------------------

    /// The submitter's half of the protocol, called right after a job was pushed to a queue:
    ///
    /// 1. `fence(SeqCst)` (the Dekker pair of the worker's announce → fence → re-check);
    /// 2. `closed()`: if the pool closed meanwhile, return its error: the caller refuses the job
    ///    (whoever reaches it first, a worker draining the queue or the caller, ends it);
    /// 3. make sure some worker will come to the queues (see [`call_worker`](Self::call_worker)).
    ///
    /// `Err` means the caller's job would wait forever (closed pool, or no thread exists and
    /// none can be started): the caller ends its future with the error.
    pub(crate) fn job_pushed<E>(
        &self,
        closed: impl FnOnce() -> Option<E>,
        still_queued: impl Fn() -> bool,
        spawn: impl FnMut() -> Spawn<E>,
    ) -> Result<(), E> {
        // ORDERING: the submitter's Dekker fence: push → fence → read `closed` and the word.
        // Against a worker's announce → fence → re-check, and `shutdown`'s flag → fence → drain,
        // at least one side sees the other. See README.md.
        fence(Ordering::SeqCst);
        if let Some(err) = closed() {
            return Err(err);
        }
        // One searcher covers any number of queued jobs: it calls the next worker when it takes
        // one (`more_work`). Calling a worker per job instead wakes workers that cannot get a
        // core while the burst lasts.
        self.call_worker(|counts| counts.searching == 0 && still_queued(), spawn)
    }

    /// The cascade: a worker that took a job while more is queued, or that stops searching as
    /// the last searcher, makes sure another worker comes for the rest. This is how the jobs
    /// pushed while one worker searched (they all counted on it) fan out over the workers.
    ///
    /// `queued` is the number of jobs waiting (an estimate: the queues' lengths). When many more
    /// jobs wait than workers search ([`FAN_OUT_MARGIN`]), the caller also calls one more worker:
    /// it wakes a sleeper if there is one, else hands one job to a new thread (`hand_off`: the
    /// job waits in the new worker's own deque). The worker so called does the same when it
    /// takes its job: a burst of long jobs reaches its threads in a tree, 128 threads in 7 steps
    /// of a wake-up or a thread start rather than a chain of 127. A thread started so has a job
    /// of its own, so the thread count stays one per job that no idle worker could take.
    pub(crate) fn more_work<E>(
        &self,
        queued: impl Fn() -> usize,
        mut spawn: impl FnMut() -> Spawn<E>,
        hand_off: impl FnOnce() -> bool,
    ) {
        // ORDERING: the Dekker fence of the cascade, as in `job_pushed`.
        fence(Ordering::SeqCst);
        let _ = self.call_worker(|counts| counts.searching == 0 && queued() > 0, &mut spawn);
        let counts = self.counts();
        let fan_out = || queued() > FAN_OUT_MARGIN * (counts.searching + 1);
        if counts.sleeping > 0 {
            if fan_out() {
                let _ = self.wake_one();
            }
        } else if counts.threads < self.max_threads && fan_out() {
            let _ = hand_off();
        }
    }

    /// Calls a worker to the queues if `needed` says so for the current counts: wakes a sleeping
    /// worker, else starts a thread (`spawn`, lazily, up to `max_threads`). The caller has just
    /// issued `fence(SeqCst)`.
    ///
    /// `needed` also checks that work is still waiting: a worker may have taken it between the
    /// push and now, and then nobody needs calling (a thread started then would be one more than
    /// Python starts for the same jobs).
    fn call_worker<E>(
        &self,
        needed: impl Fn(&SleepCounts) -> bool,
        mut spawn: impl FnMut() -> Spawn<E>,
    ) -> Result<(), E> {
        let mut counts = self.counts();
        // Cheapest checks first: in a burst every thread is busy and nobody sleeps, and then
        // there is no one to call (busy threads come back to the queues); only otherwise read
        // the queue's ends to see whether the job is still waiting.
        let nobody_to_call = counts.sleeping == 0 && counts.threads >= self.max_threads;
        if nobody_to_call || !needed(&counts) {
            return Ok(());
        }
        if counts.sleeping > 0 {
            if self.wake_one() {
                return Ok(());
            }
            // The sleeper left the stack on its own: its re-check saw work (maybe ours) and it
            // searches again. Look again before starting a thread.
            counts = self.counts();
            if !needed(&counts) {
                return Ok(());
            }
        }
        if counts.threads >= self.max_threads {
            // Every thread is busy and will come back to the queues.
            return Ok(());
        }
        match spawn() {
            Spawn::Spawned | Spawn::AtMax => Ok(()),
            // No thread at all: the job would wait forever. Otherwise existing workers will get
            // to it.
            Spawn::Failed(err) if self.counts().threads == 0 => Err(err),
            Spawn::Failed(_) => Ok(()),
        }
    }

    // ---- the worker's half -------------------------------------------------------------------

    /// busy → searching, unless `max_searching` workers already search. Returns `true` if the
    /// caller is now searching.
    pub(crate) fn try_start_searching(&self) -> bool {
        // ORDERING: Relaxed first read: the CAS below re-checks it.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let counts = SleepCounts::decode(word);
            if counts.searching >= self.max_searching {
                return false;
            }
            debug_assert!(
                counts.searching < counts.threads,
                "a busy thread exists: {counts:?}"
            );
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

    /// searching → busy (the worker found a job, or is about to run user code). Returns `true`
    /// if it was the last searcher: it must then call [`more_work`](Self::more_work), since
    /// submitters that saw `searching > 0` counted on it.
    #[must_use = "the last searcher must call `more_work`"]
    pub(crate) fn stop_searching(&self) -> bool {
        // ORDERING: SeqCst: a submitter that reads `searching > 0` relies on this worker; once it
        // stops searching, the cascade check that follows (a SeqCst fence, then the queues) picks
        // up whatever such a submitter pushed.
        let prev = SleepCounts::decode(self.word.fetch_sub(ONE_SEARCHING, Ordering::SeqCst));
        debug_assert!(
            prev.searching > 0,
            "stop_searching without searching: {prev:?}"
        );
        prev.searching == 1
    }

    /// The worker took a job from a queue (`more`: that queue still holds jobs). Stops searching
    /// if it was. Returns `true` if it must call [`more_work`](Self::more_work): more is queued,
    /// or it was the last searcher (submitters that saw `searching > 0` counted on it).
    #[must_use = "a `true` must be followed by `more_work`"]
    pub(crate) fn found_job(&self, searching: &mut bool, more: bool) -> bool {
        let last = std::mem::take(searching) && self.stop_searching();
        more || last
    }

    /// The job's closure returned and its outcome is about to be published: count the worker as
    /// searching *before* the job's waiters wake, so one that submits its next job at once finds
    /// it instead of waking or starting another thread. This is how one thread serves a
    /// sequence of submit-then-wait calls.
    pub(crate) fn before_publish(&self, searching: &mut bool) {
        if !*searching {
            *searching = self.try_start_searching();
        }
    }

    /// User code is about to run on the worker after the publication (done callbacks, the drop
    /// of the job's value), and it may block, even on a job submitted after this one finished:
    /// the worker stops counting as searching. Returns `true` if it was the last searcher: it
    /// must then call [`more_work`](Self::more_work) for whatever was pushed meanwhile.
    #[must_use = "a `true` must be followed by `more_work`"]
    pub(crate) fn before_user_code(&self, searching: &mut bool) -> bool {
        std::mem::take(searching) && self.stop_searching()
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
            let prev = SleepCounts::decode(self.word.fetch_add(delta, Ordering::SeqCst));
            debug_assert!(
                prev.sleeping < prev.threads && (!searching || prev.searching > 0),
                "a sleeper must be a thread that was busy or searching: {prev:?}"
            );
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
                self.sleeping_to_searching(1);
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
    /// this with [`undo_retire`](Self::undo_retire) without ever exceeding `max_threads`.
    pub(crate) fn try_retire(&self, index: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        match sleepers.iter().rposition(|&i| i == index) {
            Some(pos) => {
                sleepers.remove(pos);
                // ORDERING: SeqCst; the caller follows with a fence and a last look at the queues.
                let prev = SleepCounts::decode(
                    self.word
                        .fetch_sub(ONE_SLEEPING + ONE_THREAD, Ordering::SeqCst),
                );
                debug_assert!(prev.sleeping > 0 && prev.threads > 0, "{prev:?}");
                true
            }
            None => false,
        }
    }

    /// gone → searching: the retiring worker's last look found a job.
    pub(crate) fn undo_retire(&self) {
        // ORDERING: SeqCst like every transition of the word.
        let prev = SleepCounts::decode(
            self.word
                .fetch_add(ONE_THREAD + ONE_SEARCHING, Ordering::SeqCst),
        );
        debug_assert!(prev.threads < self.max_threads, "{prev:?}");
    }

    /// One more thread, if fewer than `max_threads` exist. Called under the registry's slot
    /// lock. A new thread counts as searching (`searching = true`) until it takes its first job,
    /// so submitters count on it; one that must first run an initializer counts as busy, so that
    /// submitters meanwhile start threads of their own instead of waiting for the initializer.
    pub(crate) fn try_add_thread(&self, searching: bool) -> bool {
        let delta = if searching {
            ONE_THREAD + ONE_SEARCHING
        } else {
            ONE_THREAD
        };
        // ORDERING: Relaxed first read: the CAS below re-checks it.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if SleepCounts::decode(word).threads >= self.max_threads {
                return false;
            }
            // ORDERING: SeqCst like every transition of the word.
            match self.word.compare_exchange_weak(
                word,
                word + delta,
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
        let prev = SleepCounts::decode(self.word.fetch_sub(delta, Ordering::SeqCst));
        debug_assert!(
            prev.threads > 0 && (!searching || prev.searching > 0),
            "remove_thread(searching = {searching}) from {prev:?}"
        );
    }

    /// Wakes the most recent sleeper, which becomes a searcher. Returns `false` if none sleeps.
    pub(crate) fn wake_one(&self) -> bool {
        let index = {
            let mut sleepers = lock(&self.sleepers);
            let Some(index) = sleepers.pop() else {
                return false;
            };
            // Under the sleepers lock together with the pop, so the count never disagrees with
            // the stack for long.
            self.sleeping_to_searching(1);
            index
        };
        self.notify(index);
        true
    }

    /// Wakes every sleeper (shutdown, broken pool).
    pub(crate) fn wake_all(&self) {
        let woken: Vec<usize> = {
            let mut sleepers = lock(&self.sleepers);
            if !sleepers.is_empty() {
                self.sleeping_to_searching(sleepers.len());
            }
            sleepers.drain(..).collect()
        };
        for index in woken {
            self.notify(index);
        }
    }

    /// `n` sleepers leave the stack and search. The caller holds the sleepers lock.
    fn sleeping_to_searching(&self, n: usize) {
        // ORDERING: SeqCst like every transition of the word.
        let prev = SleepCounts::decode(self.word.fetch_add(
            (n * ONE_SEARCHING).wrapping_sub(n * ONE_SLEEPING),
            Ordering::SeqCst,
        ));
        debug_assert!(prev.sleeping >= n, "{n} sleepers woken from {prev:?}");
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
