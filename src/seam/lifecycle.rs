//! Whether an executor takes jobs, for the executors that keep it under their state lock: the
//! process pool and the remote executor. (The thread pool keeps the same three states in one
//! atomic word, read on every submit without a lock; see `pool/registry.rs`.)

use crate::error::{BrokenReason, FutureError};

/// Open, shut down (queued jobs still run), or broken (with the reason every queued and later
/// job fails with). A state only moves forward: open → shut down → broken, or open → broken.
pub(crate) enum Lifecycle {
    Open,
    ShutDown,
    Broken(BrokenReason),
}

impl Lifecycle {
    pub(crate) fn is_open(&self) -> bool {
        matches!(self, Lifecycle::Open)
    }

    /// The error a job submitted now gets; `None` while open.
    pub(crate) fn error(&self) -> Option<FutureError> {
        match self {
            Lifecycle::Open => None,
            Lifecycle::ShutDown => Some(FutureError::Shutdown),
            Lifecycle::Broken(reason) => Some(FutureError::BrokenPool(reason.clone())),
        }
    }
}
