//! [`Completion`]: the typed end of a call that crossed a boundary, the one implementation
//! ([`Typed`]) the process pool and the remote executor share. A transport holds it behind
//! `Box<dyn Completion>` from submit to answer, so that its own state (queues, tables) stays
//! free of the job's output type.
//!
//! The transport calls [`start`](Completion::start) when the call is taken (sent to a worker, or
//! picked up by a host), then [`decode`](Completion::decode) with the answer's bytes (user
//! `Deserialize` code, no callbacks: the process pool decodes straight from its read buffer,
//! before it lets another thread read the next answer) and [`publish`](Completion::publish),
//! which may run done callbacks after `hooks.before_user_code()`: the crew thread publishing it
//! hands its duty to another thread first (`crew.rs`).

#[cfg(feature = "nats")]
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::error::FutureError;
use crate::future::{Promise, RunHooks};
use crate::seam::call::{self, Via};
#[cfg(feature = "nats")]
use crate::signal::Signal;

/// The identity of a call's future, for tables keyed by future: its address, and whether a
/// handle to it is still alive (the closure holds a weak reference, which also keeps the address
/// from being reused while the entry lives).
#[cfg(feature = "nats")]
pub(crate) type Identity = (usize, Arc<dyn Fn() -> bool + Send + Sync>);

/// The typed end of a call. See the module docs.
pub(crate) trait Completion: Send {
    /// `PENDING → RUNNING`, unless the future was cancelled (then `false`: drop the call).
    fn start(&self) -> bool;
    /// `true` if the future was cancelled. Runs no user code (a transport calls it under its
    /// lock).
    fn is_cancelled(&self) -> bool;
    /// Decodes the answer (user `Deserialize` code; no callbacks yet).
    fn decode(&mut self, outcome: Result<&[u8], FutureError>);
    /// The job reported progress (a worker's `PROGRESS` frame): the future's `progress()`
    /// sees it. Runs no user code (wakes a progress stream's waker at most). Nothing for a call
    /// whose future already has its outcome.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    fn progress(&self, _done: u64, _total: u64) {}
    /// The latest progress the job reported, if any (for `PoolMetrics::progress`). Takes the
    /// future's lock; runs no user code.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    fn latest_progress(&self) -> Option<(u64, u64)> {
        None
    }
    /// Publishes the decoded outcome: wakes waiters, runs the done callbacks on this thread
    /// after `hooks.before_user_code()`.
    fn publish(self: Box<Self>, hooks: &mut dyn RunHooks);
    /// [`decode`](Self::decode) then [`publish`](Self::publish).
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    fn finish(mut self: Box<Self>, outcome: Result<&[u8], FutureError>, hooks: &mut dyn RunHooks) {
        self.decode(outcome);
        self.publish(hooks);
    }
    #[cfg(feature = "nats")]
    /// `true` once someone asked the running job to stop (`request_cancel`), or cancelled it.
    /// Runs no user code. (Only the remote client asks, of its `Typed` completions.)
    fn stop_requested(&self) -> bool {
        false
    }
    #[cfg(feature = "nats")]
    /// A way to `cancel()` the future later, outside the transport's lock.
    fn canceller(&self) -> Box<dyn FnOnce() + Send>;
    #[cfg(feature = "nats")]
    /// Stops `signal`'s cancel notifications for this future (it is being completed).
    fn forget(&self, signal: &Arc<Signal>);
    #[cfg(feature = "nats")]
    /// The future's identity.
    fn identity(&self) -> Identity;
}

/// The one [`Completion`]: a promise, and how to decode the output into it.
pub(crate) struct Typed<O: Send + 'static> {
    promise: Option<Promise<O>>,
    name: &'static str,
    via: Via,
    decoder: fn(&[u8], &str, Via) -> Result<O, FutureError>,
    outcome: Option<Result<O, FutureError>>,
}

impl<O: DeserializeOwned + Send + 'static> Typed<O> {
    /// The end of a call of job `name` over `via`, whose output is decoded into `O`.
    pub(crate) fn new(promise: Promise<O>, name: &'static str, via: Via) -> Typed<O> {
        Typed {
            promise: Some(promise),
            name,
            via,
            decoder: call::decode_output::<O>,
            outcome: None,
        }
    }
}

impl Typed<Vec<u8>> {
    /// The end of a call whose output stays encoded (a remote host forwards it to its client).
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn raw(promise: Promise<Vec<u8>>, name: &'static str, via: Via) -> Typed<Vec<u8>> {
        Typed {
            promise: Some(promise),
            name,
            via,
            decoder: |bytes, _, _| Ok(bytes.to_vec()),
            outcome: None,
        }
    }
}

impl<O: Send + 'static> Typed<O> {
    fn promise(&self) -> &Promise<O> {
        self.promise
            .as_ref()
            .expect("a call's promise is kept until it is published")
    }
}

impl<O: Send + 'static> Completion for Typed<O> {
    fn start(&self) -> bool {
        self.promise().set_running_or_notify_cancel()
    }

    fn is_cancelled(&self) -> bool {
        self.promise().is_cancelled()
    }

    fn decode(&mut self, outcome: Result<&[u8], FutureError>) {
        let decoded = outcome.and_then(|bytes| (self.decoder)(bytes, self.name, self.via));
        self.outcome = Some(decoded);
    }

    fn progress(&self, done: u64, total: u64) {
        if let Some(promise) = &self.promise {
            promise.report_progress(done, total);
        }
    }

    fn latest_progress(&self) -> Option<(u64, u64)> {
        self.promise.as_ref()?.latest_progress()
    }

    fn publish(mut self: Box<Self>, hooks: &mut dyn RunHooks) {
        let (Some(promise), Some(outcome)) = (self.promise.take(), self.outcome.take()) else {
            return;
        };
        call::complete(promise, outcome, hooks, self.via);
    }

    #[cfg(feature = "nats")]
    fn stop_requested(&self) -> bool {
        self.promise().cancel_requested()
    }

    #[cfg(feature = "nats")]
    fn canceller(&self) -> Box<dyn FnOnce() + Send> {
        let fut = self.promise().fut();
        Box::new(move || {
            fut.cancel();
        })
    }

    #[cfg(feature = "nats")]
    fn forget(&self, signal: &Arc<Signal>) {
        self.promise().fut().core().remove_signal(signal);
    }

    #[cfg(feature = "nats")]
    fn identity(&self) -> Identity {
        let fut = self.promise().fut();
        let weak = fut.downgrade();
        (fut.addr(), Arc::new(move || weak.strong_count() > 0))
    }
}

impl<O: Send + 'static> std::fmt::Debug for Typed<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typed")
            .field("name", &self.name)
            .field("via", &self.via)
            .finish()
    }
}
