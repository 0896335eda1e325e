//! Internals exposed to the loom models in `tests/loom_*.rs`, only under `--cfg loom`.
//!
//! Not part of the API: the models need to drive a job without a pool, and the sleep protocol
//! without threads of its own. Every method here forwards to the code the pool runs; none
//! re-implements it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::future::PoolFuture;
use crate::pool::backpressure::{Closed, Permits};
use crate::pool::sleep::{Sleep, SleepCounts, Spawn, Wake};
use crate::pool::task::{QueueEntry, Task};
use crate::spin::Search;

/// A job as a worker holds it: its queue entry.
#[derive(Debug)]
pub struct QueuedJob(Option<QueueEntry>);

impl QueuedJob {
    /// Runs the job as a worker would (a no-op if it was cancelled or already claimed).
    pub fn run(mut self) {
        if let Some(job) = self.0.take() {
            job.run(&mut ());
        }
    }
}

/// The back-pressure reservations of a pool with `max_queued` (`pool/backpressure.rs`).
#[derive(Debug, Clone)]
pub struct PermitsModel(Arc<Permits>);

impl PermitsModel {
    /// Reservations for at most `max` queued jobs.
    pub fn new(max: usize) -> PermitsModel {
        PermitsModel(Arc::new(Permits::new(max)))
    }

    /// See `Permits::try_acquire` (the fast path of every submit).
    pub fn try_acquire(&self) -> bool {
        self.0.try_acquire()
    }

    /// See `Permits::acquire_blocking` (a blocking `submit`). `false`: closed.
    pub fn acquire_blocking(&self) -> bool {
        self.0.acquire_blocking() == Ok(())
    }

    /// See `Permits::acquire` (`submit_async`): ready with `true` once a reservation is held,
    /// `false` if closed; dropping it gives up.
    pub fn acquire(&self) -> impl Future<Output = bool> + Send + Unpin + 'static {
        let acquire = self.0.acquire();
        FutureMap(acquire)
    }

    /// See `Permits::release` (a job left `PENDING`).
    pub fn release(&self) {
        self.0.release()
    }

    /// See `Permits::close` (shutdown).
    pub fn close(&self) {
        self.0.close()
    }

    /// Reservations held now.
    pub fn used(&self) -> usize {
        self.0.used()
    }

    /// Waiters queued now.
    pub fn waiting(&self) -> usize {
        self.0.waiting()
    }
}

struct FutureMap(crate::pool::backpressure::Acquire);

impl Future for FutureMap {
    type Output = bool;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<bool> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|outcome| outcome != Err(Closed))
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
    (QueuedJob(Some(QueueEntry::new(task))), fut)
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

/// What a model's `spawn` callback did (see `Sleep::job_pushed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spawned {
    /// A thread was started (and counted with `try_add_thread`).
    Yes,
    /// `max_workers` threads exist.
    AtMax,
    /// The thread could not be started.
    Failed,
}

/// A worker's search before parking (`Search`: one round under loom, which has no time).
#[derive(Debug, Default)]
pub struct SearchModel(Search);

impl SearchModel {
    /// See `Search::run`.
    pub fn run<J>(
        &mut self,
        find: impl FnMut() -> Option<J>,
        stop: impl Fn() -> bool,
    ) -> Option<J> {
        self.0.went_idle();
        let found = self.0.run(find, stop);
        if found.is_some() {
            self.0.found_job();
        }
        found
    }
}

/// A worker's availability flag, passed to the hooks the way `pool/worker.rs` passes it.
#[derive(Debug)]
pub struct Searching(pub bool);

impl SleepModel {
    /// A pool with `workers` slots and at most `max_searching` searchers.
    pub fn new(workers: usize, max_searching: usize) -> SleepModel {
        SleepModel(Sleep::new(workers, max_searching))
    }

    /// (searching, sleeping, threads).
    pub fn counts(&self) -> (usize, usize, usize) {
        let SleepCounts {
            searching,
            sleeping,
            threads,
        } = self.0.counts();
        (searching, sleeping, threads)
    }

    /// `Registry::submit`'s half, after its push: `Sleep::job_pushed`. `Err(())` where the real
    /// submit would refuse the job.
    pub fn job_pushed(
        &self,
        closed: impl FnOnce() -> bool,
        still_queued: impl Fn() -> bool,
        mut spawn: impl FnMut() -> Spawned,
    ) -> Result<(), ()> {
        self.0.job_pushed(
            || closed().then_some(()),
            still_queued,
            || to_spawn(spawn()),
        )
    }

    /// `Registry::more_work`: `Sleep::more_work` (`queued`: how many jobs wait; `hand_off`:
    /// pop a job and start a thread with it in hand, `false` if it could not).
    pub fn more_work(
        &self,
        queued: impl Fn() -> usize,
        mut spawn: impl FnMut() -> Spawned,
        hand_off: impl FnOnce() -> bool,
    ) {
        self.0
            .more_work(queued, || to_spawn::<()>(spawn()), hand_off)
    }

    /// See `Sleep::try_start_searching`.
    pub fn try_start_searching(&self) -> bool {
        self.0.try_start_searching()
    }

    /// See `Sleep::found_job`.
    pub fn found_job(&self, searching: &mut Searching, more: bool) -> bool {
        self.0.found_job(&mut searching.0, more)
    }

    /// See `Sleep::before_publish` (the worker's `RunHooks`).
    pub fn before_publish(&self, searching: &mut Searching) {
        self.0.before_publish(&mut searching.0)
    }

    /// See `Sleep::before_user_code` (the worker's `RunHooks`).
    pub fn before_user_code(&self, searching: &mut Searching) -> bool {
        self.0.before_user_code(&mut searching.0)
    }

    /// See `Sleep::sleep` (without keep-alive: loom does not model time).
    pub fn sleep(&self, index: usize, searching: bool, has_work: impl Fn() -> bool) -> Woken {
        match self.0.sleep(index, searching, None::<Duration>, has_work) {
            Wake::Recheck => Woken::Recheck,
            Wake::Notified => Woken::Notified,
            Wake::TimedOut => unreachable!("no keep-alive in the model"),
        }
    }

    /// See `Sleep::wake_all`.
    pub fn wake_all(&self) {
        self.0.wake_all()
    }

    /// See `Sleep::try_add_thread`.
    pub fn try_add_thread(&self, searching: bool) -> bool {
        self.0.try_add_thread(searching)
    }

    /// See `Sleep::remove_thread`.
    pub fn remove_thread(&self, searching: bool) {
        self.0.remove_thread(searching)
    }
}

fn to_spawn<E: Default>(spawned: Spawned) -> Spawn<E> {
    match spawned {
        Spawned::Yes => Spawn::Spawned,
        Spawned::AtMax => Spawn::AtMax,
        Spawned::Failed => Spawn::Failed(E::default()),
    }
}
