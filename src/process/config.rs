//! What a process pool is built with: the settings `ProcessPoolBuilder::build` checked, read by
//! the pool (`pool.rs`) and by the worker starts (`start.rs`).

use std::path::PathBuf;
use std::time::Duration;

use crate::seam::job::Registry;

/// What a pool is built with (see `ProcessPoolBuilder`).
pub(crate) struct Config {
    pub(crate) max_workers: usize,
    pub(crate) max_tasks_per_child: Option<usize>,
    /// Index and name of the initializer job.
    pub(crate) initializer: Option<(u32, &'static str)>,
    pub(crate) job_timeout: Option<Duration>,
    pub(crate) program: PathBuf,
    pub(crate) start_timeout: Duration,
    pub(crate) registry: &'static Registry,
    /// The most jobs waiting for a worker (`ProcessPoolBuilder::max_queued`); `None`: no bound.
    pub(crate) max_queued: Option<usize>,
    /// How long a job asked to stop may take to return before its worker is killed
    /// (`ProcessPoolBuilder::cancel_grace`).
    pub(crate) cancel_grace: Duration,
}
