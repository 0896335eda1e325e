//! Synchronisation primitives that [loom] can model.
//!
//! Everything whose correctness rests on an interleaving argument (the future state machine in
//! [`crate::future`], the group-wait [`crate::signal`], the ready list of a
//! [`JoinSet`](crate::JoinSet), the worker sleep protocol in `crate::pool::sleep` and the
//! back-pressure reservations in `crate::pool::backpressure`) takes its `Mutex`, `Condvar`,
//! atomics and thread parking from here. In a normal build
//! these are `std::sync`; under `RUSTFLAGS="--cfg loom"` they are loom's instrumented versions, and
//! the models in `tests/loom_*.rs` explore every interleaving of the code that uses them.
//!
//! Code that is not model-checked (the registry's slot table, the default executor) uses `std`
//! directly, because loom primitives may only be touched inside `loom::model`.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering, fence};
    }
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering, fence};
    }
}

/// Parking a thread until another one unparks it: how a blocked waiter sleeps on a future.
#[cfg(not(loom))]
pub(crate) mod thread {
    pub(crate) use std::thread::{Thread, current, park, park_timeout};
}

#[cfg(loom)]
pub(crate) mod thread {
    pub(crate) use loom::thread::{Thread, current, park};

    /// Loom does not model time: a timed park is a park.
    pub(crate) fn park_timeout(_timeout: std::time::Duration) {
        park();
    }
}

use sync::{Condvar, Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning.
///
/// Internal locks never guard user code that could leave their data half-updated: the only user
/// code that runs under one is `T::clone` in [`PoolFuture::result`](crate::PoolFuture::result),
/// which reads and never mutates. A panic there poisons the lock without breaking any invariant,
/// so later callers simply carry on.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `Condvar::wait`, ignoring poisoning (see [`lock`]).
pub(crate) fn wait<'a, T>(cond: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cond.wait(guard)
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `Condvar::wait_timeout`, ignoring poisoning (see [`lock`]). Returns the guard and whether the
/// wait timed out. Under loom the timeout is not modelled: the wait behaves like [`wait`].
pub(crate) fn wait_timeout<'a, T>(
    cond: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: std::time::Duration,
) -> (MutexGuard<'a, T>, bool) {
    let (guard, result) = cond
        .wait_timeout(guard, timeout)
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    (guard, result.timed_out())
}
