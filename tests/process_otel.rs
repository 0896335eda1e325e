//! Feature `opentelemetry`: with a tracing-opentelemetry layer, the trace context a process job
//! carries is its `poolbridge.job` span's OpenTelemetry context, that span is the OpenTelemetry
//! child of the submit span, and a thread job's spans share the submitter's trace. This binary
//! is its pools' worker program: `cargo test --features opentelemetry --test process_otel`.

mod process_support;

use std::sync::{Arc, Mutex, OnceLock};

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use poolbridge::{ProcessPoolExecutor, ThreadPoolExecutor, TraceContext};
use process_support::{HANG, eventually};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// The job's trace context, as its worker received it (W3C form).
#[poolbridge::job]
fn current_trace() -> Option<String> {
    TraceContext::current().map(|ctx| ctx.to_string())
}

/// Collects the spans that ended.
#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collect {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.0.lock().unwrap().extend(batch);
        std::future::ready(Ok(()))
    }
}

fn collected() -> &'static Collect {
    static COLLECT: OnceLock<Collect> = OnceLock::new();
    COLLECT.get_or_init(Collect::default)
}

fn main() {
    poolbridge::process::init();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(collected().clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("poolbridge-test"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
    process_support::run(crate::tests![
        the_carried_context_is_the_job_spans_opentelemetry_context,
    ]);
}

fn the_carried_context_is_the_job_spans_opentelemetry_context() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let threads = ThreadPoolExecutor::new(1);
    let submit = tracing::info_span!("submit_otel");
    let submit_cx = submit.context().span().span_context().clone();
    assert!(
        submit_cx.is_valid(),
        "the layer gives the submit span a context"
    );
    let (fut, thread_trace) = submit.in_scope(|| {
        let thread_trace = threads.submit(|| {
            let span = tracing::info_span!("in_thread_job");
            span.context().span().span_context().trace_id()
        });
        (pool.submit(current_trace, ()), thread_trace)
    });
    assert_eq!(
        thread_trace.result_timeout(HANG),
        Ok(submit_cx.trace_id()),
        "a thread job's span is in the submitter's trace"
    );
    let in_worker = fut.result_timeout(HANG).unwrap().expect("a context");
    let in_worker = TraceContext::parse(&in_worker).unwrap();
    assert_eq!(
        in_worker.trace_id().to_be_bytes(),
        submit_cx.trace_id().to_bytes(),
        "the worker continues the submitter's OpenTelemetry trace"
    );
    drop(submit);
    drop(fut);
    // The job span ends when the pool lets go of its call, right after the answer.
    let job = |spans: &[SpanData]| spans.iter().find(|s| s.name == "poolbridge.job").cloned();
    assert!(
        eventually(HANG, || job(&collected().0.lock().unwrap()).is_some()),
        "the job span ended"
    );
    let job = job(&collected().0.lock().unwrap()).unwrap();
    assert_eq!(job.span_context.trace_id(), submit_cx.trace_id());
    assert_eq!(
        job.parent_span_id,
        submit_cx.span_id(),
        "a child of the submit span"
    );
    // The ids recorded on the span (and sent to the worker) are its OpenTelemetry ids.
    let attr = |key: &str| {
        job.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(
        attr("span_id"),
        Some(format!("{}", job.span_context.span_id())),
        "{:?}",
        job.attributes
    );
    assert_eq!(
        attr("trace_id"),
        Some(format!("{}", job.span_context.trace_id()))
    );
}
