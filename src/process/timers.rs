//! Job time limits: the deadlines of the calls workers are running, earliest first. The pool
//! (`pool.rs`) keeps them under its state lock and runs the timer thread, which kills a worker
//! whose call is still the one it runs at the deadline; nothing here locks or kills.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// The timer thread's stack. The thread runs no user code, only this shallow loop (pop a
/// deadline, signal a process group), so a small stack saves memory per pool; the trade-off is
/// that deeper code added to the loop must still fit in it.
pub(crate) const TIMER_STACK: usize = 256 * 1024;

/// Deadlines of running calls: `(deadline, worker id, seq)`. An entry whose worker moved on
/// (answered, died) is stale, and the timer skips it when it comes due.
#[derive(Default)]
pub(crate) struct Timers {
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
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
        let earliest = self
            .deadlines
            .peek()
            .is_none_or(|Reverse(t)| deadline < t.0);
        self.deadlines.push(Reverse((deadline, id, seq)));
        Some(earliest)
    }

    /// The next deadline passed at `now`, as `(worker id, seq)`, taken out.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(usize, u64)> {
        let &Reverse((deadline, id, seq)) = self.deadlines.peek()?;
        if deadline > now {
            return None;
        }
        self.deadlines.pop();
        Some((id, seq))
    }

    /// The earliest deadline, if any.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines
            .peek()
            .map(|&Reverse((deadline, _, _))| deadline)
    }
}
