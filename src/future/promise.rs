//! [`Promise`]: a [`PoolFuture`] completed by hand, CPython's bare `Future()` with
//! `set_running_or_notify_cancel`, `set_result` and `set_exception`.
//!
//! No executor runs a closure for it: whoever holds the [`Promise`] completes the future. It is
//! how a callback-based API is bridged into `wait`, `as_completed`, done callbacks and `.await`,
//! and how executors that run jobs elsewhere (another process, another machine) hand out
//! ordinary `PoolFuture`s: the same state machine, the same guarantees.

use std::fmt;
use std::sync::Arc;

use crate::error::{BrokenReason, FutureError, PanicError};
use crate::future::state::{self, End, Start};
use crate::future::{Core, Permit, PoolFuture, Refusal, RunHooks, StopListener, TaskHandle};

/// The completing half of a [`PoolFuture`] that no executor runs: CPython's `Future()`, whose
/// owner calls `set_result` or `set_exception`.
///
/// [`Promise::new`] returns the promise and its future. The future behaves like any other:
/// `cancel()` works while it is pending, `wait`, `result`, `join`, callbacks, [`wait()`],
/// [`as_completed`] and `.await` all see the outcome the promise sets.
///
/// | CPython                                   | poolbridge                                         |
/// |-------------------------------------------|----------------------------------------------------|
/// | `fut = Future()`                          | `let (promise, fut) = Promise::new();`             |
/// | `fut.set_running_or_notify_cancel()`      | `promise.set_running_or_notify_cancel()`           |
/// | `fut.set_result(value)`                   | `promise.set_result(value)`                        |
/// | `fut.set_exception(exc)`                  | `promise.set_error(err)`, or a `T = Result<V, E>` of your own |
/// | `InvalidStateError` (set after `cancel()`)| `Err(value)`: the value comes back                 |
/// | `InvalidStateError` (set twice)           | impossible: setting consumes the promise           |
/// | a `Future()` nobody sets: waits forever   | dropping the promise ends the future with [`FutureError::BrokenPool`] |
///
/// Waiting on a promise's future never runs anything inline (there is no job to run), from any
/// thread, pool workers included.
///
/// [`wait()`]: crate::wait()
/// [`as_completed`]: crate::as_completed
///
/// # Examples
///
/// Bridging a callback-based API:
///
/// ```
/// use poolbridge::{BrokenReason, FutureError, Promise};
///
/// fn legacy_fetch(key: u32, on_done: impl FnOnce(Result<String, String>) + Send + 'static) {
///     std::thread::spawn(move || on_done(Ok(format!("value of {key}"))));
/// }
///
/// let (promise, fut) = Promise::new();
/// legacy_fetch(7, move |outcome| {
///     let _ = match outcome {
///         Ok(value) => promise.set_result(value).map_err(drop),
///         Err(msg) => promise.set_error(FutureError::BrokenPool(BrokenReason::Other(msg))).map_err(drop),
///     };
/// });
/// assert_eq!(fut.join(), Ok("value of 7".to_owned()));
/// ```
#[must_use = "dropping a Promise ends its future with BrokenPool"]
pub struct Promise<T: Send + 'static> {
    task: Arc<PromiseTask<T>>,
    /// `false` once the future was ended through this promise.
    armed: bool,
}

/// The job behind a promise's future: a core and no closure.
struct PromiseTask<T> {
    core: Core<T>,
    /// The queue place of a process-pool job in a pool with `max_queued`, shared with the
    /// pool's queue entry: given back here when the future is cancelled (or otherwise ended)
    /// while pending, so a cancelled job makes room at once.
    permit: Option<Arc<dyn Permit>>,
    /// Who runs the job, to tell of a `request_cancel` while it runs (the process pool).
    stop: Option<Arc<dyn StopListener>>,
}

impl<T: Send + 'static> TaskHandle<T> for PromiseTask<T> {
    fn core(&self) -> &Core<T> {
        &self.core
    }

    fn call(&self) -> Result<T, PanicError> {
        // Its core has no pool (identity 0), so no wait runs it inline, and no queue holds it.
        unreachable!("poolbridge bug: a promise's future was run as a job")
    }

    fn discard(&self) {
        // The future ended from pending (cancelled): its queue place, if any, is free now.
        if let Some(permit) = &self.permit {
            permit.release();
        }
    }

    fn stop_requested(&self) {
        if let Some(stop) = &self.stop {
            stop.stop_requested(self as *const Self as *const () as usize);
        }
    }
}

impl<T: Send + 'static> Promise<T> {
    /// A pending future and the promise that completes it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (promise, fut) = poolbridge::Promise::<u8>::new();
    /// assert!(!fut.done());
    /// promise.set_result(1).unwrap();
    /// assert_eq!(fut.result(), Ok(1));
    /// ```
    pub fn new() -> (Promise<T>, PoolFuture<T>) {
        Promise::with_permit(None)
    }

    /// Another handle to the promise's future (for an executor that watches it).
    pub(crate) fn fut(&self) -> PoolFuture<T> {
        PoolFuture::from_task(Arc::clone(&self.task) as Arc<dyn TaskHandle<T>>)
    }

    /// Marks the future running, unless it was cancelled: CPython's
    /// `Future.set_running_or_notify_cancel`. Returns `false` if the future was cancelled (the
    /// work should then not be done); `true` if it is now running, after which `cancel()` fails.
    /// Calling it again on a running future returns `true`.
    ///
    /// Optional: a promise can be completed straight from pending.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::{FutureState, Promise};
    ///
    /// let (promise, fut) = Promise::new();
    /// if promise.set_running_or_notify_cancel() {
    ///     assert_eq!(fut.state(), FutureState::Running);
    ///     assert!(!fut.cancel(), "too late to cancel");
    ///     promise.set_result("work done").unwrap();
    /// }
    /// assert_eq!(fut.join(), Ok("work done"));
    /// ```
    pub fn set_running_or_notify_cancel(&self) -> bool {
        match self.task.core.state().transition_to_running(0) {
            Start::Run => true,
            Start::NotPending => !self.is_done(),
        }
    }

    /// `true` once the future was cancelled (by `cancel()` on it, or by dropping an
    /// `ExecutorFuture` that was awaiting it before it ran).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::task::{Context, Waker};
    ///
    /// let (promise, fut) = poolbridge::Promise::<u8>::new();
    /// let mut awaitable = poolbridge::wrap_future(fut);
    /// let poll = std::pin::Pin::new(&mut awaitable).poll(&mut Context::from_waker(Waker::noop()));
    /// assert!(poll.is_pending());
    /// drop(awaitable); // an awaitable dropped after a poll, before completion, cancels
    /// assert!(promise.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.fut().cancelled()
    }

    /// `true` once someone asked the work to stop: the future was cancelled while pending, or
    /// [`PoolFuture::request_cancel`] was called (or its `ExecutorFuture` dropped) while it was
    /// running. What [`cancelled()`](crate::cancelled()) is inside a thread-pool job, for work
    /// that a promise's owner does elsewhere (another process, another machine, a callback API):
    /// check it between steps and complete with `Err(FutureError::Cancelled)` to stop early.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::{FutureError, Promise};
    ///
    /// let (promise, fut) = Promise::<u32>::new();
    /// assert!(promise.set_running_or_notify_cancel());
    /// assert!(!promise.cancel_requested());
    /// assert!(fut.request_cancel(), "running: asked to stop");
    /// assert!(promise.cancel_requested());
    /// promise.complete(Err(FutureError::Cancelled)).unwrap();
    /// assert_eq!(fut.result(), Err(FutureError::Cancelled));
    /// ```
    pub fn cancel_requested(&self) -> bool {
        let word = self.task.core.state().load();
        state::is_cancel_requested(word) || state::lifecycle(word) == state::CANCELLED
    }

    fn is_done(&self) -> bool {
        self.fut().done()
    }

    /// Completes the future with `value`: CPython's `set_result`. Waiters wake, callbacks run on
    /// this thread. Returns the value back in `Err` if the future was cancelled first (where
    /// CPython raises `InvalidStateError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (promise, fut) = poolbridge::Promise::new();
    /// assert!(fut.cancel());
    /// assert_eq!(promise.set_result(String::from("late")), Err(String::from("late")));
    /// ```
    pub fn set_result(self, value: T) -> Result<(), T> {
        self.complete(Ok(value)).map_err(|outcome| match outcome {
            Ok(value) => value,
            Err(_) => unreachable!("complete hands back what it was given"),
        })
    }

    /// Completes the future with `err`: CPython's `set_exception`. Returns the error back in `Err`
    /// if the future was cancelled first.
    ///
    /// `FutureError` says why there is no value (`BrokenPool` for a source that went away,
    /// `Panicked` with [`PanicError::from_panic`] for a panic you caught). Failures of the work
    /// itself read best as values: make `T` a `Result<V, E>` and `set_result(Err(e))`.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::{BrokenReason, FutureError, Promise};
    ///
    /// let (promise, fut) = Promise::<u8>::new();
    /// let unplugged = BrokenReason::Disconnected("the device was unplugged".into());
    /// promise.set_error(FutureError::BrokenPool(unplugged)).unwrap();
    /// assert!(fut.exception().unwrap().is_broken_pool());
    /// ```
    pub fn set_error(self, err: FutureError) -> Result<(), FutureError> {
        self.complete(Err(err))
            .map(drop)
            .map_err(|outcome| match outcome {
                Err(err) => err,
                Ok(_) => unreachable!("complete hands back what it was given"),
            })
    }

    /// Completes the future with `outcome`, value or error. Returns the outcome back in `Err` if
    /// the future was cancelled first (or, for `Err(Cancelled)` on a pending future, cancels it).
    ///
    /// `Err(FutureError::Cancelled)` on a pending future cancels it, as `cancel()` would; on a
    /// running one it finishes it with that error (a job that stopped early when asked to).
    ///
    /// # Examples
    ///
    /// ```
    /// let (promise, fut) = poolbridge::Promise::<u32>::new();
    /// let outcome: Result<u32, _> = "17".parse::<u32>().map_err(|e| {
    ///     poolbridge::FutureError::BrokenPool(poolbridge::BrokenReason::Other(e.to_string()))
    /// });
    /// promise.complete(outcome).unwrap();
    /// assert_eq!(fut.join(), Ok(17));
    /// ```
    #[allow(clippy::result_large_err)]
    pub fn complete(self, outcome: Result<T, FutureError>) -> Result<(), Result<T, FutureError>> {
        self.complete_with(outcome, &mut ())
    }

    /// [`complete`](Self::complete) for an executor: `hooks.before_user_code()` runs on this
    /// thread right before the future's done callbacks (user code that may block for any time),
    /// so the completing thread can first hand its duties to another thread.
    #[allow(clippy::result_large_err)]
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn complete_with(
        mut self,
        outcome: Result<T, FutureError>,
        hooks: &mut dyn RunHooks,
    ) -> Result<(), Result<T, FutureError>> {
        let fut = self.fut();
        if matches!(outcome, Err(FutureError::Cancelled)) {
            if let End::Ended = fut.core().end_pending(&fut, Refusal::Cancel) {
                self.armed = false;
                return Ok(());
            }
        }
        if !self.set_running_or_notify_cancel() {
            self.armed = false;
            return Err(outcome);
        }
        self.armed = false;
        fut.core().finish(&fut, outcome, hooks);
        Ok(())
    }
}

impl<T: Send + 'static> Promise<T> {
    /// Records progress reported by the job this promise stands for, run elsewhere (a process
    /// worker's `PROGRESS` frame): what the future's `progress()` and `progress_updates()` see.
    /// Nothing once the future has ended. One writer at a time (the reader of the worker).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn report_progress(&self, done: u64, total: u64) {
        let fut = self.fut();
        if let Some(cell) = fut.core().progress_cell(&fut, true) {
            if !cell.is_ended() {
                cell.set(done, total);
            }
        }
    }

    /// The latest progress the job reported, if it reported and has not ended.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn latest_progress(&self) -> Option<(u64, u64)> {
        let fut = self.fut();
        let cell = fut.core().progress_cell(&fut, false)?;
        (!cell.is_ended()).then(|| cell.get().1).flatten()
    }

    /// [`new`](Self::new), for a job holding a queue place (`ProcessPoolExecutor` with
    /// `max_queued`): if the future is cancelled while pending, `permit` is given back at once,
    /// on the cancelling thread (the pool, which holds it too, gives it back when the job leaves
    /// its queue otherwise; a permit is given back once).
    pub(crate) fn with_permit(permit: Option<Arc<dyn Permit>>) -> (Promise<T>, PoolFuture<T>) {
        Promise::with_hooks(permit, None)
    }

    /// [`with_permit`](Self::with_permit), for a job run elsewhere: `stop` hears of every
    /// `request_cancel` while the job runs (with the future's [`PoolFuture::addr`]), so that it
    /// can pass the request on (the process pool tells the worker process).
    pub(crate) fn with_hooks(
        permit: Option<Arc<dyn Permit>>,
        stop: Option<Arc<dyn StopListener>>,
    ) -> (Promise<T>, PoolFuture<T>) {
        let task = Arc::new(PromiseTask {
            core: Core::new(0),
            permit,
            stop,
        });
        let fut = PoolFuture::from_task(Arc::clone(&task) as Arc<dyn TaskHandle<T>>);
        (Promise { task, armed: true }, fut)
    }
}

impl<T: Send + 'static> Drop for Promise<T> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let fut = self.fut();
        let err = FutureError::BrokenPool(BrokenReason::Abandoned(
            "the Promise for this future was dropped without completing it".into(),
        ));
        if self.set_running_or_notify_cancel() {
            fut.core().finish(&fut, Err(err), &mut ());
        }
    }
}

impl<T: Send + 'static> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("future", &self.fut())
            .finish()
    }
}
