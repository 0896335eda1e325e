//! The worker's end of a process job's events: a subscriber, installed in a worker process that
//! has none, that serializes each event logged while a job runs into a [`LogRecord`] and hands
//! it to the worker's sink (a `LOG` frame to the parent, which re-emits it: `relay.rs`).
//!
//! Rate-bounded: a token bucket of [`LOG_BURST`] events refilled at [`LOG_RATE`] per second,
//! per worker. An event beyond it is dropped before it is serialized (a counter, no
//! allocation), and the count is sent as [`LogRecord::Dropped`] before the next event that
//! passes and when the job ends, so the parent shows "N events dropped" where they were lost.
//! The trade-off: a job that logs more than 1,000 events per second for long keeps only about
//! 1,000 of them per second (and any burst of up to 1,000 whole), but it cannot flood the
//! socket its answer travels on, nor the parent's subscriber.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_core::subscriber::Interest;

use crate::trace::relay::{FieldValue, LogRecord, level_byte};
use crate::unwind::lock;

/// The events a job may log at once before the rate bound applies (the bucket's size).
pub(crate) const LOG_BURST: u32 = 1000;

/// The events per second a worker forwards once its burst is spent (the bucket's refill).
pub(crate) const LOG_RATE: u32 = 1000;

/// The longest text a field value keeps (a `str` or a `Debug` text), in bytes: a longer one is
/// cut at a character boundary and ends with `…`. The rate bound counts events; this bounds
/// their size, so that one event with a megabyte of `Debug` output cannot hold up the job's
/// answer on the socket either.
pub(crate) const MAX_VALUE_LEN: usize = 16 * 1024;

/// `text`, cut to [`MAX_VALUE_LEN`] bytes (and marked) if it is longer.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_VALUE_LEN {
        let mut end = MAX_VALUE_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Where serialized records go (the worker's `LOG` frame writer).
pub(crate) type Sink = fn(&LogRecord);

/// A job runs in this worker: events are forwarded.
static RUNNING: AtomicBool = AtomicBool::new(false);
/// Events dropped by the rate bound and not reported yet.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// The sink, set by [`install`].
static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// The token bucket.
struct Bucket {
    tokens: f64,
    at: Option<Instant>,
}

static BUCKET: Mutex<Bucket> = Mutex::new(Bucket {
    tokens: LOG_BURST as f64,
    at: None,
});

/// Takes one token; `false`: the event is over the bound.
fn take_token() -> bool {
    let mut bucket = lock(&BUCKET);
    let now = Instant::now();
    if let Some(at) = bucket.at {
        let refill = now.saturating_duration_since(at).as_secs_f64() * f64::from(LOG_RATE);
        bucket.tokens = (bucket.tokens + refill).min(f64::from(LOG_BURST));
    }
    bucket.at = Some(now);
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        true
    } else {
        false
    }
}

/// Installs the forwarding subscriber as this process's global default, if it has none yet
/// (a worker whose program set its own keeps it: its events are not forwarded). Returns whether
/// it was installed.
pub(crate) fn install(sink: Sink) -> bool {
    if tracing::dispatcher::has_been_set() {
        return false;
    }
    *lock(&SINK) = Some(sink);
    tracing::subscriber::set_global_default(Forward::default()).is_ok()
}

/// A job starts: its events are forwarded from now on.
pub(crate) fn begin_job() {
    // ORDERING: Relaxed: read by `enabled` on the job's own thread (or threads it starts
    // later, ordered by the spawn); a stray event around the edge is dropped by the sink.
    RUNNING.store(true, Ordering::Relaxed);
}

/// The job ended (before its answer is sent): reports the events it dropped, if any, and
/// stops forwarding.
pub(crate) fn end_job() {
    flush_dropped();
    // ORDERING: Relaxed: as in `begin_job`.
    RUNNING.store(false, Ordering::Relaxed);
}

fn flush_dropped() {
    // ORDERING: Relaxed: a counter; the swap itself is atomic.
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        send(&LogRecord::Dropped(dropped));
    }
}

fn send(record: &LogRecord) {
    let sink = *lock(&SINK);
    if let Some(sink) = sink {
        sink(record);
    }
}

/// A span the job opened: its name, and how many handles it has.
struct SpanEntry {
    name: &'static str,
    /// poolbridge's own span (`poolbridge.run`): not named in the records.
    ours: bool,
    refs: usize,
}

/// poolbridge's own spans (`poolbridge.run`, `poolbridge.job`).
fn is_ours(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target() == "poolbridge" && meta.name().starts_with("poolbridge.")
}

/// The forwarding subscriber.
#[derive(Default)]
struct Forward {
    spans: Mutex<HashMap<u64, SpanEntry>>,
    next: AtomicU64,
}

thread_local! {
    /// The spans this thread is inside, innermost last.
    static STACK: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Collects an event's fields.
#[derive(Default)]
struct Fields(Vec<(String, FieldValue)>);

impl Fields {
    fn push(&mut self, field: &Field, value: FieldValue) {
        self.0.push((field.name().to_owned(), value));
    }
}

impl Visit for Fields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, FieldValue::U64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, FieldValue::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, FieldValue::F64(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, FieldValue::Str(bounded(value.to_owned())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, FieldValue::Text(bounded(format!("{value:?}"))));
    }
}

impl Subscriber for Forward {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if is_ours(meta) {
            // poolbridge's own `poolbridge.run` span: never named in a record, not worth a
            // span entry per job.
            return Interest::never();
        }
        // Asked each time: only events of a running job are wanted.
        Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        // ORDERING: Relaxed: see `begin_job`.
        RUNNING.load(Ordering::Relaxed)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        // ORDERING: Relaxed: a unique number.
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let meta = attrs.metadata();
        let entry = SpanEntry {
            name: meta.name(),
            ours: is_ours(meta),
            refs: 1,
        };
        lock(&self.spans).insert(id, entry);
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if !take_token() {
            // ORDERING: Relaxed: a counter.
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        flush_dropped();
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans = STACK
            .try_with(|stack| {
                let names = lock(&self.spans);
                stack
                    .borrow()
                    .iter()
                    .filter_map(|id| names.get(id))
                    .filter(|entry| !entry.ours)
                    .map(|entry| entry.name.to_owned())
                    .collect()
            })
            .unwrap_or_default();
        send(&LogRecord::Event {
            level: level_byte(meta.level()),
            target: meta.target().to_owned(),
            fields: fields.0,
            spans,
        });
    }

    fn enter(&self, span: &Id) {
        let _ = STACK.try_with(|stack| stack.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        let _ = STACK.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            if let Some(at) = stack.iter().rposition(|&id| id == span.into_u64()) {
                stack.remove(at);
            }
        });
    }

    fn clone_span(&self, span: &Id) -> Id {
        if let Some(entry) = lock(&self.spans).get_mut(&span.into_u64()) {
            entry.refs += 1;
        }
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        let mut spans = lock(&self.spans);
        let id = span.into_u64();
        let Some(entry) = spans.get_mut(&id) else {
            return false;
        };
        entry.refs -= 1;
        if entry.refs == 0 {
            spans.remove(&id);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        assert_eq!(bounded("short".into()), "short");
        let long = "é".repeat(MAX_VALUE_LEN);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_VALUE_LEN + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }
}
