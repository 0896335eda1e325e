//! A recording `tracing` subscriber for the tests of the `tracing` feature across process and
//! remote boundaries: every span (name, parent, fields) and every event (level, target, parent
//! span, fields with their types).

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Level, Metadata, Subscriber};
use tracing_core::span::Current;

/// A field's value, with the type it was recorded as.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    I64(i64),
    U64(u64),
    Bool(bool),
    F64(f64),
    Str(String),
    Debug(String),
}

impl Val {
    /// The value as text (a `Debug` value's text, a string's contents).
    pub fn text(&self) -> String {
        match self {
            Val::I64(v) => v.to_string(),
            Val::U64(v) => v.to_string(),
            Val::Bool(v) => v.to_string(),
            Val::F64(v) => v.to_string(),
            Val::Str(v) | Val::Debug(v) => v.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SpanRec {
    pub id: u64,
    pub name: &'static str,
    pub target: &'static str,
    pub parent: Option<u64>,
    pub fields: HashMap<String, Val>,
    meta: &'static Metadata<'static>,
}

impl SpanRec {
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields.get(name).map(Val::text)
    }
}

#[derive(Clone, Debug)]
pub struct EventRec {
    pub level: Level,
    pub target: String,
    pub parent: Option<u64>,
    pub fields: HashMap<String, Val>,
}

impl EventRec {
    pub fn message(&self) -> String {
        self.fields
            .get("message")
            .map(Val::text)
            .unwrap_or_default()
    }
}

#[derive(Default)]
pub struct Recorder {
    next_id: AtomicU64,
    pub spans: Mutex<HashMap<u64, SpanRec>>,
    pub events: Mutex<Vec<EventRec>>,
}

thread_local! {
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut HashMap<String, Val>);

impl Visit for Fields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Val::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Val::U64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Val::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Val::F64(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Val::Str(value.to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .insert(field.name().to_owned(), Val::Debug(format!("{value:?}")));
    }
}

fn current() -> Option<u64> {
    ENTERED.with(|e| e.borrow().last().copied())
}

impl Recorder {
    /// The spans named `name`.
    pub fn spans_named(&self, name: &str) -> Vec<SpanRec> {
        let mut found: Vec<SpanRec> = self
            .spans
            .lock()
            .unwrap()
            .values()
            .filter(|s| s.name == name)
            .cloned()
            .collect();
        found.sort_by_key(|s| s.id);
        found
    }

    pub fn span(&self, id: u64) -> Option<SpanRec> {
        self.spans.lock().unwrap().get(&id).cloned()
    }

    pub fn events(&self) -> Vec<EventRec> {
        self.events.lock().unwrap().clone()
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let parent = match attrs.parent() {
            Some(id) => Some(id.into_u64()),
            None if attrs.is_contextual() => current(),
            None => None,
        };
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let meta = attrs.metadata();
        self.spans.lock().unwrap().insert(
            id,
            SpanRec {
                id,
                name: meta.name(),
                target: meta.target(),
                parent,
                fields,
                meta,
            },
        );
        Id::from_u64(id)
    }

    fn record(&self, id: &Id, values: &Record<'_>) {
        if let Some(span) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let parent = match event.parent() {
            Some(id) => Some(id.into_u64()),
            None if event.is_contextual() => current(),
            None => None,
        };
        let meta = event.metadata();
        self.events.lock().unwrap().push(EventRec {
            level: *meta.level(),
            target: meta.target().to_owned(),
            parent,
            fields,
        });
    }

    fn enter(&self, id: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(id.into_u64()));
    }

    fn exit(&self, id: &Id) {
        ENTERED.with(|e| {
            let mut e = e.borrow_mut();
            if let Some(pos) = e.iter().rposition(|x| *x == id.into_u64()) {
                e.remove(pos);
            }
        });
    }

    fn current_span(&self) -> Current {
        let Some(id) = current() else {
            return Current::none();
        };
        match self.spans.lock().unwrap().get(&id) {
            Some(span) => Current::new(Id::from_u64(id), span.meta),
            None => Current::none(),
        }
    }
}
