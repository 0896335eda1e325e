//! A job: the closure and its future's [`Core`] in one allocation (with its deadline, if it has
//! one), and the queue entry for it.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Instant;

use crate::context;
use crate::error::{BrokenReason, FutureError, PanicError};
use crate::future::{Core, PoolFuture, RunHooks, TaskHandle, state};
use crate::pool::backpressure::Permit;
use crate::pool::deadline::{self, Deadline, Expire};
use crate::trace::SubmitSpan;
use crate::unwind;
use crossbeam_utils::atomic::AtomicCell;

/// One submitted job. Shared by its [`PoolFuture`]s and its queue entry ([`QueueEntry`]).
///
/// `P` is what the job gives back when it leaves `PENDING`: its reservation in a pool with
/// `max_queued` (`backpressure::Reservation`), nothing (`()`, zero-sized) otherwise. `D` is what
/// else it carries ([`Extra`]): nothing (`()`, zero-sized), or its [`Deadline`].
pub(crate) struct Task<F, T, P = (), D = ()> {
    core: Core<T>,
    /// The closure until someone claims it: the runner (after `PENDING → RUNNING`) or whoever
    /// ends the future from `PENDING`. The state CAS decides who; the cell only makes the move
    /// out safe without `unsafe`. An `AtomicCell` has no lock of its own (a word-sized closure
    /// is swapped atomically; a larger one under a global striped lock that is never
    /// contended here), which saves a mutex per queued job.
    func: AtomicCell<Option<F>>,
    permit: P,
    extra: D,
}

/// What a job carries beside its closure, its future and its permit: nothing (`()`: a plain
/// job is no bigger, and its run no longer, than before deadlines existed), or its
/// [`Deadline`] (`deadline.rs`). Dispatched statically: every method of `()` is a constant.
pub(crate) trait Extra: Sized + Send + Sync + 'static {
    /// `true` if the job must not start any more: its deadline has passed.
    fn expired(&self) -> bool;
    /// The job's deadline, if it has one.
    fn deadline(&self) -> Option<Instant>;
    /// Counts a job ended by its deadline before it started.
    fn count_expired(&self);
    /// Calls the job's closure (`call`), with the job's deadline as the thread's current one
    /// (for `poolbridge::deadline()`, and for the jobs it submits to inherit).
    fn scope<R>(&self, call: impl FnOnce() -> R) -> R;
    /// Arms the deadline timer for a new job (nothing without a deadline).
    fn arm<F, T, P>(task: &Arc<Task<F, T, P, Self>>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        P: Permit;
}

impl Extra for () {
    #[inline(always)]
    fn expired(&self) -> bool {
        false
    }

    #[inline(always)]
    fn deadline(&self) -> Option<Instant> {
        None
    }

    #[inline(always)]
    fn count_expired(&self) {}

    #[inline(always)]
    fn scope<R>(&self, call: impl FnOnce() -> R) -> R {
        call()
    }

    #[inline(always)]
    fn arm<F, T, P>(_task: &Arc<Task<F, T, P, Self>>) {}
}

impl Extra for Deadline {
    fn expired(&self) -> bool {
        self.passed()
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.at())
    }

    fn count_expired(&self) {
        Deadline::count_expired(self);
    }

    fn scope<R>(&self, call: impl FnOnce() -> R) -> R {
        let _scope = context::enter_deadline(Some(self.at()));
        call()
    }

    fn arm<F, T, P>(task: &Arc<Task<F, T, P, Self>>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        P: Permit,
    {
        let weak: Weak<Task<F, T, P, Deadline>> = Arc::downgrade(task);
        deadline::arm(task.extra.at(), weak);
    }
}

impl<F, T> Task<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// A new pending job for the pool with identity `pool` (0: none), and its first handle.
    pub(crate) fn new(func: F, pool: u32) -> (Arc<Task<F, T>>, PoolFuture<T>) {
        Task::with_permit(func, pool, ())
    }
}

impl<F, T, P> Task<F, T, P>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
    P: Permit,
{
    /// A new pending job holding `permit` until it leaves `PENDING`, and its first handle.
    pub(crate) fn with_permit(
        func: F,
        pool: u32,
        permit: P,
    ) -> (Arc<Task<F, T, P>>, PoolFuture<T>) {
        Task::with_extra(func, pool, permit, ())
    }
}

impl<F, T, P, D> Task<F, T, P, D>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
    P: Permit,
    D: Extra,
{
    /// A new pending job holding `permit` until it leaves `PENDING` and carrying `extra`, and
    /// its first handle. A job with a deadline is armed in the deadline timer.
    pub(crate) fn with_extra(
        func: F,
        pool: u32,
        permit: P,
        extra: D,
    ) -> (Arc<Self>, PoolFuture<T>) {
        let task = Arc::new(Task {
            core: Core::new(pool),
            func: AtomicCell::new(Some(func)),
            permit,
            extra,
        });
        D::arm(&task);
        let fut = PoolFuture::from_task(task.clone());
        (task, fut)
    }
}

impl<F, T, P, D> TaskHandle<T> for Task<F, T, P, D>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
    P: Permit,
    D: Extra,
{
    fn core(&self) -> &Core<T> {
        &self.core
    }

    fn call(&self) -> Result<T, PanicError> {
        // The job no longer waits for a worker: its place in a bounded queue is free.
        self.permit.release();
        let func = self.func.take();
        let func = func.expect("poolbridge bug: a job's closure was claimed twice");
        self.extra.scope(|| unwind::catch(func))
    }

    fn discard(&self) {
        self.permit.release();
        drop(self.func.take());
    }

    fn deadline(&self) -> Option<Instant> {
        self.extra.deadline()
    }

    fn count_expired(&self) {
        self.extra.count_expired();
    }
}

impl<F, T, P> Expire for Task<F, T, P, Deadline>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
    P: Permit,
{
    fn deadline_passed(self: Arc<Self>) {
        PoolFuture::from_task(self).deadline_passed();
    }
}

/// The type-erased operations a queue needs on a job.
pub(crate) trait Runnable: Send + Sync {
    /// Runs the job if it is still pending (a stale entry, already run inline or cancelled, is a
    /// no-op), with `hooks` around the publication of its outcome (see [`RunHooks`]). Drops the
    /// entry's reference last: if it is the last one, the job's value or closure is dropped here,
    /// after `hooks.before_user_code()`. An entry whose job was cancelled before it started is
    /// reported with `hooks.dropped_cancelled()` (the worker counts it).
    fn run(self: Arc<Self>, hooks: &mut dyn RunHooks);
    /// Cancels the job if it is still pending. Returns `true` if the job is cancelled (now, or
    /// it already was).
    fn cancel(self: Arc<Self>) -> bool;
    /// Ends the job with `err` if it is still pending. Returns `true` if it had been cancelled.
    fn refuse(self: Arc<Self>, err: FutureError) -> bool;
    /// `true` if nobody has claimed the job yet.
    fn is_pending(&self) -> bool;
}

impl<F, T, P, D> Runnable for Task<F, T, P, D>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
    P: Permit,
    D: Extra,
{
    fn run(self: Arc<Self>, hooks: &mut dyn RunHooks) {
        let handle: Arc<dyn TaskHandle<T>> = self.clone();
        let fut = PoolFuture::from_task(handle);
        let ran = if self.extra.expired() {
            // Taken after its deadline: it never runs (unless something else ended it first).
            let _ = fut.expire();
            false
        } else {
            fut.run_if_pending(hooks)
        };
        drop(fut);
        if !ran && self.is_cancelled() {
            hooks.dropped_cancelled();
        }
        // `into_inner` is `Some` only for the last reference, decided atomically: then nobody
        // holds a handle any more and the job's value, if nobody took it, is dropped on this
        // thread. That is user code, which may block: say so first. (The closure is gone: run,
        // or dropped by whoever cancelled or refused the job.)
        if let Some(task) = Arc::into_inner(self) {
            if task.core.holds_droppable_value() {
                hooks.before_user_code();
            }
            drop(task);
        }
    }

    fn cancel(self: Arc<Self>) -> bool {
        PoolFuture::from_task(self).cancel()
    }

    fn refuse(self: Arc<Self>, err: FutureError) -> bool {
        let cancelled = self.is_cancelled();
        PoolFuture::from_task(self).refuse(err);
        cancelled
    }

    fn is_pending(&self) -> bool {
        state::lifecycle(self.core.state().load()) == state::PENDING
    }
}

impl<F, T, P, D> Task<F, T, P, D> {
    fn is_cancelled(&self) -> bool {
        state::lifecycle(self.core.state().load()) == state::CANCELLED
    }
}

/// How many of its latest detached jobs a submitting thread keeps a weak reference to
/// ([`keep_recent`]).
///
/// What it buys: a job's memory is freed by whoever lets go of it last. Without the weak
/// reference that is the worker, so the submitting thread (which only allocates) never finds a
/// freed block in its own allocator cache and every `execute` takes glibc's slow path (about 260
/// instructions of `_int_malloc`, half of the submitter's work, under callgrind); with it, the
/// submitter usually frees the job `KEEP_RECENT` submits later and its next allocations come
/// from its own cache. What it costs: up to this many finished jobs' allocations (the closure is
/// long gone: only the `Arc`'s block, 48 bytes for a two-word closure, and never more than
/// [`KEEP_RECENT_BYTES`]) stay allocated per thread that calls `execute`, until it submits more
/// or exits; and the weak count's decrement moves from the submit to 16 submits later.
const KEEP_RECENT: usize = 16;

/// The largest job kept by [`keep_recent`]: glibc's thread cache serves blocks up to about
/// 1 KiB, and a larger job (a closure that captures a big array by value) is dominated by its
/// copy anyway, so it is not worth pinning. At most 16 KiB per thread stays allocated.
const KEEP_RECENT_BYTES: usize = 1024;

thread_local! {
    /// This thread's latest detached jobs, weakly: a ring of `KEEP_RECENT`.
    static RECENT: RefCell<Recent> = const {
        RefCell::new(Recent {
            jobs: [const { None }; KEEP_RECENT],
            next: 0,
        })
    };
}

struct Recent {
    jobs: [Option<Weak<dyn Runnable>>; KEEP_RECENT],
    next: usize,
}

/// Keeps `job` (just queued by this thread) weakly for the next `KEEP_RECENT` submits, and lets
/// go of the oldest one: see [`KEEP_RECENT`]. A job larger than [`KEEP_RECENT_BYTES`] is let go
/// of at once.
pub(crate) fn keep_recent<J: Runnable + 'static>(job: Weak<J>) {
    if std::mem::size_of::<J>() > KEEP_RECENT_BYTES {
        return;
    }
    let job: Weak<dyn Runnable> = job;
    // A thread whose locals are being destroyed just drops it.
    let evicted = RECENT
        .try_with(|recent| {
            let mut recent = recent.borrow_mut();
            let next = recent.next;
            recent.next = (next + 1) % KEEP_RECENT;
            recent.jobs[next].replace(job)
        })
        .ok()
        .flatten();
    // Outside the borrow: the last weak reference frees the block (no user code: the job's
    // closure and permit went with its last strong reference).
    drop(evicted);
}

/// A job nobody will look at: submitted with `ThreadPoolExecutor::execute`. Only the closure,
/// the span current at submit (nothing without the `tracing` feature) and its place in a bounded
/// queue: no future state, no value slot, no waiters. The queue entry holds the only strong
/// reference; the submitter keeps a weak one (to take the closure back if its push lost a race
/// with a shutdown, and then for a while: [`KEEP_RECENT`]). Whoever takes the closure out of
/// `func` first runs it (a worker), drops it (a cancelling shutdown) or hands it back (a submit
/// that lost its race with a shutdown, after upgrading its weak reference).
pub(crate) struct Detached<F, P = ()> {
    /// The closure until claimed. A worker that holds the only strong reference (always, except
    /// while a submit that lost its race with a shutdown looks at it) moves it out with no lock
    /// at all (`Arc::try_unwrap`); the lock is taken only then, or by a cancelling shutdown. Not an
    /// `AtomicCell` as in [`Task`]: for a closure wider than a word that takes one of
    /// crossbeam's global striped locks, a cache line the workers pass between them on every
    /// job (about a tenth of a `fire` profile), where this lock lives in the job's own line.
    /// No user code runs under it (it moves an `Option` out).
    func: Mutex<Option<F>>,
    span: SubmitSpan,
    permit: P,
}

impl<F, P> Detached<F, P>
where
    F: FnOnce() + Send + 'static,
    P: Permit,
{
    /// A new detached job holding `permit` until it leaves the queue.
    pub(crate) fn new(func: F, permit: P) -> Arc<Detached<F, P>> {
        Arc::new(Detached {
            func: Mutex::new(Some(func)),
            span: SubmitSpan::current(),
            permit,
        })
    }

    /// Takes the closure if nobody has: the submitter's side of a lost race with a shutdown.
    pub(crate) fn reclaim(&self) -> Option<F> {
        let func = unwind::lock(&self.func).take();
        if func.is_some() {
            self.permit.release();
        }
        func
    }
}

impl<F, P> Runnable for Detached<F, P>
where
    F: FnOnce() + Send + 'static,
    P: Permit,
{
    fn run(self: Arc<Self>, hooks: &mut dyn RunHooks) {
        match Arc::try_unwrap(self) {
            // The only reference: the closure is ours without a lock.
            Ok(job) => {
                let Detached { func, span, permit } = job;
                let func = func.into_inner().unwrap_or_else(PoisonError::into_inner);
                run_detached(func, &span, &permit, hooks);
            }
            Err(job) => {
                let func = unwind::lock(&job.func).take();
                run_detached(func, &job.span, &job.permit, hooks);
            }
        }
    }

    fn cancel(self: Arc<Self>) -> bool {
        // The closure is user code: dropped on the cancelling thread, as `Task::discard` does.
        self.reclaim().is_some()
    }

    fn refuse(self: Arc<Self>, _err: FutureError) -> bool {
        // A detached job refused by a broken pool has no future to tell: the pool's own report
        // (a warning event with `tracing`, `BrokenPool` on every handle) is what the user sees.
        drop(self.reclaim());
        false
    }

    fn is_pending(&self) -> bool {
        // Only a dropped queue entry asks (`QueueEntry::drop`), and it then refuses the job, which
        // takes the closure atomically if it is still there: answering `true` is enough.
        true
    }
}

/// Runs a detached job's closure, claimed by this worker (`None`: taken back by its submitter,
/// a refused push: nothing runs, nothing is counted).
fn run_detached<F: FnOnce()>(
    func: Option<F>,
    span: &SubmitSpan,
    permit: &impl Permit,
    hooks: &mut dyn RunHooks,
) {
    let Some(func) = func else {
        return;
    };
    permit.release();
    // The claim cannot fail (the closure is ours); the run lends the job this thread's job
    // cell, so `cancelled()` reads false inside it (no handle can request a stop).
    let Some(run) = context::run_job(hooks.runner(), |_| true) else {
        unreachable!("poolbridge bug: an unconditional claim failed");
    };
    let outcome = unwind::catch(|| span.in_scope(func));
    let _stopped = run.end(outcome.is_err());
    hooks.before_publish();
    if let Err(panic) = outcome {
        // Nobody holds a future to carry the panic: report it (the report hook is user code).
        hooks.before_user_code();
        unwind::report("a job submitted with execute", &panic);
    }
}

/// A queue entry. Dropping an entry whose job is still pending (the queue itself was dropped)
/// ends the job with `BrokenPool` rather than leaving its future waiting forever.
pub(crate) struct QueueEntry(Option<Arc<dyn Runnable>>);

impl QueueEntry {
    pub(crate) fn new(task: Arc<dyn Runnable>) -> QueueEntry {
        QueueEntry(Some(task))
    }

    fn take(&mut self) -> Arc<dyn Runnable> {
        self.0
            .take()
            .expect("poolbridge bug: a job entry was used twice")
    }

    pub(crate) fn run(mut self, hooks: &mut dyn RunHooks) {
        self.take().run(hooks);
    }

    /// Cancels the job if it is pending; `true` if it is cancelled (now or before).
    pub(crate) fn cancel(mut self) -> bool {
        self.take().cancel()
    }

    /// Refuses the job if it is pending; `true` if it had been cancelled.
    pub(crate) fn refuse(mut self, err: FutureError) -> bool {
        self.take().refuse(err)
    }
}

impl std::fmt::Debug for QueueEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueEntry { .. }")
    }
}

impl Drop for QueueEntry {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            if task.is_pending() {
                let _ = task.refuse(FutureError::BrokenPool(BrokenReason::Abandoned(
                    "the job was dropped from the queue before a worker could run it".into(),
                )));
            }
        }
    }
}
