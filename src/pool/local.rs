//! The local deque of the worker running on this thread. Its worker loop (`worker.rs`) pops
//! from it; `submit` from one of its jobs pushes to it (`Registry::enqueue`) instead of the
//! injector. A leaf below both, so that neither the registry nor the worker loop names the
//! other for it.

use std::cell::RefCell;
use std::rc::Rc;

use crossbeam_deque::Worker;

use crate::pool::task::QueueEntry;

thread_local! {
    /// The deque of the worker running on this thread, if any.
    static CURRENT: RefCell<Option<Rc<LocalDeque>>> = const { RefCell::new(None) };
}

/// A worker's own deque, with the identity of its pool and its slot.
pub(crate) struct LocalDeque {
    pool: u32,
    index: usize,
    deque: Worker<QueueEntry>,
}

impl LocalDeque {
    /// Makes `deque`, the deque of worker `index` of pool `pool`, this thread's, until
    /// [`leave`](Self::leave).
    pub(crate) fn enter(pool: u32, index: usize, deque: Worker<QueueEntry>) -> Rc<LocalDeque> {
        let local = Rc::new(LocalDeque { pool, index, deque });
        CURRENT.with(|current| *current.borrow_mut() = Some(Rc::clone(&local)));
        local
    }

    /// This thread is no longer a worker.
    pub(crate) fn leave() {
        CURRENT.with(|current| current.borrow_mut().take());
    }

    /// The worker's slot in its pool.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn push(&self, job: QueueEntry) {
        self.deque.push(job);
    }

    pub(crate) fn pop(&self) -> Option<QueueEntry> {
        self.deque.pop()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.deque.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.deque.len()
    }
}

/// The deque of the worker of pool `pool` running on this thread, if this thread is one.
pub(crate) fn current(pool: u32) -> Option<Rc<LocalDeque>> {
    if pool == 0 {
        return None;
    }
    CURRENT
        .try_with(|current| {
            current
                .borrow()
                .as_ref()
                .filter(|local| local.pool == pool)
                .cloned()
        })
        .ok()
        .flatten()
}
