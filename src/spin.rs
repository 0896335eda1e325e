//! The spin/park decision: how long a thread that waits keeps looking before it parks. Its three
//! users: an idle worker of the thread pool looking at the queues ([`Search`], the rule below),
//! the process pool's sockets (`process/spin.rs`), and a thread blocked on a future
//! ([`wait_briefly`]).
//!
//! Searching (spinning over the queues, yielding the core between looks) lets a worker take the
//! next job of a request/response pattern (an async task awaiting one job at a time) without a
//! park/unpark pair, which costs tens of microseconds on a VM whose idle vCPUs halt at once. But
//! searching burns a core, and an idle pool must use none. So the search is bounded by *time*,
//! not by a count of rounds (a `sched_yield` with nothing else to run returns in 0.2 µs on one
//! machine and 5 µs on another), and the time adapts to how soon work has been arriving:
//!
//! * each worker keeps an average (EWMA, weight 1/4; the first gap taken as is) of its recent
//!   *gaps*: how long it was idle before its next job arrived, whether it found that job while
//!   searching or was woken for it;
//! * while gaps are short (the average is at most [`SEARCH_MAX`]), a search lasts
//!   [`SEARCH_GAPS`] times the average, at least [`SEARCH_MIN`] and at most [`SEARCH_MAX`]:
//!   long enough to catch the next job of a sequence even when it comes late;
//! * once gaps are long (the pool is idle, or jobs come rarely), a search lasts [`SEARCH_MIN`]:
//!   spinning would not catch the next job anyway, so the worker parks almost at once.
//!
//! A worker parked before a job arrived records the time until it was woken, which includes the
//! wake-up itself; when that is short the average falls back under [`SEARCH_MAX`] and the next
//! search waits long enough again. So the policy settles by itself on any machine: it measures
//! the gaps there instead of assuming them. `pool/sleep/README.md` has the measurements.
//!
//! The process pool uses the same rule for its sockets (`process/spin.rs`): a worker process
//! waiting for its next call, and the pool's reader waiting for an answer, spin on non-blocking
//! reads for as long as [`Search::run`] allows before they block.
//!
//! A thread blocked on a future (`join`, `result`, `wait` of a `PoolFuture`) uses it too: the
//! thread's gaps are how long its recent blocking waits lasted, and it looks at the future's
//! state for as long as the rule allows before it parks ([`wait_briefly`]). What that buys: the
//! end of the job then reaches the waiter without an unpark, which on a VM whose idle vCPUs halt
//! is a cross-vCPU wake-up of 15–25 µs in some periods and 3–5 µs in others (the "slow" and
//! "fast" states of `docs/benchmarks.md`); a process pool roundtrip, which has three such legs,
//! moved between 8 and 28 µs from run to run without it. What it costs: a thread that waits on
//! short jobs one at a time spins for the length of each (at most [`SEARCH_MAX`]) instead of
//! sleeping, as the worker that runs them already does; one that waits on long jobs learns long
//! gaps and spins [`SEARCH_MIN`].

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// The shortest search: what a worker spends looking before it parks when work comes rarely.
/// Enough for the jobs of a burst that is still being pushed, a few microseconds of CPU at most.
pub(crate) const SEARCH_MIN: Duration = Duration::from_micros(5);

/// The longest search: no worker spins longer than this before parking. Above the cost of a
/// cross-vCPU wake-up on a VM without halt-polling (≈ 15 µs for a sleeping runtime thread,
/// ≈ 45 µs more for a parked worker), so a request/response sequence never pays the second one.
pub(crate) const SEARCH_MAX: Duration = Duration::from_micros(100);

/// How many average gaps a search lasts (within [`SEARCH_MIN`] ..= [`SEARCH_MAX`]) while gaps
/// are short.
///
/// What it buys: the tail of a request/response sequence. Gaps are not steady: the thread that
/// submits the next job is itself woken by the previous one, and that wake-up is sometimes 3–5×
/// the usual turnaround; a worker that parks before such a late job makes it pay a second
/// cross-CPU wake-up (≈ 45 µs on the 2-vCPU VM without halt-polling). What it costs: at the end
/// of a sequence a worker spins up to this many gaps (at most `SEARCH_MAX`) before it parks,
/// once. Measured on the 2-vCPU VM, 2026-12-07 (the harness's `roundtrip`, 20,000 trivial jobs
/// awaited one at a time; 8 fresh processes per variant, interleaved, medians): with 2 gaps
/// p99 84 µs, with 4 64 µs, with 8 59 µs (rayon's 62 µs in the same runs); CPU per job 31.3,
/// 28.8 and 24.6 µs (fewer parks, fewer futex calls); p50 level. `README.md` has the runs.
pub(crate) const SEARCH_GAPS: u32 = 8;

/// Rounds that busy-wait (`2^round` pause instructions) before the search starts yielding the
/// core: a job pushed a moment after the worker went idle is taken without a syscall, and the
/// yields after that let a thread that shares the core (often the submitter) run.
const PAUSE_ROUNDS: u32 = 4;

/// Gaps recorded are capped here, so one long idle period counts as "idle", not as an hour.
const GAP_CAP_NS: u64 = 4 * SEARCH_MAX.as_nanos() as u64;

/// A worker's memory of how soon work arrives after it goes idle.
#[derive(Debug)]
pub(crate) struct Search {
    /// EWMA of the recent gaps, in nanoseconds; `None` before the first gap.
    gap_ns: Option<u64>,
    /// When the worker went idle (found no job), if it is idle.
    idle_since: Option<Instant>,
}

impl Default for Search {
    fn default() -> Self {
        Search::new()
    }
}

impl Search {
    /// A worker that has seen no gap yet counts as cold: its first searches are short.
    pub(crate) const fn new() -> Search {
        Search {
            gap_ns: None,
            idle_since: None,
        }
    }

    /// The worker looked and found no job: it is idle from now on (if it was not already).
    pub(crate) fn went_idle(&mut self) {
        if self.idle_since.is_none() {
            self.idle_since = Some(now());
        }
    }

    /// The worker took a job. If it had been idle, the idle time is a gap to learn from.
    pub(crate) fn found_job(&mut self) {
        if let Some(since) = self.idle_since.take() {
            self.record(since.elapsed());
        }
    }

    /// The worker's keep-alive passed while it slept: it starts over as cold.
    pub(crate) fn reset(&mut self) {
        *self = Search::new();
    }

    fn record(&mut self, gap: Duration) {
        let gap = (gap.as_nanos() as u64).min(GAP_CAP_NS);
        self.gap_ns = Some(match self.gap_ns {
            None => gap,
            Some(avg) => avg - avg / 4 + gap / 4,
        });
    }

    /// How long the next search may last.
    pub(crate) fn budget(&self) -> Duration {
        let gap = Duration::from_nanos(self.gap_ns.unwrap_or(GAP_CAP_NS));
        if gap > SEARCH_MAX {
            SEARCH_MIN
        } else {
            (SEARCH_GAPS * gap).clamp(SEARCH_MIN, SEARCH_MAX)
        }
    }

    /// Looks for work with `find` until it finds some, `stop` says the pool is closing, or the
    /// budget passes. The caller counts as searching meanwhile (`Sleep::try_start_searching`).
    ///
    /// Under loom, one round: loom does not model time, and a model's search must be finite.
    pub(crate) fn run<J>(
        &mut self,
        mut find: impl FnMut() -> Option<J>,
        stop: impl Fn() -> bool,
    ) -> Option<J> {
        if cfg!(loom) {
            return find();
        }
        let budget = self.budget();
        let start = now();
        let mut round = 0;
        loop {
            if round < PAUSE_ROUNDS {
                for _ in 0..(1u32 << round) {
                    std::hint::spin_loop();
                }
                round += 1;
            } else {
                std::thread::yield_now();
            }
            if let Some(job) = find() {
                return Some(job);
            }
            if stop() || start.elapsed() >= budget {
                return None;
            }
        }
    }
}

fn now() -> Instant {
    Instant::now()
}

thread_local! {
    /// This thread's blocking waits on futures, for [`wait_briefly`]. It needs no destructor
    /// (`Search` is plain data), so `with` works at any time, a wait in another thread-local's
    /// destructor at thread exit included.
    static WAITS: RefCell<Search> = const { RefCell::new(Search::new()) };
}

// `WAITS` must stay destructor-free (see there).
const _: () = assert!(!std::mem::needs_drop::<RefCell<Search>>());

/// A blocking wait: looks at `done` for as long as this thread's recent waits say (the rule of
/// [`Search`], with the waits as gaps) or until `deadline`, then, if `done` did not hold, calls
/// `park`, which sleeps until the wait ends and says whether `done` came (`false`: the deadline
/// passed). Returns whether `done` came. A wait that ended is learned; one that timed out is
/// forgotten.
///
/// `done` must not run user code (it reads a future's state word); `park` runs outside this
/// thread's wait state. Under loom, one look: a model's wait must be finite, and loom threads
/// share this thread-local.
pub(crate) fn wait_briefly(
    done: impl Fn() -> bool,
    deadline: Option<Instant>,
    park: impl FnOnce() -> bool,
) -> bool {
    if cfg!(loom) {
        return done() || park();
    }
    let looked = WAITS.with_borrow_mut(|waits| {
        waits.went_idle();
        waits
            .run(
                || done().then_some(()),
                || deadline.is_some_and(|at| now() >= at),
            )
            .is_some()
    });
    let reached = looked || park();
    WAITS.with_borrow_mut(|waits| {
        if reached {
            waits.found_job();
        } else {
            waits.idle_since = None;
        }
    });
    reached
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cold_worker_searches_briefly() {
        assert_eq!(Search::new().budget(), SEARCH_MIN);
    }

    #[test]
    fn short_gaps_make_searches_long_enough_to_catch_them() {
        let mut s = Search::new();
        for _ in 0..20 {
            s.record(Duration::from_micros(5));
        }
        let budget = s.budget();
        assert!(
            budget.abs_diff(SEARCH_GAPS * Duration::from_micros(5)) < Duration::from_micros(1),
            "{budget:?}"
        );
        // Gaps of 20 µs: the budget is capped.
        for _ in 0..20 {
            s.record(Duration::from_micros(20));
        }
        assert_eq!(s.budget(), SEARCH_MAX);
    }

    #[test]
    fn a_parked_worker_woken_soon_becomes_hot_again() {
        let mut s = Search::new();
        // Parked, then woken 62 µs after going idle (a 17 µs gap plus a 45 µs wake-up).
        s.record(Duration::from_micros(62));
        assert_eq!(s.budget(), SEARCH_MAX);
        // Caught while searching from then on: the budget shrinks towards `SEARCH_GAPS` gaps.
        for _ in 0..30 {
            s.record(Duration::from_micros(4));
        }
        let budget = s.budget();
        assert!(
            budget.abs_diff(SEARCH_GAPS * Duration::from_micros(4)) < Duration::from_micros(1),
            "{budget:?}"
        );
        // One long gap makes the worker cold; gaps short again make it hot again.
        s.record(Duration::from_secs(1));
        assert_eq!(s.budget(), SEARCH_MIN);
        for _ in 0..3 {
            s.record(Duration::from_micros(62));
        }
        assert_eq!(s.budget(), SEARCH_MAX);
    }

    #[test]
    fn long_gaps_make_searches_short() {
        let mut s = Search::new();
        for _ in 0..20 {
            s.record(Duration::from_micros(20));
        }
        for _ in 0..10 {
            s.record(Duration::from_secs(1));
        }
        assert_eq!(s.budget(), SEARCH_MIN);
    }

    #[test]
    fn a_blocking_wait_returns_at_once_when_done_and_by_its_deadline_when_not() {
        assert!(wait_briefly(
            || true,
            None,
            || unreachable!("done: no park")
        ));
        // Not done by the deadline, and the park times out too: the wait is forgotten, not
        // learned.
        assert!(!wait_briefly(|| false, Some(Instant::now()), || false));
        WAITS.with_borrow(|waits| assert!(waits.idle_since.is_none()));
    }

    #[test]
    fn a_blocking_wait_that_parked_is_learned() {
        WAITS.with_borrow_mut(|waits| *waits = Search::new());
        // Cold: the look is short, and the job is not done within it; the park then sees it end.
        assert!(wait_briefly(|| false, None, || true));
        WAITS.with_borrow(|waits| {
            assert!(waits.gap_ns.is_some(), "the wait's length was recorded");
            assert!(waits.idle_since.is_none());
        });
    }

    #[test]
    fn a_search_ends_by_its_budget() {
        let mut s = Search::new();
        let start = Instant::now();
        assert_eq!(s.run(|| None::<()>, || false), None);
        // Generous: the budget is SEARCH_MIN; a loaded machine may stretch one round.
        assert!(start.elapsed() < Duration::from_millis(100));
        assert_eq!(s.run(|| Some(7), || false), Some(7));
    }
}
