//! Which pool, if any, the current thread is a worker of, and whether another worker of that pool
//! could take a job off this thread's hands.
//!
//! A leaf module: the worker loop (`pool::worker`) enters it when its thread starts and leaves it
//! when the thread exits; the future module asks it whether a wait may run the awaited job inline
//! (only a worker of the job's own pool may, see
//! [`PoolFuture::run_inline_if_worker`](crate::PoolFuture)). So the future module knows nothing of
//! the pool, and data flows one way: bridge → pool → future.

use std::cell::{Cell, RefCell};

/// Answers "would another worker of this thread's pool take a queued job now?" for the worker
/// running on this thread. Registered by the worker; it only reads the pool's counters.
pub(crate) type HandOffProbe = Box<dyn Fn() -> bool>;

thread_local! {
    /// The identity of the pool this thread works for; 0 when it is not a worker.
    static POOL: Cell<u32> = const { Cell::new(0) };
    /// The worker's probe, while `POOL` is set.
    static PROBE: RefCell<Option<HandOffProbe>> = const { RefCell::new(None) };
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

/// `true` if this thread is a worker whose pool has another worker idle, or room to start one:
/// a job queued now would be taken without this thread. `false` on a thread that is no worker.
pub(crate) fn another_worker_can_take_jobs() -> bool {
    PROBE
        .try_with(|probe| probe.borrow().as_ref().is_some_and(|probe| probe()))
        .unwrap_or(false)
}

/// Marks this thread as a worker of `pool` until the returned guard is dropped. `probe` answers
/// [`another_worker_can_take_jobs`] meanwhile.
pub(crate) fn enter(pool: u32, probe: HandOffProbe) -> Entered {
    debug_assert_ne!(pool, 0, "0 means no pool");
    let previous = POOL.with(|p| p.replace(pool));
    debug_assert_eq!(previous, 0, "a thread is a worker of one pool at most");
    PROBE.with(|p| *p.borrow_mut() = Some(probe));
    Entered(())
}

/// Leaves the worker context on drop (also when the worker's thread unwinds).
#[must_use]
pub(crate) struct Entered(());

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = POOL.try_with(|p| p.set(0));
        let _ = PROBE.try_with(|p| p.borrow_mut().take());
    }
}
