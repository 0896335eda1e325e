//! The client side of a `RemoteExecutor`: the pending jobs, the NATS runtime thread, and how an
//! answer becomes the outcome of an ordinary `PoolFuture`.
//!
//! Threads: one runtime thread drives the async-nats client (publishing jobs, awaiting their
//! acknowledgements, reading answers) and runs no user code; completer threads decode outcomes
//! and run done callbacks (`completer.rs`); one watcher thread turns a `cancel()` into an entry
//! of the hosts' cancelled bucket. Submitting threads encode arguments (user `Serialize` code)
//! and queue a command; they never wait for the network.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use async_nats::jetstream::object_store::ObjectStore;
use async_nats::jetstream::{self, context::PublishAckFuture};
use async_nats::{HeaderMap, Message};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::{BrokenReason, BuildError, FutureError, PanicError};
use crate::future::{PoolFuture, Promise, RunHooks, StopListener};
use crate::pool::LatencySummary;
use crate::pool::latency::Latencies;
use crate::process::Job;
use crate::remote::completer::Completer;
use crate::remote::connect::{self, Connection, Topology, futures_next};
use crate::remote::defaults::DEFAULT_STATUS_INTERVAL;
use crate::remote::report::{HostState, HostStatus, JobHost, RemoteMetrics, StreamDepth};
use crate::remote::wire::{self, Answer, Exit, HostStatusBody, JobHeaders, Status};
use crate::seam::call::{Via, encode_call};
use crate::seam::completion::{Completion, Typed};
use crate::seam::job::registry;
use crate::seam::lifecycle::Lifecycle;
use crate::signal::Signal;
use crate::unwind;
use crate::unwind::lock;

/// The signal key that stops the cancel watcher (job keys are sequence numbers from 1).
const STOP_WATCHER: usize = usize::MAX;

/// Room kept for the headers of a job or an answer when comparing its size with the server's
/// `max_payload` (the headers are a few hundred bytes).
pub(crate) const HEADERS_ALLOWANCE: usize = 1024;

/// Longest pause between two attempts to store a job the server did not acknowledge.
const MAX_PUBLISH_BACKOFF: Duration = Duration::from_secs(1);

/// What the builder fixed.
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) topology: Topology,
    pub(crate) max_deliver: u32,
    pub(crate) job_timeout: Option<Duration>,
    pub(crate) publish_timeout: Duration,
    /// How long a stop request waits for its host's confirmation
    /// (`RemoteBuilder::stop_patience`).
    pub(crate) stop_patience: Duration,
    /// Keep answers in the answers bucket this long (`RemoteBuilder::keep_answers`).
    pub(crate) keep_answers: Option<Duration>,
    /// Arguments and outputs over `max_payload`, up to this size, go through the objects
    /// bucket (`RemoteBuilder::large_payloads`).
    pub(crate) large_payloads: Option<usize>,
}

/// A future's identity in the table of hosts: its address, and whether a handle to it is still
/// alive. The closure holds a weak reference, which keeps the address from being reused while
/// the entry exists.
#[derive(Clone)]
struct Tracker {
    addr: usize,
    alive: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl Tracker {
    fn of(done: &dyn Completion) -> Tracker {
        let (addr, alive) = done.identity();
        Tracker { addr, alive }
    }
}

/// Something known about each future that a user may still ask about, by future address:
/// which host started or answered it
/// ([`RemoteExecutor::job_host`](crate::RemoteExecutor::job_host)), its job id
/// ([`RemoteExecutor::job_id`](crate::RemoteExecutor::job_id)). Entries of futures nobody holds
/// any more are pruned as the table grows.
struct FutureTable<V> {
    entries: HashMap<usize, (Tracker, V)>,
    /// Prune when `entries` grows past this.
    prune_at: usize,
}

impl<V> Default for FutureTable<V> {
    fn default() -> Self {
        FutureTable {
            entries: HashMap::new(),
            prune_at: 0,
        }
    }
}

/// The least `prune_at`: pruning scans the table, so it waits for this many entries.
const HOST_TABLE_PRUNE_MIN: usize = 1024;

impl<V> FutureTable<V> {
    fn record(&mut self, tracker: &Tracker, value: V) {
        if self.entries.len() >= self.prune_at {
            self.entries.retain(|_, (t, _)| (t.alive)());
            self.prune_at = (2 * self.entries.len()).max(HOST_TABLE_PRUNE_MIN);
        }
        self.entries.insert(tracker.addr, (tracker.clone(), value));
    }
}

/// Passes a `request_cancel` of a running remote job to the cancel watcher, with the job's key
/// (called on the requesting thread, outside the future's locks).
struct StopToWatcher {
    signal: Arc<Signal>,
    key: usize,
}

impl StopListener for StopToWatcher {
    fn stop_requested(&self, _job: usize) {
        self.signal.notify(self.key);
    }
}

/// A job sent and not answered yet.
struct Pending {
    tracker: Tracker,
    done: Box<dyn Completion>,
    name: &'static str,
    /// `(host, pid)` of every host that took it, in order.
    hosts: Vec<(String, u32)>,
    /// The job id of a future made by `attach` (a job of another client).
    attached: Option<String>,
    /// Counted in `redelivered` already (a job is counted once, however often it moves).
    moved: bool,
    /// A stop of the running job was sent to its host: the future resolves `Cancelled` at the
    /// host's answer, or at this instant (`stop_patience`) if none comes.
    stopping: Option<Instant>,
    /// When it was submitted (`RemoteMetrics::queue_wait`); `None` for an attached job.
    submitted: Option<Instant>,
}

/// A host whose last status is this old (silent, or gone) leaves `RemoteMetrics::hosts`.
///
/// The trade-off: it keeps the list of a cluster whose hosts come and go bounded (a host named
/// by default, `{hostname}-{pid}`, has a new name at each start, and a churning cluster would
/// otherwise pile up gone hosts without end), and a dashboard's hosts table readable; the cost
/// is that a host silent for longer (frozen, cut off) disappears from the list instead of
/// showing as silent. 10 minutes is long enough for a person to notice it there first.
const FORGET_HOSTS_AFTER: Duration = Duration::from_secs(600);

/// What the client knows of the cluster once it follows it (`RemoteMetrics::hosts`, `stream`).
#[derive(Default)]
struct Cluster {
    /// The last status of each host, by name, and when it arrived.
    hosts: HashMap<String, (HostStatusBody, Instant)>,
    /// `(undelivered, unacknowledged)` of the hosts' consumer, and when they were read.
    stream: Option<(u64, u64, Instant)>,
}

struct ClientState {
    pending: HashMap<usize, Pending>,
    /// Attached job ids (`attach`) and their keys in `pending`.
    attached: HashMap<String, usize>,
    closed: Lifecycle,
}

/// Commands for the runtime thread.
enum Cmd {
    Publish(Outgoing),
    Cancel(String),
    /// Look up the kept answer of an attached job (and follow the bucket).
    Attach(String),
    /// Follow the hosts' statuses and the stream's depth (the first `metrics()`).
    Observe,
    Stop,
}

struct Outgoing {
    key: usize,
    headers: HeaderMap,
    payload: Bytes,
    /// The payload goes to the objects bucket (`args_object(id)`); the message has no body.
    object: Option<String>,
    /// The job's deadline: each publication says how much of it is left
    /// (`Poolbridge-Deadline-Ms`).
    deadline: Option<Instant>,
}

impl Outgoing {
    /// The headers for a publication now: the time left of the deadline set afresh.
    fn headers_now(&self) -> HeaderMap {
        let mut headers = self.headers.clone();
        if let Some(at) = self.deadline {
            let left = at.saturating_duration_since(Instant::now());
            let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            headers.insert(wire::H_DEADLINE_MS, ms.to_string().as_str());
        }
        headers
    }
}

#[derive(Default)]
struct Counters {
    submitted: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    stopped: AtomicU64,
    deadline_exceeded: AtomicU64,
    redelivered: AtomicU64,
    republished: AtomicU64,
}

pub(crate) struct ClientCore {
    pub(crate) settings: Settings,
    hosts: Mutex<FutureTable<JobHost>>,
    ids: Mutex<FutureTable<String>>,
    client_id: String,
    reply_subject: String,
    next_key: AtomicUsize,
    /// The server's `max_payload` (0: unknown), read at connect.
    max_payload: AtomicUsize,
    state: Mutex<ClientState>,
    /// `shutdown(wait = true)` waits here for `pending` to empty.
    drained: Condvar,
    /// Notified when a remote future ends without an answer (a cancel); see `watch_cancels`.
    signal: Arc<Signal>,
    cmds: mpsc::UnboundedSender<Cmd>,
    completer: Arc<Completer>,
    counters: Counters,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Queue wait (submit → `started`) and run time (from the answers) over every host.
    latency: Mutex<Latencies>,
    /// `Cmd::Observe` was sent (the first `metrics()`).
    observing: AtomicBool,
    cluster: Mutex<Cluster>,
}

/// A client id unlikely to repeat: random SipHash keys over the pid and the time.
fn new_client_id() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}

/// Connects (blocking) and starts the client's threads.
pub(crate) fn start(
    settings: Settings,
    connection: Connection,
) -> Result<Arc<ClientCore>, BuildError> {
    let client_id = new_client_id();
    let reply_subject = format!("{}.{client_id}", settings.topology.names.results);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(ClientCore {
        settings,
        hosts: Mutex::new(FutureTable::default()),
        ids: Mutex::new(FutureTable::default()),
        client_id,
        reply_subject,
        next_key: AtomicUsize::new(1),
        max_payload: AtomicUsize::new(0),
        state: Mutex::new(ClientState {
            pending: HashMap::new(),
            attached: HashMap::new(),
            closed: Lifecycle::Open,
        }),
        drained: Condvar::new(),
        signal: Arc::new(Signal::new()),
        cmds: cmd_tx,
        completer: Completer::new(),
        counters: Counters::default(),
        threads: Mutex::new(Vec::new()),
        latency: Mutex::new(Latencies::new()),
        observing: AtomicBool::new(false),
        cluster: Mutex::new(Cluster::default()),
    });
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let runtime_shared = Arc::clone(&shared);
    let runtime = thread::Builder::new()
        .name("poolbridge-nats".into())
        .spawn(move || runtime_main(runtime_shared, connection, cmd_rx, ready_tx))
        .map_err(|err| BuildError::new(format!("could not start the NATS client thread: {err}")))?;
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            let _ = runtime.join();
            shared.completer.close();
            return Err(err);
        }
        Err(_) => {
            let _ = runtime.join();
            shared.completer.close();
            return Err(BuildError::new(
                "the NATS client thread stopped while connecting (a bug in poolbridge or \
                 async-nats; its panic was printed above)",
            ));
        }
    }
    lock(&shared.threads).push(runtime);
    let watcher_shared = Arc::clone(&shared);
    let watcher = thread::Builder::new()
        .name("poolbridge-remote-cancel".into())
        .stack_size(256 * 1024)
        .spawn(move || watcher_shared.watch_cancels());
    match watcher {
        Ok(watcher) => lock(&shared.threads).push(watcher),
        Err(err) => {
            shared.close(Lifecycle::Broken(BrokenReason::ThreadStart(format!(
                "could not start the cancel watcher thread: {err}"
            ))));
            shared.stop_threads();
            return Err(BuildError::new(format!(
                "could not start the cancel watcher thread: {err}"
            )));
        }
    }
    Ok(shared)
}

impl ClientCore {
    pub(crate) fn is_closed(&self) -> bool {
        !lock(&self.state).closed.is_open()
    }

    /// Encodes the job, records it, and queues its publication. Never waits for the network.
    /// A job whose `deadline` has passed already resolves to `DeadlineExceeded` at once.
    pub(crate) fn submit<J: Job>(
        &self,
        job: J,
        args: J::Args,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
    ) -> PoolFuture<J::Output> {
        // ORDERING: Relaxed: a unique number is all that is needed; the map below is locked.
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (promise, fut) = self.promise(key);
        let name = job.name();
        if let Some(err) = lock(&self.state).closed.error() {
            let _ = promise.set_error(err);
            return fut;
        }
        if deadline.is_some_and(|at| at <= Instant::now()) {
            // ORDERING: Relaxed: statistics.
            self.counters.submitted.fetch_add(1, Ordering::Relaxed);
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            self.counters
                .deadline_exceeded
                .fetch_add(1, Ordering::Relaxed);
            let _ = promise.set_error(FutureError::DeadlineExceeded { started: false });
            return fut;
        }
        let registry = registry();
        let call = match encode_call(registry, &job, &args, 0) {
            Ok(call) => call,
            Err(err) => {
                let _ = promise.set_error(err);
                return fut;
            }
        };
        let signature = registry.signature_hash(call.index).unwrap_or_default();
        let payload = call.into_args();
        // ORDERING: Relaxed: set once at connect, before any submit.
        let max_payload = self.max_payload.load(Ordering::Relaxed);
        let large = max_payload > 0 && payload.len() + HEADERS_ALLOWANCE > max_payload;
        if large {
            let reason = match self.settings.large_payloads {
                None => Some(format!(
                    "the arguments of job `{name}` are {} bytes, more than the NATS server \
                     accepts in one message (max_payload {max_payload} bytes): pass a reference \
                     (a path, a key) instead, send them through the object store with \
                     RemoteBuilder::large_payloads, or raise max_payload on the server",
                    payload.len()
                )),
                Some(limit) if payload.len() > limit => Some(format!(
                    "the arguments of job `{name}` are {} bytes, more than \
                     RemoteBuilder::large_payloads allows ({limit} bytes): raise that limit, or \
                     pass a reference (a path, a key) instead",
                    payload.len()
                )),
                Some(_) => None,
            };
            if let Some(reason) = reason {
                let _ = promise.set_error(FutureError::Ipc(reason));
                return fut;
            }
        }
        let timeout = timeout.or(self.settings.job_timeout);
        let headers = JobHeaders {
            id: self.job_id(key),
            name: name.to_owned(),
            signature,
            reply: self.reply_subject.clone(),
            max_deliver: self.settings.max_deliver,
            timeout_ms: timeout.map(|d| d.as_millis().try_into().unwrap_or(u64::MAX).max(1)),
            // Set at each publication (`Outgoing::headers_now`).
            deadline_ms: None,
            keep: self.settings.keep_answers.is_some(),
            args_object: large,
            object_limit: self.settings.large_payloads.map(|l| l as u64),
        }
        .to_map();
        // With `tracing`: the job's `poolbridge.job` span (kept until the job ends) and its
        // context as the W3C `traceparent` header.
        #[cfg(feature = "tracing")]
        let headers = {
            let mut headers = headers;
            let (span, trace) = crate::trace::job_span(name, "remote");
            headers.insert(crate::trace::TRACEPARENT, trace.to_string().as_str());
            fut.add_done_callback(move |_| drop(span));
            headers
        };
        // Registered before the job can end: a cancel from now on reaches the watcher (a stop
        // request of the running job does through the promise's `StopToWatcher`).
        fut.core().add_signal(&self.signal, key);
        let mut st = lock(&self.state);
        if let Some(err) = st.closed.error() {
            drop(st);
            fut.core().remove_signal(&self.signal);
            let _ = promise.set_error(err);
            return fut;
        }
        let done: Box<dyn Completion> = Box::new(Typed::new(promise, name, Via::Remote));
        let tracker = Tracker::of(done.as_ref());
        st.pending.insert(
            key,
            Pending {
                tracker: tracker.clone(),
                done,
                name,
                hosts: Vec::new(),
                attached: None,
                moved: false,
                stopping: None,
                submitted: Some(Instant::now()),
            },
        );
        drop(st);
        lock(&self.ids).record(&tracker, self.job_id(key));
        // ORDERING: Relaxed: a statistic.
        self.counters.submitted.fetch_add(1, Ordering::Relaxed);
        let sent = self.cmds.send(Cmd::Publish(Outgoing {
            key,
            headers,
            payload: Bytes::from(payload),
            object: large.then(|| wire::args_object(&self.job_id(key))),
            deadline,
        }));
        if sent.is_err() {
            self.fail(
                key,
                FutureError::BrokenPool(BrokenReason::Disconnected(
                    "the NATS client thread has stopped".into(),
                )),
                &mut (),
            );
        }
        fut
    }

    /// A future for the answer of job `id`, submitted by any client of this stream that kept
    /// its answers: see [`RemoteExecutor::attach`](crate::RemoteExecutor::attach).
    pub(crate) fn attach<J: Job>(&self, job: J, id: &str) -> PoolFuture<J::Output> {
        // ORDERING: Relaxed: a unique number; the map below is locked.
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (promise, fut) = self.promise(key);
        let name = job.name();
        if let Some(err) = lock(&self.state).closed.error() {
            let _ = promise.set_error(err);
            return fut;
        }
        if self.settings.keep_answers.is_none() {
            let _ = promise.set_error(FutureError::Ipc(format!(
                "attach({id:?}) reads the answers bucket, which this executor does not use: \
                 connect with RemoteBuilder::keep_answers (and submit with it)"
            )));
            return fut;
        }
        if let Err(reason) = wire::check_job_id(id) {
            let _ = promise.set_error(FutureError::Ipc(format!("attach: {reason}")));
            return fut;
        }
        let waited_for = {
            let st = lock(&self.state);
            st.attached.contains_key(id)
                || self
                    .own_key(id)
                    .is_some_and(|key| st.pending.contains_key(&key))
        };
        if waited_for {
            let _ = promise.set_error(FutureError::Ipc(format!(
                "attach({id:?}): this executor already has a future waiting for that job: use \
                 it"
            )));
            return fut;
        }
        fut.core().add_signal(&self.signal, key);
        let done: Box<dyn Completion> = Box::new(Typed::new(promise, name, Via::Remote));
        let tracker = Tracker::of(done.as_ref());
        let mut st = lock(&self.state);
        st.pending.insert(
            key,
            Pending {
                tracker: tracker.clone(),
                done,
                name,
                hosts: Vec::new(),
                attached: Some(id.to_owned()),
                moved: false,
                stopping: None,
                submitted: None,
            },
        );
        st.attached.insert(id.to_owned(), key);
        drop(st);
        lock(&self.ids).record(&tracker, id.to_owned());
        if self.cmds.send(Cmd::Attach(id.to_owned())).is_err() {
            self.fail(
                key,
                FutureError::BrokenPool(BrokenReason::Disconnected(
                    "the NATS client thread has stopped".into(),
                )),
                &mut (),
            );
        }
        fut
    }

    /// The promise of job `key`: a `request_cancel` while it runs wakes the cancel watcher.
    fn promise<T: Send + 'static>(&self, key: usize) -> (Promise<T>, PoolFuture<T>) {
        let stop = StopToWatcher {
            signal: Arc::clone(&self.signal),
            key,
        };
        Promise::with_hooks(None, Some(Arc::new(stop)))
    }

    /// The attached job ids still waiting for their answers.
    fn attached_ids(&self) -> Vec<String> {
        lock(&self.state).attached.keys().cloned().collect()
    }

    fn job_id(&self, key: usize) -> String {
        format!("{}-{key}", self.client_id)
    }

    /// The key of a job this executor submitted.
    fn own_key(&self, job_id: &str) -> Option<usize> {
        let (client, key) = job_id.rsplit_once('-')?;
        if client != self.client_id {
            return None;
        }
        key.parse().ok()
    }

    /// The key of the pending job an answer is for: an attached one, or one submitted here.
    fn key_of(&self, job_id: &str) -> Option<usize> {
        if let Some(&key) = lock(&self.state).attached.get(job_id) {
            return Some(key);
        }
        self.own_key(job_id)
    }

    /// Ends job `key` with `err` if it is still pending (callbacks run after `hooks`).
    fn fail(&self, key: usize, err: FutureError, hooks: &mut dyn RunHooks) {
        let Some(pending) = self.take(key) else {
            return;
        };
        // ORDERING: Relaxed: a statistic.
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        pending.done.finish(Err(err), hooks);
        self.after_take();
    }

    /// Removes job `key` from the pending map, and stops its cancel notifications.
    fn take(&self, key: usize) -> Option<Pending> {
        let mut st = lock(&self.state);
        let pending = st.pending.remove(&key)?;
        if let Some(id) = &pending.attached {
            st.attached.remove(id);
        }
        drop(st);
        pending.done.forget(&self.signal);
        Some(pending)
    }

    /// Wakes `shutdown(wait = true)` once the last pending job ended.
    fn after_take(&self) {
        let st = lock(&self.state);
        if st.pending.is_empty() {
            self.drained.notify_all();
        }
    }

    /// An answer from a host (on a completer thread).
    fn on_answer(&self, msg: Message, hooks: &mut dyn RunHooks) {
        let Some(answer) = Answer::parse(msg.headers.as_ref()) else {
            // Not from a poolbridge host (someone published on this client's subject).
            return;
        };
        self.resolve(answer, &msg.payload, hooks);
    }

    /// `true` if the answer to `job_id` is still awaited here.
    fn awaits(&self, job_id: &str) -> bool {
        self.key_of(job_id)
            .is_some_and(|key| lock(&self.state).pending.contains_key(&key))
    }

    /// Completes the job an answer is for, if it is still pending.
    pub(crate) fn resolve(&self, answer: Answer, body: &[u8], hooks: &mut dyn RunHooks) {
        let Some(key) = self.key_of(&answer.job_id) else {
            return;
        };
        if answer.status == Status::Progress {
            // Handled on the runtime thread (`on_progress`); never here.
            return;
        }
        if answer.status == Status::Started {
            let mut st = lock(&self.state);
            if let Some(pending) = st.pending.get_mut(&key) {
                if let (Some(at), true) = (pending.submitted, pending.hosts.is_empty()) {
                    let now = Instant::now();
                    lock(&self.latency)
                        .queue_wait
                        .record(now, now.saturating_duration_since(at));
                }
                let host = JobHost {
                    name: answer.host.clone(),
                    pid: answer.pid,
                    attempt: answer.attempt,
                };
                lock(&self.hosts).record(&pending.tracker, host);
                // Started on a later delivery: its first host was lost, after starting it (a
                // second host here) or before (it held the job queued: attempt 2, first start).
                let moved = answer.attempt > 1 || !pending.hosts.is_empty();
                pending.hosts.push((answer.host, answer.pid));
                if moved && !pending.moved {
                    pending.moved = true;
                    // ORDERING: Relaxed: a statistic.
                    self.counters.redelivered.fetch_add(1, Ordering::Relaxed);
                }
                // A job cancelled meanwhile stays cancelled; its result will be dropped.
                let _ = pending.done.start();
            }
            return;
        }
        // The first outcome wins; a second one (the job ran again after its first host was
        // lost between answering and acknowledging) finds nothing pending.
        let Some(pending) = self.take(key) else {
            return;
        };
        if answer.status != Status::Exhausted {
            // The host that ran it (an `exhausted` answer comes from one that did not).
            let host = JobHost {
                name: answer.host.clone(),
                pid: answer.pid,
                attempt: answer.attempt,
            };
            lock(&self.hosts).record(&pending.tracker, host);
        }
        if let Some(micros) = answer.run_us {
            lock(&self.latency)
                .run_time
                .record(Instant::now(), Duration::from_micros(micros));
        }
        let name = pending.name;
        let text = || String::from_utf8_lossy(body).into_owned();
        let outcome: Result<&[u8], FutureError> = match answer.status {
            Status::Ok => Ok(body),
            Status::Panicked => Err(FutureError::Panicked(PanicError::new(text()))),
            Status::Ipc => Err(FutureError::Ipc(text())),
            Status::Unregistered => Err(FutureError::NotRegistered {
                job: name.to_owned(),
            }),
            Status::Codec => Err(crate::seam::call::worker_codec_error(name, body)),
            Status::Died => match postcard::from_bytes::<Exit>(body) {
                Ok(exit) => Err(FutureError::WorkerDied(
                    exit.into_worker_exit().with_job(name).on_host(&answer.host),
                )),
                Err(err) => Err(FutureError::Ipc(format!(
                    "host `{}` reported that the worker process of `{name}` died, in a message \
                     this client cannot read: {err}",
                    answer.host
                ))),
            },
            Status::Timeout => {
                let ms = postcard::from_bytes::<u64>(body).unwrap_or(0);
                Err(FutureError::JobTimeout(Duration::from_millis(ms)))
            }
            Status::Exhausted => {
                let deliveries = postcard::from_bytes::<u32>(body).unwrap_or(0);
                let (host, pid) = pending.hosts.last().cloned().unwrap_or_default();
                let mut exit = crate::error::WorkerExit::new(pid, None, None, false)
                    .with_job(name)
                    .given_up_after(deliveries);
                if !host.is_empty() {
                    exit = exit.on_host(&host);
                }
                Err(FutureError::WorkerDied(exit))
            }
            Status::Stopped => Err(FutureError::Cancelled),
            Status::Deadline => Err(FutureError::DeadlineExceeded {
                started: postcard::from_bytes::<bool>(body).unwrap_or(true),
            }),
            Status::Started | Status::Progress => unreachable!("handled above"),
        };
        // ORDERING: Relaxed: statistics.
        match &outcome {
            Ok(_) => self.counters.completed.fetch_add(1, Ordering::Relaxed),
            Err(FutureError::Cancelled) => {
                self.counters.stopped.fetch_add(1, Ordering::Relaxed);
                self.counters.cancelled.fetch_add(1, Ordering::Relaxed)
            }
            Err(err) => {
                if err.is_deadline_exceeded() {
                    self.counters
                        .deadline_exceeded
                        .fetch_add(1, Ordering::Relaxed);
                }
                self.counters.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        pending.done.finish(outcome, hooks);
        self.after_take();
    }

    /// The cancel watcher: a job whose future was cancelled before any answer is dropped from
    /// the pending map and its id put in the hosts' cancelled bucket. A running job asked to
    /// stop (`request_cancel`) has its id put there too, which its host follows; its future
    /// stays pending until the host answers "stopped", or `stop_patience` passes.
    fn watch_cancels(self: Arc<Self>) {
        let mut keys = std::collections::VecDeque::new();
        // Stops sent and not answered yet, in the order of their patience's end.
        let mut stops: std::collections::VecDeque<(Instant, usize)> =
            std::collections::VecDeque::new();
        loop {
            self.signal
                .wait(stops.front().map(|&(at, _)| at), &mut keys);
            let now = Instant::now();
            while stops.front().is_some_and(|&(at, _)| at <= now) {
                let (_, key) = stops.pop_front().expect("checked");
                self.give_up_stop(key);
            }
            while let Some(key) = keys.pop_front() {
                if key == STOP_WATCHER {
                    return;
                }
                let mut st = lock(&self.state);
                let Some(pending) = st.pending.get_mut(&key) else {
                    continue;
                };
                if !pending.done.is_cancelled() {
                    // Running, and asked to stop: tell its host (once).
                    if pending.stopping.is_some() || !pending.done.stop_requested() {
                        continue;
                    }
                    let attached = pending.attached.is_some();
                    let until = crate::future::deadline_after(self.settings.stop_patience);
                    pending.stopping = Some(until);
                    drop(st);
                    if attached {
                        // Another client's job: this future stops waiting, the job runs on.
                        self.give_up_stop(key);
                    } else {
                        let _ = self.cmds.send(Cmd::Cancel(self.job_id(key)));
                        stops.push_back((until, key));
                    }
                    continue;
                }
                let pending = st.pending.remove(&key);
                let attached = pending.as_ref().and_then(|p| p.attached.clone());
                if let Some(id) = &attached {
                    st.attached.remove(id);
                }
                let empty = st.pending.is_empty();
                drop(st);
                // ORDERING: Relaxed: a statistic.
                self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                if attached.is_none() {
                    // An attached future stops waiting; the job is another client's.
                    let _ = self.cmds.send(Cmd::Cancel(self.job_id(key)));
                }
                // The promise of a cancelled future: dropping it runs no user code.
                drop(pending);
                if empty {
                    self.drained.notify_all();
                }
            }
        }
    }

    /// A stop that no host confirmed within `stop_patience` (or of an attached job): the
    /// future resolves to `Cancelled` (on a completer thread: callbacks run), and a late answer
    /// is dropped.
    fn give_up_stop(self: &Arc<Self>, key: usize) {
        let stopping = lock(&self.state)
            .pending
            .get(&key)
            .is_some_and(|p| p.stopping.is_some());
        if !stopping {
            return;
        }
        let shared = Arc::clone(self);
        self.completer.push(Box::new(move |hooks| {
            let Some(pending) = shared.take(key) else {
                return;
            };
            // ORDERING: Relaxed: a statistic.
            shared.counters.cancelled.fetch_add(1, Ordering::Relaxed);
            pending.done.finish(Err(FutureError::Cancelled), hooks);
            shared.after_take();
        }));
    }

    /// See [`RemoteExecutor::job_id`](crate::RemoteExecutor::job_id).
    pub(crate) fn job_id_of<T>(&self, fut: &PoolFuture<T>) -> Option<String> {
        let table = lock(&self.ids);
        let (_, id) = table.entries.get(&fut.addr())?;
        Some(id.clone())
    }

    /// See [`RemoteExecutor::job_host`](crate::RemoteExecutor::job_host).
    pub(crate) fn job_host<T>(&self, fut: &PoolFuture<T>) -> Option<JobHost> {
        let table = lock(&self.hosts);
        let (_, host) = table.entries.get(&fut.addr())?;
        Some(host.clone())
    }

    /// A `progress` message of a running job (on the runtime thread, in the order the host
    /// sent them, before its answer): what the future's `progress()` and `progress_updates()`
    /// see, as a process worker's `PROGRESS` frame. Runs no user code (wakes a stream at most).
    fn on_progress(&self, job_id: &str, body: &[u8]) {
        let Some((done, total)) = wire::split_progress(body) else {
            return;
        };
        let Some(key) = self.key_of(job_id) else {
            return;
        };
        let st = lock(&self.state);
        if let Some(pending) = st.pending.get(&key) {
            pending.done.progress(done, total);
        }
    }

    /// A host's status (on the runtime thread).
    fn on_status(&self, body: &[u8]) {
        let Ok(status) = postcard::from_bytes::<HostStatusBody>(body) else {
            return;
        };
        let mut cluster = lock(&self.cluster);
        cluster
            .hosts
            .insert(status.name.clone(), (status, Instant::now()));
    }

    /// The hosts and the stream's depth as last heard (`RemoteMetrics::hosts`, `stream`).
    fn cluster(&self) -> (Vec<HostStatus>, Option<StreamDepth>) {
        let now = Instant::now();
        let mut cluster = lock(&self.cluster);
        cluster
            .hosts
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < FORGET_HOSTS_AFTER);
        let summary = |l: Option<(u64, u64, u64, u64, u64)>| {
            l.map(|(p50, p90, p99, max, samples)| LatencySummary {
                p50: Duration::from_micros(p50),
                p90: Duration::from_micros(p90),
                p99: Duration::from_micros(p99),
                max: Duration::from_micros(max),
                samples,
            })
        };
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let mut hosts: Vec<HostStatus> = cluster
            .hosts
            .values()
            .map(|(s, at)| {
                let age = now.saturating_duration_since(*at);
                let interval = Duration::from_micros(s.interval_us);
                let state = if s.gone {
                    HostState::Gone
                } else if age >= interval.saturating_mul(3) {
                    HostState::Silent
                } else {
                    HostState::Alive
                };
                HostStatus {
                    name: s.name.clone(),
                    pid: s.pid,
                    slots: size(s.slots),
                    workers: size(s.workers),
                    running: size(s.running),
                    queued: size(s.queued),
                    ok: s.ok,
                    failed: s.failed,
                    stopped: s.stopped,
                    redelivered: s.redelivered,
                    queue_wait: summary(s.queue_wait),
                    run_time: summary(s.run_time),
                    uptime: Duration::from_micros(s.uptime_us),
                    age,
                    interval,
                    state,
                }
            })
            .collect();
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        let stream = cluster
            .stream
            .map(|(undelivered, unacknowledged, at)| StreamDepth {
                undelivered,
                unacknowledged,
                age: now.saturating_duration_since(at),
            });
        (hosts, stream)
    }

    pub(crate) fn metrics(&self) -> RemoteMetrics {
        // ORDERING: Relaxed: `Observe` is sent once; nothing else is ordered by the flag.
        if !self.observing.swap(true, Ordering::Relaxed) {
            let _ = self.cmds.send(Cmd::Observe);
        }
        let (hosts, stream) = self.cluster();
        let (queue_wait, run_time) = lock(&self.latency).summaries();
        let pending = lock(&self.state).pending.len();
        // ORDERING: Relaxed: a snapshot of statistics, each read on its own.
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RemoteMetrics {
            submitted: read(&self.counters.submitted),
            completed: read(&self.counters.completed),
            failed: read(&self.counters.failed),
            cancelled: read(&self.counters.cancelled),
            stopped: read(&self.counters.stopped),
            deadline_exceeded: read(&self.counters.deadline_exceeded),
            redelivered: read(&self.counters.redelivered),
            republished: read(&self.counters.republished),
            pending,
            hosts,
            stream,
            queue_wait,
            run_time,
        }
    }

    fn close(&self, how: Lifecycle) {
        let mut st = lock(&self.state);
        if st.closed.is_open() {
            st.closed = how;
        }
    }

    /// Python's `shutdown(wait, cancel_futures)`: see `RemoteExecutor::shutdown`.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.close(Lifecycle::ShutDown);
        if cancel_futures {
            // `cancel()` runs the futures' callbacks: not under the lock. Collect handles first.
            let keys: Vec<usize> = lock(&self.state).pending.keys().copied().collect();
            for key in keys {
                let st = lock(&self.state);
                let Some(pending) = st.pending.get(&key) else {
                    continue;
                };
                let cancel = pending.done.canceller();
                drop(st);
                cancel();
            }
        }
        if wait {
            let mut st = lock(&self.state);
            while !st.pending.is_empty() {
                st = self
                    .drained
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            drop(st);
            self.stop_threads();
        }
    }

    /// Dropped while panicking, or after the runtime thread ended: every pending job fails with
    /// `reason` at once, nothing is waited for but the threads.
    pub(crate) fn abandon(&self, reason: &str) {
        let reason = BrokenReason::Abandoned(reason.to_owned());
        self.close(Lifecycle::Broken(reason.clone()));
        self.fail_all(&reason);
        self.stop_threads();
    }

    fn fail_all(&self, reason: &BrokenReason) {
        let keys: Vec<usize> = lock(&self.state).pending.keys().copied().collect();
        for key in keys {
            self.fail(key, FutureError::BrokenPool(reason.clone()), &mut ());
        }
    }

    /// Stops the runtime thread (flushing what it has to send), the watcher and the completers.
    /// Idempotent.
    pub(crate) fn stop_threads(&self) {
        let threads = std::mem::take(&mut *lock(&self.threads));
        if threads.is_empty() {
            return;
        }
        let _ = self.cmds.send(Cmd::Stop);
        self.signal.notify(STOP_WATCHER);
        let me = thread::current().id();
        for handle in threads {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
        self.completer.close();
    }
}

/// The runtime thread: connects, reports, then serves commands and answers until stopped. If it
/// ends for any other reason (the connection closed for good, a panic), every pending job fails
/// with `BrokenPool` and later submits are refused: no waiter hangs.
fn runtime_main(
    shared: Arc<ClientCore>,
    connection: Connection,
    cmds: mpsc::UnboundedReceiver<Cmd>,
    ready: std::sync::mpsc::SyncSender<Result<(), BuildError>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = ready.send(Err(BuildError::new(format!(
                "could not start the NATS client's runtime: {err}"
            ))));
            return;
        }
    };
    let run = std::panic::AssertUnwindSafe(async {
        let session = match Session::open(&shared, connection).await {
            Ok(session) => session,
            Err(err) => {
                let _ = ready.send(Err(err));
                return None;
            }
        };
        let _ = ready.send(Ok(()));
        Some(session.run(cmds).await)
    });
    let outcome = unwind::catch(|| runtime.block_on(run));
    let reason = match outcome {
        Ok(None) => return,
        Ok(Some(None)) => None,
        Ok(Some(Some(reason))) => Some(reason),
        Err(panic) => {
            unwind::report("the NATS client thread of a RemoteExecutor", &panic);
            Some(format!(
                "the NATS client thread panicked (a bug in poolbridge or async-nats): {}",
                panic.message()
            ))
        }
    };
    if let Some(reason) = reason.map(BrokenReason::Disconnected) {
        shared.close(Lifecycle::Broken(reason.clone()));
        shared.fail_all(&reason);
    }
}

/// The connected client, on the runtime thread.
struct Session {
    shared: Arc<ClientCore>,
    client: async_nats::Client,
    js: jetstream::Context,
    cancelled: jetstream::kv::Store,
    answers: async_nats::Subscriber,
    /// The answers bucket (`keep_answers`).
    kept: Option<jetstream::kv::Store>,
    /// Attached ids for the task that follows the answers bucket (started at the first
    /// `attach`).
    follow: Option<mpsc::UnboundedSender<String>>,
    /// The objects bucket (`large_payloads`).
    objects: Option<ObjectStore>,
    /// Jobs whose arguments are in the objects bucket, until their answer.
    args_objects: std::collections::HashSet<String>,
}

impl Session {
    async fn open(shared: &Arc<ClientCore>, connection: Connection) -> Result<Session, BuildError> {
        let settings = &shared.settings;
        let client = connection
            .connect(
                &settings.url,
                &format!("poolbridge client {}", shared.client_id),
            )
            .await?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(settings.publish_timeout);
        let cancelled = connect::declare(&client, &js, &settings.topology).await?;
        // ORDERING: Relaxed: read by `submit`, which is called only after `start` returned.
        shared
            .max_payload
            .store(client.server_info().max_payload, Ordering::Relaxed);
        let objects = match settings.large_payloads {
            Some(_) => Some(
                connect::objects_bucket(&client, &js, &settings.topology, settings.keep_answers)
                    .await?,
            ),
            None => None,
        };
        let kept = match settings.keep_answers {
            Some(retention) => {
                Some(connect::answers_bucket(&client, &js, &settings.topology, retention).await?)
            }
            None => None,
        };
        let answers = client
            .subscribe(shared.reply_subject.clone())
            .await
            .map_err(|err| {
                BuildError::new(format!(
                    "could not subscribe to the reply subject {}: {err}",
                    shared.reply_subject
                ))
            })?;
        // The subscription must exist at the server before any job is sent.
        match tokio::time::timeout(settings.publish_timeout, client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(BuildError::new(format!("could not reach NATS: {err}"))),
            Err(_) => {
                return Err(BuildError::new(format!(
                    "NATS at {} did not answer within the publish timeout ({:?})",
                    settings.url, settings.publish_timeout
                )));
            }
        }
        Ok(Session {
            shared: Arc::clone(shared),
            client,
            js,
            cancelled,
            answers,
            kept,
            follow: None,
            objects,
            args_objects: std::collections::HashSet::new(),
        })
    }

    /// Serves until `Stop` (`None`) or a failure that ends the client (`Some(reason)`).
    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) -> Option<String> {
        let reason = loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Publish(out)) => self.publish(out).await,
                    Some(Cmd::Cancel(job_id)) => {
                        let cancelled = self.cancelled.clone();
                        tokio::spawn(async move {
                            // Best effort. A host that takes the job before this lands, or runs
                            // it already (a stop request), follows the bucket and stops it; a
                            // put that fails leaves the future to `stop_patience` (running) or
                            // the job's result dropped (the future is already cancelled).
                            let _ = cancelled.put(job_id, Bytes::new()).await;
                        });
                    }
                    Some(Cmd::Attach(job_id)) => self.attach(job_id),
                    Some(Cmd::Observe) => self.observe().await,
                    Some(Cmd::Stop) | None => break None,
                },
                msg = futures_next(&mut self.answers) => match msg {
                    Some(msg) => self.on_answer(msg).await,
                    None => break Some(
                        "the connection to NATS was closed for good".to_owned()
                    ),
                },
            }
        };
        // What is still buffered goes out before the thread ends (not forever: the server may
        // be gone).
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.flush()).await;
        reason
    }

    /// Looks up an attached job's kept answer, starting the task that follows the bucket first
    /// (an answer stored between the two is seen by one or the other).
    fn attach(&mut self, job_id: String) {
        let Some(kept) = &self.kept else {
            return;
        };
        let follow = self.follow.get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(follow_kept(
                Arc::clone(&self.shared),
                kept.clone(),
                self.objects.clone(),
                rx,
            ));
            tx
        });
        let _ = follow.send(job_id);
    }

    /// Follows the hosts' statuses (a subscription to `{prefix}.status.*`) and the stream's
    /// depth (the hosts' consumer's info, every `DEFAULT_STATUS_INTERVAL`), in tasks of their
    /// own: started by the first `metrics()`, never on the path of a job.
    async fn observe(&mut self) {
        let subject = format!("{}.*", self.shared.settings.topology.names.status);
        if let Ok(mut statuses) = self.client.subscribe(subject).await {
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                while let Some(msg) = futures_next(&mut statuses).await {
                    let protocol = msg
                        .headers
                        .as_ref()
                        .and_then(|h| h.get(wire::H_PROTOCOL))
                        .map(|v| v.as_str().to_owned());
                    if protocol.as_deref() == Some(wire::PROTOCOL) {
                        shared.on_status(&msg.payload);
                    }
                }
            });
        }
        let shared = Arc::clone(&self.shared);
        let js = self.js.clone();
        tokio::spawn(async move {
            let names = &shared.settings.topology.names;
            let mut ticks = tokio::time::interval(DEFAULT_STATUS_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let info = async {
                    let stream = js.get_stream_no_info(&names.stream).await.ok()?;
                    stream.consumer_info(&names.consumer).await.ok()
                };
                if let Some(info) = info.await {
                    lock(&shared.cluster).stream = Some((
                        info.num_pending,
                        info.num_ack_pending as u64,
                        Instant::now(),
                    ));
                }
            }
        });
    }

    async fn on_answer(&mut self, msg: Message) {
        // A running job's progress: no confirmation (a core publish), handled here so that it
        // reaches the future in order and before the job's answer.
        let progress = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(wire::H_STATUS))
            .is_some_and(|v| v.as_str() == Status::Progress.as_str());
        if progress {
            if let Some(id) = msg.headers.as_ref().and_then(|h| h.get(wire::H_JOB_ID)) {
                self.shared.on_progress(id.as_str(), &msg.payload);
            }
            return;
        }
        // The host waits for this acknowledgement before it acknowledges the job: the answer
        // reached this client. Sent at once; the decoding happens on a completer thread.
        // Only to an inbox: whoever can publish on this client's results subject sets that
        // reply subject, and this client must not publish for them anywhere else.
        if let Some(reply) = msg.reply.as_ref().filter(|reply| wire::is_inbox(reply)) {
            let _ = self.client.publish(reply.clone(), Bytes::new()).await;
        }
        if let Some(objects) = &self.objects {
            let Some(answer) = Answer::parse(msg.headers.as_ref()) else {
                return;
            };
            if answer.status != Status::Started {
                // The job ran: its arguments object is not needed any more.
                if self.args_objects.remove(&answer.job_id) {
                    let (objects, name) = (objects.clone(), wire::args_object(&answer.job_id));
                    tokio::spawn(async move { objects.delete(name).await });
                }
                let by_object = msg
                    .headers
                    .as_ref()
                    .is_some_and(|h| h.get(wire::H_OBJECT).is_some());
                if by_object {
                    let keep = self.shared.settings.keep_answers.is_some();
                    tokio::spawn(fetch_output(
                        Arc::clone(&self.shared),
                        objects.clone(),
                        answer,
                        !keep,
                    ));
                    return;
                }
            }
        }
        let shared = Arc::clone(&self.shared);
        self.shared
            .completer
            .push(Box::new(move |hooks| shared.on_answer(msg, hooks)));
    }

    /// Publishes a job; its acknowledgement is awaited by a task of its own. Arguments over
    /// `max_payload` are first stored in the objects bucket, by that task.
    async fn publish(&mut self, out: Outgoing) {
        if let Some(name) = out.object.clone() {
            let Some(objects) = self.objects.clone() else {
                return;
            };
            let id = name.trim_end_matches(".in").to_owned();
            self.args_objects.insert(id);
            let shared = Arc::clone(&self.shared);
            let js = self.js.clone();
            tokio::spawn(async move {
                let mut guard = FailOnDrop {
                    shared: Arc::clone(&shared),
                    key: out.key,
                    reason: Some(FutureError::BrokenPool(BrokenReason::Other(
                        "the task storing the job panicked (a bug in poolbridge)".into(),
                    ))),
                };
                let outcome = match store_args(&shared, &objects, &name, &out.payload).await {
                    Ok(()) => {
                        let bare = Outgoing {
                            payload: Bytes::new(),
                            object: None,
                            ..out
                        };
                        let subject = shared.settings.topology.names.jobs.clone();
                        let first = js
                            .publish_with_headers(subject, bare.headers_now(), Bytes::new())
                            .await;
                        confirm(&js, &shared, &bare, first).await
                    }
                    Err(err) => Err(err),
                };
                guard.reason = outcome.err().map(FutureError::Unavailable);
            });
            return;
        }
        let limit = self.client.server_info().max_payload;
        let size = out.payload.len() + HEADERS_ALLOWANCE;
        if limit > 0 && size > limit {
            let name = out
                .headers
                .get(wire::H_JOB)
                .map_or("?", |v| v.as_str())
                .to_owned();
            let err = FutureError::Ipc(format!(
                "the arguments of job `{name}` are {} bytes, more than the NATS server accepts in \
                 one message (max_payload {limit} bytes): pass a reference (a path, an object \
                 store key) instead, or raise max_payload on the server",
                out.payload.len()
            ));
            let shared = Arc::clone(&self.shared);
            let key = out.key;
            self.shared
                .completer
                .push(Box::new(move |hooks| shared.fail(key, err, hooks)));
            return;
        }
        let subject = self.shared.settings.topology.names.jobs.clone();
        let first = self
            .js
            .publish_with_headers(subject, out.headers_now(), out.payload.clone())
            .await;
        let shared = Arc::clone(&self.shared);
        let js = self.js.clone();
        tokio::spawn(async move {
            // Should this task panic (a bug), the guard fails the job instead of leaving its
            // future pending forever.
            let mut guard = FailOnDrop {
                shared: Arc::clone(&shared),
                key: out.key,
                reason: Some(FutureError::BrokenPool(BrokenReason::Other(
                    "the task storing the job panicked (a bug in poolbridge)".into(),
                ))),
            };
            let outcome = confirm(&js, &shared, &out, first).await;
            guard.reason = outcome.err().map(FutureError::Unavailable);
        });
    }
}

/// Stores a job's arguments in the objects bucket, trying again while the server cannot (for
/// up to half the dedup window, as a publication).
async fn store_args(
    shared: &ClientCore,
    objects: &ObjectStore,
    name: &str,
    payload: &[u8],
) -> Result<(), String> {
    let deadline = crate::future::deadline_after(shared.settings.topology.dedup_window / 2);
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut reader = payload;
        let err = match objects.put(name, &mut reader).await {
            Ok(_) => return Ok(()),
            Err(err) => err.to_string(),
        };
        if Instant::now()
            .checked_add(backoff)
            .is_none_or(|t| t >= deadline)
        {
            return Err(format!(
                "could not store the arguments ({} bytes) in the object store `{}`: {err}. The \
                 job was not published: check that the NATS server is up and reachable, and \
                 submit it again",
                payload.len(),
                shared.settings.topology.names.objects
            ));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_PUBLISH_BACKOFF);
    }
}

/// Reads a whole object.
async fn read_object(objects: &ObjectStore, name: &str) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let mut object = objects
        .get(name)
        .await
        .map_err(|err| format!("object `{name}`: {err}"))?;
    let mut bytes = Vec::new();
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|err| format!("object `{name}`: {err}"))?;
    Ok(bytes)
}

/// An answer whose output is in the objects bucket: reads it (if the job is still awaited),
/// deletes it unless answers are kept, and completes the job.
async fn fetch_output(shared: Arc<ClientCore>, objects: ObjectStore, answer: Answer, delete: bool) {
    let name = wire::output_object(&answer.job_id);
    if !shared.awaits(&answer.job_id) {
        // A second answer (the job ran twice): only the clean-up.
        if delete {
            let _ = objects.delete(&name).await;
        }
        return;
    }
    let read = read_object(&objects, &name).await;
    if delete {
        let _ = objects.delete(&name).await;
    }
    complete_read(&shared, answer, read);
}

/// Completes a job with an output read from the objects bucket (or the reason it could not be).
fn complete_read(shared: &Arc<ClientCore>, mut answer: Answer, read: Result<Vec<u8>, String>) {
    let body = match read {
        Ok(bytes) => bytes,
        Err(reason) => {
            answer.status = Status::Ipc;
            format!("could not read the output from the object store: {reason}").into_bytes()
        }
    };
    let on = Arc::clone(shared);
    shared
        .completer
        .push(Box::new(move |hooks| on.resolve(answer, &body, hooks)));
}

/// A kept answer (from the answers bucket): completes the attached job, reading its output from
/// the objects bucket if it is there.
async fn on_kept(shared: Arc<ClientCore>, objects: Option<ObjectStore>, id: String, value: Bytes) {
    let Some((answer, body, object)) = wire::Stored::decode(&id, &value) else {
        return;
    };
    if !shared.awaits(&id) {
        return;
    }
    let read = match (object, &objects) {
        (false, _) => Ok(body),
        (true, Some(objects)) => read_object(objects, &wire::output_object(&id)).await,
        (true, None) => Err(
            "the output is in the object store, which this executor does not use: connect with \
             RemoteBuilder::large_payloads"
                .to_owned(),
        ),
    };
    complete_read(&shared, answer, read);
}

/// Follows the answers bucket for attached jobs: new entries as they are stored, and a lookup of
/// each attached id (when it is attached, and again whenever the watch starts over after a
/// lost connection, for what was stored meanwhile).
async fn follow_kept(
    shared: Arc<ClientCore>,
    kept: jetstream::kv::Store,
    objects: Option<ObjectStore>,
    mut ids: mpsc::UnboundedReceiver<String>,
) {
    use async_nats::jetstream::kv::Operation;
    loop {
        let mut entries = match kept.watch(">").await {
            Ok(entries) => entries,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for id in shared.attached_ids() {
            tokio::spawn(look_up(
                Arc::clone(&shared),
                kept.clone(),
                objects.clone(),
                id,
            ));
        }
        loop {
            tokio::select! {
                id = ids.recv() => match id {
                    Some(id) => {
                        tokio::spawn(look_up(
                            Arc::clone(&shared),
                            kept.clone(),
                            objects.clone(),
                            id,
                        ));
                    }
                    None => return,
                },
                entry = futures_next(&mut entries) => match entry {
                    Some(Ok(entry)) => {
                        if entry.operation == Operation::Put && shared.awaits(&entry.key) {
                            tokio::spawn(on_kept(
                                Arc::clone(&shared),
                                objects.clone(),
                                entry.key,
                                entry.value,
                            ));
                        }
                    }
                    Some(Err(_)) => {}
                    // The watch ended (the connection was lost a while): watch again.
                    None => break,
                },
            }
        }
    }
}

/// Reads the kept answer of `id`, if there is one yet (retried while the server cannot answer).
async fn look_up(
    shared: Arc<ClientCore>,
    kept: jetstream::kv::Store,
    objects: Option<ObjectStore>,
    id: String,
) {
    let mut backoff = Duration::from_millis(100);
    for _ in 0..10 {
        match kept.get(id.clone()).await {
            Ok(Some(value)) => return on_kept(shared, objects, id, value).await,
            // Not stored yet: the watch will see it.
            Ok(None) => return,
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_PUBLISH_BACKOFF);
            }
        }
    }
}

/// Fails job `key` with `reason` (if any) when dropped: at the end of its publication task,
/// normally or by a panic.
struct FailOnDrop {
    shared: Arc<ClientCore>,
    key: usize,
    reason: Option<FutureError>,
}

impl Drop for FailOnDrop {
    fn drop(&mut self) {
        if let Some(reason) = self.reason.take() {
            let key = self.key;
            let shared = Arc::clone(&self.shared);
            self.shared.completer.push(Box::new(move |hooks| {
                shared.fail(key, reason, hooks);
            }));
        }
    }
}

/// Waits for the stream to acknowledge a job, publishing it again (same `Nats-Msg-Id`, so the
/// stream keeps one copy) while it does not, for as long as the dedup window allows.
async fn confirm(
    js: &jetstream::Context,
    shared: &ClientCore,
    out: &Outgoing,
    first: Result<PublishAckFuture, async_nats::jetstream::context::PublishError>,
) -> Result<(), String> {
    let settings = &shared.settings;
    // Past half the dedup window a second copy might no longer be recognised: give up then.
    let deadline = crate::future::deadline_after(settings.topology.dedup_window / 2);
    let mut attempt = first;
    let mut backoff = Duration::from_millis(50);
    loop {
        let err = match attempt {
            Ok(ack) => match ack.await {
                Ok(_) => return Ok(()),
                Err(err) => err.to_string(),
            },
            Err(err) => err.to_string(),
        };
        if Instant::now()
            .checked_add(backoff)
            .is_none_or(|t| t >= deadline)
        {
            return Err(format!(
                "NATS did not confirm storing the job in stream `{}` ({err}); gave up after \
                 half the dedup window ({:?}). The job may or may not have been stored, and may \
                 still run (its result would be dropped): check that the NATS server is up and \
                 reachable (publish_timeout bounds each wait), and submit the job again if it \
                 must run (it may then run twice)",
                settings.topology.names.stream, settings.topology.dedup_window
            ));
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_PUBLISH_BACKOFF);
        // ORDERING: Relaxed: a statistic.
        shared.counters.republished.fetch_add(1, Ordering::Relaxed);
        attempt = js
            .publish_with_headers(
                settings.topology.names.jobs.clone(),
                out.headers_now(),
                out.payload.clone(),
            )
            .await;
    }
}
