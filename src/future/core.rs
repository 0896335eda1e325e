//! The shared half of a future: the outcome, the listeners, and the completion protocol.
//!
//! See `README.md` beside this file for the states, the transitions and why no wakeup is lost.

use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::error::FutureError;
use crate::future::PoolFuture;
use crate::future::state::{self, End, State};
use crate::loom::sync::{Condvar, Mutex, MutexGuard};
use crate::loom::{lock, wait, wait_timeout};
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

pub(crate) struct Core<T> {
    state: State,
    inner: Mutex<Inner<T>>,
    /// Signalled (notify_all) when the future settles, if `inner.blocked > 0`.
    cond: Condvar,
    /// Identity of the pool that runs the job (0: none): a wait on one of its workers runs the
    /// job inline.
    pool: u32,
}

/// Kept small: one per queued job. Rarely used parts live out of line.
struct Inner<T> {
    outcome: Outcome<T>,
    /// The waker of the latest poll of the `ExecutorFuture` that owns this future.
    waker: Option<Waker>,
    /// Callbacks and group-wait signals, in registration order; allocated by the first one.
    /// Boxed (one word, not three): most futures never have any.
    #[allow(clippy::box_collection)]
    listeners: Option<Box<Vec<Listener<T>>>>,
    /// Threads blocked on `cond`; the completer skips `notify_all` when there are none.
    blocked: u32,
    /// Set once the future has ended, its callbacks have run and its listeners were notified.
    settled: bool,
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
            state: State::new(),
            inner: Mutex::new(Inner {
                outcome: Outcome::Empty,
                settled: false,
                blocked: 0,
                waker: None,
                listeners: None,
            }),
            cond: Condvar::new(),
            pool,
        }
    }

    pub(crate) fn state(&self) -> &State {
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
        // `FAILED` is what `ReturnWhen::FirstException` waits for: an error, but not a
        // cancellation (a running job that stopped early when asked to).
        let failed = outcome.as_ref().is_err_and(|err| !err.is_cancelled());
        inner.outcome = Outcome::Ready(outcome.map_err(Box::new));
        self.state.transition_to_finished(failed);
        self.settle(inner, fut, false, hooks);
    }

    /// Ends a future that is still `PENDING` without running its job. Returns what happened; the
    /// caller's closure is dropped here (outside the lock) if the transition was made.
    pub(crate) fn end_pending(&self, fut: &PoolFuture<T>, how: Refusal) -> End {
        // Cheap pre-check without the lock: most calls (stale queue entries, cancel of a running
        // job) find the future already claimed.
        let word = self.state.load();
        if state::lifecycle(word) != state::PENDING {
            return End::NotPending(word);
        }
        let mut inner = lock(&self.inner);
        let (end, error) = match how {
            Refusal::Cancel => (self.state.transition_to_cancelled(), FutureError::Cancelled),
            Refusal::Refuse(err) => (self.state.transition_to_refused(), err),
        };
        if end == End::Ended {
            inner.outcome = Outcome::Ready(Err(Box::new(error)));
            self.settle(inner, fut, true, &mut ());
        }
        end
    }

    /// The completion protocol, entered with the lock held right after a terminal transition.
    ///
    /// 1. Take the listeners registered so far (later registrations see a terminal state and do
    ///    not register) and release the lock.
    /// 2. Wake the readers: group-wait signals and threads blocked until *done* (as CPython
    ///    notifies its waiters before running callbacks).
    /// 3. Drop the unrun closure (`discard`), run the callbacks in order: user code, so outside
    ///    the lock and each under `catch_unwind`, after `hooks.before_user_code()` (a worker
    ///    stops counting itself available: a callback may block).
    /// 4. Retake the lock, mark the future settled, take the waker and the count of blocked
    ///    threads, release the lock, and only then wake them: takers (`join`, the
    ///    `ExecutorFuture`) wait for this, so no callback can find the value gone.
    ///
    /// Nothing registered before step 1 is missed (it is in the list, or counted in `blocked`);
    /// nothing registered after step 1 needs waking by step 2 (it saw the terminal state under
    /// the same lock); a taker that arrives between 1 and 4 blocks or leaves its waker, and
    /// step 4 wakes it. Without callbacks or a closure to drop, 1–4 are one critical section.
    fn settle<'a>(
        &'a self,
        mut inner: MutexGuard<'a, Inner<T>>,
        fut: &PoolFuture<T>,
        discard: bool,
        hooks: &mut dyn RunHooks,
    ) {
        let listeners = inner.listeners.take().map_or_else(Vec::new, |list| *list);
        if discard || !listeners.is_empty() {
            let blocked = inner.blocked > 0;
            drop(inner);
            let mut callbacks = Vec::new();
            for listener in listeners {
                match listener {
                    Listener::Callback(callback) => callbacks.push(callback),
                    Listener::Signal(signal, key) => signal.notify(key),
                }
            }
            if blocked {
                self.cond.notify_all();
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
        inner.settled = true;
        let waker = inner.waker.take();
        let blocked = inner.blocked > 0;
        drop(inner);
        if blocked {
            self.cond.notify_all();
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Runs `callback` at once if the future has ended, else keeps it for the completer.
    pub(crate) fn add_callback(&self, fut: &PoolFuture<T>, callback: Callback<T>) {
        let mut inner = lock(&self.inner);
        // Terminal transitions happen under this lock, so the check cannot go stale before the
        // push: either we push and the completer (who takes the list under the lock) runs it, or
        // the future has ended and we run it ourselves.
        if !state::is_done(self.state.load()) {
            inner
                .listeners
                .get_or_insert_with(Box::default)
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
        inner
            .listeners
            .get_or_insert_with(Box::default)
            .push(Listener::Signal(Arc::clone(signal), key));
        true
    }

    /// Removes a signal registered by [`add_signal`](Self::add_signal), if it is still there.
    pub(crate) fn remove_signal(&self, signal: &Arc<Signal>) {
        let mut inner = lock(&self.inner);
        if let Some(listeners) = &mut inner.listeners {
            listeners.retain(
                |listener| !matches!(listener, Listener::Signal(s, _) if Arc::ptr_eq(s, signal)),
            );
        }
    }

    /// Blocks until `until` holds or `deadline` passes. Returns `true` if `until` holds.
    pub(crate) fn block(&self, until: Until, deadline: Option<Instant>) -> bool {
        let mut inner = lock(&self.inner);
        loop {
            if self.reached(&inner, until) {
                return true;
            }
            inner.blocked += 1;
            inner = match deadline {
                None => wait(&self.cond, inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        inner.blocked -= 1;
                        return false;
                    }
                    wait_timeout(&self.cond, inner, deadline - now).0
                }
            };
            inner.blocked -= 1;
        }
    }

    fn reached(&self, inner: &Inner<T>, until: Until) -> bool {
        match until {
            Until::Done => state::is_done(self.state.load()),
            Until::Settled => inner.settled,
        }
    }

    /// Moves the outcome out. The caller has waited for [`Until::Settled`].
    pub(crate) fn take(&self) -> Result<T, FutureError> {
        let mut inner = lock(&self.inner);
        debug_assert!(inner.settled);
        take_outcome(&mut inner)
    }

    /// The `Future::poll` of the bridge: the outcome once settled, else remember the waker.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<T, FutureError>> {
        let mut inner = lock(&self.inner);
        if inner.settled {
            return Poll::Ready(take_outcome(&mut inner));
        }
        if matches!(&inner.waker, Some(w) if w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        // Clone the new waker outside the lock (it is the runtime's code), then re-check: the
        // future may have settled meanwhile, in which case nobody would wake the new waker.
        drop(inner);
        let waker = cx.waker().clone();
        let mut inner = lock(&self.inner);
        if inner.settled {
            let outcome = take_outcome(&mut inner);
            drop(inner);
            drop(waker);
            return Poll::Ready(outcome);
        }
        let old = inner.waker.replace(waker);
        drop(inner);
        drop(old);
        Poll::Pending
    }

    /// Forgets the stored waker (the `ExecutorFuture` was dropped).
    pub(crate) fn clear_waker(&self) {
        let old = lock(&self.inner).waker.take();
        drop(old);
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
    /// The job's closure returned; its outcome is about to be published. Waiters woken by the
    /// publication may submit their next job at once.
    fn before_publish(&mut self) {}
    /// User code is about to run on this thread after the publication: done callbacks, or the
    /// drop of the job's value or closure. It may block for any time (even on a job submitted
    /// later), so the thread must not stay counted as available to new jobs.
    fn before_user_code(&mut self) {}
}

/// No hooks: the job is run, or ended, by a thread that is not a pool worker.
impl RunHooks for () {}

fn run_callback<T>(fut: &PoolFuture<T>, callback: Callback<T>) {
    if let Err(err) = unwind::catch(|| callback(fut)) {
        unwind::report(&format!("a done callback of {fut:?}"), &err);
    }
}
