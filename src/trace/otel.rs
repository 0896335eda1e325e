//! Feature `opentelemetry`: the trace context of a job span comes from its OpenTelemetry
//! context (`tracing_opentelemetry::OpenTelemetrySpanExt::context`), and the span a received
//! job runs in gets the received context as its OpenTelemetry parent (`set_parent`), the
//! tracing-opentelemetry convention. A span whose subscriber has no OpenTelemetry layer has no
//! such context: poolbridge's own ids stand in (`context.rs`).

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::trace::TraceContext;

/// `span`'s OpenTelemetry context, if it has a valid one (this starts the OpenTelemetry span).
pub(crate) fn context_of(span: &tracing::Span) -> Option<TraceContext> {
    let cx = span.context();
    let otel = cx.span();
    let sc = otel.span_context();
    if !sc.is_valid() {
        return None;
    }
    TraceContext::new(
        u128::from_be_bytes(sc.trace_id().to_bytes()),
        u64::from_be_bytes(sc.span_id().to_bytes()),
        sc.is_sampled(),
    )
}

/// Makes the remote `parent` the OpenTelemetry parent of `span` (before it starts). Nothing if
/// the span's subscriber has no OpenTelemetry layer.
pub(crate) fn set_parent(span: &tracing::Span, parent: TraceContext) {
    let flags = if parent.sampled() {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let sc = SpanContext::new(
        TraceId::from_bytes(parent.trace_id().to_be_bytes()),
        SpanId::from_bytes(parent.span_id().to_be_bytes()),
        flags,
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc));
}
