//! The lifecycle word of a future: which of Python's four states it is in, and whether it failed.
//!
//! ```text
//!            transition_to_running              finish (by the runner)
//!   PENDING ───────────────────────▶ RUNNING ─────────────────────────▶ FINISHED[|FAILED]
//!      │
//!      ├── transition_to_cancelled ─▶ CANCELLED
//!      └── transition_to_refused ───▶ FINISHED|FAILED   (shutdown, broken pool, dropped unrun)
//! ```
//!
//! * `PENDING → RUNNING` is a lock-free CAS: whoever wins it (a worker, or a thread that waits on
//!   the future and runs it inline) owns the closure and is the only one that may finish the job.
//! * Every other transition ends the future. It is made while holding the future's `inner` lock,
//!   in the same critical section that stores the outcome, so any thread that sees a terminal
//!   state and then takes the lock finds the outcome in place. `PENDING → CANCELLED` and
//!   `PENDING → FINISHED` race with `PENDING → RUNNING` through the CAS alone: exactly one wins.
//! * Terminal states never change again.
//!
//! `FAILED` is set with `FINISHED` when the outcome is an error other than `Cancelled` (a panic,
//! `Shutdown`, `BrokenPool`): what `ReturnWhen::FirstException` waits for, readable without the lock.
//!
//! While `RUNNING`, the word also says who runs the job and whether it was asked to stop:
//!
//! ```text
//! bits  31..8                    7..5     4                  3         2        1..0
//!       runner: job cell index   unused   CANCEL_REQUESTED   SETTLED   FAILED   lifecycle
//! ```
//!
//! The runner is the index of the [`JobCell`](crate::context::JobCell) of the thread that won
//! `PENDING → RUNNING` (0: none, e.g. a [`Promise`](crate::Promise)); `request_cancel` sets
//! `CANCEL_REQUESTED` and that cell's flag. Terminal words carry neither: `RUNNING → FINISHED`
//! stores a fresh word.

use crate::context;
use crate::loom::sync::atomic::{AtomicU32, Ordering};

/// Queued; nobody has claimed the closure yet. `cancel` succeeds only here.
pub(crate) const PENDING: u32 = 0;
/// Claimed by a runner, which alone may move it on (to `FINISHED`).
pub(crate) const RUNNING: u32 = 1;
/// Terminal: the outcome is stored (a value or an error).
pub(crate) const FINISHED: u32 = 2;
/// Terminal: cancelled before it started; the outcome is `Err(Cancelled)`.
pub(crate) const CANCELLED: u32 = 3;
/// Mask of the four lifecycle values above.
const LIFECYCLE: u32 = 0b011;
/// Flag, only with `FINISHED`: the outcome is an error other than `Cancelled`.
pub(crate) const FAILED: u32 = 0b100;
/// Flag, only with a terminal state: the completion protocol has run (the callbacks registered
/// before the end ran, every waiter was woken), so the value may be moved out. Set under the
/// future's lock, by the completer only.
pub(crate) const SETTLED: u32 = 0b1000;
/// Flag, only with `RUNNING`: `request_cancel` asked the running job to stop. Set under the
/// future's lock (`Core::request_stop`); a `Promise` reads it (`Promise::cancel_requested`).
pub(crate) const CANCEL_REQUESTED: u32 = 0b1_0000;
/// Where the runner's job cell index starts; everything above is the index.
const RUNNER_SHIFT: u32 = 8;

// Every job cell index fits the runner field.
const _: () = assert!(context::MAX_CELLS <= u32::MAX >> RUNNER_SHIFT);

/// The outcome of [`StateWord::transition_to_running`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// The caller now owns the closure and must run it and finish the future.
    Run,
    /// Someone else claimed it, or it already ended: nothing to do.
    NotPending,
}

/// The outcome of a transition out of `PENDING` that ends the future without running it.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The transition happened: the caller must store the outcome, drop the closure and notify.
    Ended,
    /// The future was not pending; it holds whatever state is returned (`snapshot`).
    NotPending(u32),
}

/// The atomic lifecycle word.
pub(crate) struct StateWord(AtomicU32);

impl StateWord {
    pub(crate) fn new() -> StateWord {
        StateWord(AtomicU32::new(PENDING))
    }

    /// The current word.
    pub(crate) fn load(&self) -> u32 {
        // ORDERING: Acquire pairs with the Release in the terminal transitions, so a reader that
        // sees FINISHED also sees everything the runner wrote before it (and then reads the
        // outcome under the lock anyway).
        self.0.load(Ordering::Acquire)
    }

    /// `PENDING → RUNNING`, by the thread whose job cell has index `runner` (0: none).
    pub(crate) fn transition_to_running(&self, runner: u32) -> Start {
        debug_assert!(runner <= context::MAX_CELLS);
        let running = RUNNING | runner << RUNNER_SHIFT;
        // ORDERING: Acquire so the winner sees the closure as the submitter left it (the closure
        // is also behind an atomic cell, so this is belt and braces); Release so a requester
        // that reads this word (Acquire) and then sets the runner's cell finds the cell already
        // cleared for this job (`JobCell::reset` comes before this CAS). Relaxed on failure:
        // the loser touches nothing.
        match self
            .0
            .compare_exchange(PENDING, running, Ordering::AcqRel, Ordering::Relaxed)
        {
            Ok(_) => Start::Run,
            Err(_) => Start::NotPending,
        }
    }

    /// `PENDING → CANCELLED`. The caller holds the future's lock.
    pub(crate) fn transition_to_cancelled(&self) -> End {
        self.end_pending(CANCELLED)
    }

    /// `PENDING → FINISHED|FAILED` for a job that will never run. The caller holds the lock.
    pub(crate) fn transition_to_refused(&self) -> End {
        self.end_pending(FINISHED | FAILED)
    }

    fn end_pending(&self, to: u32) -> End {
        // ORDERING: AcqRel: Release publishes the (about to be stored) outcome together with the
        // lock release; Acquire on failure so the returned snapshot is as fresh as `load`.
        match self
            .0
            .compare_exchange(PENDING, to, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => End::Ended,
            Err(now) => End::NotPending(now),
        }
    }

    /// `RUNNING → FINISHED[|FAILED][|SETTLED]`, by the runner that won `transition_to_running`.
    /// The caller holds the lock. `settled`: the completion protocol has nothing left to do
    /// (no callbacks, no waiters), so the future settles in the same store.
    pub(crate) fn transition_to_finished(&self, failed: bool, settled: bool) {
        let mut to = if failed { FINISHED | FAILED } else { FINISHED };
        if settled {
            to |= SETTLED;
        }
        // ORDERING: Release, see `load`. A plain store is enough: only the runner may leave
        // RUNNING, so no other transition can race with this one.
        debug_assert_eq!(lifecycle(self.0.load(Ordering::Relaxed)), RUNNING);
        self.0.store(to, Ordering::Release);
    }

    /// Adds `CANCEL_REQUESTED` to a `RUNNING` word. The caller holds the lock and saw `RUNNING`
    /// under it: only the runner leaves `RUNNING`, and it takes the lock to do so.
    pub(crate) fn set_cancel_requested(&self) {
        // ORDERING: Relaxed: the flag publishes nothing; readers (`Promise::cancel_requested`)
        // only poll it. An RMW, so it cannot lose the runner field.
        let prev = self.0.fetch_or(CANCEL_REQUESTED, Ordering::Relaxed);
        debug_assert_eq!(lifecycle(prev), RUNNING);
    }

    /// Adds `SETTLED` to a terminal state. The caller holds the lock and is the completer.
    pub(crate) fn set_settled(&self) {
        // ORDERING: Release: a taker that sees SETTLED (Acquire, in `load`) sees every effect
        // of the callbacks that ran before; it then reads the outcome under the lock anyway.
        let prev = self.0.fetch_or(SETTLED, Ordering::Release);
        debug_assert!(is_done(prev), "settled before the end");
    }
}

/// The lifecycle part of a word (`PENDING`, `RUNNING`, `FINISHED` or `CANCELLED`).
pub(crate) fn lifecycle(word: u32) -> u32 {
    word & LIFECYCLE
}

/// `true` once the future has ended (`FINISHED` or `CANCELLED`).
pub(crate) fn is_done(word: u32) -> bool {
    lifecycle(word) >= FINISHED
}

/// `true` once the completion protocol is over: the value may be moved out.
pub(crate) fn is_settled(word: u32) -> bool {
    word & SETTLED != 0
}

/// The job cell index of the thread running the job (0: none, or not running).
pub(crate) fn runner(word: u32) -> u32 {
    if lifecycle(word) == RUNNING {
        word >> RUNNER_SHIFT
    } else {
        0
    }
}

/// `true` if a stop was requested while the job runs.
pub(crate) fn is_cancel_requested(word: u32) -> bool {
    word & CANCEL_REQUESTED != 0
}

/// `true` if the future finished with an error other than `Cancelled`.
pub(crate) fn is_failed(word: u32) -> bool {
    word & FAILED != 0
}
