//! The `tracing` feature: jobs run inside the span that was current at submit, and the pool's
//! life (threads started and retired, a broken pool) is reported as events.
//!
//! Without the feature everything here compiles to nothing: a job stores no span, and no event
//! is built.
//!
//! Jobs that cross a boundary (a worker process, a remote host) carry a W3C trace context
//! ([`TraceContext`], `context.rs`): at submit the parent side opens a `poolbridge.job` span
//! ([`job_span`]), and the side that runs the job opens a `poolbridge.run` span under the
//! received context ([`run_span`]). A worker process forwards its job's events to the parent
//! (`forward.rs`), which re-emits them under the job's span (`relay.rs`).

#[cfg(feature = "tracing")]
pub(crate) mod context;
#[cfg(all(feature = "tracing", feature = "process"))]
pub(crate) mod forward;
#[cfg(feature = "opentelemetry")]
mod otel;
#[cfg(all(feature = "tracing", feature = "process"))]
pub(crate) mod relay;

#[cfg(all(feature = "tracing", feature = "nats"))]
pub(crate) use context::TRACEPARENT;
#[cfg(feature = "tracing")]
pub use context::TraceContext;
#[cfg(all(feature = "tracing", feature = "process"))]
pub(crate) use context::{WIRE_LEN, enter};

/// What a submit hands the process pool of a job's trace: its context (sent in the `CALL`
/// frame) and the span its forwarded events go under. Without the `tracing` feature, nothing.
#[cfg(feature = "tracing")]
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) type Carried = Option<(TraceContext, tracing::Span)>;

/// What a submit hands the process pool of a job's trace (nothing without the `tracing`
/// feature).
#[cfg(not(feature = "tracing"))]
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) type Carried = ();

/// A trace id in its W3C form (32 lowercase hex digits), formatted only if a subscriber
/// records it.
#[cfg(feature = "tracing")]
struct TraceHex(u128);

#[cfg(feature = "tracing")]
impl std::fmt::Display for TraceHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A span id in its W3C form (16 lowercase hex digits).
#[cfg(feature = "tracing")]
struct SpanHex(u64);

#[cfg(feature = "tracing")]
impl std::fmt::Display for SpanHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The parent-side span of a process or remote job submitted now (`executor`: `"process"` or
/// `"remote"`), and the context it sends along: `poolbridge.job` at INFO, target `poolbridge`, a
/// child of the current span, with fields `job`, `executor`, `trace_id` and `span_id`. Its
/// trace id is the one of the job this thread runs ([`TraceContext::current`]), else fresh.
///
/// INFO, not DEBUG: the events a process job logs are re-emitted under this span, and a
/// subscriber filtering at INFO should still show which job they came from.
#[cfg(feature = "tracing")]
#[cfg_attr(not(feature = "process"), allow(dead_code))]
pub(crate) fn job_span(job: &str, executor: &'static str) -> (tracing::Span, TraceContext) {
    #[cfg(not(feature = "opentelemetry"))]
    {
        let ctx = match TraceContext::current() {
            Some(parent) => parent.child(),
            None => TraceContext::root(),
        };
        let span = tracing::info_span!(
            target: "poolbridge",
            "poolbridge.job",
            job,
            executor,
            trace_id = %TraceHex(ctx.trace_id()),
            span_id = %SpanHex(ctx.span_id()),
        );
        (span, ctx)
    }
    // The ids are OpenTelemetry's where the span has an OpenTelemetry context (a
    // `tracing-opentelemetry` layer), poolbridge's own otherwise.
    #[cfg(feature = "opentelemetry")]
    {
        let span = tracing::info_span!(
            target: "poolbridge",
            "poolbridge.job",
            job,
            executor,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        let ctx = otel::context_of(&span).unwrap_or_else(|| match TraceContext::current() {
            Some(parent) => parent.child(),
            None => TraceContext::root(),
        });
        record_ids(&span, ctx);
        (span, ctx)
    }
}

/// Records `ctx`'s ids on a span made with empty `trace_id` and `span_id` fields.
#[cfg(feature = "opentelemetry")]
fn record_ids(span: &tracing::Span, ctx: TraceContext) {
    span.record(
        "trace_id",
        tracing::field::display(TraceHex(ctx.trace_id())),
    );
    span.record("span_id", tracing::field::display(SpanHex(ctx.span_id())));
}

/// The span a worker process or a remote host runs a received job in: `poolbridge.run` at
/// INFO, target `poolbridge`, with fields `job`, `executor`, `trace_id`, `parent_span_id` (the
/// sender's span, absent if no context came: then the trace is a fresh one) and `span_id`; and
/// the context of that span, which the caller makes current while the job runs.
#[cfg(feature = "tracing")]
#[cfg_attr(not(feature = "process"), allow(dead_code))]
pub(crate) fn run_span(
    job: &str,
    executor: &'static str,
    received: Option<TraceContext>,
) -> (tracing::Span, TraceContext) {
    #[cfg(not(feature = "opentelemetry"))]
    {
        let ctx = match received {
            Some(parent) => parent.child(),
            None => TraceContext::root(),
        };
        let span = tracing::info_span!(
            target: "poolbridge",
            "poolbridge.run",
            job,
            executor,
            trace_id = %TraceHex(ctx.trace_id()),
            parent_span_id = received.map(|r| tracing::field::display(SpanHex(r.span_id()))),
            span_id = %SpanHex(ctx.span_id()),
        );
        (span, ctx)
    }
    // With an OpenTelemetry layer, the span's OpenTelemetry parent is the received context
    // (`set_parent`, the tracing-opentelemetry convention), and its ids are OpenTelemetry's.
    #[cfg(feature = "opentelemetry")]
    {
        let span = tracing::info_span!(
            target: "poolbridge",
            "poolbridge.run",
            job,
            executor,
            trace_id = tracing::field::Empty,
            parent_span_id = received.map(|r| tracing::field::display(SpanHex(r.span_id()))),
            span_id = tracing::field::Empty,
        );
        if let Some(parent) = received {
            otel::set_parent(&span, parent);
        }
        let ctx = otel::context_of(&span).unwrap_or_else(|| match received {
            Some(parent) => parent.child(),
            None => TraceContext::root(),
        });
        record_ids(&span, ctx);
        (span, ctx)
    }
}

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
