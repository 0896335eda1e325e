//! Shared test support: drop counters, a gate to hold jobs, and generous hang guards.
//!
//! Timing in these tests only catches hangs and lost concurrency; it never measures speed.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for something that should happen "soon" before calling it a hang.
/// Generous on purpose: CI runs on 2 busy cores.
pub const HANG: Duration = Duration::from_secs(30);

/// Counts how many `Tracked` values were created and dropped.
#[derive(Clone, Default)]
pub struct DropCounter {
    created: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl DropCounter {
    pub fn new() -> DropCounter {
        DropCounter::default()
    }

    /// A new value whose drop is counted.
    pub fn track(&self) -> Tracked {
        self.created.fetch_add(1, Ordering::SeqCst);
        Tracked {
            dropped: Arc::clone(&self.dropped),
            alive: true,
        }
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Waits (up to `HANG`) until every tracked value was dropped.
    pub fn wait_all_dropped(&self) {
        assert!(
            eventually(|| self.dropped() == self.created()),
            "created {} but dropped {}",
            self.created(),
            self.dropped()
        );
    }
}

/// A value that reports its drop to its [`DropCounter`], and panics if dropped twice.
pub struct Tracked {
    dropped: Arc<AtomicUsize>,
    alive: bool,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(self.alive, "a Tracked value was dropped twice");
        self.alive = false;
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A gate that jobs wait at until the test opens it.
#[derive(Clone, Default)]
pub struct Gate {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Blocks until `open` is called (panics after `HANG`, so a bug cannot hang the suite).
    pub fn wait(&self) {
        let (lock, cond) = &*self.inner;
        let mut open = lock.lock().unwrap();
        let deadline = Instant::now() + HANG;
        while !*open {
            let now = Instant::now();
            assert!(now < deadline, "Gate::wait: the gate was never opened");
            open = cond.wait_timeout(open, deadline - now).unwrap().0;
        }
    }

    pub fn open(&self) {
        let (lock, cond) = &*self.inner;
        *lock.lock().unwrap() = true;
        cond.notify_all();
    }
}

/// Polls `cond` every millisecond until it holds (`true`) or `HANG` passes (`false`).
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + HANG;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}
