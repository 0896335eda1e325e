//! [`PoolFuture`]'s methods: Python's `concurrent.futures.Future` API (state, cancel, the
//! waits, results and callbacks), and running an awaited job inline on a worker of its own pool;
//! with [`FutureState`] and [`cancelled()`]. The struct itself is defined in `core.rs`, beside the
//! `Core` whose callbacks take it.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use crate::context::{self, Stop};
use crate::error::FutureError;
use crate::future::core::{Callback, PoolFuture, Refusal, RunHooks, Until};
use crate::future::progress::{self, ProgressUpdates};
use crate::future::state::{self, End, Start};
use crate::spin;
use crate::unwind;

/// The state of a [`PoolFuture`], as Python names them.
///
/// ```text
/// Pending ──▶ Running ──▶ Finished
///    └──────▶ Cancelled
/// ```
///
/// A job refused by the pool (submitted after shutdown, or queued when the pool broke) goes from
/// `Pending` straight to `Finished`, with an error as its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FutureState {
    /// Queued; not started. Only now can it be cancelled.
    Pending,
    /// A thread is running the job.
    Running,
    /// Cancelled before it started. Its outcome is `Err(FutureError::Cancelled)`.
    Cancelled,
    /// Ended with a value or an error.
    Finished,
}

impl fmt::Display for FutureState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FutureState::Pending => "pending",
            FutureState::Running => "running",
            FutureState::Cancelled => "cancelled",
            FutureState::Finished => "finished",
        })
    }
}

/// `true` inside a job whose stop was requested: by
/// [`PoolFuture::request_cancel`], or by dropping the job's
/// [`ExecutorFuture`](crate::ExecutorFuture) (a `tokio::time::timeout` that ran out, a
/// `select!` branch that lost), or by its deadline passing (a job submitted with
/// [`SubmitOptions::deadline`](crate::SubmitOptions::deadline), or inheriting one). `false`
/// outside a job, and in a job nobody asked to stop.
///
/// Call it between the steps of a long computation and return early when it says so: the job
/// then resolves to `Err(FutureError::Cancelled)` whatever it returns (to
/// `Err(FutureError::DeadlineExceeded { started: true })` when its deadline asked first), so a
/// partial value never passes for a whole one. It costs one atomic load (about a nanosecond: see
/// `benches/controls.rs`), so checking it in a tight loop is fine.
///
/// # What it sees
///
/// * The job this thread runs now. A job another job runs inline (a blocking wait on a job that
///   had not started runs it on the waiting thread) sees its own request, not the outer job's.
/// * Not a parent's request: the jobs a job submits have futures of their own, and stopping the
///   parent does not stop them (a job that outlives its parent's request is often the point,
///   e.g. a cache fill). To stop them too, keep their futures and call `request_cancel` on them
///   when `cancelled()` turns `true`, or await them through `ExecutorFuture`s that are dropped
///   with the parent.
/// * Done callbacks and the drop of a job's value run outside the job: `false` there.
///
/// Applies to the jobs of a [`ThreadPoolExecutor`](crate::ThreadPoolExecutor). A
/// [`Promise`]'s completer polls [`Promise::cancel_requested`] instead.
///
/// [`Promise`]: crate::Promise
/// [`Promise::cancel_requested`]: crate::Promise::cancel_requested
///
/// # Examples
///
/// A search that gives up when its awaiting task stops waiting:
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use poolbridge::{FutureError, to_thread};
///
/// let search = to_thread(|| {
///     let mut candidate = 0u64;
///     loop {
///         if poolbridge::cancelled() {
///             return None; // resolves to Err(Cancelled) anyway
///         }
///         candidate += 1;
///         if candidate == u64::MAX {
///             return Some(candidate);
///         }
///     }
/// });
/// // The timeout drops the awaitable, which asks the job to stop: the worker is free again at
/// // once instead of spinning for centuries.
/// assert!(tokio::time::timeout(Duration::from_millis(20), search).await.is_err());
/// assert!(!poolbridge::cancelled(), "not inside a job");
/// # });
/// ```
#[inline]
pub fn cancelled() -> bool {
    context::current_job_cancelled()
}

/// Inside a job: its deadline, if it has one ([`SubmitOptions::deadline`](crate::SubmitOptions::deadline),
/// or one inherited from the job that submitted it); `None` outside a job. For jobs that want
/// to plan (skip an optional step when little time is left). Past the deadline
/// [`cancelled()`] turns `true` as well.
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::deadline(), None, "not inside a job with a deadline");
/// ```
pub fn deadline() -> Option<std::time::Instant> {
    context::current_deadline()
}

impl<T> PoolFuture<T> {
    /// The current state. Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::{FutureState, Promise};
    ///
    /// let (promise, fut) = Promise::new();
    /// assert_eq!(fut.state(), FutureState::Pending);
    /// assert!(promise.set_running_or_notify_cancel());
    /// assert_eq!(fut.state(), FutureState::Running);
    /// promise.set_result(1).unwrap();
    /// assert_eq!(fut.state(), FutureState::Finished);
    /// ```
    pub fn state(&self) -> FutureState {
        let word = self.core().state().load();
        match state::lifecycle(word) {
            state::PENDING => FutureState::Pending,
            state::RUNNING => FutureState::Running,
            state::CANCELLED => FutureState::Cancelled,
            _ => FutureState::Finished,
        }
    }

    /// The latest progress the job reported with [`poolbridge::progress()`](crate::progress()):
    /// `(done, total)`, or `None` if it has not reported (yet). After the job ends it stays the
    /// last value reported. Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let quiet = pool.submit(|| 1);
    /// let loud = pool.submit(|| poolbridge::progress(5, 10));
    /// quiet.wait();
    /// loud.wait();
    /// assert_eq!(quiet.progress(), None);
    /// assert_eq!(loud.progress(), Some((5, 10)));
    /// ```
    pub fn progress(&self) -> Option<(u64, u64)> {
        self.core()
            .progress_cell(self, false)
            .and_then(|cell| cell.get().1)
    }

    /// A [`Stream`](futures_core::Stream) of the job's progress: the latest `(done, total)` each
    /// time it changed since the last item (coalesced: values reported between two polls are
    /// skipped, the order is kept, and the last one is always yielded), ending when the job
    /// ends. See [`ProgressUpdates`].
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::future::poll_fn;
    /// use std::pin::Pin;
    /// use futures_core::Stream;
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let fut = pool.submit(|| {
    ///     for i in 1..=100_000u64 {
    ///         poolbridge::progress(i, 100_000);
    ///     }
    /// });
    /// let mut updates = fut.progress_updates();
    /// let mut last = None;
    /// while let Some(update) = poll_fn(|cx| Pin::new(&mut updates).poll_next(cx)).await {
    ///     assert!(last < Some(update), "in order");
    ///     last = Some(update);
    /// }
    /// assert_eq!(last, Some((100_000, 100_000)), "the last value always arrives");
    /// # });
    /// ```
    pub fn progress_updates(&self) -> ProgressUpdates {
        ProgressUpdates::new(self.core().progress_cell(self, true))
    }

    /// Cancels the job if it has not started.
    ///
    /// Returns `true` if the future is now cancelled (it was pending, or already cancelled), and
    /// `false` if the job is running or finished: a running job is never interrupted. On success
    /// the closure is dropped unrun, the callbacks run and every waiter wakes with
    /// `Err(FutureError::Cancelled)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use poolbridge::{FutureError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (release, held) = mpsc::channel::<()>();
    /// let busy = pool.submit(move || held.recv().unwrap()); // occupies the only worker
    /// let queued = pool.submit(|| "never runs");
    /// assert!(queued.cancel());
    /// assert_eq!(queued.result(), Err(FutureError::Cancelled));
    /// release.send(()).unwrap();
    /// busy.join().unwrap();
    /// assert_eq!(pool.submit(|| 1).join(), Ok(1));
    /// ```
    pub fn cancel(&self) -> bool {
        match self.core().end_pending(self, Refusal::Cancel) {
            End::Ended => true,
            End::NotPending(word) => state::lifecycle(word) == state::CANCELLED,
        }
    }

    /// Asks the job to stop: cancels it if it has not started, and if it is running, sets the
    /// flag that [`poolbridge::cancelled()`](crate::cancelled()) reads inside it.
    ///
    /// Returns `true` if the request took effect: the job was pending (now cancelled, as with
    /// [`cancel`](Self::cancel)) or already cancelled, or it is running and is now asked to
    /// stop; `false` if it had already finished.
    ///
    /// Stopping is cooperative: a running job stops only if it checks `cancelled()` (a job that
    /// never checks finishes as usual and its outcome is its own). A job that saw the flag and
    /// then returns resolves to `Err(FutureError::Cancelled)` whatever it returned (the value
    /// is dropped on the worker), so waiters cannot mistake a partial result for a whole one.
    /// A job that panics after seeing it still resolves to its panic. Unlike a cancellation
    /// before the start, the future goes through `Running` and ends `Finished` (with
    /// `Err(Cancelled)`); it does not count as an exception for
    /// [`ReturnWhen::FirstException`](crate::ReturnWhen::FirstException).
    ///
    /// The request is for this job only: the jobs it submitted have futures of their own
    /// (see [`cancelled()`](crate::cancelled()) for how to stop them too).
    ///
    /// Dropping the [`ExecutorFuture`](crate::ExecutorFuture) of a job calls this, so
    /// `tokio::time::timeout` and a losing `select!` branch stop a cooperative job early.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::{FutureError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let fut = pool.submit(|| {
    ///     let mut rounds = 0u64;
    ///     while !poolbridge::cancelled() {
    ///         rounds += 1; // one step of a long computation
    ///         std::thread::sleep(Duration::from_millis(1));
    ///     }
    ///     rounds
    /// });
    /// while !fut.running() {
    ///     std::thread::yield_now();
    /// }
    /// assert!(fut.request_cancel());
    /// assert_eq!(fut.result(), Err(FutureError::Cancelled));
    /// assert!(!fut.request_cancel(), "finished: nothing left to stop");
    /// ```
    pub fn request_cancel(&self) -> bool {
        match self.core().end_pending(self, Refusal::Cancel) {
            End::Ended => true,
            End::NotPending(word) => match state::lifecycle(word) {
                state::CANCELLED => true,
                state::RUNNING => {
                    let asked = self.core().request_stop(Stop::Requested);
                    if asked {
                        self.task.stop_requested();
                    }
                    asked
                }
                _ => false,
            },
        }
    }

    /// `true` if the future was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_promise, fut) = poolbridge::Promise::<u8>::new();
    /// assert!(!fut.cancelled());
    /// fut.cancel();
    /// assert!(fut.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        self.state() == FutureState::Cancelled
    }

    /// `true` while a thread runs the job.
    ///
    /// # Examples
    ///
    /// ```
    /// let (promise, fut) = poolbridge::Promise::<u8>::new();
    /// assert!(!fut.running());
    /// promise.set_running_or_notify_cancel();
    /// assert!(fut.running());
    /// ```
    pub fn running(&self) -> bool {
        self.state() == FutureState::Running
    }

    /// `true` once the future is cancelled or finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// let fut = pool.submit(|| 2 + 2);
    /// fut.wait();
    /// assert!(fut.done());
    /// ```
    pub fn done(&self) -> bool {
        state::is_done(self.core().state().load())
    }

    /// Blocks until the future is done.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// let fut = pool.submit(|| std::thread::sleep(std::time::Duration::from_millis(10)));
    /// fut.wait();
    /// assert!(fut.done());
    /// ```
    pub fn wait(&self) {
        self.wait_until(None, Until::Done);
    }

    /// Blocks until the future is done or `timeout` passes. Returns `true` if it is done.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (promise, fut) = poolbridge::Promise::new();
    /// assert!(!fut.wait_timeout(Duration::from_millis(5)));
    /// promise.set_result(()).unwrap();
    /// assert!(fut.wait_timeout(Duration::from_millis(5)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Some(deadline_after(timeout)), Until::Done)
    }

    /// Blocks until the future is done and returns a clone of its outcome: the job's value, or why
    /// there is none. May be called any number of times, from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// let fut = pool.submit(|| vec![1, 2, 3]);
    /// assert_eq!(fut.result(), Ok(vec![1, 2, 3]));
    /// assert_eq!(fut.result(), Ok(vec![1, 2, 3])); // again: a clone each time
    /// ```
    pub fn result(&self) -> Result<T, FutureError>
    where
        T: Clone,
    {
        self.wait();
        self.core().clone_outcome()
    }

    /// Like [`result`](Self::result), but gives up after `timeout` with `Err(FutureError::Timeout)`;
    /// the job goes on and the future can be waited on again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::{FutureError, Promise};
    ///
    /// let (promise, fut) = Promise::new();
    /// assert_eq!(fut.result_timeout(Duration::from_millis(5)), Err(FutureError::Timeout));
    /// promise.set_result(9).unwrap();
    /// assert_eq!(fut.result_timeout(Duration::from_millis(5)), Ok(9));
    /// ```
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, FutureError>
    where
        T: Clone,
    {
        if self.wait_timeout(timeout) {
            self.core().clone_outcome()
        } else {
            Err(FutureError::Timeout)
        }
    }

    /// Blocks until the future is done and moves its value out: no `Clone` needed.
    ///
    /// Returns after the callbacks added before the job ended have run, so none of them can find
    /// the value gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// // No `Clone` needed: the value is moved out.
    /// let file = pool.submit(|| std::fs::File::open("Cargo.toml"));
    /// assert!(file.join().unwrap().is_ok());
    /// ```
    pub fn join(self) -> Result<T, FutureError> {
        self.wait_until(None, Until::Settled);
        self.core().take()
    }

    /// Blocks until the future is done and returns its error, or `None` if the job returned a
    /// value. A cancelled future gives `Some(FutureError::Cancelled)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = poolbridge::ThreadPoolExecutor::new(1);
    /// assert_eq!(pool.submit(|| 1).exception(), None);
    /// let err = pool.submit(|| -> u8 { panic!("bad input") }).exception().unwrap();
    /// assert_eq!(err.to_string(), "the job panicked: bad input");
    /// ```
    pub fn exception(&self) -> Option<FutureError> {
        self.wait();
        self.core().exception()
    }

    /// Like [`exception`](Self::exception), but gives up after `timeout` with
    /// `Some(FutureError::Timeout)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::FutureError;
    ///
    /// let (_promise, fut) = poolbridge::Promise::<u8>::new();
    /// let waited = fut.exception_timeout(Duration::from_millis(5));
    /// assert_eq!(waited, Some(FutureError::Timeout));
    /// ```
    pub fn exception_timeout(&self, timeout: Duration) -> Option<FutureError> {
        if self.wait_timeout(timeout) {
            self.core().exception()
        } else {
            Some(FutureError::Timeout)
        }
    }

    /// Calls `f` with this future once it is done.
    ///
    /// Callbacks run in the order they were added, on the thread that ends the future (a worker,
    /// or the thread that cancels it), or at once on the calling thread if the future is already
    /// done. A callback sees the outcome: `done()` is `true` and `result()` returns at once. A
    /// panicking callback is caught and reported on stderr; the other callbacks still run and the
    /// worker goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = mpsc::channel();
    /// let fut = pool.submit(|| "done");
    /// fut.add_done_callback(move |f| tx.send(f.result()).unwrap());
    /// assert_eq!(rx.recv().unwrap(), Ok("done"));
    /// ```
    pub fn add_done_callback<F>(&self, f: F)
    where
        F: FnOnce(&PoolFuture<T>) + Send + 'static,
    {
        let callback: Callback<T> = Box::new(f);
        self.core().add_callback(self, callback);
    }

    /// Runs the job here, now, if this thread is a worker of the job's own pool and nobody has
    /// started the job, so that a saturated pool cannot deadlock on jobs that wait for queued
    /// jobs. Returns `true` if it ran.
    ///
    /// The one place that decides to run an awaited job inline (`PoolFuture`'s waits, `wait()`,
    /// `as_completed`, the `ExecutorFuture` and the `JoinSet` all call it):
    ///
    /// * a blocking wait ([`Waiter::Blocking`]) always runs a pending job of its own pool: the
    ///   thread would sleep anyway, and running the job costs nobody anything;
    /// * an async poll ([`Waiter::Polling`], an executor driven inside a job) runs it only when
    ///   no other worker could take it (none idle, and no room to start one). Otherwise the job
    ///   is left to those workers and the poll returns at once: the thread goes on driving the
    ///   other tasks of its executor (a ticker, other I/O), which running a long job inline
    ///   would stall.
    pub(crate) fn run_inline_if_worker(&self, waiter: Waiter) -> bool {
        if !context::is_worker_of(self.core().pool()) {
            return false;
        }
        if waiter == Waiter::Polling
            && (self.state() != FutureState::Pending || context::another_worker_can_take_jobs())
        {
            return false;
        }
        if self.task.deadline().is_some_and(|at| Instant::now() >= at) {
            // Too late to start: it never runs (the future is done now, which is what the
            // waiter waits for).
            return self.expire();
        }
        // The job runs with its own deadline (its closure enters it), or none: not with the
        // deadline of the job whose wait runs it here.
        let _no_deadline = context::current_deadline().map(|_| context::enter_deadline(None));
        self.run_if_pending(&mut ())
    }

    /// Claims and runs the job if it has not started. `hooks.before_publish` runs between the
    /// closure's return and the publication of its outcome, `hooks.before_user_code` before any
    /// done callback. Returns `true` if it ran.
    ///
    /// The runner claims the job through [`context::run_job`], which lends it this thread's
    /// job cell for the run: `cancelled()` inside the job reads that cell, and the claim stores
    /// the cell's index in the state word so that `request_cancel` can reach it.
    pub(crate) fn run_if_pending(&self, hooks: &mut dyn RunHooks) -> bool {
        let state = self.core().state();
        let claim = |runner| state.transition_to_running(runner) == Start::Run;
        let Some(run) = context::run_job(hooks.runner(), claim) else {
            return false;
        };
        let outcome = {
            // `poolbridge::progress()` inside the job reports on this future.
            let _progress = progress::enter(self.addr());
            self.task.call()
        };
        let stopped = run.end(outcome.is_err());
        let outcome = match (outcome, stopped) {
            (Ok(value), Some(why)) => {
                // It returned after seeing `cancelled()`: its value is not the answer asked for.
                // Dropped here, while the worker still counts as busy (its drop is user code).
                if let Err(err) = unwind::catch(|| drop(value)) {
                    unwind::report("dropping the value of a job stopped early", &err);
                }
                Err(match why {
                    Stop::Requested => FutureError::Cancelled,
                    Stop::Deadline => FutureError::DeadlineExceeded { started: true },
                })
            }
            (Ok(value), None) => Ok(value),
            (Err(panic), _) => Err(FutureError::Panicked(panic)),
        };
        hooks.before_publish();
        self.core().finish(self, outcome, hooks);
        true
    }

    /// Ends a pending future with `err` without running it (shutdown, broken pool).
    pub(crate) fn refuse(&self, err: FutureError) {
        let _ = self.core().end_pending(self, Refusal::Refuse(err));
    }

    /// Ends a pending job whose deadline passed before it started: its outcome is
    /// `DeadlineExceeded { started: false }`, its closure is dropped unrun (under the panic
    /// guard of every unrun closure) and it is counted (`TaskHandle::count_expired`). Returns
    /// `true` if this call ended it.
    pub(crate) fn expire(&self) -> bool {
        let err = FutureError::DeadlineExceeded { started: false };
        let end = self
            .core()
            .end_pending_then(self, Refusal::Refuse(err), || self.task.count_expired());
        end == End::Ended
    }

    /// The job's deadline has come (the deadline timer, `pool/deadline.rs`): ends it if it has
    /// not started ([`expire`](Self::expire)), asks it to stop if it runs
    /// ([`Stop::Deadline`]: a job that sees `cancelled()` and returns resolves to
    /// `DeadlineExceeded { started: true }`, unless `request_cancel` asked first).
    pub(crate) fn deadline_passed(&self) {
        if !self.expire() && self.state() == FutureState::Running {
            let _ = self.core().request_stop(Stop::Deadline);
        }
    }

    /// The blocking wait shared by every waiting method: sleeps until `until` holds or `deadline`
    /// passes. Without a deadline it first runs the job inline where
    /// [`run_inline_if_worker`](Self::run_inline_if_worker) says so; with one it never does, so
    /// that it returns by its deadline.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>, until: Until) -> bool {
        if self.core().reached(until) {
            return true;
        }
        if deadline.is_none() {
            let _ = self.run_inline_if_worker(Waiter::Blocking);
        }
        // A short job ends while we look, and then nobody has to unpark us (`spin.rs`).
        spin::wait_briefly(
            || self.core().reached(until),
            deadline,
            || self.core().block(until, deadline),
        )
    }
}

/// Who waits for a job, for [`PoolFuture::run_inline_if_worker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waiter {
    /// A thread that sleeps until the job ends: `wait`, `result`, `join`, `wait()`,
    /// `as_completed`, `map`.
    Blocking,
    /// An async task's poll: the thread returns to its executor if the job is not done.
    Polling,
}

/// The deadline of a timed wait: `Instant::now() + timeout`. A timeout too large for `Instant`
/// (centuries) gets the farthest deadline that `Instant` can hold instead of none, so that the
/// wait stays a timed one: it never runs the awaited job inline.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    let mut timeout = timeout;
    loop {
        if let Some(deadline) = now.checked_add(timeout) {
            return deadline;
        }
        // Halve until representable: a few steps in practice, at most 64 (zero always is).
        timeout /= 2;
    }
}

impl<T> PartialEq for PoolFuture<T> {
    fn eq(&self, other: &Self) -> bool {
        self.addr() == other.addr()
    }
}

impl<T> Eq for PoolFuture<T> {}

impl<T> Hash for PoolFuture<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.addr().hash(state);
    }
}

impl<T> PartialOrd for PoolFuture<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for PoolFuture<T> {
    /// By identity (address), so futures can live in a `BTreeSet`; the order means nothing else.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.addr().cmp(&other.addr())
    }
}

impl<T> fmt::Debug for PoolFuture<T> {
    /// Like Python's repr: `<PoolFuture at 0x55d0c1e0 state=finished returned u64>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        write!(f, "<PoolFuture at {:#x} state={state}", self.addr())?;
        if state == FutureState::Finished {
            match self.core().peek_error() {
                None => write!(f, " returned {}", std::any::type_name::<T>())?,
                Some(err) => write!(f, " raised {err:?}")?,
            }
        }
        f.write_str(">")
    }
}
