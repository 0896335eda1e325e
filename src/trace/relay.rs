//! The parent's end of a process job's events: a [`LogRecord`] (one event the job logged in its
//! worker, as `forward.rs` serialized it) re-emitted in the parent's subscriber, under the job's
//! `poolbridge.job` span, with the same level and target.
//!
//! `tracing` events need `'static` metadata, and a subscriber filters by it (target, level,
//! field names). To keep an arbitrary target exactly, each distinct (level, target, field
//! names) seen gets one leaked callsite (its metadata, target and names are leaked too): bounded
//! by the child program's call sites, and capped at [`MAX_CALLSITES`]. Beyond the cap an event
//! is emitted from a fixed callsite of target `poolbridge::relay` at its level, with the
//! original target in a `log.target` field and the fields as one `fields` text (the tracing-log
//! convention).
//!
//! What is lost on the way: the event's file, line and module path (the relayed metadata has
//! none), the original callsite's identity (a per-callsite filter in the parent sees the relayed
//! one), the spans open inside the job as spans (only their names arrive, in a `job.spans`
//! field, outermost first), and the types of values other than i64, u64, bool, f64 and str:
//! i128, u128, errors and `Debug` values arrive as their text (`Debug`, or `Display` for an
//! error: its source chain is not walked), and a text longer than `forward::MAX_VALUE_LEN` is
//! cut.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tracing::field::{FieldSet, Value, display};
use tracing::{Level, Metadata, Span};
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;
use tracing_core::{Dispatch, Event};

use crate::unwind::lock;

/// One thing a running job's worker tells its parent about the job's events.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum LogRecord {
    /// An event the job logged.
    Event {
        /// 0 (TRACE) to 4 (ERROR).
        level: u8,
        target: String,
        /// The event's fields in order, the `message` included (as a `Debug` text).
        fields: Vec<(String, FieldValue)>,
        /// The names of the spans open inside the job where it was logged, outermost first.
        spans: Vec<String>,
    },
    /// This many events of the job were dropped by the worker's rate bound since the last
    /// record.
    Dropped(u64),
}

/// A field's value as it crosses the process boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum FieldValue {
    I64(i64),
    U64(u64),
    Bool(bool),
    F64(f64),
    Str(String),
    /// Any other value: its `Debug` text (for an error, its `Display` text).
    Text(String),
}

/// Level to and from its byte.
pub(crate) fn level_byte(level: &Level) -> u8 {
    match *level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        Level::WARN => 3,
        _ => 4,
    }
}

fn level_of(byte: u8) -> Level {
    match byte {
        0 => Level::TRACE,
        1 => Level::DEBUG,
        2 => Level::INFO,
        3 => Level::WARN,
        _ => Level::ERROR,
    }
}

/// The most distinct (level, target, field names) callsites the parent leaks for relayed
/// events. Each costs a few hundred bytes, once, for the life of the process; a child program
/// has a bounded number of call sites, so the cap only matters for one whose targets or field
/// names are made at run time. Beyond it, events keep their level and lose their exact target
/// (see the module's note).
pub(crate) const MAX_CALLSITES: usize = 1024;

/// The field that carries the names of the spans open inside the job.
const SPANS_FIELD: &str = "job.spans";

/// A callsite made at run time for one (level, target, field names).
struct Relayed {
    meta: OnceLock<Metadata<'static>>,
}

impl Callsite for Relayed {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        self.meta
            .get()
            .expect("set before the callsite is registered")
    }
}

type Key = (u8, String, Vec<String>);

fn callsites() -> &'static Mutex<HashMap<Key, &'static Relayed>> {
    static CALLSITES: OnceLock<Mutex<HashMap<Key, &'static Relayed>>> = OnceLock::new();
    CALLSITES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

/// The callsite for this key, made (and leaked) the first time; `None` past [`MAX_CALLSITES`].
fn callsite(level: u8, target: &str, names: &[&str]) -> Option<&'static Relayed> {
    let key: Key = (
        level,
        target.to_owned(),
        names.iter().map(|n| (*n).to_owned()).collect(),
    );
    let mut map = lock(callsites());
    if let Some(found) = map.get(&key) {
        return Some(found);
    }
    if map.len() >= MAX_CALLSITES {
        return None;
    }
    let names: &'static [&'static str] = Box::leak(
        names
            .iter()
            .map(|n| leak(n))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let relayed: &'static Relayed = Box::leak(Box::new(Relayed {
        meta: OnceLock::new(),
    }));
    let meta = Metadata::new(
        "poolbridge relayed event",
        leak(target),
        level_of(level),
        None,
        None,
        None,
        FieldSet::new(names, Identifier(relayed)),
        Kind::EVENT,
    );
    let _ = relayed.meta.set(meta);
    tracing_core::callsite::register(relayed);
    map.insert(key, relayed);
    Some(relayed)
}

/// A value borrowed from a record, in a form `tracing` records.
enum Held<'a> {
    I64(i64),
    U64(u64),
    Bool(bool),
    F64(f64),
    Str(&'a str),
    Text(tracing::field::DisplayValue<&'a str>),
}

impl<'a> Held<'a> {
    fn of(value: &'a FieldValue) -> Held<'a> {
        match value {
            FieldValue::I64(v) => Held::I64(*v),
            FieldValue::U64(v) => Held::U64(*v),
            FieldValue::Bool(v) => Held::Bool(*v),
            FieldValue::F64(v) => Held::F64(*v),
            FieldValue::Str(v) => Held::Str(v),
            FieldValue::Text(v) => Held::Text(display(v.as_str())),
        }
    }

    fn value(&self) -> &dyn Value {
        match self {
            Held::I64(v) => v,
            Held::U64(v) => v,
            Held::Bool(v) => v,
            Held::F64(v) => v,
            Held::Str(v) => v,
            Held::Text(v) => v,
        }
    }
}

/// Runs `f` with the dispatcher of `span` and its id (the subscriber it was made in), or with
/// this thread's default dispatcher and no parent if the span is disabled.
fn with_dispatch(span: &Span, f: impl FnOnce(&Dispatch, Option<&tracing::Id>)) {
    let mut f = Some(f);
    span.with_subscriber(|(id, dispatch)| {
        if let Some(f) = f.take() {
            f(dispatch, Some(id));
        }
    });
    if f.is_some() {
        tracing::dispatcher::get_default(|dispatch| {
            if let Some(f) = f.take() {
                f(dispatch, None);
            }
        });
    }
}

/// Re-emits `record`, logged by the job whose parent-side span is `span`.
pub(crate) fn emit(span: &Span, record: &LogRecord) {
    match record {
        LogRecord::Dropped(n) => {
            tracing::warn!(
                target: "poolbridge",
                parent: span,
                dropped = n,
                "poolbridge: {n} events of this process job were dropped (over the worker's \
                 rate bound)"
            );
        }
        LogRecord::Event {
            level,
            target,
            fields,
            spans,
        } => emit_event(span, *level, target, fields, spans),
    }
}

fn emit_event(
    span: &Span,
    level: u8,
    target: &str,
    fields: &[(String, FieldValue)],
    spans: &[String],
) {
    let joined = spans.join(" > ");
    let mut names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
    let mut held: Vec<Held<'_>> = fields.iter().map(|(_, v)| Held::of(v)).collect();
    if !spans.is_empty() {
        names.push(SPANS_FIELD);
        held.push(Held::Str(&joined));
    }
    let Some(site) = callsite(level, target, &names) else {
        emit_fallback(span, level, target, fields, &joined);
        return;
    };
    let meta: &'static Metadata<'static> = site.meta.get().expect("set at creation");
    let values: Vec<Option<&dyn Value>> = held.iter().map(|h| Some(h.value())).collect();
    let set = meta.fields().value_set_all(&values);
    with_dispatch(span, |dispatch, parent| {
        if !dispatch.enabled(meta) {
            return;
        }
        match parent {
            Some(id) => dispatch.event(&Event::new_child_of(id.clone(), meta, &set)),
            None => dispatch.event(&Event::new(meta, &set)),
        }
    });
}

/// Past [`MAX_CALLSITES`]: a fixed callsite per level, the target and fields as text.
fn emit_fallback(
    span: &Span,
    level: u8,
    target: &str,
    fields: &[(String, FieldValue)],
    spans: &str,
) {
    let mut text = String::new();
    let mut message = String::new();
    for (name, value) in fields {
        let value = match value {
            FieldValue::I64(v) => v.to_string(),
            FieldValue::U64(v) => v.to_string(),
            FieldValue::Bool(v) => v.to_string(),
            FieldValue::F64(v) => v.to_string(),
            FieldValue::Str(v) | FieldValue::Text(v) => v.clone(),
        };
        if name == "message" {
            message = value;
        } else {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(name);
            text.push('=');
            text.push_str(&value);
        }
    }
    macro_rules! relay {
        ($level:expr) => {
            tracing::event!(
                target: "poolbridge::relay",
                parent: span,
                $level,
                log.target = target,
                fields = %text,
                job.spans = spans,
                "{message}"
            )
        };
    }
    match level_of(level) {
        Level::TRACE => relay!(Level::TRACE),
        Level::DEBUG => relay!(Level::DEBUG),
        Level::INFO => relay!(Level::INFO),
        Level::WARN => relay!(Level::WARN),
        _ => relay!(Level::ERROR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tracing::span::{Attributes, Id, Record};

    /// Records each event's target, level and `log.target` field.
    #[derive(Default)]
    struct Capture(Mutex<Vec<(String, Level, Option<String>)>>);

    struct LogTarget(Option<String>);

    impl tracing::field::Visit for LogTarget {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "log.target" {
                self.0 = Some(format!("{value:?}"));
            }
        }
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            if field.name() == "log.target" {
                self.0 = Some(value.to_owned());
            }
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut target = LogTarget(None);
            event.record(&mut target);
            let meta = event.metadata();
            lock(&self.0).push((meta.target().to_owned(), *meta.level(), target.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn record(level: u8, target: &str) -> LogRecord {
        LogRecord::Event {
            level,
            target: target.to_owned(),
            fields: vec![("message".into(), FieldValue::Text("hi".into()))],
            spans: Vec::new(),
        }
    }

    #[test]
    fn targets_are_kept_up_to_the_cap_then_named_in_a_field() {
        let capture = Arc::new(Capture::default());
        let dispatch = Dispatch::new(Arc::clone(&capture));
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..=MAX_CALLSITES {
                emit(&Span::none(), &record(3, &format!("relay_test::t{i}")));
            }
            // Known callsites are reused past the cap.
            emit(&Span::none(), &record(3, "relay_test::t0"));
        });
        let seen = lock(&capture.0).clone();
        assert_eq!(seen.len(), MAX_CALLSITES + 2);
        assert_eq!(seen[0], ("relay_test::t0".into(), Level::WARN, None));
        let last_kept = MAX_CALLSITES - 1;
        assert_eq!(seen[last_kept].0, format!("relay_test::t{last_kept}"));
        assert_eq!(
            seen[MAX_CALLSITES],
            (
                "poolbridge::relay".into(),
                Level::WARN,
                Some(format!("relay_test::t{MAX_CALLSITES}"))
            )
        );
        assert_eq!(seen[MAX_CALLSITES + 1].0, "relay_test::t0");
    }
}
