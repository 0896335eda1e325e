//! The spin/park decision: how long a thread that waits keeps looking before it parks. Its four
//! users: an idle worker of the thread pool looking at the queues ([`Search`], the rule below),
//! the process pool's sockets (`process/spin.rs`), a thread blocked on a future
//! ([`wait_briefly`]), and a task awaiting one ([`poll_again`]).
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
//!
//! A task awaiting a job (`ExecutorFuture`, `JoinHandle`) looks too, but without blocking its
//! thread: a poll that finds the job pending stores the waker as always, then, while the rule
//! allows, wakes the task itself so that the runtime polls it again after its other ready tasks
//! ([`poll_again`]). The thread's waits (blocking and async alike) are its gaps. What it buys:
//! the return leg of a roundtrip (the job's end → the awaiting task runs) without the wake-up
//! of the runtime thread's halted vCPU, which was the whole spread of the roundtrip's median
//! between runs and its tail (`docs/benchmarks.md`, "The roundtrip's two legs"). What it costs:
//! the runtime thread stays busy while it looks, and a runtime's scheduler runs a self-woken task
//! before tasks woken from other threads; so one future per thread is looked at, and a look that
//! sees another future polled on its thread stops, with no new look for [`BUSY_BACKOFF`].

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;
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

/// How long a thread whose look at one future was interrupted by another future's poll starts no
/// new look ([`poll_again`]).
///
/// What it buys: a runtime thread with other tasks to run stops re-polling. tokio's schedulers
/// (and others) run a task that woke itself before the tasks woken from other threads, checking
/// those only every 31 or 61 ticks; a task that keeps waking itself on a busy runtime thread
/// thus delays every other task woken by a job's end. Measured on the 2-vCPU VM, 2026-12-07
/// (the harness's `stall`: 100 tasks awaiting 100 jobs each, one runtime thread): without this
/// rule 0.50–0.56M jobs/s against 1.14–1.36M for the same tree without any look. What it
/// costs: after each back-off one look starts again and is interrupted after at most a few
/// dozen re-polls, a few microseconds per millisecond on a runtime that stays busy.
pub(crate) const BUSY_BACKOFF: Duration = Duration::from_millis(1);

/// An async wait's look at its future (see [`poll_again`]).
#[derive(Clone, Copy)]
struct Look {
    /// The future this thread's async wait re-polls, and since when; `None` if no look is on.
    at: Option<(usize, Instant)>,
    /// Another future was polled on this thread since the look started: the runtime has other
    /// tasks.
    interrupted: bool,
    /// No new look before this: a look was interrupted ([`BUSY_BACKOFF`]).
    quiet_until: Option<Instant>,
}

thread_local! {
    /// This thread's async look, for [`poll_again`]. Plain data: no destructor (as `WAITS`).
    static LOOK: Cell<Look> = const {
        Cell::new(Look { at: None, interrupted: false, quiet_until: None })
    };
}

const _: () = assert!(!std::mem::needs_drop::<Cell<Look>>());

/// Whether this machine has more than one core to run on: a look that re-polls on the only core
/// would keep the job it waits for from running.
fn multi_core() -> bool {
    static MULTI: OnceLock<bool> = OnceLock::new();
    *MULTI.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// An async wait, after a poll found the future `id` (its core's address) still pending with the
/// task's waker stored: `true` if the task should be polled again at once (the caller wakes it
/// through its own waker) rather than sleep until the job's end wakes it.
///
/// The look that an async wait makes, as a blocking wait does ([`wait_briefly`]), but by
/// re-polling: the poll returns `Pending` at once each time, so other tasks of the runtime run
/// between two looks and the polling thread is never blocked. It lasts as long as this thread's
/// recent waits say (the rule of [`Search`]; blocking and async waits share the thread's memory),
/// one future at a time per thread; it ends early when another future is polled on this thread
/// meanwhile (the runtime has other tasks to run: no new look for [`BUSY_BACKOFF`]). Never on a
/// single core, and never under loom (time is not modelled).
pub(crate) fn poll_again(id: usize) -> bool {
    if cfg!(loom) || !multi_core() {
        return false;
    }
    LOOK.with(|cell| {
        let mut look = cell.get();
        let now = now();
        let budget = WAITS.with_borrow(Search::budget);
        let again = match look.at {
            Some((on, since)) if on == id => {
                if look.interrupted {
                    look.at = None;
                    look.quiet_until = Some(now + BUSY_BACKOFF);
                    false
                } else {
                    now.duration_since(since) < budget
                }
            }
            Some((_, since)) if now.duration_since(since) < budget => {
                look.interrupted = true;
                false
            }
            _ if look.quiet_until.is_some_and(|until| now < until) => false,
            _ => {
                look = Look {
                    at: Some((id, now)),
                    interrupted: false,
                    quiet_until: None,
                };
                true
            }
        };
        cell.set(look);
        again
    })
}

/// An async wait got the outcome of the future `id`: if this thread was looking at it, the wait's
/// length is learned (as a blocking wait's); otherwise a look at another future was interrupted.
pub(crate) fn poll_ready(id: usize) {
    if cfg!(loom) {
        return;
    }
    LOOK.with(|cell| {
        let mut look = cell.get();
        match look.at {
            Some((on, since)) if on == id => {
                look.at = None;
                WAITS.with_borrow_mut(|waits| waits.record(since.elapsed()));
            }
            Some(_) => look.interrupted = true,
            None => {}
        }
        cell.set(look);
    });
}

/// The async wait on the future `id` was given up before its outcome (its handle was dropped or
/// gave the job away): a look at it ends, unlearned (as a blocking wait that timed out).
pub(crate) fn poll_abandoned(id: usize) {
    if cfg!(loom) {
        return;
    }
    let _ = LOOK.try_with(|cell| {
        let mut look = cell.get();
        if look.at.is_some_and(|(on, _)| on == id) {
            look.at = None;
            cell.set(look);
        }
    });
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

    /// This thread's look, for the tests of `poll_again`.
    fn look() -> Look {
        LOOK.with(Cell::get)
    }

    #[test]
    fn an_async_look_lasts_its_budget_then_lets_another_future_look() {
        if !multi_core() {
            assert!(!poll_again(1), "no look on a single core");
            return;
        }
        assert!(poll_again(1), "a thread with no look on starts one");
        assert!(look().at.is_some_and(|(on, _)| on == 1));
        // Past any budget (at most `SEARCH_MAX`): the look at 1 ends; 1 sleeps from now on.
        std::thread::sleep(SEARCH_MAX * 10);
        assert!(!poll_again(1));
        // Another future may look now, and its outcome is learned as a wait.
        assert!(poll_again(2));
        WAITS.with_borrow_mut(|waits| *waits = Search::new());
        poll_ready(2);
        assert!(look().at.is_none());
        assert!(WAITS.with_borrow(|waits| waits.gap_ns.is_some()));
    }

    #[test]
    fn an_async_look_interrupted_by_another_future_backs_off() {
        if !multi_core() {
            return;
        }
        assert!(poll_again(1));
        // Another future's outcome is taken on this thread: the runtime has other tasks.
        poll_ready(2);
        assert!(!poll_again(1), "an interrupted look ends");
        let after = look();
        assert!(after.at.is_none());
        assert!(
            after
                .quiet_until
                .is_some_and(|until| until > Instant::now())
        );
        // The same when the other future is pending too.
        LOOK.with(|cell| {
            cell.set(Look {
                at: None,
                interrupted: false,
                quiet_until: None,
            })
        });
        assert!(poll_again(1));
        assert!(!poll_again(2), "one look per thread");
        assert!(!poll_again(1));
        assert!(look().quiet_until.is_some());
    }

    #[test]
    fn an_abandoned_async_look_ends_unlearned() {
        if !multi_core() {
            return;
        }
        WAITS.with_borrow_mut(|waits| *waits = Search::new());
        assert!(poll_again(1));
        poll_abandoned(2);
        assert!(
            look().at.is_some(),
            "only the look at the abandoned future ends"
        );
        poll_abandoned(1);
        assert!(look().at.is_none());
        assert!(WAITS.with_borrow(|waits| waits.gap_ns.is_none()));
        assert!(poll_again(3), "and the next future may look at once");
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
