//! Job time limits, deadlines and grace periods: when the timer thread must look at a call a
//! worker holds, earliest first. The pool (`pool.rs`) keeps them under its state lock and runs
//! the timer thread, which kills a worker whose call is still the one it runs at a time limit or
//! at the end of a grace period, and asks a worker to stop a call at its deadline; nothing here
//! locks, signals or writes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// The timer thread's stack. The thread runs no user code, only this shallow loop (pop a
/// deadline, signal a process group), so a small stack saves memory per pool; the trade-off is
/// that deeper code added to the loop must still fit in it.
pub(crate) const TIMER_STACK: usize = 256 * 1024;

/// What the timer does when an entry comes due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    /// The call's time limit (`timeout`): kill the worker if it still runs the call.
    Limit,
    /// The call's deadline: ask the worker to stop it (or skip it), then wait a grace period.
    Deadline,
    /// The grace period after a stop request ended: kill the worker if it still runs the call.
    Grace,
}

/// Times of calls held by workers: `(when, worker id, seq, what)`. An entry whose worker moved
/// on (answered, died) is stale, and the timer skips it when it comes due.
#[derive(Default)]
pub(crate) struct Timers {
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64, Due)>>,
    /// A timer thread runs (started at the first limit, exits with the pool).
    pub(crate) thread: bool,
}

impl Timers {
    /// Starts the clock of call `seq`, which worker `id` starts running now, if it has a
    /// `limit`. Returns `true` if the deadline is now the earliest (the timer thread must wake
    /// to wait for it). A limit too large for `Instant` (`Duration::MAX`: centuries) is no
    /// limit.
    pub(crate) fn arm(&mut self, id: usize, seq: u64, limit: Option<Duration>) -> Option<bool> {
        let deadline = Instant::now().checked_add(limit?)?;
        Some(self.arm_at(deadline, id, seq, Due::Limit))
    }

    /// Looks at call `seq` of worker `id` at `when`, to do `what`. Returns `true` if it is now
    /// the earliest entry (the timer thread must wake to wait for it).
    pub(crate) fn arm_at(&mut self, when: Instant, id: usize, seq: u64, what: Due) -> bool {
        let earliest = self.deadlines.peek().is_none_or(|Reverse(t)| when < t.0);
        self.deadlines.push(Reverse((when, id, seq, what)));
        earliest
    }

    /// The next entry due at `now`, as `(worker id, seq, what)`, taken out.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(usize, u64, Due)> {
        let &Reverse((deadline, id, seq, what)) = self.deadlines.peek()?;
        if deadline > now {
            return None;
        }
        self.deadlines.pop();
        Some((id, seq, what))
    }

    /// The earliest entry's time, if any.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines
            .peek()
            .map(|&Reverse((deadline, _, _, _))| deadline)
    }
}
