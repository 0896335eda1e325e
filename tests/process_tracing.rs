//! The `tracing` feature across the process boundary: a process job runs under a
//! `poolbridge.job` span that is a child of the span current at submit, its worker receives the
//! job's W3C trace context in the `CALL` frame (`TraceContext::current()` in the job), and the
//! events the job logs in its worker are re-emitted in the parent under that span, with their
//! level, target and fields, rate-bounded. This binary is its pools' worker program:
//! `cargo test --features tracing --test process_tracing`.

mod process_support;
mod trace_support;

use std::sync::{Arc, OnceLock};

use poolbridge::{ProcessPoolExecutor, ThreadPoolExecutor, TraceContext};
use process_support::HANG;
use trace_support::{EventRec, Recorder, SpanRec, Val};
use tracing::Level;

/// The job's trace context, as its worker received it (W3C form).
#[poolbridge::job]
fn current_trace() -> Option<String> {
    TraceContext::current().map(|ctx| ctx.to_string())
}

/// The job's own context, and the one a job it submits to a process pool of its own receives.
#[poolbridge::job]
fn nested_trace() -> (Option<String>, Option<String>) {
    let outer = TraceContext::current().map(|ctx| ctx.to_string());
    let pool = ProcessPoolExecutor::new(1);
    let inner = pool.submit(current_trace, ()).join().ok().flatten();
    (outer, inner)
}

/// Logs two events, one inside a span of its own.
#[poolbridge::job]
fn say_hello(n: u64) -> u64 {
    let _outer = tracing::info_span!("outer").entered();
    tracing::info!(answer = n, "hello from the job");
    tracing::warn!(
        target: "custom::target",
        flag = true,
        text = "a str",
        ratio = 0.5,
        negative = -3,
        list = ?vec![1, 2],
        "other"
    );
    n
}

/// Logs `n` events as fast as it can.
#[poolbridge::job]
fn flood(n: u64) -> u64 {
    for i in 0..n {
        tracing::info!(i, "flood");
    }
    n
}

fn main() {
    poolbridge::process::init();
    let recorder = recorder();
    tracing::subscriber::set_global_default(Arc::clone(recorder)).unwrap();
    process_support::run(crate::tests![
        thread_and_process_jobs_run_under_the_submit_span_and_carry_the_trace,
        a_process_jobs_events_are_re_emitted_under_its_span,
        a_flood_of_events_is_bounded_and_counted,
        a_job_submitted_from_a_process_job_continues_its_trace,
    ]);
}

fn recorder() -> &'static Arc<Recorder> {
    static RECORDER: OnceLock<Arc<Recorder>> = OnceLock::new();
    RECORDER.get_or_init(|| Arc::new(Recorder::default()))
}

fn pool() -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap()
}

/// The one `poolbridge.job` span whose parent is `parent`.
fn job_span_under(parent: u64) -> SpanRec {
    let found: Vec<SpanRec> = recorder()
        .spans_named("poolbridge.job")
        .into_iter()
        .filter(|s| s.parent == Some(parent))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one job span under the submit span: {found:?}"
    );
    found.into_iter().next().unwrap()
}

fn span_id(span: &tracing::Span) -> u64 {
    span.id().expect("the span is enabled").into_u64()
}

fn thread_and_process_jobs_run_under_the_submit_span_and_carry_the_trace() {
    let pool = pool();
    let threads = ThreadPoolExecutor::new(1);
    let submit = tracing::info_span!("submit_here");
    let (fut, thread_job) = submit.in_scope(|| {
        let thread_job = threads.submit(|| tracing::info!("from a thread job"));
        (pool.submit(current_trace, ()), thread_job)
    });
    let traceparent = fut
        .result_timeout(HANG)
        .unwrap()
        .expect("the worker got a context");
    thread_job.result_timeout(HANG).unwrap();
    let ctx = TraceContext::parse(&traceparent).expect("a W3C traceparent");

    // The thread job's event: inside the submit span.
    let submit_id = span_id(&submit);
    let thread_event = find(|e| e.message() == "from a thread job");
    assert_eq!(thread_event.parent, Some(submit_id));

    // The process job's span: a child of the submit span, with its trace ids.
    let job = job_span_under(submit_id);
    assert_eq!(job.target, "poolbridge");
    assert!(
        job.field("job").unwrap().ends_with("current_trace"),
        "{job:?}"
    );
    assert_eq!(job.field("executor").as_deref(), Some("process"));
    let trace_id = job.field("trace_id").unwrap();
    assert_eq!(
        trace_id,
        format!("{:032x}", ctx.trace_id()),
        "the worker's trace is the job's"
    );
    let job_span_id = job.field("span_id").unwrap();
    assert_eq!(job_span_id.len(), 16);
    // The worker runs it in a span of its own (a child of the job span): another span id.
    assert_ne!(format!("{:016x}", ctx.span_id()), job_span_id);

    // Another job submitted outside any job: a fresh trace.
    let other = tracing::info_span!("other_submit");
    let fut = other.in_scope(|| pool.submit(current_trace, ()));
    let second = TraceContext::parse(&fut.result_timeout(HANG).unwrap().unwrap()).unwrap();
    assert_ne!(second.trace_id(), ctx.trace_id());
    assert_eq!(
        job_span_under(span_id(&other)).field("trace_id"),
        Some(format!("{:032x}", second.trace_id()))
    );
}

fn find(f: impl Fn(&EventRec) -> bool) -> EventRec {
    let found: Vec<EventRec> = recorder().events().into_iter().filter(|e| f(e)).collect();
    assert_eq!(found.len(), 1, "exactly one such event: {found:?}");
    found.into_iter().next().unwrap()
}

fn a_process_jobs_events_are_re_emitted_under_its_span() {
    let pool = pool();
    let submit = tracing::info_span!("submit_hello");
    let fut = submit.in_scope(|| pool.submit(say_hello, (7,)));
    assert_eq!(fut.result_timeout(HANG), Ok(7));
    let job = job_span_under(span_id(&submit));

    let hello = find(|e| e.message() == "hello from the job");
    assert_eq!(hello.level, Level::INFO);
    assert_eq!(hello.target, "process_tracing", "the job's own target");
    assert_eq!(hello.parent, Some(job.id), "under the job's span");
    assert_eq!(hello.fields.get("answer"), Some(&Val::U64(7)));
    assert_eq!(
        hello.fields.get("job.spans").map(Val::text).as_deref(),
        Some("outer"),
        "the spans open inside the job, by name"
    );

    let other = find(|e| e.message() == "other");
    assert_eq!(other.level, Level::WARN);
    assert_eq!(other.target, "custom::target");
    assert_eq!(other.parent, Some(job.id));
    assert_eq!(other.fields.get("flag"), Some(&Val::Bool(true)));
    assert_eq!(other.fields.get("text"), Some(&Val::Str("a str".into())));
    assert_eq!(other.fields.get("ratio"), Some(&Val::F64(0.5)));
    assert_eq!(other.fields.get("negative"), Some(&Val::I64(-3)));
    assert_eq!(
        other.fields.get("list").map(Val::text).as_deref(),
        Some("[1, 2]")
    );
}

fn a_flood_of_events_is_bounded_and_counted() {
    const N: u64 = 100_000;
    let pool = pool();
    let submit = tracing::info_span!("submit_flood");
    let fut = submit.in_scope(|| pool.submit(flood, (N,)));
    assert_eq!(fut.result_timeout(HANG), Ok(N), "no hang");
    let job = job_span_under(span_id(&submit)).id;
    let events: Vec<EventRec> = recorder()
        .events()
        .into_iter()
        .filter(|e| e.parent == Some(job))
        .collect();
    let arrived = events.iter().filter(|e| e.message() == "flood").count() as u64;
    let dropped: u64 = events
        .iter()
        .filter(|e| e.target == "poolbridge" && e.level == Level::WARN)
        .map(|e| match e.fields.get("dropped") {
            Some(Val::U64(n)) => *n,
            other => panic!("a dropped count: {other:?}"),
        })
        .sum();
    println!("  {arrived} of {N} events arrived, {dropped} dropped");
    assert!(arrived >= 1000, "the burst arrives whole: {arrived}");
    assert!(arrived < N / 4, "bounded: {arrived} arrived");
    assert_eq!(arrived + dropped, N, "every dropped event is counted");
}

fn a_job_submitted_from_a_process_job_continues_its_trace() {
    let pool = pool();
    let submit = tracing::info_span!("submit_nested");
    let fut = submit.in_scope(|| pool.submit(nested_trace, ()));
    let (outer, inner) = fut.result_timeout(HANG).unwrap();
    let outer = TraceContext::parse(&outer.expect("the outer job has a context")).unwrap();
    let inner = TraceContext::parse(&inner.expect("the inner job has a context")).unwrap();
    let job = job_span_under(span_id(&submit));
    assert_eq!(
        job.field("trace_id"),
        Some(format!("{:032x}", outer.trace_id()))
    );
    assert_eq!(
        inner.trace_id(),
        outer.trace_id(),
        "one trace, two process hops"
    );
    assert_ne!(inner.span_id(), outer.span_id());
}
