//! The one awaitable handle of a job behind [`ExecutorFuture`](crate::ExecutorFuture) and
//! [`JoinHandle`](crate::JoinHandle): [`Handle`] holds the job's [`PoolFuture`] until `poll`
//! returns its outcome, and implements the methods the two share and `Future::poll` once. The
//! two public types are thin wrappers that differ only in their [`DropPolicy`]:
//!
//! | public type      | policy             | a drop before the outcome was returned              |
//! |------------------|--------------------|-----------------------------------------------------|
//! | `ExecutorFuture` | [`CancelIfPolled`] | never polled: the job runs on; polled: cancelled if pending, asked to stop if running |
//! | `JoinHandle`     | [`Detach`]         | the job runs on, polled or not (tokio's)            |
//!
//! A poll stores the task's waker in the job's `Core` (`Core::poll_take`); a drop with the job
//! still here forgets that waker, so a finished job never wakes a task that stopped waiting.
//!
//! A poll that stored the waker may also wake the task itself, so that the runtime polls it
//! again at once: the async form of a blocking wait's look before it parks (`spin::poll_again`
//! decides, by the thread's recent waits; `spin::poll_ready` learns from the outcome and
//! `spin::poll_abandoned` ends the look when the handle gives the job up). The look is a
//! heuristic only: the waker is stored at every poll, so the job's end wakes the task whether or
//! not a look is on, and the drop policy's "a waker is stored" still means "polled".

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context;
use crate::error::FutureError;
use crate::future::{PoolFuture, Waiter};
use crate::spin;

/// What dropping a [`Handle`] does to a job whose outcome it has not returned yet. Crate-private,
/// so sealed: [`CancelIfPolled`] and [`Detach`] are the only two.
pub(crate) trait DropPolicy {
    /// The public type's name: in its `Debug` output and in the panic of a poll after completion.
    const NAME: &'static str;

    /// Called by the drop of a handle that still holds its job.
    fn on_drop<T>(&self, fut: &PoolFuture<T>);
}

/// [`ExecutorFuture`](crate::ExecutorFuture)'s policy (asyncio's): a future that was polled and
/// is dropped before it completes was given up by the task awaiting it (a `timeout` that ran
/// out, a `select!` that took another branch), so its job is cancelled if pending and asked to
/// stop if running. One never polled was never awaited: its job runs on.
///
/// Zero-sized: "polled" is read from the job's `Core`, not kept here. A handle that still holds
/// its job after a poll got `Pending` from that poll, and a `Pending` poll stores its waker,
/// which only the job's settling takes away (under the same lock that makes the job terminal).
/// So at the drop, "polled" is "a waker is stored", or the job has ended and there is nothing
/// left to cancel. Only a handle stores a waker, a job has one handle at a time, and a handle
/// that hands its job on as a plain [`PoolFuture`] forgets the waker first
/// ([`Handle::give_up`]), so a waker found here is this handle's own. A flag would make every
/// `ExecutorFuture` a word bigger (24 bytes instead of 16): a burst keeps one per queued job.
#[derive(Debug, Default)]
pub(crate) struct CancelIfPolled;

impl DropPolicy for CancelIfPolled {
    const NAME: &'static str = "ExecutorFuture";

    fn on_drop<T>(&self, fut: &PoolFuture<T>) {
        if fut.core().clear_waker() {
            fut.request_cancel();
        }
    }
}

/// [`JoinHandle`](crate::JoinHandle)'s policy (tokio's): a drop detaches, polled or not; only
/// the stored waker is forgotten.
#[derive(Debug, Default)]
pub(crate) struct Detach;

impl DropPolicy for Detach {
    const NAME: &'static str = "JoinHandle";

    fn on_drop<T>(&self, fut: &PoolFuture<T>) {
        fut.core().clear_waker();
    }
}

/// A job awaited from async code: its [`PoolFuture`] until `poll` returns the outcome (which
/// also frees the job early), and the policy that says what a drop before then does.
pub(crate) struct Handle<T, P: DropPolicy> {
    /// The job; `None` once `poll` has returned its outcome (or the job moved to another handle).
    fut: Option<PoolFuture<T>>,
    policy: P,
}

impl<T, P: DropPolicy + Default> Handle<T, P> {
    /// A handle of `fut`; `None` makes a handle whose outcome was already returned (what
    /// [`take`](Self::take) left behind).
    pub(crate) fn new(fut: Option<PoolFuture<T>>) -> Self {
        Handle {
            fut,
            policy: P::default(),
        }
    }
}

impl<T, P: DropPolicy> Handle<T, P> {
    /// Cancels the job if it has not started; `false` once the outcome was returned.
    pub(crate) fn cancel(&self) -> bool {
        self.fut.as_ref().is_some_and(PoolFuture::cancel)
    }

    /// `true` once the job has ended, or once `poll` returned its outcome. Never blocks.
    pub(crate) fn is_finished(&self) -> bool {
        self.fut.as_ref().is_none_or(PoolFuture::done)
    }

    /// The job's future, unless `poll` returned its outcome.
    pub(crate) fn pool_future(&self) -> Option<&PoolFuture<T>> {
        self.fut.as_ref()
    }

    /// Moves the job out, waker and all, leaving a handle whose drop does nothing: for a handle
    /// that takes over the job (`ExecutorFuture::detach`).
    pub(crate) fn take(&mut self) -> Option<PoolFuture<T>> {
        self.fut.take()
    }

    /// Moves the job out for a caller that will not poll again: the stored waker is forgotten,
    /// and the drop of this handle does nothing.
    pub(crate) fn give_up(&mut self) -> Option<PoolFuture<T>> {
        let fut = self.fut.take()?;
        spin::poll_abandoned(look_id(&fut));
        fut.core().clear_waker();
        Some(fut)
    }
}

impl<T, P: DropPolicy + Unpin> Future for Handle<T, P> {
    type Output = Result<T, FutureError>;

    /// The outcome once the job has settled (the job then leaves the handle), else `Pending`
    /// with the waker stored. Panics if the outcome was already returned.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(fut) = this.fut.as_ref() else {
            panic!("`{}` polled after completion", P::NAME);
        };
        // A worker thread of the job's own pool (an executor driven inside a job) runs the job
        // itself if no other worker can take it, rather than sleep on a pool it may be saturating.
        let _ = fut.run_inline_if_worker(Waiter::Polling);
        let id = look_id(fut);
        let poll = fut.core().poll_take(cx);
        if poll.is_ready() {
            this.fut = None;
            spin::poll_ready(id);
        } else if context::current_pool() == 0 && spin::poll_again(id) {
            // Looks again at once, the task's other work first (`spin::poll_again`). The waker
            // stays stored: the job's end still wakes the task if the look ends before it.
            cx.waker().wake_by_ref();
        }
        poll
    }
}

/// The identity of `fut`'s job for this thread's async look (`spin::poll_again`): its core's
/// address, which no other live job shares.
fn look_id<T>(fut: &PoolFuture<T>) -> usize {
    std::ptr::from_ref(fut.core()).addr()
}

impl<T, P: DropPolicy> Drop for Handle<T, P> {
    /// The policy decides, if the job is still here (its outcome not returned, not moved out).
    fn drop(&mut self) {
        if let Some(fut) = &self.fut {
            spin::poll_abandoned(look_id(fut));
            self.policy.on_drop(fut);
        }
    }
}

impl<T, P: DropPolicy> fmt::Debug for Handle<T, P> {
    /// `ExecutorFuture(PoolFuture { .. })`, or `ExecutorFuture(<completed>)` once the outcome was
    /// returned; `T` need not be `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fut {
            Some(fut) => f.debug_tuple(P::NAME).field(fut).finish(),
            None => write!(f, "{}(<completed>)", P::NAME),
        }
    }
}
