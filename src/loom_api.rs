//! Internals exposed to the loom models in `tests/loom_*.rs`, only under `--cfg loom`.
//!
//! Not part of the API: the models need to drive a job without a pool, and the sleep protocol
//! without threads of its own.

use std::sync::Arc;
use std::time::Duration;

use crate::future::PoolFuture;
use crate::pool::sleep::{Counts, Sleep, Wake};
use crate::pool::task::{Job, Task};

/// A job as a worker holds it: its queue entry.
#[derive(Debug)]
pub struct QueuedJob(Option<Job>);

impl QueuedJob {
    /// Runs the job as a worker would (a no-op if it was cancelled or already claimed).
    pub fn run(mut self) {
        if let Some(job) = self.0.take() {
            job.run(&mut || {});
        }
    }
}

/// A pending job and its future, with no pool behind them.
pub fn task<F, T>(f: F) -> (QueuedJob, PoolFuture<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (task, fut) = Task::new(f, 0);
    let task: Arc<dyn crate::pool::task::Runnable> = task;
    (QueuedJob(Some(Job::new(task))), fut)
}

/// The worker sleep protocol of one pool, for a model to drive.
#[derive(Debug)]
pub struct SleepModel(Sleep);

/// How a model worker's sleep ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// The re-check after announcing the sleep saw work.
    Recheck,
    /// A submitter woke it.
    Notified,
}

impl SleepModel {
    /// A pool with `workers` slots and at most `max_searching` spinners.
    pub fn new(workers: usize, max_searching: usize) -> SleepModel {
        SleepModel(Sleep::new(workers, max_searching))
    }

    /// (searching, sleeping, threads).
    pub fn counts(&self) -> (usize, usize, usize) {
        let Counts {
            searching,
            sleeping,
            threads,
        } = self.0.counts();
        (searching, sleeping, threads)
    }

    /// See `Sleep::try_start_searching`.
    pub fn try_start_searching(&self) -> bool {
        self.0.try_start_searching()
    }

    /// See `Sleep::stop_searching`.
    pub fn stop_searching(&self) -> bool {
        self.0.stop_searching()
    }

    /// See `Sleep::sleep` (without keep-alive: loom does not model time).
    pub fn sleep(&self, index: usize, searching: bool, has_work: impl Fn() -> bool) -> Woken {
        match self.0.sleep(index, searching, None::<Duration>, has_work) {
            Wake::Recheck => Woken::Recheck,
            Wake::Notified => Woken::Notified,
            Wake::TimedOut => unreachable!("no keep-alive in the model"),
        }
    }

    /// See `Sleep::wake_one`.
    pub fn wake_one(&self) -> bool {
        self.0.wake_one()
    }

    /// See `Sleep::wake_all`.
    pub fn wake_all(&self) {
        self.0.wake_all()
    }

    /// See `Sleep::try_add_thread`.
    pub fn try_add_thread(&self, max: usize) -> bool {
        self.0.try_add_thread(max)
    }
}
