//! What the dashboard watches and remembers: one [`Source`] per executor (how to read its
//! metrics, its last reading, its history ring) and the [`State`] they share with the server and
//! the sampler. Writes the `/metrics.json` document. Uses `json.rs` only.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::PoolMetrics;
#[cfg(all(unix, feature = "nats"))]
use crate::remote::RemoteMetrics;

use super::json::Object;

/// The version of the `/metrics.json` layout; raised when a field changes meaning or goes away
/// (new fields do not raise it).
pub(crate) const FORMAT_VERSION: u64 = 1;

/// Which kind of executor a source is: the page picks its table's columns by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    ThreadPool,
    #[cfg(feature = "process")]
    ProcessPool,
    #[cfg(all(unix, feature = "nats"))]
    Remote,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::ThreadPool => "thread_pool",
            #[cfg(feature = "process")]
            Kind::ProcessPool => "process_pool",
            #[cfg(all(unix, feature = "nats"))]
            Kind::Remote => "remote",
        }
    }
}

/// One reading of an executor's metrics.
#[derive(Clone, Debug)]
pub(crate) enum Reading {
    // Boxed, both: a reading is moved around whole, and the two differ in size.
    Pool(Box<PoolMetrics>),
    #[cfg(all(unix, feature = "nats"))]
    Remote(Box<RemoteMetrics>),
}

/// Reads an executor's metrics now; `None` once the executor is gone (its last `Arc` dropped).
pub(crate) type ReadFn = Box<dyn Fn() -> Option<Reading> + Send + Sync>;

/// One point of a source's history: the counters and gauges the chart draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Point {
    /// Milliseconds since the dashboard started.
    t_ms: u64,
    completed: u64,
    failed: u64,
    cancelled: u64,
    /// Jobs waiting (remote: jobs pending, submitted and not ended).
    queued: u64,
    /// Jobs running (remote: the sum over the hosts that are not gone, as their statuses said;
    /// `None` before any host was heard of).
    running: Option<u64>,
    /// Run-time p50 and p99 in microseconds (`None` before a job was timed; remote: the time
    /// hosts held the jobs, `RemoteMetrics::run_time`).
    run_p50_us: Option<u64>,
    run_p99_us: Option<u64>,
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `"key":{"p50_us":..,"p90_us":..,"p99_us":..,"max_us":..,"samples":..}`, or `null`.
fn write_summary(o: &mut Object<'_>, key: &str, s: Option<crate::LatencySummary>) {
    match s {
        None => {
            o.null(key);
        }
        Some(s) => {
            let mut l = Object::new(o.key(key));
            l.num("p50_us", micros(s.p50))
                .num("p90_us", micros(s.p90))
                .num("p99_us", micros(s.p99))
                .num("max_us", micros(s.max))
                .num("samples", s.samples);
            l.end();
        }
    }
}

impl Reading {
    /// Failed jobs: panicked, died with their worker, killed at their time limit (remote: the
    /// client's `failed`).
    fn failed(&self) -> u64 {
        match self {
            Reading::Pool(m) => m.panicked + m.worker_died + m.timed_out + m.deadline_exceeded,
            #[cfg(all(unix, feature = "nats"))]
            Reading::Remote(m) => m.failed,
        }
    }

    fn point(&self, t_ms: u64) -> Point {
        match self {
            Reading::Pool(m) => Point {
                t_ms,
                completed: m.completed,
                failed: self.failed(),
                cancelled: m.cancelled,
                queued: m.queued as u64,
                running: Some(m.running as u64),
                run_p50_us: m.run_time.map(|s| micros(s.p50)),
                run_p99_us: m.run_time.map(|s| micros(s.p99)),
            },
            #[cfg(all(unix, feature = "nats"))]
            Reading::Remote(m) => Point {
                t_ms,
                completed: m.completed,
                failed: m.failed,
                cancelled: m.cancelled,
                queued: m.pending as u64,
                running: (!m.hosts.is_empty()).then(|| {
                    m.hosts
                        .iter()
                        .filter(|h| h.state != crate::remote::HostState::Gone)
                        .map(|h| h.running as u64)
                        .sum()
                }),
                run_p50_us: m.run_time.map(|s| micros(s.p50)),
                run_p99_us: m.run_time.map(|s| micros(s.p99)),
            },
        }
    }

    /// The `current` object: every field of the metrics, by its Rust name, and `failed`.
    fn write_current(&self, out: &mut String) {
        let mut o = Object::new(out);
        match self {
            Reading::Pool(m) => {
                o.num("threads", m.threads as u64)
                    .num("idle", m.idle as u64)
                    .num("queued", m.queued as u64)
                    .num("running", m.running as u64)
                    .num("completed", m.completed)
                    .num("failed", self.failed())
                    .num("cancelled", m.cancelled)
                    .num("panicked", m.panicked)
                    .num("worker_died", m.worker_died)
                    .num("timed_out", m.timed_out)
                    .num("deadline_exceeded", m.deadline_exceeded)
                    .num("stopped", m.stopped)
                    .num("killed", m.killed)
                    .num("stolen", m.stolen)
                    .num("spawned", m.spawned)
                    .num("retired", m.retired)
                    .num("waiting_submits", m.waiting_submits as u64);
            }
            #[cfg(all(unix, feature = "nats"))]
            Reading::Remote(m) => {
                o.num("submitted", m.submitted)
                    .num("pending", m.pending as u64)
                    .num("completed", m.completed)
                    .num("failed", m.failed)
                    .num("cancelled", m.cancelled)
                    .num("stopped", m.stopped)
                    .num("deadline_exceeded", m.deadline_exceeded)
                    .num("redelivered", m.redelivered)
                    .num("republished", m.republished);
            }
        }
        o.end();
    }
}

/// What a source remembers between samples.
#[derive(Debug, Default)]
struct Memory {
    /// The last reading (kept when the executor is gone: the page shows its final numbers).
    last: Option<Reading>,
    history: VecDeque<Point>,
}

/// One watched executor.
pub(crate) struct Source {
    pub(crate) name: String,
    /// `name` made safe for element ids: lowercase ASCII letters, digits and `-`.
    pub(crate) id: String,
    pub(crate) kind: Kind,
    read: ReadFn,
    memory: Mutex<Memory>,
}

impl Source {
    pub(crate) fn new(name: String, kind: Kind, read: ReadFn) -> Source {
        Source {
            id: element_id(&name),
            name,
            kind,
            read,
            memory: Mutex::new(Memory::default()),
        }
    }

    /// Reads now, and remembers the reading (the last one stays when the executor is gone).
    fn read(&self) -> (Option<Reading>, std::sync::MutexGuard<'_, Memory>) {
        let reading = (self.read)();
        let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = &reading {
            memory.last = Some(r.clone());
        }
        (reading, memory)
    }
}

/// `name` as an element id: ASCII letters lowercased, digits kept, anything else `-`.
pub(crate) fn element_id(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Everything the server and the sampler share.
pub(crate) struct State {
    pub(crate) started: Instant,
    pub(crate) sample_every: Duration,
    /// How many points each history keeps.
    pub(crate) capacity: usize,
    pub(crate) sources: Vec<Source>,
}

impl State {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Reads every source and appends a point to its history (the sampler's tick).
    pub(crate) fn sample(&self) {
        for source in &self.sources {
            let (reading, mut memory) = source.read();
            if let Some(reading) = reading {
                let point = reading.point(self.now_ms());
                if memory.history.len() >= self.capacity {
                    memory.history.pop_front();
                }
                memory.history.push_back(point);
            }
        }
    }

    /// The `/metrics.json` document: every source's metrics read now, and its history.
    pub(crate) fn snapshot_json(&self) -> String {
        let mut out = String::with_capacity(1024 + self.sources.len() * self.capacity * 40);
        let mut doc = Object::new(&mut out);
        doc.num("version", FORMAT_VERSION)
            .num("now_ms", self.now_ms())
            .num(
                "sample_every_ms",
                u64::try_from(self.sample_every.as_millis()).unwrap_or(u64::MAX),
            )
            .num("history_capacity", self.capacity as u64);
        let list = doc.key("executors");
        list.push('[');
        for (i, source) in self.sources.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            write_source(list, source);
        }
        list.push(']');
        doc.end();
        out
    }
}

fn write_source(out: &mut String, source: &Source) {
    let (reading, memory) = source.read();
    let mut o = Object::new(out);
    o.str("id", &source.id)
        .str("name", &source.name)
        .str("kind", source.kind.as_str())
        .bool("alive", reading.is_some());
    match reading.as_ref().or(memory.last.as_ref()) {
        Some(r) => r.write_current(o.key("current")),
        None => {
            o.null("current");
        }
    }
    // Per-job progress (`PoolMetrics::progress`): the running jobs that reported some; null for
    // the remote executor.
    match reading.as_ref().or(memory.last.as_ref()) {
        Some(Reading::Pool(m)) => {
            let list = o.key("progress");
            list.push('[');
            for (i, &(done, total)) in m.progress.iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                let mut p = Object::new(list);
                p.num("done", done).num("total", total);
                p.end();
            }
            list.push(']');
        }
        _ => {
            o.null("progress");
        }
    }
    // Latency percentiles (`PoolMetrics::queue_wait`, `run_time`; remote: over every host,
    // `RemoteMetrics::queue_wait`, `run_time`): each null before a job was timed.
    match reading.as_ref().or(memory.last.as_ref()) {
        Some(Reading::Pool(m)) => {
            let mut l = Object::new(o.key("latency"));
            write_summary(&mut l, "queue_wait", m.queue_wait);
            write_summary(&mut l, "run_time", m.run_time);
            l.end();
        }
        #[cfg(all(unix, feature = "nats"))]
        Some(Reading::Remote(m)) => {
            let mut l = Object::new(o.key("latency"));
            write_summary(&mut l, "queue_wait", m.queue_wait);
            write_summary(&mut l, "run_time", m.run_time);
            l.end();
        }
        None => {
            o.null("latency");
        }
    }
    #[cfg(all(unix, feature = "nats"))]
    if source.kind == Kind::Remote {
        match reading.as_ref().or(memory.last.as_ref()) {
            Some(Reading::Remote(m)) => write_cluster(&mut o, m),
            _ => {
                o.key("hosts").push_str("[]");
                o.null("stream");
            }
        }
    }
    let mut history = Object::new(o.key("history"));
    let points = &memory.history;
    history.nums("t_ms", points.iter().map(|p| Some(p.t_ms)));
    history.nums("completed", points.iter().map(|p| Some(p.completed)));
    history.nums("failed", points.iter().map(|p| Some(p.failed)));
    history.nums("cancelled", points.iter().map(|p| Some(p.cancelled)));
    history.nums("queued", points.iter().map(|p| Some(p.queued)));
    history.nums("running", points.iter().map(|p| p.running));
    history.nums("run_p50_us", points.iter().map(|p| p.run_p50_us));
    history.nums("run_p99_us", points.iter().map(|p| p.run_p99_us));
    history.end();
    o.end();
}

/// A remote executor's `hosts` (one object per host, by name) and `stream` (its depth, or
/// `null` until the client read it).
#[cfg(all(unix, feature = "nats"))]
fn write_cluster(o: &mut Object<'_>, m: &RemoteMetrics) {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let list = o.key("hosts");
    list.push('[');
    for (i, h) in m.hosts.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        let mut row = Object::new(list);
        row.str("name", &h.name)
            .str("state", h.state.as_str())
            .num("pid", u64::from(h.pid))
            .num("slots", h.slots as u64)
            .num("workers", h.workers as u64)
            .num("running", h.running as u64)
            .num("queued", h.queued as u64)
            .num("completed", h.ok)
            .num("failed", h.failed)
            .num("stopped", h.stopped)
            .num("redelivered", h.redelivered)
            .num("uptime_ms", millis(h.uptime))
            .num("age_ms", millis(h.age))
            .num("interval_ms", millis(h.interval));
        write_summary(&mut row, "queue_wait", h.queue_wait);
        write_summary(&mut row, "run_time", h.run_time);
        row.end();
    }
    list.push(']');
    match m.stream {
        Some(d) => {
            let mut s = Object::new(o.key("stream"));
            s.num("undelivered", d.undelivered)
                .num("unacknowledged", d.unacknowledged)
                .num("age_ms", millis(d.age));
            s.end();
        }
        None => {
            o.null("stream");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn state(read: ReadFn, capacity: usize) -> State {
        State {
            started: Instant::now(),
            sample_every: Duration::from_millis(10),
            capacity,
            sources: vec![Source::new("My Pool!".into(), Kind::ThreadPool, read)],
        }
    }

    #[test]
    fn ids_are_safe() {
        assert_eq!(element_id("My Pool!"), "my-pool-");
        assert_eq!(element_id("db-2"), "db-2");
        assert_eq!(element_id("\"><img>"), "---img-");
    }

    #[test]
    fn history_is_a_ring_and_a_gone_source_keeps_its_last_numbers() {
        let n = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&n);
        let st = state(
            Box::new(move || {
                let v = counter.load(Ordering::SeqCst);
                (v < 100).then(|| {
                    Reading::Pool(Box::new(PoolMetrics {
                        completed: v,
                        panicked: 1,
                        timed_out: 2,
                        ..PoolMetrics::default()
                    }))
                })
            }),
            3,
        );
        for i in 1..=5 {
            n.store(i, Ordering::SeqCst);
            st.sample();
        }
        let doc = st.snapshot_json();
        assert!(
            doc.contains(r#""id":"my-pool-","name":"My Pool!","kind":"thread_pool","alive":true"#),
            "{doc}"
        );
        assert!(doc.contains(r#""completed":[3,4,5]"#), "{doc}");
        assert!(doc.contains(r#""failed":3"#), "{doc}");
        n.store(100, Ordering::SeqCst);
        st.sample();
        let doc = st.snapshot_json();
        assert!(
            doc.contains(r#""alive":false,"current":{"threads":0"#),
            "{doc}"
        );
        assert!(doc.contains(r#""completed":5,"#), "{doc}");
        assert!(doc.contains(r#""completed":[3,4,5]"#), "{doc}");
    }

    #[cfg(all(unix, feature = "nats"))]
    #[test]
    fn a_remote_source_has_places_for_hosts_and_the_stream() {
        let st = State {
            started: Instant::now(),
            sample_every: Duration::from_millis(10),
            capacity: 4,
            sources: vec![Source::new(
                "cluster".into(),
                Kind::Remote,
                Box::new(|| {
                    Some(Reading::Remote(Box::new(RemoteMetrics {
                        submitted: 5,
                        failed: 1,
                        pending: 2,
                        ..RemoteMetrics::default()
                    })))
                }),
            )],
        };
        st.sample();
        let doc = st.snapshot_json();
        assert!(
            doc.contains(r#""kind":"remote","alive":true,"current":{"submitted":5,"pending":2,"#),
            "{doc}"
        );
        assert!(doc.contains(r#""hosts":[],"stream":null"#), "{doc}");
        assert!(doc.contains(r#""queued":[2],"running":[null]"#), "{doc}");
    }

    #[cfg(all(unix, feature = "nats"))]
    #[test]
    fn a_remote_source_lists_its_hosts_and_the_streams_depth() {
        use crate::remote::{HostState, HostStatus, StreamDepth};
        let ms = Duration::from_millis;
        let summary = crate::LatencySummary {
            p50: ms(2),
            p90: ms(3),
            p99: ms(4),
            max: ms(5),
            samples: 9,
        };
        let host = move |name: &str, state, running| HostStatus {
            name: name.into(),
            pid: 42,
            slots: 4,
            workers: 2,
            running,
            ok: 7,
            failed: 1,
            run_time: Some(summary),
            uptime: ms(1500),
            age: ms(300),
            interval: ms(1000),
            state,
            ..HostStatus::default()
        };
        let st = State {
            started: Instant::now(),
            sample_every: Duration::from_millis(10),
            capacity: 4,
            sources: vec![Source::new(
                "cluster".into(),
                Kind::Remote,
                Box::new(move || {
                    Some(Reading::Remote(Box::new(RemoteMetrics {
                        hosts: vec![
                            host("a<1>", HostState::Alive, 2),
                            host("b", HostState::Gone, 5),
                        ],
                        stream: Some(StreamDepth {
                            undelivered: 12,
                            unacknowledged: 3,
                            age: ms(20),
                        }),
                        run_time: Some(summary),
                        ..RemoteMetrics::default()
                    })))
                }),
            )],
        };
        st.sample();
        let doc = st.snapshot_json();
        assert!(
            doc.contains(
                r#""hosts":[{"name":"a\u003c1>","state":"alive","pid":42,"slots":4,"workers":2,"running":2,"queued":0,"completed":7,"failed":1,"stopped":0,"redelivered":0,"uptime_ms":1500,"age_ms":300,"interval_ms":1000,"queue_wait":null,"run_time":{"p50_us":2000,"#
            ),
            "{doc}"
        );
        assert!(doc.contains(r#""name":"b","state":"gone""#), "{doc}");
        assert!(
            doc.contains(r#""stream":{"undelivered":12,"unacknowledged":3,"age_ms":20}"#),
            "{doc}"
        );
        assert!(
            doc.contains(r#""latency":{"queue_wait":null,"run_time":{"p50_us":2000,"#),
            "{doc}"
        );
        // The running count sums the hosts that are not gone; run p50/p99 go on the chart.
        assert!(
            doc.contains(r#""running":[2],"run_p50_us":[2000],"run_p99_us":[4000]"#),
            "{doc}"
        );
    }
}
