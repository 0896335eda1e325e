//! The worker host: [`serve`](crate::remote::serve) pulls jobs from the hosts' durable consumer,
//! a bounded number at a time, and runs each in a local `ProcessPoolExecutor`.
//!
//! One tokio current-thread runtime on the calling thread; one task per job taken. A job's task
//! checks the job (delivery count, cancelled, registered with the same types), says `started`,
//! hands the bytes to the local pool, sends `AckProgress` while it runs, answers the client (a
//! request: the client confirms receipt) and only then acknowledges the message. A host that dies
//! before the acknowledgement has its job delivered again after `ack_wait`.

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, kv};
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::error::BuildError;
use crate::error::FutureError;
use crate::future::{PoolFuture, ProgressUpdates};
use crate::process::{self, ProcessPoolExecutor};
use crate::remote::client::HEADERS_ALLOWANCE;
use crate::remote::connect::{self, CANCEL_MEMORY, Connection, futures_next};
use crate::remote::defaults::PROGRESS_EVERY;
use crate::remote::report::ServeReport;
use crate::remote::wire::{self, Exit, HostStatusBody, JobHeaders, Names, Status};

/// How long a pull request waits at the server for jobs. An idle host sends one such request
/// per period; after a server restart it asks again within this time.
const PULL_EXPIRES: Duration = Duration::from_secs(1);

/// How long an answer waits for the client's confirmation before it is sent again.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a host tries to deliver an answer to a client that does not confirm it (gone, or
/// reconnecting) before it drops the answer and acknowledges the job.
const ANSWER_PATIENCE: Duration = Duration::from_secs(30);

/// Bounds of the interval between two `AckProgress` of a running job: a third of the
/// consumer's `ack_wait`, within these.
const MIN_HEARTBEAT: Duration = Duration::from_millis(50);
const MAX_HEARTBEAT: Duration = Duration::from_secs(1);

/// How often an idle host re-reads the consumer's `ack_wait` (a client may have changed it).
const REFRESH_CONSUMER: Duration = Duration::from_secs(5);

pub(crate) struct HostSettings {
    pub(crate) names: Names,
    pub(crate) name: Option<String>,
    pub(crate) workers: Option<usize>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) program: Option<PathBuf>,
    pub(crate) replicas: Option<usize>,
    /// How often the host publishes its status (`ServeOptions::status_interval`).
    pub(crate) status_interval: Duration,
}

/// `hostname-pid`.
fn default_name() -> String {
    let uname = rustix::system::uname();
    let node = uname.nodename().to_string_lossy();
    format!("{node}-{}", std::process::id())
}

pub(crate) fn serve(
    url: &str,
    settings: HostSettings,
    connection: Connection,
) -> Result<ServeReport, BuildError> {
    if !process::init_called() {
        return Err(BuildError::new(
            "poolbridge::remote::serve needs poolbridge::process::init() as the first line of \
             main: a host runs jobs in local worker processes, which are this program re-run",
        ));
    }
    let workers = settings
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut builder = ProcessPoolExecutor::builder().max_workers(workers);
    if let Some(program) = &settings.program {
        builder = builder.program(program);
    }
    let pool = builder
        .build()
        .map_err(|err| BuildError::new(format!("could not build the host's local pool: {err}")))?;
    let concurrency = settings.concurrency.unwrap_or(2 * workers).max(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| BuildError::new(format!("could not start the host's runtime: {err}")))?;
    let name = settings.name.clone().unwrap_or_else(default_name);
    let shape = Shape {
        slots: concurrency,
        workers,
    };
    let result = runtime.block_on(run(url, settings, connection, name, pool, shape));
    drop(runtime);
    result
}

/// The host's run slots and local workers, for its status.
#[derive(Clone, Copy)]
struct Shape {
    slots: usize,
    workers: usize,
}

/// What every job task of a host shares.
struct Ctx {
    name: String,
    /// `{prefix}.results`: the only subjects this host publishes to, besides the JetStream
    /// API and the acknowledgement subjects the server gives.
    results: String,
    pid: u32,
    client: async_nats::Client,
    js: jetstream::Context,
    /// The answers bucket, bound at the first job that asks for its answer to be kept.
    answers: tokio::sync::OnceCell<kv::Store>,
    answers_name: String,
    /// The objects bucket, bound at the first job with large arguments or output.
    objects: tokio::sync::OnceCell<jetstream::object_store::ObjectStore>,
    objects_name: String,
    pool: ProcessPoolExecutor,
    /// The cancelled job ids (from the bucket) and the jobs running here, under one lock: a
    /// cancel that arrives as a job starts finds it in one or the other.
    cancels: Mutex<Cancels>,
    heartbeat: Mutex<Duration>,
    counts: HostCounts,
    /// Set (with the reason) when the local pool broke: the host stops.
    broken: watch::Sender<Option<String>>,
    /// When the host started serving (its status's uptime).
    since: Instant,
    shape: Shape,
    /// `{prefix}.status.{name token}`, and how often to publish there.
    status_subject: String,
    status_interval: Duration,
}

#[derive(Default)]
struct HostCounts {
    ok: AtomicU64,
    failed: AtomicU64,
    redelivered: AtomicU64,
    skipped: AtomicU64,
    exhausted: AtomicU64,
    stopped: AtomicU64,
    deadline_exceeded: AtomicU64,
}

#[derive(Default)]
struct Cancels {
    /// Job ids put in the cancelled-jobs bucket, and when this host learnt of them.
    ids: HashMap<String, Instant>,
    /// The jobs running here (in the local pool), by job id.
    running: HashMap<String, Arc<Running>>,
}

/// Why a running job was asked to stop.
const STOP_CANCEL: u8 = 1;
const STOP_DEADLINE: u8 = 2;

/// A job running in the host's local pool: what the cancel follower and the deadline timer
/// stop.
struct Running {
    fut: PoolFuture<Vec<u8>>,
    /// 0 while not asked to stop, then the first reason (`STOP_CANCEL`, `STOP_DEADLINE`).
    why: AtomicU8,
}

impl Running {
    /// Asks the local job to stop (`request_cancel`: cooperative, then killed after the local
    /// pool's grace period), once; the first reason is kept.
    fn stop(&self, why: u8) {
        // ORDERING: Relaxed: the reason is read by the job's own task after the local future
        // ended, which `request_cancel` (under the future's lock) orders after this.
        if self
            .why
            .compare_exchange(0, why, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.fut.request_cancel();
        }
    }

    fn why(&self) -> u8 {
        // ORDERING: Relaxed: see `stop`.
        self.why.load(Ordering::Relaxed)
    }
}

impl Ctx {
    fn cancels(&self) -> std::sync::MutexGuard<'_, Cancels> {
        self.cancels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_cancelled(&self, job_id: &str) -> bool {
        self.cancels().ids.contains_key(job_id)
    }

    /// A job id put in the cancelled-jobs bucket: remembered (a job taken later is skipped),
    /// and a job running here with that id is stopped.
    fn remember_cancel(&self, job_id: String) {
        let mut cancels = self.cancels();
        let now = Instant::now();
        if cancels.ids.len() >= 100_000 {
            cancels
                .ids
                .retain(|_, at| now.duration_since(*at) < CANCEL_MEMORY);
        }
        let running = cancels.running.get(&job_id).cloned();
        cancels.ids.insert(job_id, now);
        drop(cancels);
        if let Some(running) = running {
            running.stop(STOP_CANCEL);
        }
    }

    /// Records a job that now runs in the local pool; stops it at once if it was cancelled
    /// since it was checked.
    fn start_running(&self, job_id: &str, fut: PoolFuture<Vec<u8>>) -> Arc<Running> {
        let running = Arc::new(Running {
            fut,
            why: AtomicU8::new(0),
        });
        let mut cancels = self.cancels();
        cancels
            .running
            .insert(job_id.to_owned(), Arc::clone(&running));
        let cancelled = cancels.ids.contains_key(job_id);
        drop(cancels);
        if cancelled {
            running.stop(STOP_CANCEL);
        }
        running
    }

    fn end_running(&self, job_id: &str) {
        self.cancels().running.remove(job_id);
    }

    fn heartbeat(&self) -> Duration {
        *self
            .heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn set_ack_wait(&self, ack_wait: Duration) {
        let beat = (ack_wait / 3).clamp(MIN_HEARTBEAT, MAX_HEARTBEAT);
        *self
            .heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = beat;
    }

    fn count(&self, counter: &AtomicU64) {
        // ORDERING: Relaxed: a statistic, read after the tasks ended.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The host's status now (`gone`: its last one).
    fn status(&self, gone: bool) -> HostStatusBody {
        // ORDERING: Relaxed: statistics, each read on its own.
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let local = self.pool.metrics();
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let summary = |l: Option<crate::pool::LatencySummary>| {
            l.map(|l| {
                (
                    micros(l.p50),
                    micros(l.p90),
                    micros(l.p99),
                    micros(l.max),
                    l.samples,
                )
            })
        };
        HostStatusBody {
            name: self.name.clone(),
            pid: self.pid,
            slots: self.shape.slots as u64,
            workers: self.shape.workers as u64,
            running: local.running as u64,
            queued: local.queued as u64,
            ok: read(&self.counts.ok),
            failed: read(&self.counts.failed) + read(&self.counts.exhausted),
            stopped: read(&self.counts.stopped),
            redelivered: read(&self.counts.redelivered),
            uptime_us: micros(self.since.elapsed()),
            interval_us: micros(self.status_interval),
            queue_wait: summary(local.queue_wait),
            run_time: summary(local.run_time),
            gone,
        }
    }

    /// Publishes the host's status (core NATS: best effort, nobody may listen).
    async fn publish_status(&self, gone: bool) {
        let Ok(body) = postcard::to_stdvec(&self.status(gone)) else {
            return;
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(wire::H_PROTOCOL, wire::PROTOCOL);
        let _ = self
            .client
            .publish_with_headers(self.status_subject.clone(), headers, body.into())
            .await;
    }

    fn report(&self) -> ServeReport {
        // ORDERING: Relaxed: every job task has ended (joined) before the report is made.
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServeReport {
            name: self.name.clone(),
            ok: read(&self.counts.ok),
            failed: read(&self.counts.failed),
            redelivered: read(&self.counts.redelivered),
            skipped_cancelled: read(&self.counts.skipped),
            exhausted: read(&self.counts.exhausted),
            stopped: read(&self.counts.stopped),
            deadline_exceeded: read(&self.counts.deadline_exceeded),
        }
    }
}

async fn run(
    url: &str,
    settings: HostSettings,
    connection: Connection,
    name: String,
    pool: ProcessPoolExecutor,
    shape: Shape,
) -> Result<ServeReport, BuildError> {
    use tokio::signal::unix::{SignalKind, signal};
    // First: a SIGTERM that arrives while connecting already means "stop".
    let mut term = signal(SignalKind::terminate())
        .map_err(|err| BuildError::new(format!("could not handle SIGTERM: {err}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|err| BuildError::new(format!("could not handle SIGINT: {err}")))?;
    let client = connection
        .connect(url, &format!("poolbridge host {name}"))
        .await?;
    let js = jetstream::new(client.clone());
    let replicas = connect::replicas_for(settings.replicas, url);
    let (mut consumer, bucket) = connect::bind(&client, &js, &settings.names, replicas).await?;
    let (broken, mut broken_rx) = watch::channel(None);
    let status_subject = format!("{}.{}", settings.names.status, wire::status_token(&name));
    let ctx = Arc::new(Ctx {
        name,
        results: settings.names.results.clone(),
        pid: std::process::id(),
        client: client.clone(),
        js: js.clone(),
        answers: tokio::sync::OnceCell::new(),
        answers_name: settings.names.answers.clone(),
        objects: tokio::sync::OnceCell::new(),
        objects_name: settings.names.objects.clone(),
        pool,
        cancels: Mutex::new(Cancels::default()),
        heartbeat: Mutex::new(MAX_HEARTBEAT),
        counts: HostCounts::default(),
        broken,
        since: Instant::now(),
        shape,
        status_subject,
        status_interval: settings.status_interval,
    });
    ctx.set_ack_wait(consumer.cached_info().config.ack_wait);
    follow_cancels(&ctx, bucket).await?;
    let status_ctx = Arc::clone(&ctx);
    let statuses = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(status_ctx.status_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            status_ctx.publish_status(false).await;
        }
    });

    let (stop_tx, mut stop) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = stop_tx.send(true);
    });

    let slots = Arc::new(Semaphore::new(shape.slots));
    let mut tasks = tokio::task::JoinSet::new();
    let mut refreshed = Instant::now();
    let mut failure = None;
    'serve: loop {
        if *stop.borrow() {
            break;
        }
        if let Some(reason) = broken_rx.borrow().clone() {
            failure = Some(reason);
            break;
        }
        // Wait for a free slot, then ask for as many jobs as there are free slots.
        let first = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stop.changed() => continue,
            _ = broken_rx.changed() => continue,
        };
        let mut permits = vec![first];
        while let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
            permits.push(permit);
        }
        while tasks.try_join_next().is_some() {}
        if refreshed.elapsed() > REFRESH_CONSUMER {
            refreshed = Instant::now();
            if let Ok(info) = consumer.info().await {
                ctx.set_ack_wait(info.config.ack_wait);
            }
        }
        let batch = consumer
            .batch()
            .max_messages(permits.len())
            .expires(PULL_EXPIRES)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(_) => {
                // Disconnected, or the server is restarting: try again shortly.
                drop(permits);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        // The server ends a pull at `expires`; if that answer is lost (a restart), stop waiting
        // a little after.
        let deadline = tokio::time::sleep(PULL_EXPIRES + Duration::from_millis(500));
        tokio::pin!(deadline);
        let mut stopping = *stop.borrow();
        loop {
            tokio::select! {
                msg = futures_next(&mut batch) => match msg {
                    Some(Ok(msg)) => {
                        if stopping {
                            // Taken after SIGTERM: give it back at once for another host.
                            let _ = msg.ack_with(AckKind::Nak(None)).await;
                            continue;
                        }
                        let Some(permit) = permits.pop() else {
                            let _ = msg.ack_with(AckKind::Nak(None)).await;
                            continue;
                        };
                        tasks.spawn(handle(Arc::clone(&ctx), msg, permit));
                    }
                    Some(Err(_)) | None => break,
                },
                _ = &mut deadline => break,
                _ = stop.changed(), if !stopping => stopping = true,
            }
        }
        if stopping {
            break 'serve;
        }
    }
    // Graceful: no new jobs; the ones taken finish and are answered.
    while tasks.join_next().await.is_some() {}
    // The last status says the host is gone (flushed below).
    statuses.abort();
    ctx.publish_status(true).await;
    // The acknowledgements out before leaving (not forever: the server may be gone).
    let _ = tokio::time::timeout(Duration::from_secs(5), client.flush()).await;
    if let Some(reason) = failure.or_else(|| broken_rx.borrow().clone()) {
        return Err(BuildError::new(format!(
            "the host stopped: its local process pool broke: {reason}"
        )));
    }
    Ok(ctx.report())
}

/// Loads the cancelled job ids, then follows the bucket in a task of its own.
async fn follow_cancels(ctx: &Arc<Ctx>, bucket: kv::Store) -> Result<(), BuildError> {
    let known = bucket.status().await.map(|s| s.values()).unwrap_or(0);
    let mut entries = bucket.watch_with_history(">").await.map_err(|err| {
        BuildError::new(format!("could not watch the cancelled-jobs bucket: {err}"))
    })?;
    if known > 0 {
        // The watch starts with the current entries; the last has `delta == 0`.
        let caught_up = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(entry)) = futures_next(&mut entries).await {
                let last = entry.delta == 0;
                ctx.remember_cancel(entry.key);
                if last {
                    break;
                }
            }
        })
        .await;
        if caught_up.is_err() {
            eprintln!(
                "poolbridge host {}: the cancelled-jobs bucket did not load within 5 s; jobs \
                 cancelled before this host started may run (their results are dropped)",
                ctx.name
            );
        }
    }
    let ctx = Arc::clone(ctx);
    tokio::spawn(async move {
        loop {
            while let Some(entry) = futures_next(&mut entries).await {
                if let Ok(entry) = entry {
                    if entry.operation == kv::Operation::Put {
                        ctx.remember_cancel(entry.key);
                    }
                }
            }
            // The watch ended (the connection was lost for a while): watch again.
            tokio::time::sleep(Duration::from_millis(200)).await;
            match bucket.watch_with_history(">").await {
                Ok(again) => entries = again,
                Err(_) => continue,
            }
        }
    });
    Ok(())
}

/// Runs one job taken from the consumer.
///
/// `permit` is one of the host's run slots. Only a job that runs holds it: a job refused before
/// it runs (unreadable, unknown, other types, out of deliveries, cancelled) gives it back
/// before its answer is sent, since delivering an answer can take up to `ANSWER_PATIENCE` (a
/// client that is gone), and must not keep other jobs from running meanwhile.
async fn handle(ctx: Arc<Ctx>, msg: jetstream::Message, permit: OwnedSemaphorePermit) {
    let attempt = msg.info().map_or(1, |info| info.delivered.max(1) as u64);
    if attempt > 1 {
        ctx.count(&ctx.counts.redelivered);
    }
    let job = match JobHeaders::parse(msg.headers.as_ref(), &ctx.results) {
        Ok(job) => job,
        Err(reason) => {
            drop(permit);
            refuse(&ctx, &msg, attempt, &reason).await;
            return;
        }
    };
    if attempt > u64::from(job.max_deliver) {
        // Each earlier delivery's host was lost (a host that could answer did): give up.
        drop(permit);
        ctx.count(&ctx.counts.exhausted);
        let body = postcard::to_stdvec(&(attempt as u32 - 1)).unwrap_or_default();
        answer(&ctx, &msg, &job, attempt, Status::Exhausted, body.into()).await;
        let _ = msg.ack().await;
        return;
    }
    if ctx.is_cancelled(&job.id) {
        ctx.count(&ctx.counts.skipped);
        let _ = msg.ack().await;
        return;
    }
    let deadline = match job.deadline_ms.map(|ms| time_left(&msg, ms)) {
        Some(left) if left.is_zero() => {
            // Its deadline passed while it waited in the stream: not run. On a later delivery
            // a lost host may have started it.
            drop(permit);
            ctx.count(&ctx.counts.deadline_exceeded);
            let body = postcard::to_stdvec(&(attempt > 1)).unwrap_or_default();
            answer(&ctx, &msg, &job, attempt, Status::Deadline, body.into()).await;
            let _ = msg.ack().await;
            return;
        }
        // A deadline too far away for `Instant` (centuries) is none.
        Some(left) => Instant::now().checked_add(left),
        None => None,
    };
    let registry = crate::seam::job::registry();
    let index = match registry.index(&job.name) {
        Some(index) if registry.signature_hash(index) == Some(job.signature) => index,
        found => {
            drop(permit);
            let reason = if found.is_none() {
                format!(
                    "worker host `{}` has no job named `{}`: hosts must run a program that links \
                     and registers the same jobs as the client",
                    ctx.name, job.name
                )
            } else {
                format!(
                    "worker host `{}` registers job `{}` with other argument or output types \
                     than the client: run the same build of the jobs on clients and hosts",
                    ctx.name, job.name
                )
            };
            let status = if found.is_none() {
                Status::Unregistered
            } else {
                Status::Ipc
            };
            ctx.count(&ctx.counts.failed);
            answer(&ctx, &msg, &job, attempt, status, reason.into()).await;
            let _ = msg.ack().await;
            return;
        }
    };
    let started = wire::answer_headers(&job.id, Status::Started, &ctx.name, ctx.pid, attempt);
    // The client's run-time sample starts here (`Poolbridge-Run-Us` on the answer).
    let taken = Instant::now();
    // `job.reply` was checked by `JobHeaders::parse`: under this host's results prefix.
    let _ = ctx
        .client
        .publish_with_headers(job.reply.clone(), started, Bytes::new())
        .await;
    // A limit too far away for `Instant` (centuries) is no limit.
    let timeout = job
        .timeout_ms
        .map(Duration::from_millis)
        .filter(|&limit| Instant::now().checked_add(limit).is_some());
    let fetched;
    let args: &[u8] = if job.args_object {
        match heartbeat_while(&ctx, &msg, read_object(&ctx, &wire::args_object(&job.id))).await {
            Ok(bytes) => {
                fetched = bytes;
                &fetched
            }
            Err(reason) => {
                drop(permit);
                ctx.count(&ctx.counts.failed);
                let reason = format!(
                    "worker host `{}` could not read the arguments of job `{}` from the object \
                     store: {reason}",
                    ctx.name, job.name
                );
                answer(&ctx, &msg, &job, attempt, Status::Ipc, reason.into()).await;
                let _ = msg.ack().await;
                return;
            }
        }
    } else {
        &msg.payload
    };
    // The local pool stops the job at its deadline (or skips it if it reaches a worker
    // later); the host's own timer below also resolves a job still waiting in the local queue
    // at its deadline, rather than when a worker frees.
    // With `tracing`: the job runs in a `poolbridge.run` span under the client's `traceparent`
    // (a fresh trace without one), and the local worker continues that trace.
    #[cfg(feature = "tracing")]
    let carried = {
        let received = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(crate::trace::TRACEPARENT))
            .and_then(|v| crate::trace::TraceContext::parse(v.as_str()));
        let (span, ctx) = crate::trace::run_span(&job.name, "remote", received);
        Some((ctx, span))
    };
    #[cfg(not(feature = "tracing"))]
    let carried = ();
    let fut = process::submit_raw(&ctx.pool, index, args, timeout, deadline, carried);
    // The job's `poolbridge::progress()` reports, as the local pool receives them: forwarded
    // to the client while the job runs (`forward_progress`).
    let updates = fut.progress_updates();
    // From here a cancel in the bucket stops the local job (`remember_cancel`).
    let running = ctx.start_running(&job.id, fut.share());
    // Whether the local job had started when the host's deadline timer stopped it.
    let mut started_at_deadline = true;
    let run = async {
        let fut = fut.into_future();
        tokio::pin!(fut);
        if let Some(at) = deadline {
            tokio::select! {
                out = &mut fut => return out,
                () = tokio::time::sleep_until(at.into()) => {
                    started_at_deadline = running.fut.running();
                    running.stop(STOP_DEADLINE);
                }
            }
        }
        fut.await
    };
    let run = forward_progress(&ctx, &job, attempt, updates, run);
    let outcome = heartbeat_while(&ctx, &msg, run).await;
    let held = taken.elapsed();
    ctx.end_running(&job.id);
    // The local slot is free; delivering the answer may take longer.
    drop(permit);
    let started = |started: bool| postcard::to_stdvec(&started).unwrap_or_default();
    let (status, body): (Status, Vec<u8>) = match outcome {
        Ok(bytes) => (Status::Ok, bytes),
        // Stopped as asked: by its client (the bucket), or by its deadline.
        Err(FutureError::Cancelled) if running.why() == STOP_DEADLINE => {
            (Status::Deadline, started(started_at_deadline))
        }
        Err(FutureError::Cancelled) => (Status::Stopped, Vec::new()),
        Err(FutureError::DeadlineExceeded { started: s }) => (Status::Deadline, started(s)),
        Err(FutureError::Panicked(panic)) => {
            (Status::Panicked, panic.message().as_bytes().to_vec())
        }
        Err(FutureError::WorkerDied(exit)) => (
            Status::Died,
            postcard::to_stdvec(&Exit::of(&exit)).unwrap_or_default(),
        ),
        Err(FutureError::JobTimeout(limit)) => (
            Status::Timeout,
            postcard::to_stdvec(&u64::try_from(limit.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or_default(),
        ),
        Err(FutureError::Ipc(reason)) => (Status::Ipc, reason.into_bytes()),
        Err(FutureError::Codec(codec)) => (Status::Codec, crate::seam::call::codec_body(&codec)),
        Err(err @ FutureError::NotRegistered { .. }) => {
            (Status::Unregistered, err.to_string().into_bytes())
        }
        Err(other) => {
            // The local pool broke (a worker cannot start): not the job's fault. Give the job
            // back for another host, and stop this one.
            let _ = msg.ack_with(AckKind::Nak(None)).await;
            let _ = ctx.broken.send(Some(other.to_string()));
            return;
        }
    };
    let counter = match status {
        Status::Ok => &ctx.counts.ok,
        Status::Stopped => &ctx.counts.stopped,
        Status::Deadline => &ctx.counts.deadline_exceeded,
        _ => &ctx.counts.failed,
    };
    ctx.count(counter);
    answer_held(&ctx, &msg, &job, attempt, status, body.into(), Some(held)).await;
    let _ = msg.ack().await;
}

/// Awaits `fut` (the job's local run), forwarding the job's progress `updates` to its client:
/// a `progress` message at most every [`PROGRESS_EVERY`] with the latest value, and the last
/// value (if not sent yet) once the job ended, before the answer. Core NATS publications on the
/// same connection as the answer, so the client receives them in order, and before it.
async fn forward_progress<F: Future>(
    ctx: &Ctx,
    job: &JobHeaders,
    attempt: u64,
    mut updates: ProgressUpdates,
    fut: F,
) -> F::Output {
    let send = |(done, total): (u64, u64)| {
        let headers = wire::answer_headers(&job.id, Status::Progress, &ctx.name, ctx.pid, attempt);
        // `job.reply` was checked by `JobHeaders::parse`: under this host's results prefix.
        ctx.client.publish_with_headers(
            job.reply.clone(),
            headers,
            wire::progress_body(done, total).into(),
        )
    };
    tokio::pin!(fut);
    // The latest value not sent yet, and when the next may go.
    let mut latest = None;
    let mut next = tokio::time::Instant::now();
    let mut ended = false;
    let out = loop {
        tokio::select! {
            out = &mut fut => break out,
            update = futures_next(&mut updates), if !ended => match update {
                Some(value) => latest = Some(value),
                None => ended = true,
            },
            () = tokio::time::sleep_until(next), if latest.is_some() => {
                if let Some(value) = latest.take() {
                    let _ = send(value).await;
                }
                next = tokio::time::Instant::now() + PROGRESS_EVERY;
            }
        }
    };
    // The job ended: its stream yields the last value it changed to, then ends.
    if !ended {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(value) = futures_next(&mut updates).await {
                latest = Some(value);
            }
        })
        .await;
    }
    if let Some(value) = latest {
        let _ = send(value).await;
    }
    out
}

/// The time left of a job's deadline, from `deadline_ms` (its `Poolbridge-Deadline-Ms`, the time
/// left at publication) less the time it waited in the stream: the server's timestamp of the
/// message against this host's clock (`wire::remaining` says what that assumes).
fn time_left(msg: &jetstream::Message, deadline_ms: u64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let stored = msg.info().ok().and_then(|info| {
        u64::try_from(info.published.unix_timestamp_nanos())
            .ok()
            .map(Duration::from_nanos)
    });
    match stored {
        Some(stored) => wire::remaining(deadline_ms, stored, now),
        None => Duration::from_millis(deadline_ms),
    }
}

/// A message that is not a job this host can read: answered with the reason if it names a
/// client by a reply subject under this host's results prefix, dropped with a line on stderr
/// otherwise (a host publishes nowhere else); acknowledged either way (it would fail the same
/// on every host).
async fn refuse(ctx: &Ctx, msg: &jetstream::Message, attempt: u64, reason: &str) {
    let headers = msg.headers.as_ref();
    let get = |name: &str| {
        headers
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_owned())
    };
    let reply = get(wire::H_REPLY).filter(|reply| wire::check_reply(&ctx.results, reply).is_ok());
    match (get(wire::H_JOB_ID), reply) {
        (Some(id), Some(reply)) => {
            let job = JobHeaders {
                id,
                name: get(wire::H_JOB).unwrap_or_default(),
                signature: 0,
                reply,
                max_deliver: 1,
                timeout_ms: None,
                deadline_ms: None,
                keep: false,
                args_object: false,
                object_limit: None,
            };
            let reason = format!(
                "worker host `{}` could not read the job: {reason}",
                ctx.name
            );
            answer(ctx, msg, &job, attempt, Status::Ipc, reason.into()).await;
        }
        _ => eprintln!(
            "poolbridge host {}: dropped a message that is not a poolbridge job it can answer: \
             {reason}",
            ctx.name
        ),
    }
    ctx.count(&ctx.counts.failed);
    let _ = msg.ack().await;
}

/// The objects bucket, bound once.
async fn objects(ctx: &Ctx) -> Result<&jetstream::object_store::ObjectStore, String> {
    ctx.objects
        .get_or_try_init(|| ctx.js.get_object_store(ctx.objects_name.clone()))
        .await
        .map_err(|err| format!("the object store `{}`: {err}", ctx.objects_name))
}

/// Reads a whole object of the objects bucket.
async fn read_object(ctx: &Ctx, name: &str) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let mut object = objects(ctx)
        .await?
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

/// Writes `bytes` as object `name` of the objects bucket (chunked by async-nats).
async fn write_object(ctx: &Ctx, name: &str, bytes: &[u8]) -> Result<(), String> {
    let mut reader = bytes;
    objects(ctx)
        .await?
        .put(name, &mut reader)
        .await
        .map(|_| ())
        .map_err(|err| format!("object `{name}`: {err}"))
}

/// Stores the answer in the answers bucket under the job id (its client asked for it, so that
/// a client that restarts can attach to it), before it is sent: retried, with heartbeats, for
/// up to `ANSWER_PATIENCE` (a cluster electing a leader); then a line on stderr.
async fn keep(
    ctx: &Ctx,
    msg: &jetstream::Message,
    job: &JobHeaders,
    attempt: u64,
    status: Status,
    body: &[u8],
    object: bool,
) {
    let value = Bytes::from(wire::Stored::encode(
        status, &ctx.name, ctx.pid, attempt, body, object,
    ));
    let deadline = Instant::now() + ANSWER_PATIENCE;
    let mut backoff = Duration::from_millis(100);
    let reason = loop {
        let stored = heartbeat_while(ctx, msg, async {
            let bucket = ctx
                .answers
                .get_or_try_init(|| ctx.js.get_key_value(ctx.answers_name.clone()))
                .await
                .map_err(|err| format!("the bucket `{}`: {err}", ctx.answers_name))?;
            bucket
                .put(job.id.clone(), value.clone())
                .await
                .map_err(|err| err.to_string())
        })
        .await;
        match stored {
            Ok(_) => return,
            Err(reason) if Instant::now() + backoff >= deadline => break reason,
            Err(_) => {
                heartbeat_while(ctx, msg, tokio::time::sleep(backoff)).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    };
    eprintln!(
        "poolbridge host {}: could not keep the answer to job {} ({reason}); only its client \
         gets it",
        ctx.name, job.id
    );
}

/// Awaits `fut`, telling the server every heartbeat that the job is still in progress.
async fn heartbeat_while<F: Future>(ctx: &Ctx, msg: &jetstream::Message, fut: F) -> F::Output {
    tokio::pin!(fut);
    let beat = ctx.heartbeat();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = ticks.tick() => {
                let _ = msg.ack_with(AckKind::Progress).await;
            }
        }
    }
}

/// Sends an answer to the job's client and waits for its confirmation, sending it again (and
/// keeping the job alive) while the client does not confirm, up to `ANSWER_PATIENCE`.
async fn answer(
    ctx: &Ctx,
    msg: &jetstream::Message,
    job: &JobHeaders,
    attempt: u64,
    status: Status,
    body: Bytes,
) {
    answer_held(ctx, msg, job, attempt, status, body, None).await;
}

/// [`answer`], saying how long the job was `held` in the local pool (`Poolbridge-Run-Us`).
async fn answer_held(
    ctx: &Ctx,
    msg: &jetstream::Message,
    job: &JobHeaders,
    attempt: u64,
    status: Status,
    body: Bytes,
    held: Option<Duration>,
) {
    // Every job reaching here was read by `JobHeaders::parse`, which checks this; checked again
    // so that no path can publish outside the results prefix.
    if let Err(reason) = wire::check_reply(&ctx.results, &job.reply) {
        eprintln!(
            "poolbridge host {}: no answer to job {}: {reason}",
            ctx.name, job.id
        );
        return;
    }
    let limit = ctx.client.server_info().max_payload;
    let mut object = false;
    let (status, body) = if limit > 0 && body.len() + HEADERS_ALLOWANCE > limit {
        let allowed = job.object_limit.unwrap_or(0);
        let reason = if body.len() as u64 > allowed {
            Some(format!(
                "the output of job `{}` is {} bytes, more than the NATS server accepts in one \
                 message (max_payload {limit} bytes){}: return a reference (a path, a key) \
                 instead, raise the client's RemoteBuilder::large_payloads, or raise \
                 max_payload on the server",
                job.name,
                body.len(),
                if allowed > 0 {
                    format!(" and more than the client's large_payloads limit ({allowed} bytes)")
                } else {
                    String::new()
                }
            ))
        } else {
            let name = wire::output_object(&job.id);
            match heartbeat_while(ctx, msg, write_object(ctx, &name, &body)).await {
                Ok(()) => None,
                Err(err) => Some(format!(
                    "worker host `{}` could not store the output of job `{}` ({} bytes) in the \
                     object store: {err}",
                    ctx.name,
                    job.name,
                    body.len()
                )),
            }
        };
        match reason {
            Some(reason) => (Status::Ipc, Bytes::from(reason)),
            None => {
                object = true;
                (status, Bytes::new())
            }
        }
    } else {
        (status, body)
    };
    if job.keep {
        keep(ctx, msg, job, attempt, status, &body, object).await;
    }
    let mut headers = wire::answer_headers(&job.id, status, &ctx.name, ctx.pid, attempt);
    if object {
        headers.insert(wire::H_OBJECT, "1");
    }
    if let Some(held) = held {
        let micros = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
        headers.insert(wire::H_RUN_US, micros.to_string().as_str());
    }
    let deadline = Instant::now() + ANSWER_PATIENCE;
    let mut backoff = Duration::from_millis(50);
    loop {
        let request =
            ctx.client
                .request_with_headers(job.reply.clone(), headers.clone(), body.clone());
        let sent = heartbeat_while(ctx, msg, tokio::time::timeout(ANSWER_TIMEOUT, request)).await;
        if let Ok(Ok(_)) = sent {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "poolbridge host {}: no client confirmed the answer to job {} ({}) on {} within \
                 {ANSWER_PATIENCE:?}; the answer is dropped (the client is gone)",
                ctx.name, job.id, job.name, job.reply
            );
            return;
        }
        let _ = msg.ack_with(AckKind::Progress).await;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}
