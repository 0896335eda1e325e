//! [`Signal`]: one wakeup shared by a waiting call and every future it waits on.
//!
//! `wait()` and `as_completed` (`crate::wait`) register one signal with each pending future; a
//! future pushes its key into the signal when it settles (`crate::future`), and the waiting
//! thread sleeps on the signal until there is a key to take. A leaf: it knows nothing of futures.

use std::collections::VecDeque;
use std::time::Instant;

use crate::loom::sync::{Condvar, Mutex};
use crate::loom::{self, lock};

/// A wakeup shared by one waiting call and every future it waits on. Each future pushes its key
/// when it settles; the waiting thread sleeps until there is a key to take.
pub(crate) struct Signal {
    inner: Mutex<SignalInner>,
    cond: Condvar,
}

struct SignalInner {
    /// Keys of the futures that settled, in order.
    completed: Vec<usize>,
    /// The waiting thread is blocked on `cond`.
    sleeping: bool,
}

impl Signal {
    pub(crate) fn new() -> Signal {
        Signal {
            inner: Mutex::new(SignalInner {
                completed: Vec::new(),
                sleeping: false,
            }),
            cond: Condvar::new(),
        }
    }

    /// Called by a future when it settles.
    pub(crate) fn notify(&self, key: usize) {
        let mut inner = lock(&self.inner);
        inner.completed.push(key);
        let sleeping = inner.sleeping;
        drop(inner);
        if sleeping {
            self.cond.notify_one();
        }
    }

    /// Moves the keys that arrived into `out`, without blocking.
    pub(crate) fn take(&self, out: &mut VecDeque<usize>) {
        out.extend(lock(&self.inner).completed.drain(..));
    }

    /// Blocks until a key arrives (moving the arrived keys into `out`) or `deadline` passes.
    /// Returns `false` on timeout with no key.
    pub(crate) fn wait(&self, deadline: Option<Instant>, out: &mut VecDeque<usize>) -> bool {
        let mut inner = lock(&self.inner);
        loop {
            if !inner.completed.is_empty() {
                out.extend(inner.completed.drain(..));
                return true;
            }
            inner.sleeping = true;
            inner = match deadline {
                None => loom::wait(&self.cond, inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        inner.sleeping = false;
                        return false;
                    }
                    loom::wait_timeout(&self.cond, inner, deadline - now).0
                }
            };
            inner.sleeping = false;
        }
    }
}
