//! What a thread pool is built with: the settings `ThreadPoolBuilder::build` checked, read by the
//! registry, the worker loop and the per-worker state (a leaf: it names none of them).

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

/// What a pool is built with (see `ThreadPoolBuilder`).
pub(crate) struct Config {
    pub(crate) max_workers: usize,
    pub(crate) thread_name_prefix: String,
    pub(crate) initializer: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The per-worker state's initializer (`build_with_state`).
    pub(crate) state: Option<Arc<StateInit>>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) keep_alive: Option<Duration>,
    /// `max_queued`: at most this many jobs wait for a worker (`None`: no bound).
    pub(crate) max_queued: Option<usize>,
}

/// The type-erased state initializer a pool is built with: worker index → state, or why not.
pub(crate) type StateInit = dyn Fn(usize) -> Result<Box<dyn Any>, String> + Send + Sync;
