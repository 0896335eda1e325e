//! Which pool, if any, the current thread is a worker of.
//!
//! A leaf module: the worker loop (`pool::worker`) enters it when its thread starts and leaves it
//! when the thread exits; the future module asks it whether a blocking wait may run the awaited
//! job inline (only a worker of the job's own pool may: see
//! [`PoolFuture::run_inline_if_worker`](crate::PoolFuture)). So the future module knows nothing of
//! the pool, and data flows one way: bridge → pool → future.

use std::cell::Cell;

thread_local! {
    /// The identity of the pool this thread works for; 0 when it is not a worker.
    static POOL: Cell<u32> = const { Cell::new(0) };
}

/// The identity of the pool this thread is a worker of, or 0.
pub(crate) fn current_pool() -> u32 {
    // During thread-local destruction the slot may be gone: such a thread is no worker any more.
    POOL.try_with(Cell::get).unwrap_or(0)
}

/// `true` if this thread is a worker of pool `pool` (never for `pool == 0`, "no pool").
pub(crate) fn is_worker_of(pool: u32) -> bool {
    pool != 0 && current_pool() == pool
}

/// Marks this thread as a worker of `pool` until the returned guard is dropped.
pub(crate) fn enter(pool: u32) -> Entered {
    debug_assert_ne!(pool, 0, "0 means no pool");
    let previous = POOL.with(|p| p.replace(pool));
    debug_assert_eq!(previous, 0, "a thread is a worker of one pool at most");
    Entered(())
}

/// Leaves the worker context on drop (also when the worker's thread unwinds).
#[must_use]
pub(crate) struct Entered(());

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = POOL.try_with(|p| p.set(0));
    }
}
