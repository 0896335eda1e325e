//! The queue and its places: a submitted call ([`Call`]) with its typed end (a
//! [`Completion`], from the seam),
//! the calls waiting for a worker ([`CallQueue`]), and, with `max_queued`, the places in the
//! queue ([`Places`], [`Place`]: reservations of the thread pool's `backpressure::Permits`).
//!
//! The pool (`pool.rs`) keeps a `CallQueue` under its state lock; nothing here locks, and
//! nothing here runs user code except where a method says so (`Call::fail`, dropping a
//! `Place`), which the pool calls outside the lock.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::FutureError;
use crate::future::RunHooks;
use crate::pool::backpressure::{self, Permit, Permits, Reservation};
pub(crate) use crate::seam::completion::Completion;

/// A job's place in the queue of a pool with `max_queued` (empty without the bound, or once
/// given back). The job's future holds the same reservation and gives it back if it is
/// cancelled while queued; a reservation is given back once.
///
/// Given back when dropped, which may wake a waiting submitter: drop it outside the state lock
/// (`take` it out of a call that leaves the queue under the lock).
#[derive(Default)]
pub(crate) struct Place(Option<Arc<Reservation>>);

impl Place {
    pub(crate) fn new(reservation: Option<Arc<Reservation>>) -> Place {
        Place(reservation)
    }

    fn take(&mut self) -> Place {
        Place(self.0.take())
    }

    fn is_held(&self) -> bool {
        self.0.is_some()
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(reservation) = self.0.take() {
            reservation.release();
        }
    }
}

/// Why the pool stops a call sent to a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `request_cancel` (or the drop of a polled `ExecutorFuture`).
    Cancel,
    /// Its deadline passed.
    Deadline,
}

impl Stop {
    /// The outcome of a call stopped for this reason; `started`: the worker had started it.
    pub(crate) fn error(self, started: bool) -> FutureError {
        match self {
            Stop::Cancel => FutureError::Cancelled,
            Stop::Deadline => FutureError::DeadlineExceeded { started },
        }
    }
}

/// A submitted call of a job: what the pool keeps of it from `submit` to its answer (its
/// arguments are in its [`CallFrame`]).
pub(crate) struct Call {
    pub(crate) name: &'static str,
    pub(crate) timeout: Option<Duration>,
    /// The job's deadline (`SubmitOptions::deadline`, or inherited), enforced by the parent.
    pub(crate) deadline: Option<Instant>,
    /// The identity of its future (`PoolFuture::addr`), which a stop request names.
    pub(crate) key: usize,
    pub(crate) done: Box<dyn Completion>,
    /// Requeued once already after its worker died before receiving it.
    pub(crate) retried: bool,
    /// Set once the pool asked its worker to stop it (a `CANCEL` was sent or the call was sent
    /// with no time left): the outcome the call gets if it stops or is killed.
    pub(crate) stop: Option<Stop>,
    /// Its future already has its outcome (taken back while sent ahead): `done` is
    /// [`Answered`], and whatever the worker answers is dropped.
    pub(crate) answered: bool,
    /// Its place in a bounded queue, until it leaves the queue.
    place: Place,
    /// When it was submitted (for `PoolMetrics::queue_wait`).
    pub(crate) submitted: Instant,
    /// When its worker started running it: sent to an idle worker, or the job before it on its
    /// worker answered (for `PoolMetrics::run_time`).
    pub(crate) started: Option<Instant>,
    /// The job's parent-side span (feature `tracing`): the events its worker forwards are
    /// re-emitted under it.
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

impl Call {
    pub(crate) fn new(
        name: &'static str,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
        key: usize,
        done: Box<dyn Completion>,
    ) -> Call {
        Call {
            name,
            timeout,
            deadline,
            key,
            done,
            retried: false,
            stop: None,
            answered: false,
            place: Place::default(),
            submitted: Instant::now(),
            started: None,
            #[cfg(feature = "tracing")]
            span: tracing::Span::none(),
        }
    }

    /// The call's parent-side span (feature `tracing`).
    #[cfg(feature = "tracing")]
    pub(crate) fn in_span(mut self, span: tracing::Span) -> Call {
        self.span = span;
        self
    }

    /// Takes the call's typed end out, to publish its outcome outside the lock now, leaving
    /// [`Answered`] in its place: the call stays with its worker (which answers it in turn),
    /// and that answer is dropped.
    pub(crate) fn take_back(&mut self) -> Box<dyn Completion> {
        self.answered = true;
        std::mem::replace(&mut self.done, Box::new(Answered))
    }

    /// The call holds `place` while it is queued (a pool with `max_queued`).
    pub(crate) fn holding(mut self, place: Place) -> Call {
        self.place = place;
        self
    }

    /// Takes the call's place out of it (it leaves the queue), to drop outside the lock.
    pub(crate) fn take_place(&mut self) -> Place {
        self.place.take()
    }

    /// Ends the call with `err` (it never ran, or its worker died). Callbacks run here, after
    /// the call's place, if it still holds one, was given back (a callback may block).
    pub(crate) fn fail(mut self, err: FutureError, hooks: &mut dyn RunHooks) {
        drop(self.place.take());
        self.done.decode(Err(err));
        self.done.publish(hooks);
    }
}

/// The typed end of a call whose future already has its outcome ([`Call::take_back`]): a
/// dead end. A unit struct, so boxing it allocates nothing.
pub(crate) struct Answered;

impl Completion for Answered {
    fn start(&self) -> bool {
        true
    }

    fn is_cancelled(&self) -> bool {
        false
    }

    fn decode(&mut self, _: Result<&[u8], FutureError>) {}

    fn publish(self: Box<Self>, _: &mut dyn RunHooks) {}

    #[cfg(feature = "nats")]
    fn canceller(&self) -> Box<dyn FnOnce() + Send> {
        Box::new(|| {})
    }

    #[cfg(feature = "nats")]
    fn forget(&self, _: &Arc<crate::signal::Signal>) {}

    #[cfg(feature = "nats")]
    fn identity(&self) -> crate::seam::completion::Identity {
        (0, Arc::new(|| false))
    }
}

/// An encoded `CALL` frame (`wire::seal_call`). Shared: the dispatcher writes it outside the
/// lock while the worker's slot keeps it, in case the worker dies before receiving it and the
/// call is queued again.
pub(crate) type CallFrame = Arc<Vec<u8>>;

/// A call waiting for a worker, with its encoded `CALL` frame.
pub(crate) struct QueuedCall {
    pub(crate) frame: CallFrame,
    pub(crate) call: Call,
}

/// The calls waiting for a worker, oldest first.
#[derive(Default)]
pub(crate) struct CallQueue(VecDeque<QueuedCall>);

impl CallQueue {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push_back(&mut self, queued: QueuedCall) {
        self.0.push_back(queued);
    }

    /// Queues a call ahead of the others (its worker died before it started).
    pub(crate) fn push_front(&mut self, queued: QueuedCall) {
        self.0.push_front(queued);
    }

    /// Takes every queued call (shutdown with `cancel_futures`, a broken pool).
    pub(crate) fn take_all(&mut self) -> Vec<QueuedCall> {
        self.0.drain(..).collect()
    }

    /// The next queued call that was not cancelled meanwhile, marked running, and how many
    /// cancelled ones were dropped on the way. The places of the calls taken from the queue go
    /// to `freed`, to be given back once the lock is released.
    pub(crate) fn pop_started(&mut self, freed: &mut Vec<Place>) -> (Option<QueuedCall>, u64) {
        let mut cancelled = 0;
        while let Some(mut queued) = self.0.pop_front() {
            let place = queued.call.take_place();
            if place.is_held() {
                freed.push(place);
            }
            if queued.call.done.start() {
                return (Some(queued), cancelled);
            }
            // Cancelled while queued: its future is already done (and its place was given back
            // then); dropping it runs no user code.
            cancelled += 1;
        }
        (None, cancelled)
    }

    /// In a bounded pool whose queue is full (`max_queued` calls), takes the entries of the
    /// calls cancelled while queued (their places were given back by the cancel), for the
    /// caller to drop outside the lock. Otherwise a producer that cancels and resubmits while
    /// every worker is busy would pile up dead entries, each with its encoded arguments, past
    /// `max_queued`: the growth the bound exists to stop. A scan of at most about `max_queued`
    /// entries, only when full.
    pub(crate) fn purge_cancelled(&mut self, max_queued: Option<usize>) -> Vec<QueuedCall> {
        let full = max_queued.is_some_and(|max| self.0.len() >= max);
        if !full {
            return Vec::new();
        }
        let mut cancelled = Vec::new();
        for queued in std::mem::take(&mut self.0) {
            if queued.call.done.is_cancelled() {
                cancelled.push(queued);
            } else {
                self.0.push_back(queued);
            }
        }
        cancelled
    }
}

/// The places of a pool with `max_queued`, and the submitters waiting for one; no bound
/// without it. `closed` (given to each method) is the error a submit gets now, if the pool is
/// closed: read first, and again if the wait for a place ended because the pool closed.
pub(crate) struct Places(Option<Arc<Permits>>);

impl Places {
    pub(crate) fn new(max_queued: Option<usize>) -> Places {
        Places(max_queued.map(|n| Arc::new(Permits::new(n))))
    }

    /// A place for a call about to be submitted, waiting for one (blocking the calling thread)
    /// while `max_queued` calls wait. `Ok(None)`: the pool has no bound. `Err`: the pool is
    /// closed, or closed while this thread waited.
    pub(crate) fn reserve_blocking(
        &self,
        closed: impl Fn() -> Option<FutureError>,
    ) -> Result<Option<Arc<Reservation>>, FutureError> {
        let Some(permits) = self.bound(&closed)? else {
            return Ok(None);
        };
        match permits.acquire_blocking() {
            Ok(()) => Ok(Some(Arc::new(Reservation::new(permits)))),
            Err(backpressure::Closed) => Err(closed().unwrap_or(FutureError::Shutdown)),
        }
    }

    /// [`reserve_blocking`](Self::reserve_blocking) without the wait.
    pub(crate) fn try_reserve(
        &self,
        closed: impl Fn() -> Option<FutureError>,
    ) -> Result<Option<Arc<Reservation>>, NoRoom> {
        let Some(permits) = self.bound(&closed).map_err(NoRoom::Closed)? else {
            return Ok(None);
        };
        if permits.try_acquire() {
            Ok(Some(Arc::new(Reservation::new(permits))))
        } else {
            Err(NoRoom::Full)
        }
    }

    /// [`reserve_blocking`](Self::reserve_blocking) that awaits the place without blocking the
    /// thread: first come, first served; dropped while it waits, it leaves no reservation
    /// behind (see `backpressure::Acquire`).
    pub(crate) async fn reserve(
        &self,
        closed: impl Fn() -> Option<FutureError>,
    ) -> Result<Option<Arc<Reservation>>, FutureError> {
        let Some(permits) = self.bound(&closed)? else {
            return Ok(None);
        };
        match permits.acquire().await {
            Ok(()) => Ok(Some(Arc::new(Reservation::new(permits)))),
            Err(backpressure::Closed) => Err(closed().unwrap_or(FutureError::Shutdown)),
        }
    }

    /// The permits of a bounded pool (`None` without the bound), or the error of a closed one.
    fn bound(
        &self,
        closed: &impl Fn() -> Option<FutureError>,
    ) -> Result<Option<&Arc<Permits>>, FutureError> {
        match closed() {
            Some(err) => Err(err),
            None => Ok(self.0.as_ref()),
        }
    }

    /// The pool closed (shut down, broken): submitters waiting for a place wake up and refuse
    /// their calls. Call it without the state lock (it wakes them).
    pub(crate) fn refuse_waiting(&self) {
        if let Some(permits) = &self.0 {
            permits.close();
        }
    }

    /// Submitters waiting for a place now.
    pub(crate) fn waiting(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.waiting())
    }
}

/// Why [`Places::try_reserve`] found no place.
pub(crate) enum NoRoom {
    /// `max_queued` calls wait.
    Full,
    /// The pool is shut down or broken.
    Closed(FutureError),
}
