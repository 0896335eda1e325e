//! The shared half of a future: the outcome, the listeners, and the completion protocol; and the
//! handle to it, `PoolFuture`, with the job behind the handle (`TaskHandle`, and the `Permit` a
//! job gives back). The two types name each other (a done callback takes a `&PoolFuture`, and a
//! `PoolFuture` reaches its `Core` through its job), so they are defined together here; the
//! handle's methods, Python's API, are in `handle.rs`.
//!
//! See `README.md` beside this file for the states, the transitions and why no wakeup is lost.

use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::context::{self, Stop};
use crate::error::{FutureError, PanicError};
use crate::future::progress::{self, ProgressCell};
use crate::future::state::{self, End, StateWord};
use crate::loom::lock;
use crate::loom::sync::{Mutex, MutexGuard};
use crate::loom::thread::{self, Thread};
use crate::signal::Signal;
use crate::unwind;

/// A done callback, as stored until the future ends.
pub(crate) type Callback<T> = Box<dyn FnOnce(&PoolFuture<T>) + Send + 'static>;

/// What a blocked thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Until {
    /// The future has ended (`FINISHED` or `CANCELLED`): enough to read the outcome.
    Done,
    /// The future has ended *and* every callback registered before the end has run. Required
    /// before the value is moved out (`join`, `.await`), so that no callback can find it gone.
    Settled,
}

/// How a pending future is ended without running its job.
#[derive(Clone, Debug)]
pub(crate) enum Refusal {
    /// `cancel()`, `shutdown(cancel_futures = true)`, dropping a `Map` or an `ExecutorFuture`.
    Cancel,
    /// The job will never run: shut down, broken pool, dropped unrun. The error is its outcome.
    Refuse(FutureError),
}

/// The type-erased job behind a [`PoolFuture<T>`]: its [`Core`] and its closure.
///
/// Implemented by the executors' job types (`crate::pool::task::Task<F, T>` keeps core and
/// closure in one allocation); the future module knows nothing else of them.
pub(crate) trait TaskHandle<T>: Send + Sync {
    fn core(&self) -> &Core<T>;
    /// Runs the closure. Only the caller that won `PENDING → RUNNING` may call this.
    fn call(&self) -> Result<T, PanicError>;
    /// Drops the closure unrun. Only the caller that ended the future from `PENDING` may call this.
    fn discard(&self);
    /// The job's deadline, if it has one (a thread pool's job submitted with a deadline, or
    /// inheriting one): a runner that would claim the job after it ends the job instead
    /// (`PoolFuture::expire`). Asked only where a job is run inline (`run_inline_if_worker`);
    /// a worker's queue entry knows its job's type.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// Counts a job ended by its deadline before it started (`PoolMetrics::deadline_exceeded`).
    fn count_expired(&self) {}
    /// `request_cancel` asked the running job to stop (the flag is set). A job that runs
    /// elsewhere (a [`Promise`](crate::Promise) of the process pool) passes the request on to
    /// whoever runs it; a thread pool's job reads its cell and needs nothing more.
    fn stop_requested(&self) {}
}

/// What a job gives back when it leaves `PENDING`: a queue place of an executor with
/// `max_queued` (`pool::backpressure::Reservation`), nothing (`()`) for one without. Defined
/// here, where the state machine calls it, so that the executors depend on this module and not
/// the other way round.
pub(crate) trait Permit: Send + Sync + 'static {
    /// The job left `PENDING` (it starts, or it was cancelled or refused). Called at most once
    /// per job by the state machine; idempotent anyway.
    fn release(&self);
}

/// Who runs a promise's job elsewhere and wants to hear of a `request_cancel` while it runs:
/// the process pool, which tells the worker process. Called on the requesting thread, outside
/// every lock of the future, with the identity of the job's future ([`PoolFuture::addr`]).
pub(crate) trait StopListener: Send + Sync + 'static {
    /// The running job of the future with identity `job` was asked to stop.
    fn stop_requested(&self, job: usize);
}

impl Permit for () {
    #[inline(always)]
    fn release(&self) {}
}

/// A handle to a job submitted to a [`ThreadPoolExecutor`](crate::ThreadPoolExecutor): Python's
/// `concurrent.futures.Future`.
///
/// The job runs whether or not anyone waits for it, and dropping the handle does not cancel it.
/// Wait for it with [`wait`](Self::wait), [`result`](Self::result) (needs `T: Clone`, may be
/// called again) or [`join`](Self::join) (moves the value out); await it from async code with
/// `.await` (see [`IntoFuture`](#impl-IntoFuture-for-PoolFuture<T>)) or
/// [`wrap_future`](crate::wrap_future); wait on many with [`wait`](crate::wait()) and
/// [`as_completed`](crate::as_completed).
///
/// Futures compare, hash and sort by identity, so a `PoolFuture` can key a `HashMap` (Python's
/// `future_to_url` idiom).
///
/// # Blocking waits inside the pool
///
/// A blocking wait without a timeout ([`wait`](Self::wait), [`result`](Self::result),
/// [`join`](Self::join), [`exception`](Self::exception)) called from a worker thread of the pool
/// that owns the job never deadlocks on a saturated pool: if the job has not started, the waiting
/// thread runs it itself, then sleeps until the job ends. (Python's `ThreadPoolExecutor`
/// deadlocks here.) A job that is already running is on some other thread's stack making
/// progress, so the wait always ends unless jobs wait on each other in a cycle.
///
/// A timed wait (`wait_timeout`, `result_timeout`, `exception_timeout`) never runs the job
/// inline: it returns by its deadline, whatever the job would cost.
///
/// # How a blocking wait waits
///
/// A thread that has to wait first looks at the future's state for a short while, then sleeps
/// until the job ends (or the timeout passes). How long it looks adapts to the thread's own
/// recent waits, as an idle worker's search does: 8 × their average while that is at most
/// 100 µs (at least 5 µs, at most 100 µs), 5 µs once its waits are long. A thread waiting on
/// short jobs one at a time so gets each outcome without a wake-up (tens of microseconds on a VM
/// whose idle vCPUs halt); one waiting on long jobs spins 5 µs per wait. The group waits
/// ([`wait`](crate::wait()), [`as_completed`](crate::as_completed)) only sleep. Awaiting the
/// future ([`ExecutorFuture`](crate::ExecutorFuture)) looks too, without blocking the thread:
/// see "How an await waits" there.
///
/// The waiting thread runs only the job it waits for, never unrelated queued jobs: a job run
/// inside another job's wait would run under that job's locks and on top of its stack, which can
/// deadlock (the inner job waiting on the outer one) or overflow the stack — failures a Python
/// user would never see.
///
/// # Examples
///
/// ```
/// use poolbridge::{FutureState, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let fut = pool.submit(|| 6 * 7);
/// assert_eq!(fut.result(), Ok(42));
/// assert_eq!(fut.state(), FutureState::Finished);
/// assert_eq!(fut.join(), Ok(42));
/// ```
pub struct PoolFuture<T> {
    /// Read by the methods in `handle.rs` too (`run_if_pending` calls the closure).
    pub(super) task: Arc<dyn TaskHandle<T>>,
}

impl<T> PoolFuture<T> {
    pub(crate) fn from_task(task: Arc<dyn TaskHandle<T>>) -> PoolFuture<T> {
        PoolFuture { task }
    }

    pub(crate) fn core(&self) -> &Core<T> {
        self.task.core()
    }

    /// Identity of the job, shared by every handle to it.
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.task) as *const () as usize
    }

    /// A handle that does not keep the job alive. While one exists the job's allocation does
    /// too, so no other job gets its [`addr`](Self::addr): a side table keyed by `addr` that
    /// holds one never mistakes a job for another (the remote executor's table of hosts).
    #[cfg(feature = "nats")]
    pub(crate) fn downgrade(&self) -> std::sync::Weak<dyn TaskHandle<T>> {
        Arc::downgrade(&self.task)
    }

    /// Another handle to the same job (crate-private: a public `PoolFuture` is not `Clone`, its
    /// value is taken once). A remote host keeps one to stop a job while awaiting another.
    #[cfg(feature = "nats")]
    pub(crate) fn share(&self) -> PoolFuture<T> {
        PoolFuture {
            task: Arc::clone(&self.task),
        }
    }

    pub(crate) fn discard_closure(&self) {
        self.task.discard();
    }
}

pub(crate) struct Core<T> {
    /// Lifecycle, `FAILED` and `SETTLED` (`state.rs`).
    state: StateWord,
    /// Identity of the pool that runs the job (0: none): a wait on one of its workers runs the
    /// job inline.
    pool: u32,
    inner: Mutex<Inner<T>>,
}

/// Kept small: one per queued job (a burst queues hundreds of thousands). Everything about
/// waiting lives out of line, allocated by the first waiter: most futures of a burst never have
/// one.
struct Inner<T> {
    outcome: Outcome<T>,
    waiters: Option<Box<Waiters<T>>>,
}

/// Whoever waits for a future: registered under the lock, taken by the completer.
struct Waiters<T> {
    /// The waker of the latest poll of the `ExecutorFuture` that owns this future.
    waker: Option<Waker>,
    /// Threads parked in [`Core::block`], and what each waits for.
    threads: Vec<(Thread, Until)>,
    /// Callbacks and group-wait signals, in registration order.
    listeners: Vec<Listener<T>>,
    /// The job's progress, once it ended having reported (or having been watched): moved here
    /// from the global table by `adopt_progress`, and kept after the future settles.
    progress: Option<Arc<ProgressCell>>,
}

impl<T> Default for Waiters<T> {
    fn default() -> Self {
        Waiters {
            waker: None,
            threads: Vec::new(),
            listeners: Vec::new(),
            progress: None,
        }
    }
}

enum Outcome<T> {
    /// The job has not ended yet, or its outcome was moved out (by `join` or the
    /// `ExecutorFuture`, which consume the only handle: nobody can look afterwards).
    Empty,
    /// The error is boxed: errors are rare, and a `FutureError` is four words.
    Ready(Result<T, Box<FutureError>>),
}

enum Listener<T> {
    Callback(Callback<T>),
    /// A `wait`/`as_completed` call waiting on this future among others, and this future's key in
    /// that call.
    Signal(Arc<Signal>, usize),
}

impl<T> Core<T> {
    pub(crate) fn new(pool: u32) -> Core<T> {
        Core {
            state: StateWord::new(),
            pool,
            inner: Mutex::new(Inner {
                outcome: Outcome::Empty,
                waiters: None,
            }),
        }
    }

    pub(crate) fn state(&self) -> &StateWord {
        &self.state
    }

    pub(crate) fn pool(&self) -> u32 {
        self.pool
    }

    /// Stores the outcome of a job that ran: `RUNNING → FINISHED`. Only the runner calls this.
    /// `hooks.before_user_code` runs before the callbacks, if there are any.
    pub(crate) fn finish(
        &self,
        fut: &PoolFuture<T>,
        outcome: Result<T, FutureError>,
        hooks: &mut dyn RunHooks,
    ) {
        let mut inner = lock(&self.inner);
        debug_assert!(matches!(inner.outcome, Outcome::Empty));
        let progress = self.adopt_progress(&mut inner, fut);
        // `FAILED` is what `ReturnWhen::FirstException` waits for: an error, but not a
        // cancellation (a running job that stopped early when asked to).
        let failed = outcome.as_ref().is_err_and(|err| !err.is_cancelled());
        inner.outcome = Outcome::Ready(outcome.map_err(Box::new));
        // Nobody waits and nothing is registered (the common case in a burst): the future ends
        // settled, in one critical section.
        let nobody = inner.waiters.is_none();
        self.state.transition_to_finished(failed, nobody);
        if nobody {
            drop(inner);
        } else {
            self.settle(inner, fut, false, hooks);
        }
        if let Some(progress) = progress {
            progress.end();
        }
    }

    /// The job is ending (the caller holds the lock and is about to make a terminal transition):
    /// moves its progress cell, if it has one, from the global table into the waiters, where
    /// `progress()` finds it from now on. Returns it, to be marked ended once the lock is
    /// released (that wakes a stream: runtime code). One load when no job has a cell.
    fn adopt_progress(
        &self,
        inner: &mut Inner<T>,
        fut: &PoolFuture<T>,
    ) -> Option<Arc<ProgressCell>> {
        let cell = progress::take(fut.addr())?;
        waiters(inner).progress = Some(Arc::clone(&cell));
        Some(cell)
    }

    /// The job's progress cell: the one it ended with, or, while it has not ended, the one in
    /// the global table (`make`: made there if it has none).
    pub(crate) fn progress_cell(
        &self,
        fut: &PoolFuture<T>,
        make: bool,
    ) -> Option<Arc<ProgressCell>> {
        let inner = lock(&self.inner);
        if let Some(cell) = inner.waiters.as_ref().and_then(|w| w.progress.as_ref()) {
            return Some(Arc::clone(cell));
        }
        if state::is_done(self.state.load()) {
            return None;
        }
        // Under the lock, the job has not ended: the table entry for its identity is its own.
        if make {
            Some(progress::cell_of(fut.addr()))
        } else {
            progress::find(fut.addr())
        }
    }

    /// Ends a future that is still `PENDING` without running its job. Returns what happened; the
    /// caller's closure is dropped here (outside the lock) if the transition was made.
    pub(crate) fn end_pending(&self, fut: &PoolFuture<T>, how: Refusal) -> End {
        self.end_pending_then(fut, how, || ())
    }

    /// [`end_pending`](Self::end_pending), calling `ended` if the transition was made, before
    /// anyone can see the future done (under the lock: `ended` must be short and not user
    /// code). A count made there is seen by whoever waited for the future.
    pub(crate) fn end_pending_then(
        &self,
        fut: &PoolFuture<T>,
        how: Refusal,
        ended: impl FnOnce(),
    ) -> End {
        // Cheap pre-check without the lock: most calls (stale queue entries, cancel of a running
        // job) find the future already claimed.
        let word = self.state.load();
        if state::lifecycle(word) != state::PENDING {
            return End::NotPending(word);
        }
        let mut inner = lock(&self.inner);
        let mut progress = None;
        let (end, error) = match how {
            Refusal::Cancel => (self.state.transition_to_cancelled(), FutureError::Cancelled),
            Refusal::Refuse(err) => (self.state.transition_to_refused(), err),
        };
        if end == End::Ended {
            ended();
            inner.outcome = Outcome::Ready(Err(Box::new(error)));
            progress = self.adopt_progress(&mut inner, fut);
            self.settle(inner, fut, true, &mut ());
        }
        if let Some(progress) = progress {
            progress.end();
        }
        end
    }

    /// Asks the running job to stop, for the reason `why`: sets `CANCEL_REQUESTED` and the flag
    /// of the runner's job cell, which its `cancelled()` reads. Returns `false` if the job is
    /// not running (any more): it finished meanwhile.
    ///
    /// Both are set under the future's lock after seeing `RUNNING` under it. The runner takes
    /// the same lock to leave `RUNNING` (`finish`), and only then can its thread give the cell
    /// to another job (which clears it first): so a request never lands on a later job that
    /// reuses the cell. `README.md`, "Cooperative cancellation", has the whole argument.
    ///
    /// The first request decides how a job that sees it resolves (`Cancelled` or
    /// `DeadlineExceeded`): a later one finds `CANCEL_REQUESTED` and only repeats it.
    pub(crate) fn request_stop(&self, why: Stop) -> bool {
        // The cell is looked up before the lock: the table's lock is a leaf, and the runner
        // field cannot change while the job runs (it is only ever cleared by `finish`).
        let cell = context::job_cell(state::runner(self.state.load()));
        let _inner = lock(&self.inner);
        let word = self.state.load();
        if state::lifecycle(word) != state::RUNNING {
            return false;
        }
        if state::is_cancel_requested(word) {
            return true;
        }
        self.state.set_cancel_requested();
        if let Some(cell) = cell {
            cell.request(why);
        }
        true
    }

    /// The completion protocol, entered with the lock held right after a terminal transition.
    ///
    /// 1. Take the listeners and the threads waiting until *done* registered so far (later
    ///    registrations see a terminal state and do not register) and release the lock.
    /// 2. Wake the readers: group-wait signals and threads blocked until *done* (as CPython
    ///    notifies its waiters before running callbacks).
    /// 3. Drop the unrun closure (`discard`), run the callbacks in order: user code, so outside
    ///    the lock and each under `catch_unwind`, after `hooks.before_user_code()` (a worker
    ///    stops counting itself available: a callback may block).
    /// 4. Retake the lock, mark the future `SETTLED`, take the waker and the remaining threads
    ///    (waiting until *settled*), release the lock, and only then wake them: takers (`join`,
    ///    the `ExecutorFuture`) wait for this, so no callback can find the value gone.
    ///
    /// Nothing registered before step 1 is missed (it is in the lists); nothing registered after
    /// step 1 needs waking by step 2 (it saw the terminal state under the same lock); a taker
    /// that arrives between 1 and 4 registers its thread or its waker, and step 4 wakes it.
    /// Without callbacks, readers or a closure to drop, steps 1–4 are one critical section.
    fn settle<'a>(
        &'a self,
        mut inner: MutexGuard<'a, Inner<T>>,
        fut: &PoolFuture<T>,
        discard: bool,
        hooks: &mut dyn RunHooks,
    ) {
        let (listeners, readers) = match inner.waiters.as_deref_mut() {
            Some(waiters) => (
                mem::take(&mut waiters.listeners),
                take_threads(&mut waiters.threads, Until::Done),
            ),
            None => (Vec::new(), Vec::new()),
        };
        if discard || !listeners.is_empty() || !readers.is_empty() {
            drop(inner);
            let mut callbacks = Vec::new();
            for listener in listeners {
                match listener {
                    Listener::Callback(callback) => callbacks.push(callback),
                    Listener::Signal(signal, key) => signal.notify(key),
                }
            }
            for thread in readers {
                thread.unpark();
            }
            if discard || !callbacks.is_empty() {
                hooks.before_user_code();
            }
            if discard {
                if let Err(err) = unwind::catch(|| fut.discard_closure()) {
                    unwind::report("dropping a cancelled job's closure", &err);
                }
            }
            for callback in callbacks {
                run_callback(fut, callback);
            }
            inner = lock(&self.inner);
        }
        self.state.set_settled();
        let mut taken = inner.waiters.take();
        // A job's progress outlives its waiters: `progress()` reads it after the end.
        if let Some(cell) = taken.as_mut().and_then(|w| w.progress.take()) {
            waiters(&mut inner).progress = Some(cell);
        }
        drop(inner);
        if let Some(waiters) = taken {
            let Waiters { waker, threads, .. } = *waiters;
            for (thread, _) in threads {
                thread.unpark();
            }
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Runs `callback` at once if the future has ended, else keeps it for the completer.
    pub(crate) fn add_callback(&self, fut: &PoolFuture<T>, callback: Callback<T>) {
        let mut inner = lock(&self.inner);
        // Terminal transitions happen under this lock, so the check cannot go stale before the
        // push: either we push and the completer (who takes the list under the lock) runs it, or
        // the future has ended and we run it ourselves.
        if !state::is_done(self.state.load()) {
            waiters(&mut inner)
                .listeners
                .push(Listener::Callback(callback));
            return;
        }
        drop(inner);
        run_callback(fut, callback);
    }

    /// Registers a group-wait signal. Returns `false` (and registers nothing) if the future has
    /// already ended.
    pub(crate) fn add_signal(&self, signal: &Arc<Signal>, key: usize) -> bool {
        let mut inner = lock(&self.inner);
        if state::is_done(self.state.load()) {
            return false;
        }
        waiters(&mut inner)
            .listeners
            .push(Listener::Signal(Arc::clone(signal), key));
        true
    }

    /// Removes a signal registered by [`add_signal`](Self::add_signal), if it is still there.
    pub(crate) fn remove_signal(&self, signal: &Arc<Signal>) {
        let mut inner = lock(&self.inner);
        if let Some(waiters) = &mut inner.waiters {
            waiters.listeners.retain(
                |listener| !matches!(listener, Listener::Signal(s, _) if Arc::ptr_eq(s, signal)),
            );
        }
    }

    /// Blocks until `until` holds or `deadline` passes. Returns `true` if `until` holds.
    ///
    /// The thread registers itself under the lock after checking the condition, then parks; the
    /// completer takes the registration under the same lock as it makes the condition true, and
    /// unparks it (`settle`). A spurious or stale unpark only makes the loop check again.
    pub(crate) fn block(&self, until: Until, deadline: Option<Instant>) -> bool {
        let me = thread::current();
        let mut registered = false;
        loop {
            {
                let mut inner = lock(&self.inner);
                if self.reached(until) {
                    if registered {
                        unregister(&mut inner, &me);
                    }
                    return true;
                }
                if let Some(deadline) = deadline {
                    if Instant::now() >= deadline {
                        if registered {
                            unregister(&mut inner, &me);
                        }
                        return false;
                    }
                }
                if !registered {
                    waiters(&mut inner).threads.push((me.clone(), until));
                    registered = true;
                }
            }
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    thread::park_timeout(deadline.saturating_duration_since(Instant::now()))
                }
            }
        }
    }

    pub(crate) fn reached(&self, until: Until) -> bool {
        let word = self.state.load();
        match until {
            Until::Done => state::is_done(word),
            Until::Settled => state::is_settled(word),
        }
    }

    /// Moves the outcome out. The caller has waited for [`Until::Settled`].
    pub(crate) fn take(&self) -> Result<T, FutureError> {
        debug_assert!(state::is_settled(self.state.load()));
        take_outcome(&mut lock(&self.inner))
    }

    /// The `Future::poll` of the bridge: the outcome once settled, else remember the waker.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<T, FutureError>> {
        let mut inner = lock(&self.inner);
        if state::is_settled(self.state.load()) {
            return Poll::Ready(take_outcome(&mut inner));
        }
        let stored = inner.waiters.as_ref().and_then(|w| w.waker.as_ref());
        if stored.is_some_and(|w| w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        // Clone the new waker outside the lock (it is the runtime's code), then re-check: the
        // future may have settled meanwhile, in which case nobody would wake the new waker.
        drop(inner);
        let waker = cx.waker().clone();
        let mut inner = lock(&self.inner);
        if state::is_settled(self.state.load()) {
            let outcome = take_outcome(&mut inner);
            drop(inner);
            drop(waker);
            return Poll::Ready(outcome);
        }
        let old = waiters(&mut inner).waker.replace(waker);
        drop(inner);
        drop(old);
        Poll::Pending
    }

    /// Forgets the stored waker (the `ExecutorFuture` was dropped). Returns `true` if there was
    /// one: a poll got `Pending` and the job has not settled since (settling takes the waker
    /// under this lock).
    pub(crate) fn clear_waker(&self) -> bool {
        let old = lock(&self.inner)
            .waiters
            .as_mut()
            .and_then(|w| w.waker.take());
        let had = old.is_some();
        drop(old);
        had
    }

    /// A clone of the outcome. The caller has waited for [`Until::Done`].
    ///
    /// `T::clone` runs under this future's lock: it is the lock that makes the shared read sound
    /// for a `T` that is `Send` but not `Sync`. Nothing else waits on that lock for long: a
    /// `clone` that blocked on this same future would be the only way to deadlock here.
    pub(crate) fn clone_outcome(&self) -> Result<T, FutureError>
    where
        T: Clone,
    {
        let inner = lock(&self.inner);
        match &inner.outcome {
            Outcome::Ready(Ok(value)) => Ok(value.clone()),
            Outcome::Ready(Err(err)) => Err(FutureError::clone(err)),
            Outcome::Empty => unreachable!("poolbridge bug: a done future has no outcome"),
        }
    }

    /// The error, if the future ended with one. The caller has waited for [`Until::Done`].
    pub(crate) fn exception(&self) -> Option<FutureError> {
        match &lock(&self.inner).outcome {
            Outcome::Ready(Ok(_)) => None,
            Outcome::Ready(Err(err)) => Some(FutureError::clone(err)),
            Outcome::Empty => unreachable!("poolbridge bug: a done future has no outcome"),
        }
    }

    /// `true` if dropping this future's outcome runs user code: a value whose type has drop glue
    /// that nobody moved out. (A job's error holds no user data.)
    pub(crate) fn holds_droppable_value(&self) -> bool {
        mem::needs_drop::<T>() && matches!(lock(&self.inner).outcome, Outcome::Ready(Ok(_)))
    }

    /// For `Debug`: the error if the outcome is one, `None` for a value or no outcome yet.
    pub(crate) fn peek_error(&self) -> Option<FutureError> {
        match &lock(&self.inner).outcome {
            Outcome::Ready(Err(err)) => Some(FutureError::clone(err)),
            _ => None,
        }
    }
}

/// The waiters of a future that has not settled, allocated by the first one.
fn waiters<T>(inner: &mut Inner<T>) -> &mut Waiters<T> {
    inner.waiters.get_or_insert_with(Box::default)
}

/// Removes the threads waiting for `until` from `threads`.
fn take_threads(threads: &mut Vec<(Thread, Until)>, until: Until) -> Vec<Thread> {
    let mut taken = Vec::new();
    threads.retain(|(thread, u)| {
        if *u == until {
            taken.push(thread.clone());
        }
        *u != until
    });
    taken
}

/// Removes `me` from the parked threads, if it is still there (the completer may have taken it).
fn unregister<T>(inner: &mut Inner<T>, me: &Thread) {
    if let Some(waiters) = &mut inner.waiters {
        waiters.threads.retain(|(thread, _)| thread.id() != me.id());
    }
}

/// Moves the outcome out. Only the holder of the one user handle can call this (`join` and the
/// `ExecutorFuture` consume it), so the outcome is read once.
fn take_outcome<T>(inner: &mut Inner<T>) -> Result<T, FutureError> {
    match mem::replace(&mut inner.outcome, Outcome::Empty) {
        Outcome::Ready(outcome) => outcome.map_err(|err| *err),
        Outcome::Empty => unreachable!("poolbridge bug: a settled future has no outcome"),
    }
}

/// What the thread that runs a job does around its completion. A worker uses these to count
/// itself available to the job's waiters at the right moments (see `pool/sleep/README.md`).
pub(crate) trait RunHooks {
    /// The runner's own job cell and counters (a worker's loop); `None` for a job run inline in
    /// a blocking wait, which takes a cell of the next nesting level instead
    /// ([`context::run_job`]).
    fn runner(&self) -> Option<context::Runner<'_>> {
        None
    }
    /// The job's closure returned; its outcome is about to be published. Waiters woken by the
    /// publication may submit their next job at once.
    fn before_publish(&mut self) {}
    /// User code is about to run on this thread after the publication: done callbacks, or the
    /// drop of the job's value or closure. It may block for any time (even on a job submitted
    /// later), so the thread must not stay counted as available to new jobs.
    fn before_user_code(&mut self) {}
    /// The queue entry taken was that of a job cancelled before it started (a worker counts
    /// it, once: every job has one entry).
    fn dropped_cancelled(&mut self) {}
}

/// No hooks: the job is run, or ended, by a thread that is not a pool worker.
impl RunHooks for () {}

fn run_callback<T>(fut: &PoolFuture<T>, callback: Callback<T>) {
    if let Err(err) = unwind::catch(|| callback(fut)) {
        unwind::report(&format!("a done callback of {fut:?}"), &err);
    }
}
