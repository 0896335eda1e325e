//! The `tracing` feature: a job runs inside the span that was current at `submit` (and at
//! `run_in_executor`, `submit_async`), and the pool reports its threads and a broken pool.
//!
//! A small subscriber of our own records, for every event, the span that was current on the
//! thread that emitted it and the thread's name. Run with
//! `cargo test --features tracing --test tracing` (the target requires the feature).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use poolbridge::{FutureError, ThreadPoolExecutor, run_in_executor};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Instrument, Metadata, Subscriber};
use tracing_core::span::Current;

/// One event as the subscriber saw it.
#[derive(Clone, Debug)]
struct Seen {
    message: String,
    fields: HashMap<String, String>,
    /// The name of the span current on the emitting thread, if any.
    span: Option<String>,
    thread: Option<String>,
}

#[derive(Default)]
struct Recorder {
    next_id: AtomicU64,
    spans: Mutex<HashMap<u64, &'static Metadata<'static>>>,
    events: Mutex<Vec<Seen>>,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<Id>> = const { RefCell::new(Vec::new()) };
}

struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.spans.lock().unwrap().insert(id, attrs.metadata());
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(HashMap::new());
        event.record(&mut fields);
        let span_id = match event.parent() {
            Some(id) => Some(id.clone()),
            None if event.is_contextual() => ENTERED.with(|e| e.borrow().last().cloned()),
            None => None,
        };
        let span = span_id.and_then(|id| {
            self.spans
                .lock()
                .unwrap()
                .get(&id.into_u64())
                .map(|m| m.name().to_owned())
        });
        let message = fields.0.remove("message").unwrap_or_default();
        self.events.lock().unwrap().push(Seen {
            message,
            fields: fields.0,
            span,
            thread: std::thread::current().name().map(str::to_owned),
        });
    }

    fn enter(&self, id: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(id.clone()));
    }

    fn exit(&self, id: &Id) {
        ENTERED.with(|e| {
            let mut e = e.borrow_mut();
            if let Some(pos) = e.iter().rposition(|x| x == id) {
                e.remove(pos);
            }
        });
    }

    fn current_span(&self) -> Current {
        match ENTERED.with(|e| e.borrow().last().cloned()) {
            Some(id) => {
                let meta = self.spans.lock().unwrap()[&id.into_u64()];
                Current::new(id, meta)
            }
            None => Current::none(),
        }
    }
}

/// The process-wide recorder (worker threads need a global subscriber, not a scoped one).
fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder: &'static Recorder = Box::leak(Box::default());
        tracing::subscriber::set_global_default(Forward(recorder))
            .expect("no other subscriber in this test binary");
        recorder
    })
}

/// Hands everything to the leaked recorder, so the tests can read it.
struct Forward(&'static Recorder);

impl Subscriber for Forward {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, a: &Attributes<'_>) -> Id {
        self.0.new_span(a)
    }
    fn record(&self, i: &Id, r: &Record<'_>) {
        self.0.record(i, r)
    }
    fn record_follows_from(&self, a: &Id, b: &Id) {
        self.0.record_follows_from(a, b)
    }
    fn event(&self, e: &Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, i: &Id) {
        self.0.enter(i)
    }
    fn exit(&self, i: &Id) {
        self.0.exit(i)
    }
    fn current_span(&self) -> Current {
        self.0.current_span()
    }
}

/// The events whose message is `message`.
fn seen(message: &str) -> Vec<Seen> {
    recorder()
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.message == message)
        .cloned()
        .collect()
}

#[test]
fn a_job_runs_inside_the_span_current_at_submit() {
    recorder();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("traced")
        .build()
        .unwrap();

    let request = tracing::info_span!("request", id = 7);
    let fut = request.in_scope(|| {
        pool.submit(|| {
            tracing::info!("job inside request");
            std::thread::current().name().unwrap().to_owned()
        })
    });
    let worker = fut.join().unwrap();
    assert!(worker.starts_with("traced_"), "{worker}");
    let events = seen("job inside request");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].span.as_deref(), Some("request"), "{events:?}");
    assert_eq!(events[0].thread.as_deref(), Some(worker.as_str()));

    // The span is the submitter's, not whatever the worker ran before.
    pool.submit(|| tracing::info!("job outside any span"))
        .join()
        .unwrap();
    let events = seen("job outside any span");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].span, None, "{events:?}");
}

#[test]
fn run_in_executor_and_submit_async_carry_the_span_too() {
    recorder();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .max_queued(2)
        .build()
        .unwrap();
    futures::executor::block_on(async {
        let handler = tracing::info_span!("handler");
        let bridged = handler.in_scope(|| {
            run_in_executor(Some(&pool), || tracing::info!("bridged job in handler"), ())
        });
        bridged.await.unwrap();

        // The async submit happens when the future is polled: the span current then (here
        // through `Instrument`, the idiom of async code) is the job's.
        let fut = pool
            .submit_async(|| tracing::info!("async submit in producer"))
            .instrument(tracing::info_span!("producer"))
            .await;
        fut.await.unwrap();
    });
    let events = seen("bridged job in handler");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].span.as_deref(), Some("handler"), "{events:?}");
    let events = seen("async submit in producer");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].span.as_deref(), Some("producer"), "{events:?}");
}

#[test]
fn the_pool_reports_threads_started_and_retired() {
    recorder();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("reported")
        .keep_alive(Some(Duration::from_millis(10)))
        .build()
        .unwrap();
    pool.submit(|| ()).join().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while pool.num_threads() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never retired"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let from_pool = |message: &str| -> Vec<Seen> {
        seen(message)
            .into_iter()
            .filter(|e| e.thread.as_deref() == Some("reported_0"))
            .collect()
    };
    let started = from_pool("poolbridge: worker thread started");
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].fields.get("slot").map(String::as_str), Some("0"));
    // The thread leaves its slot (`num_threads()` drops) before it reports: wait for the report.
    let mut retired = from_pool("poolbridge: worker thread retired");
    while retired.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        retired = from_pool("poolbridge: worker thread retired");
    }
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert_eq!(
        retired[0].fields.get("why").map(String::as_str),
        Some("idle for the keep-alive")
    );
}

#[test]
fn a_broken_pool_is_reported() {
    recorder();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(|| panic!("no database (traced)"))
        .build()
        .unwrap();
    let err = pool.submit(|| ()).join().unwrap_err();
    assert!(matches!(err, FutureError::BrokenPool(_)), "{err:?}");
    let broken: Vec<Seen> = seen("poolbridge: the pool is broken")
        .into_iter()
        .filter(|e| {
            e.fields
                .get("reason")
                .is_some_and(|r| r.contains("no database (traced)"))
        })
        .collect();
    assert_eq!(broken.len(), 1, "{broken:?}");
}
