//! The `tracing` feature: jobs run inside the span that was current at submit, and the pool's
//! life (threads started and retired, a broken pool) is reported as events.
//!
//! Without the feature everything here compiles to nothing: a job stores no span, and no event
//! is built.

/// `f`, made to run inside the span current now (at submit). Without the `tracing` feature, `f`
/// itself: nothing is stored per job.
#[cfg(feature = "tracing")]
pub(crate) fn in_current_span<F, T>(f: F) -> impl FnOnce() -> T + Send + 'static
where
    F: FnOnce() -> T + Send + 'static,
{
    let span = tracing::Span::current();
    move || span.in_scope(f)
}

/// `f`, made to run inside the span current now (at submit). Without the `tracing` feature, `f`
/// itself: nothing is stored per job.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn in_current_span<F>(f: F) -> F {
    f
}

/// The span current at submit, kept beside a job that stores its closure unwrapped (a job
/// submitted with `execute`, which hands the closure back if the pool refuses it). Without the
/// `tracing` feature, nothing: zero-sized.
#[cfg(feature = "tracing")]
pub(crate) struct SubmitSpan(tracing::Span);

/// The span current at submit (zero-sized without the `tracing` feature).
#[cfg(not(feature = "tracing"))]
pub(crate) struct SubmitSpan;

impl SubmitSpan {
    /// The span current now.
    #[inline(always)]
    pub(crate) fn current() -> SubmitSpan {
        #[cfg(feature = "tracing")]
        return SubmitSpan(tracing::Span::current());
        #[cfg(not(feature = "tracing"))]
        SubmitSpan
    }

    /// Runs `f` inside the span.
    #[inline(always)]
    pub(crate) fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        #[cfg(feature = "tracing")]
        return self.0.in_scope(f);
        #[cfg(not(feature = "tracing"))]
        f()
    }
}

/// A worker thread of pool `pool` started in slot `index`.
pub(crate) fn thread_started(pool: u32, index: usize) {
    #[cfg(feature = "tracing")]
    tracing::debug!(pool, slot = index, "poolbridge: worker thread started");
    let _ = (pool, index);
}

/// A worker thread of pool `pool` left slot `index`, for `why`.
pub(crate) fn thread_exited(pool: u32, index: usize, why: &str) {
    #[cfg(feature = "tracing")]
    tracing::debug!(pool, slot = index, why, "poolbridge: worker thread retired");
    let _ = (pool, index, why);
}

/// Pool `pool` broke: its jobs resolve to `BrokenPool(reason)` from now on. A warning, not a
/// debug event: every later job of the pool fails.
pub(crate) fn pool_broken(pool: u32, reason: &str) {
    #[cfg(feature = "tracing")]
    tracing::warn!(pool, reason, "poolbridge: the pool is broken");
    let _ = (pool, reason);
}
