//! The shared heart of a pool: the queues, the worker slots, the sleep state and the life cycle.
//!
//! A [`ThreadPoolExecutor`](crate::ThreadPoolExecutor) owns an `Arc<Registry>`; every worker
//! thread holds one too, as does every lazily-refilling [`Map`](crate::Map).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_deque::{Steal, Stealer, Worker};
use crossbeam_queue::SegQueue;

use crate::context::{self, JobCounters};
use crate::error::{BrokenReason, FutureError, SubmitError};
use crate::future::PoolFuture;
use crate::options::SubmitOptions;
use crate::pool::backpressure::{Closed, Permit, Permits, Reservation};
use crate::pool::config::Config;
use crate::pool::deadline::Deadline;
use crate::pool::latency;
use crate::pool::local;
use crate::pool::metrics::PoolMetrics;
use crate::pool::sleep::{Sleep, Spawn};
use crate::pool::task::{self, Detached, Extra, QueueEntry, Task};
use crate::trace;
use crate::unwind;
use crate::unwind::lock;

/// `closed` bit: `shutdown` was called.
const SHUT_DOWN: usize = 0b01;
/// `closed` bit: a worker initializer panicked.
const BROKEN: usize = 0b10;
/// `closed` bit: `shutdown(cancel_futures = true)`: a worker cancels any job it takes.
const CANCELLING: usize = 0b100;

pub(crate) struct Registry {
    /// Never 0: 0 means "no pool" in a future's `Core`.
    id: u32,
    config: Config,
    /// What a new worker thread runs.
    worker_main: WorkerMain,
    /// Jobs submitted from outside the pool. A `crossbeam_queue::SegQueue`, not
    /// `crossbeam_deque::Injector`: workers take one job at a time from it (never a batch,
    /// `sleep/README.md`), which is all a `SegQueue` offers, and its blocks of 31 entries
    /// (~750 bytes) stay under glibc's 1 KiB "large request" line, where the `Injector`'s 63
    /// (~1.5 KiB) made every 63rd submit consolidate the heap's freed small chunks (the jobs
    /// the workers just freed: `malloc_consolidate` was ~9 % of a `fire` profile). What it buys:
    /// `fire` (200k `execute`s from one thread) +18 % jobs/s over five interleaved full rounds,
    /// +10 % over eight; what it costs: a block allocation every 31 pushes instead of 63, with
    /// `sync` and `burst` level within this VM's noise. `sleep/README.md` ("The shared queue")
    /// has the runs.
    injector: SegQueue<QueueEntry>,
    /// The stealing ends of the workers' local deques, by slot. Workers keep a copy
    /// (`WorkerCtx::victims`) and refresh it when `stealers_version` moves, so the hot paths
    /// (spinning, the sleep re-check) never take this lock.
    stealers: RwLock<Box<[Option<Stealer<QueueEntry>>]>>,
    /// Bumped after every change of `stealers` (always under the slot lock, before a new worker
    /// thread starts).
    stealers_version: AtomicUsize,
    pub(crate) sleep: Sleep,
    /// `SHUT_DOWN | BROKEN` bits; only ever grows.
    closed: AtomicUsize,
    broken_reason: OnceLock<BrokenReason>,
    /// Worker slots. `threads` (in `sleep`) only grows under this lock.
    slots: Mutex<Slots>,
    /// Signalled whenever `slots.live` or `slots.starting` drops (a wait for the workers to
    /// exit checks its own condition).
    all_exited: Condvar,
    /// The reservations of a pool with `max_queued` (`backpressure.rs`); `None`: no bound, and
    /// submits never touch it.
    permits: Option<Arc<Permits>>,
    /// The job counters of each worker slot, written by the slot's thread only (`metrics`).
    counters: Box<[Arc<JobCounters>]>,
    /// Cancelled jobs whose queue entries a drain (shutdown, broken pool) took, not a worker.
    drained_cancelled: AtomicUsize,
    /// Jobs ended by their deadline before they started (by a runner, the deadline timer or a
    /// submit after the deadline), shared with every `Deadline` of this pool's jobs.
    expired: Arc<AtomicU64>,
    /// `shutdown_timeout` gave up waiting: dropping the executor must not wait either.
    detached: AtomicBool,
    /// Queue wait and run time of the sampled jobs (`latency.rs`), shared with those jobs.
    latency: latency::Shared,
}

struct Slots {
    entries: Vec<ThreadSlot>,
    /// Worker threads that have not left their loop.
    live: usize,
    /// Threads being started outside the lock whose handle is not stored yet; `shutdown(wait)`
    /// waits for them too, so that it joins every thread.
    starting: usize,
    /// Threads started, and threads that left their loop, since the pool was built.
    spawned: u64,
    retired: u64,
}

#[derive(Default)]
struct ThreadSlot {
    occupied: bool,
    /// Bumped at every reservation, so a thread start that finishes late knows whether the slot
    /// is still the one it reserved.
    generation: u64,
    /// The handle of the thread that last used this slot (running, or exited and not joined).
    handle: Option<JoinHandle<()>>,
}

/// How a keep-alive retirement went.
#[must_use]
pub(crate) enum Retire {
    /// The worker exited its slot: the thread must return.
    Exited,
    /// The worker is needed after all (woken, or work arrived): it is searching again.
    Stay,
}

/// The body of a worker thread (`worker::main`): given to [`Registry::new`] by the builder, so
/// that the registry starts workers without naming the worker loop, which names the registry.
/// `searching`: whether the thread was counted as searching when it was started.
pub(crate) type WorkerMain =
    fn(registry: Arc<Registry>, index: usize, local: Worker<QueueEntry>, searching: bool);

impl Registry {
    pub(crate) fn new(config: Config, worker_main: WorkerMain) -> Arc<Registry> {
        static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let slots = config.max_workers;
        Arc::new(Registry {
            // ORDERING: Relaxed: a unique number is all that is needed. 1..=u32::MAX, wrapping
            // after four billion pools (a reused id only lets a wait run a job inline).
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed) % u32::MAX + 1,
            injector: SegQueue::new(),
            stealers: RwLock::new((0..slots).map(|_| None).collect()),
            stealers_version: AtomicUsize::new(0),
            sleep: Sleep::new(slots, max_searching()),
            closed: AtomicUsize::new(0),
            broken_reason: OnceLock::new(),
            slots: Mutex::new(Slots {
                entries: (0..slots).map(|_| ThreadSlot::default()).collect(),
                live: 0,
                starting: 0,
                spawned: 0,
                retired: 0,
            }),
            all_exited: Condvar::new(),
            permits: config.max_queued.map(|n| Arc::new(Permits::new(n))),
            counters: (0..slots).map(|_| Arc::default()).collect(),
            drained_cancelled: AtomicUsize::new(0),
            expired: Arc::default(),
            detached: AtomicBool::new(false),
            latency: latency::shared(),
            worker_main,
            config,
        })
    }

    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The error a job submitted now would get, if the pool is closed.
    pub(crate) fn closed_error(&self) -> Option<FutureError> {
        // ORDERING: SeqCst: this load is the "read" half of the Dekker pattern against
        // `shutdown`/`break_pool` (set flag → fence → drain/wake) in `submit`.
        let closed = self.closed.load(Ordering::SeqCst);
        if closed & BROKEN != 0 {
            Some(FutureError::BrokenPool(self.broken_reason()))
        } else if closed & SHUT_DOWN != 0 {
            Some(FutureError::Shutdown)
        } else {
            None
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        // ORDERING: SeqCst, see `closed_error`.
        self.closed.load(Ordering::SeqCst) != 0
    }

    /// `true` after `shutdown(cancel_futures = true)`: a job taken from a queue (perhaps in the
    /// middle of a batch steal when the drain ran) is cancelled instead of run.
    pub(crate) fn is_cancelling(&self) -> bool {
        // ORDERING: SeqCst, like `closed_error`. A worker that reads the flag unset took the job
        // before the shutdown: the job counts as started.
        self.closed.load(Ordering::SeqCst) & CANCELLING != 0
    }

    fn broken_reason(&self) -> BrokenReason {
        self.broken_reason
            .get()
            .cloned()
            .unwrap_or_else(|| BrokenReason::Other("the pool is broken".to_owned()))
    }

    /// `true` for a pool built with `max_queued`.
    pub(crate) fn is_bounded(&self) -> bool {
        self.permits.is_some()
    }

    /// The job counters of worker slot `index`.
    pub(crate) fn counters(&self, index: usize) -> &Arc<JobCounters> {
        &self.counters[index]
    }

    /// Submits `f`: the job is queued and a worker is made available for it. With
    /// `max_queued`, waits for room first, blocking the thread (see [`reserve`](Self::reserve)).
    /// Inside a job with a deadline, the new job inherits it.
    pub(crate) fn submit<F, T>(self: &Arc<Self>, f: F) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // All that deadlines cost a plain submit: one thread-local read.
        match context::current_deadline() {
            None => self.submit_as(f, ()),
            Some(at) => self.submit_inheriting(f, at),
        }
    }

    /// [`submit`](Self::submit) from inside a job with a deadline: out of line, like
    /// `submit_bounded`.
    #[inline(never)]
    fn submit_inheriting<F, T>(self: &Arc<Self>, f: F, at: Instant) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_as(f, self.deadline(at))
    }

    /// [`submit`](Self::submit) with `options`: a deadline of its own, and whether it inherits
    /// the current job's (`SubmitOptions::effective_deadline`). The timeout does not apply.
    pub(crate) fn submit_with<F, T>(
        self: &Arc<Self>,
        f: F,
        options: &SubmitOptions,
    ) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match options.effective_deadline(Instant::now()) {
            None => self.submit_as(f, ()),
            Some(at) => self.submit_as(f, self.deadline(at)),
        }
    }

    /// A deadline at `at` for a job of this pool.
    fn deadline(&self, at: Instant) -> Deadline {
        Deadline::new(at, &self.expired)
    }

    /// The submit proper, for a job carrying `extra` (its deadline, or nothing).
    #[inline]
    fn submit_as<F, T, D>(self: &Arc<Self>, f: F, extra: D) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        D: Extra,
    {
        match &self.permits {
            None => self.push(f, (), extra),
            Some(permits) => self.submit_bounded(f, permits, extra),
        }
    }

    /// [`submit`](Self::submit) to a pool with `max_queued`: out of line, so that the submit of
    /// a pool without the bound stays what it was before the bound existed.
    #[inline(never)]
    fn submit_bounded<F, T, D>(
        self: &Arc<Self>,
        f: F,
        permits: &Arc<Permits>,
        extra: D,
    ) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        D: Extra,
    {
        match self.reserve(permits) {
            Reserve::Now => self.push(f, Reservation::new(permits), extra),
            Reserve::Bypass => self.push(f, (), extra),
            Reserve::Refused(err) => refused(f, err),
            Reserve::Wait => match permits.acquire_blocking() {
                Ok(()) => self.push(f, Reservation::new(permits), extra),
                Err(Closed) => refused(f, self.closed_error().unwrap_or(FutureError::Shutdown)),
            },
        }
    }

    /// Like [`submit`](Self::submit), but a full queue refuses the job instead of waiting.
    pub(crate) fn try_submit<F, T>(self: &Arc<Self>, f: F) -> Result<PoolFuture<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match context::current_deadline() {
            None => self.try_submit_as(f, ()),
            Some(at) => self.try_submit_as(f, self.deadline(at)),
        }
    }

    fn try_submit_as<F, T, D>(
        self: &Arc<Self>,
        f: F,
        extra: D,
    ) -> Result<PoolFuture<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        D: Extra,
    {
        if let Some(err) = self.closed_error() {
            return Err(SubmitError::closed(f, err));
        }
        match &self.permits {
            None => Ok(self.push(f, (), extra)),
            Some(permits) if permits.try_acquire() => {
                Ok(self.push(f, Reservation::new(permits), extra))
            }
            Some(_) => Err(SubmitError::Full(f)),
        }
    }

    /// Like [`submit`](Self::submit), but waits for room without blocking the thread.
    /// Cancel-safe: dropped while it waits, it leaves its place in the queue of waiters (or the
    /// reservation granted meanwhile) to the next one. The job inherits the deadline of the job
    /// that polls it first.
    pub(crate) async fn submit_async<F, T>(self: &Arc<Self>, f: F) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match context::current_deadline() {
            None => self.submit_async_as(f, ()).await,
            Some(at) => self.submit_async_as(f, self.deadline(at)).await,
        }
    }

    async fn submit_async_as<F, T, D>(self: &Arc<Self>, f: F, extra: D) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        D: Extra,
    {
        let Some(permits) = &self.permits else {
            return self.push(f, (), extra);
        };
        match self.reserve(permits) {
            Reserve::Now => self.push(f, Reservation::new(permits), extra),
            Reserve::Bypass => self.push(f, (), extra),
            Reserve::Refused(err) => refused(f, err),
            Reserve::Wait => match permits.acquire().await {
                Ok(()) => self.push(f, Reservation::new(permits), extra),
                Err(Closed) => refused(f, self.closed_error().unwrap_or(FutureError::Shutdown)),
            },
        }
    }

    /// The first step of a submit to a bounded pool: a reservation now, a refusal, or a wait.
    ///
    /// A worker of this pool never waits (it submits past the bound): the workers it would wait
    /// for may all be waiting too, each in a job submitting sub-jobs, and nobody would drain the
    /// queue. Its job still takes a reservation when there is room.
    fn reserve(&self, permits: &Permits) -> Reserve {
        if let Some(err) = self.closed_error() {
            return Reserve::Refused(err);
        }
        if permits.try_acquire() {
            Reserve::Now
        } else if context::is_worker_of(self.id) {
            Reserve::Bypass
        } else {
            Reserve::Wait
        }
    }

    /// Queues `f` holding `permit` (given back when the job leaves `PENDING`) and carrying
    /// `extra` (its deadline, or nothing), and makes a worker available for it: the submit
    /// proper.
    #[inline]
    fn push<F, T, P, D>(self: &Arc<Self>, f: F, permit: P, extra: D) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        P: Permit,
        D: Extra,
    {
        if let Some(err) = self.closed_error() {
            // `permit` is dropped here: a reservation goes back.
            return refused(f, err);
        }
        if extra.expired() {
            // Its deadline passed before the submit (or while it waited for room).
            extra.count_expired();
            return refused(f, FutureError::DeadlineExceeded { started: false });
        }
        if latency::sample() {
            return self.push_timed(f, permit, extra);
        }
        self.enqueue_task(f, permit, extra)
    }

    /// [`push`](Self::push) for a sampled job (one in `latency::SAMPLE_EVERY`): its closure is
    /// wrapped to record its queue wait and run time. Out of line, so that the other jobs' push
    /// stays what it was.
    #[inline(never)]
    fn push_timed<F, T, P, D>(self: &Arc<Self>, f: F, permit: P, extra: D) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        P: Permit,
        D: Extra,
    {
        self.enqueue_task(latency::timed(f, Arc::clone(&self.latency)), permit, extra)
    }

    /// Makes the job and queues it: the end of [`push`](Self::push).
    #[inline]
    fn enqueue_task<F, T, P, D>(self: &Arc<Self>, f: F, permit: P, extra: D) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        P: Permit,
        D: Extra,
    {
        let (task, fut) = Task::with_extra(trace::in_current_span(f), self.id, permit, extra);
        if let Err(err) = self.enqueue(QueueEntry::new(task)) {
            // Whoever gets to the job first decides: a worker still draining the queue runs it,
            // or it is refused here.
            fut.refuse(err);
        }
        fut
    }

    /// `execute`: like [`submit`](Self::submit) (waiting for room in a bounded queue), but the
    /// job has no future (`task::Detached`); a pool that refuses it gives the closure back.
    pub(crate) fn execute<F>(self: &Arc<Self>, f: F) -> Result<(), SubmitError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let Some(permits) = &self.permits else {
            return self.push_detached(f, ());
        };
        match self.reserve(permits) {
            Reserve::Now => self.push_detached(f, Reservation::new(permits)),
            Reserve::Bypass => self.push_detached(f, ()),
            Reserve::Refused(err) => Err(SubmitError::closed(f, err)),
            Reserve::Wait => match permits.acquire_blocking() {
                Ok(()) => self.push_detached(f, Reservation::new(permits)),
                Err(Closed) => Err(SubmitError::closed(
                    f,
                    self.closed_error().unwrap_or(FutureError::Shutdown),
                )),
            },
        }
    }

    /// Queues a detached job holding `permit`: `push` without a future.
    #[inline]
    fn push_detached<F, P>(self: &Arc<Self>, f: F, permit: P) -> Result<(), SubmitError<F>>
    where
        F: FnOnce() + Send + 'static,
        P: Permit,
    {
        if let Some(err) = self.closed_error() {
            return Err(SubmitError::closed(f, err));
        }
        let job = Detached::new(f, permit);
        // Weak: the worker that takes the job then holds its only strong reference and moves
        // the closure out without a lock (`Detached::run`).
        let mine = Arc::downgrade(&job);
        match self.enqueue(QueueEntry::new(job)) {
            Ok(()) => {
                task::keep_recent(mine);
                Ok(())
            }
            // Lost the race with a shutdown: ours if no worker took it meanwhile.
            Err(err) => match mine.upgrade().and_then(|job| job.reclaim()) {
                Some(f) => Err(SubmitError::closed(f, err)),
                None => Ok(()),
            },
        }
    }

    /// Puts `job` on this thread's deque (a worker of this pool) or the injector, and makes a
    /// worker available for it: the submitter's half of the sleep protocol
    /// (`sleep/README.md`). An error means the pool closed meanwhile, or no worker exists and
    /// none can start; the job may still be run by a worker draining the queue.
    #[inline]
    fn enqueue(self: &Arc<Self>, job: QueueEntry) -> Result<(), FutureError> {
        let worker = local::current(self.id);
        match &worker {
            Some(deque) => deque.push(job),
            None => self.injector.push(job),
        }
        let still_queued = || match &worker {
            Some(deque) => !deque.is_empty(),
            None => !self.injector.is_empty(),
        };
        self.sleep
            .job_pushed(|| self.closed_error(), still_queued, || self.try_spawn())
    }

    /// The cascade (`Sleep::more_work`): a worker that took a job while more is queued, or that
    /// stopped searching as the last searcher, makes sure another worker comes for the rest.
    /// `queued`: how many jobs wait (an estimate).
    pub(crate) fn more_work(self: &Arc<Self>, queued: impl Fn() -> usize) {
        self.sleep
            .more_work(queued, || self.try_spawn(), || self.hand_off());
    }

    /// Starts one more worker thread, unless the pool is closed or `max_workers` exist.
    fn try_spawn(self: &Arc<Self>) -> Spawn<FutureError> {
        match self.spawn_with(None) {
            Ok(()) => Spawn::Spawned,
            Err((spawn, _)) => spawn,
        }
    }

    /// Pops the oldest job of the injector and starts a thread for it: the job waits in the new
    /// worker's own deque, so the thread has work in hand. `Sleep::more_work` uses this to start
    /// the threads of a burst of long jobs in a tree. Returns `false` if there was no job or no
    /// thread could be started (the job is then queued again and a worker called for it).
    fn hand_off(self: &Arc<Self>) -> bool {
        let Some(job) = self.injector.pop() else {
            return false;
        };
        match self.spawn_with(Some(job)) {
            Ok(()) => true,
            Err((_, job)) => {
                if let Some(job) = job {
                    // Rare (a race for the last thread slot, or the OS refused): back it goes,
                    // behind the jobs queued meanwhile, and a worker is called as for a submit.
                    self.injector.push(job);
                    let _ = self.sleep.job_pushed(
                        || None::<FutureError>,
                        || !self.injector.is_empty(),
                        || self.try_spawn(),
                    );
                }
                false
            }
        }
    }

    /// Starts a worker thread, with `first` waiting in its deque if given. On failure, says why
    /// and gives `first` back.
    ///
    /// The slot is reserved under the slot lock (the only place `threads` grows), but the thread
    /// is started outside it: starting a thread takes tens of microseconds, and threads that
    /// start threads (`hand_off`) must not queue up behind each other.
    fn spawn_with(
        self: &Arc<Self>,
        first: Option<QueueEntry>,
    ) -> Result<(), (Spawn<FutureError>, Option<QueueEntry>)> {
        let mut slots = lock(&self.slots);
        if let Some(err) = self.closed_error() {
            return Err((Spawn::Failed(err), first));
        }
        // A thread with an initializer to run is busy until it has run it: submitters meanwhile
        // start threads of their own (as Python's do) instead of waiting for it.
        let searching = self.config.initializer.is_none() && self.config.state.is_none();
        if !self.sleep.try_add_thread(searching) {
            return Err((Spawn::AtMax, first));
        }
        let index = slots
            .entries
            .iter()
            .position(|slot| !slot.occupied)
            .expect("poolbridge bug: fewer than max_workers threads but no free slot");
        let slot = &mut slots.entries[index];
        let previous = slot.handle.take();
        slot.occupied = true;
        slot.generation += 1;
        let generation = slot.generation;
        slots.live += 1;
        slots.starting += 1;
        let local = Worker::new_fifo();
        let stealer = local.stealer();
        if let Some(job) = first {
            local.push(job);
        }
        // Published before the thread starts, hence before anything can be pushed to its deque
        // by the thread itself (see `set_stealer`).
        self.set_stealer(index, Some(stealer.clone()));
        drop(slots);
        if let Some(previous) = previous {
            // A thread that retired from this slot; it has released it and is returning.
            let _ = previous.join();
        }

        let mut builder =
            thread::Builder::new().name(format!("{}_{index}", self.config.thread_name_prefix));
        if let Some(size) = self.config.stack_size {
            builder = builder.stack_size(size);
        }
        let registry = Arc::clone(self);
        let worker_main = self.worker_main;
        // `spawn` panics on a name it cannot pass to the OS; `build` refuses those, and a panic
        // here must still not leave a thread counted that never started.
        let spawned =
            unwind::catch(|| builder.spawn(move || worker_main(registry, index, local, searching)))
                .unwrap_or_else(|panic| Err(std::io::Error::other(panic.message().to_owned())));

        let mut slots = lock(&self.slots);
        slots.starting -= 1;
        let outcome = match spawned {
            Ok(handle) => {
                slots.spawned += 1;
                let slot = &mut slots.entries[index];
                if slot.generation == generation {
                    slot.handle = Some(handle);
                    Ok(())
                } else {
                    // The thread already left its loop and the slot was taken again: it is
                    // on its way out; join it below, outside the lock.
                    drop(slots);
                    let _ = handle.join();
                    slots = lock(&self.slots);
                    Ok(())
                }
            }
            Err(err) => {
                // The thread never ran: the slot is still ours, and so is `first` unless another
                // worker stole it from the deque meanwhile (then it runs there).
                self.sleep.remove_thread(searching);
                slots.entries[index].occupied = false;
                self.set_stealer(index, None);
                slots.live -= 1;
                let first = loop {
                    match stealer.steal() {
                        Steal::Success(job) => break Some(job),
                        Steal::Empty => break None,
                        Steal::Retry => {}
                    }
                };
                Err((
                    Spawn::Failed(FutureError::BrokenPool(BrokenReason::ThreadStart(format!(
                        "could not start a worker thread: {err}"
                    )))),
                    first,
                ))
            }
        };
        self.all_exited.notify_all();
        drop(slots);
        outcome
    }

    fn set_stealer(&self, index: usize, stealer: Option<Stealer<QueueEntry>>) {
        write(&self.stealers)[index] = stealer;
        // ORDERING: Release: a worker that sees the new version (Acquire) and re-reads the list
        // sees the change. A new worker's stealer is published before its thread starts, hence
        // before any job is pushed to its deque; a sleeper's re-check (fence, then load version)
        // that sees such a job therefore also sees the version that lists that deque.
        self.stealers_version.fetch_add(1, Ordering::Release);
    }

    /// The current version of the stealer list, and the stealers of every worker but `me`.
    pub(crate) fn victims(&self, me: usize) -> (usize, Vec<Stealer<QueueEntry>>) {
        // ORDERING: Acquire, see `set_stealer`; read before the list so a change made in between
        // only causes one more refresh.
        let version = self.stealers_version.load(Ordering::Acquire);
        let list = read(&self.stealers)
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != me)
            .filter_map(|(_, s)| s.clone())
            .collect();
        (version, list)
    }

    pub(crate) fn stealers_version(&self) -> usize {
        // ORDERING: Acquire, see `set_stealer`.
        self.stealers_version.load(Ordering::Acquire)
    }

    /// Takes one job from the injector, or steals one from `victims` (other workers' deques,
    /// starting at `start`). Also says whether the queue it came from still holds jobs, so the
    /// caller can call another worker for them.
    ///
    /// One job at a time, never a batch: jobs here are mostly blocking calls, and a batch moved
    /// into one worker's deque would wait behind that worker's current job while other threads
    /// could run it. It also keeps the injector strictly first-in, first-out, as Python's queue.
    ///
    /// The third value is `true` for a job stolen from another worker (`metrics().stolen`).
    pub(crate) fn steal(
        &self,
        victims: &[Stealer<QueueEntry>],
        start: usize,
    ) -> Option<(QueueEntry, bool, bool)> {
        if let Some(job) = self.injector.pop() {
            return Some((job, !self.injector.is_empty(), false));
        }
        let n = victims.len();
        loop {
            let mut retry = false;
            for k in 0..n {
                let victim = &victims[(start + k) % n];
                match victim.steal() {
                    Steal::Success(job) => return Some((job, !victim.is_empty(), true)),
                    Steal::Empty => {}
                    Steal::Retry => retry = true,
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// `true` if a job waits in the injector.
    pub(crate) fn injector_has_work(&self) -> bool {
        !self.injector.is_empty()
    }

    /// `true` if a job is queued in the injector or in one of `victims`' deques. Workers pass
    /// their own list of victims; their own deque is empty whenever they ask.
    pub(crate) fn has_work_in(&self, victims: &[Stealer<QueueEntry>]) -> bool {
        !self.injector.is_empty() || victims.iter().any(|s| !s.is_empty())
    }

    /// How many jobs wait in the injector and in `victims`' deques (an estimate: the queues move
    /// while it is read).
    pub(crate) fn queued_in(&self, victims: &[Stealer<QueueEntry>]) -> usize {
        self.injector.len() + victims.iter().map(Stealer::len).sum::<usize>()
    }

    /// `true` if a job is queued anywhere (injector or any local deque).
    pub(crate) fn has_work(&self) -> bool {
        !self.injector.is_empty() || read(&self.stealers).iter().flatten().any(|s| !s.is_empty())
    }

    /// Removes every queued job and hands it to `f`. User code (callbacks, closure drops) runs in
    /// `f`, so no lock is held while it runs.
    fn drain(&self, mut f: impl FnMut(QueueEntry)) {
        let stealers: Vec<Stealer<QueueEntry>> =
            read(&self.stealers).iter().flatten().cloned().collect();
        while let Some(job) = self.injector.pop() {
            f(job);
        }
        for stealer in &stealers {
            loop {
                match stealer.steal() {
                    Steal::Success(job) => f(job),
                    Steal::Empty => break,
                    Steal::Retry => {}
                }
            }
        }
    }

    /// `shutdown(wait, cancel_futures)`; see `ThreadPoolExecutor::shutdown`.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        {
            // Under the slot lock, so no thread is spawned once the flag is up.
            let _slots = lock(&self.slots);
            let flags = if cancel_futures {
                SHUT_DOWN | CANCELLING
            } else {
                SHUT_DOWN
            };
            // ORDERING: SeqCst, then the fence: flag → fence → drain/wake, against a submitter's
            // push → fence → flag check.
            self.closed.fetch_or(flags, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        if let Some(permits) = &self.permits {
            // Submitters waiting for room wake up and refuse their jobs.
            permits.close();
        }
        if cancel_futures {
            self.drain(|job| {
                if job.cancel() {
                    self.count_drained_cancel();
                }
            });
        }
        self.sleep.wake_all();
        if wait {
            let _ = self.wait_for_workers(None);
        }
    }

    /// `shutdown_timeout(timeout)`; see `ThreadPoolExecutor::shutdown_timeout`.
    pub(crate) fn shutdown_timeout(&self, timeout: Duration) -> bool {
        let deadline = crate::future::deadline_after(timeout);
        self.shutdown(false, false);
        let ended = self.wait_for_workers(Some(deadline));
        if !ended {
            // ORDERING: Relaxed: read by the executor's `Drop`, which comes after this call on
            // whatever thread drops the executor last (the drop of its last owner synchronizes
            // with every earlier use).
            self.detached.store(true, Ordering::Relaxed);
        }
        ended
    }

    /// `true` once `shutdown_timeout` gave up on some worker: dropping the executor then does
    /// not wait for it either.
    pub(crate) fn is_detached(&self) -> bool {
        // ORDERING: Relaxed, see `shutdown_timeout`.
        self.detached.load(Ordering::Relaxed)
    }

    /// Waits until every worker has exited (or `deadline` passes), then joins their threads.
    /// Returns `true` if they all exited in time.
    ///
    /// Called from one of this pool's own jobs, it waits for the *other* workers only (its own
    /// thread cannot exit while its job runs), and only with a deadline: without one it returns
    /// `false` at once, because some job may be waiting on the caller's job and an unbounded
    /// wait could deadlock (Python raises "cannot join current thread" there). The workers still
    /// finish the queued jobs and exit on their own once the caller's job returns.
    fn wait_for_workers(&self, deadline: Option<Instant>) -> bool {
        let me = local::current(self.id).map(|deque| deque.index());
        if me.is_some() && deadline.is_none() {
            return false;
        }
        let mine = usize::from(me.is_some());
        let slots = lock(&self.slots);
        let (mut slots, exited) =
            unwind::wait_while_until(&self.all_exited, slots, deadline, |slots| {
                slots.live > mine || slots.starting > 0
            });
        if !exited {
            return false;
        }
        let handles: Vec<JoinHandle<()>> = slots
            .entries
            .iter_mut()
            .enumerate()
            .filter(|&(index, _)| Some(index) != me)
            .filter_map(|(_, slot)| slot.handle.take())
            .collect();
        drop(slots);
        for handle in handles {
            // Every worker has left its loop; this waits for their threads to finish exiting.
            let _ = handle.join();
        }
        true
    }

    fn count_drained_cancel(&self) {
        // ORDERING: Relaxed: a statistic (drains are rare: no per-worker counter needed).
        self.drained_cancelled.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot of the pool's activity; see `ThreadPoolExecutor::metrics`.
    pub(crate) fn metrics(&self) -> PoolMetrics {
        let counts = self.sleep.counts();
        let queued = self.injector.len()
            + read(&self.stealers)
                .iter()
                .flatten()
                .map(Stealer::len)
                .sum::<usize>();
        let (spawned, retired) = {
            let slots = lock(&self.slots);
            (slots.spawned, slots.retired)
        };
        // ORDERING: Relaxed loads: a snapshot of counters that only grow (`running` is a
        // gauge), summed without stopping the workers.
        let load = |c: &AtomicUsize| c.load(Ordering::Relaxed) as u64;
        let mut m = PoolMetrics {
            threads: counts.threads,
            idle: counts.idle(),
            queued,
            spawned,
            retired,
            cancelled: load(&self.drained_cancelled),
            // ORDERING: Relaxed, as above.
            deadline_exceeded: self.expired.load(Ordering::Relaxed),
            waiting_submits: self.permits.as_ref().map_or(0, |p| p.waiting()),
            ..PoolMetrics::default()
        };
        for c in self.counters.iter() {
            m.running += load(&c.running) as usize;
            m.completed += load(&c.completed);
            m.panicked += load(&c.panicked);
            m.cancelled += load(&c.cancelled);
            m.stolen += load(&c.stolen);
            m.deadline_exceeded += load(&c.deadline_exceeded);
        }
        (m.queue_wait, m.run_time) = latency::read(&self.latency);
        m.progress = crate::future::running_in(self.id);
        m
    }

    /// A worker's initializer panicked or failed (`reason` says which): the pool is broken.
    /// Every queued job and every later submit resolves to `BrokenPool`.
    pub(crate) fn break_pool(&self, reason: BrokenReason) {
        {
            let _slots = lock(&self.slots);
            let _ = self.broken_reason.set(reason);
            // ORDERING: SeqCst + fence, as in `shutdown`.
            self.closed.fetch_or(BROKEN, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        let reason = self.broken_reason();
        trace::pool_broken(self.id, &reason.to_string());
        if let Some(permits) = &self.permits {
            permits.close();
        }
        self.drain(|job| {
            if job.refuse(FutureError::BrokenPool(reason.clone())) {
                self.count_drained_cancel();
            }
        });
        self.sleep.wake_all();
    }

    /// A worker leaves for good (shutdown, broken pool): frees its slot.
    pub(crate) fn exit_worker(&self, index: usize, searching: bool) {
        let mut slots = lock(&self.slots);
        self.sleep.remove_thread(searching);
        self.release_slot(&mut slots, index);
        drop(slots);
        trace::thread_exited(self.id, index, "the pool is shut down or broken");
    }

    /// The keep-alive of a sleeping worker passed: retire it unless it is needed after all.
    pub(crate) fn try_retire(&self, index: usize) -> Retire {
        let mut slots = lock(&self.slots);
        if !self.sleep.try_retire(index) {
            drop(slots);
            self.sleep.consume_notification(index);
            return Retire::Stay;
        }
        // ORDERING: the retiring worker's Dekker fence: `threads - 1` → fence → last look at
        // the queues, against a submitter's push → fence → read of `threads`.
        fence(Ordering::SeqCst);
        if self.has_work() {
            // A submitter may have counted on us: stay. We hold the slot lock, the only place
            // `threads` grows, so this cannot exceed max_workers.
            self.sleep.undo_retire();
            return Retire::Stay;
        }
        self.release_slot(&mut slots, index);
        drop(slots);
        trace::thread_exited(self.id, index, "idle for the keep-alive");
        Retire::Exited
    }

    fn release_slot(&self, slots: &mut Slots, index: usize) {
        slots.entries[index].occupied = false;
        self.set_stealer(index, None);
        slots.live -= 1;
        slots.retired += 1;
        self.all_exited.notify_all();
    }

    /// `true` if a job queued now would be taken without the calling worker: another worker is
    /// idle, or fewer than `max_workers` threads exist (the sleep protocol starts one for queued
    /// work, see `call_worker`). The probe of `crate::context`: an async poll on a worker runs
    /// the awaited job inline only when this is `false`.
    ///
    /// A heuristic read of the counts (`Sleep::counts`, Relaxed): a stale answer either runs the
    /// job here (what every wait did before) or leaves it queued, where the sleep protocol already
    /// guarantees that a worker comes for it (`sleep/README.md`).
    pub(crate) fn another_worker_can_take_jobs(&self) -> bool {
        let counts = self.sleep.counts();
        counts.idle() > 0 || counts.threads < self.config.max_workers
    }

    /// Worker threads currently alive.
    pub(crate) fn num_threads(&self) -> usize {
        self.sleep.counts().threads
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Any job still queued has no worker left: its `QueueEntry` entry refuses it on drop.
        self.drain(drop);
    }
}

/// The first step of a submit to a bounded pool (`Registry::reserve`).
enum Reserve {
    /// A reservation was taken.
    Now,
    /// A worker of the pool submits past the bound.
    Bypass,
    /// The pool is closed.
    Refused(FutureError),
    /// No room: wait for a reservation.
    Wait,
}

/// Workers that may spin at once: half the cores, at least one. Spinning keeps the next job's
/// latency low, but each spinner occupies a core the submitter might need.
fn max_searching() -> usize {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    (cpus / 2).max(1)
}

/// A future that is already done with `err`; `f` is dropped unrun.
pub(crate) fn refused<F, T>(f: F, err: FutureError) -> PoolFuture<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (_task, fut) = Task::new(f, 0);
    fut.refuse(err);
    fut
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
