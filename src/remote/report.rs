//! What the client and the hosts report: [`RemoteMetrics`] with its [`HostStatus`] rows and
//! [`StreamDepth`], [`JobHost`] (filled by `client.rs`) and [`ServeReport`] (filled by
//! `host.rs`). A leaf.

use std::time::Duration;

use crate::pool::LatencySummary;

/// A snapshot of a [`RemoteExecutor`]'s counters.
///
/// # Examples
///
/// ```no_run
/// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
/// let m = ex.metrics();
/// println!("{} of {} done, {} delivered again", m.completed + m.failed, m.submitted, m.redelivered);
/// ```
///
/// [`RemoteExecutor`]: crate::RemoteExecutor
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteMetrics {
    /// Jobs submitted (sent or about to be).
    pub submitted: u64,
    /// Jobs answered with a value.
    pub completed: u64,
    /// Jobs that ended with an error (panic, crash, timeout, `max_deliver`, not stored).
    pub failed: u64,
    /// Jobs cancelled before a host answered: before a host took them (`cancel()`), or stopped
    /// while running (`request_cancel()`, or a dropped awaitable), whether their host confirmed
    /// the stop or the stop patience ran out.
    pub cancelled: u64,
    /// Of `cancelled`, the running jobs whose host confirmed that it stopped them (answered
    /// "stopped"); the rest of the stop requests were given up after
    /// [`stop_patience`](crate::remote::RemoteBuilder::stop_patience) or crossed a completion.
    pub stopped: u64,
    /// Jobs that ended with [`FutureError::DeadlineExceeded`](crate::FutureError::DeadlineExceeded)
    /// (counted in `failed` too): not started by their deadline (at submit, or by the host that
    /// took them), or stopped by their host when it passed.
    pub deadline_exceeded: u64,
    /// Jobs started on a second or later delivery: a host that had taken them was lost, whether
    /// it had started them or still held them queued. Counted once per job.
    pub redelivered: u64,
    /// Publications sent again because the server did not confirm the first in time (stored
    /// once all the same: same job id).
    pub republished: u64,
    /// Jobs submitted and not ended yet.
    pub pending: usize,
    /// Every worker host heard of, by name: the status each publishes every
    /// [`ServeOptions::status_interval`](crate::remote::ServeOptions::status_interval), with its
    /// age and whether it is alive, silent or gone ([`HostState`]). The client follows the
    /// statuses from the first `metrics()` call on (nothing before, and nothing per job): the
    /// first call has none yet, a later one every host that published since. Sorted by name;
    /// a host whose last status is over 10 minutes old (gone, or silent that long) is dropped.
    pub hosts: Vec<HostStatus>,
    /// The job stream's depth, from the hosts' consumer at the server: refreshed in the
    /// background every [`DEFAULT_STATUS_INTERVAL`](crate::remote::DEFAULT_STATUS_INTERVAL) from
    /// the first `metrics()` call on (never on the submit path); `None` until known.
    pub stream: Option<StreamDepth>,
    /// Time from `submit` to the `started` notice of the host that took the job (the time in
    /// the stream, the pickup and one network hop; not the host's local queue), over every host,
    /// on this client's clock. Every job that started is timed; `None` before the first. Over
    /// the last one to two 10 s windows, as [`PoolMetrics::queue_wait`](crate::PoolMetrics).
    pub queue_wait: Option<LatencySummary>,
    /// How long hosts held the jobs this client got answers for, from the `started` notice to
    /// the end of the job in the host's local pool (its local queue wait included: each host's
    /// [`HostStatus::queue_wait`] and [`HostStatus::run_time`] split it), measured by the host,
    /// over every host. `None` before the first answer.
    pub run_time: Option<LatencySummary>,
}

/// Whether a worker host is publishing its status: [`HostStatus::state`].
///
/// # Examples
///
/// ```no_run
/// use poolbridge::remote::HostState;
///
/// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
/// let lost: Vec<_> = ex
///     .metrics()
///     .hosts
///     .into_iter()
///     .filter(|h| h.state == HostState::Silent)
///     .map(|h| h.name)
///     .collect();
/// println!("hosts not heard of for three intervals: {lost:?}");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HostState {
    /// Its last status is less than three of its status intervals old.
    #[default]
    Alive,
    /// No status for three of its intervals or more: stopped without saying so (killed,
    /// crashed), frozen, or cut off from the server. Its jobs move to other hosts after
    /// `ack_wait`.
    Silent,
    /// It stopped gracefully and said so (its last status).
    Gone,
}

impl HostState {
    /// `"alive"`, `"silent"` or `"gone"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(poolbridge::remote::HostState::Silent.as_str(), "silent");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Alive => "alive",
            HostState::Silent => "silent",
            HostState::Gone => "gone",
        }
    }
}

/// A worker host as its last status said: [`RemoteMetrics::hosts`].
///
/// # Examples
///
/// ```no_run
/// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
/// let _ = ex.metrics(); // starts following the hosts' statuses
/// std::thread::sleep(std::time::Duration::from_secs(2));
/// for host in ex.metrics().hosts {
///     println!("{} ({}): {}/{} slots busy, {} ok", host.name, host.state.as_str(),
///              host.running, host.slots, host.ok);
/// }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostStatus {
    /// The host's name ([`ServeOptions::name`](crate::remote::ServeOptions::name)).
    pub name: String,
    /// The host's process id (on its machine).
    pub pid: u32,
    /// Its run slots ([`ServeOptions::concurrency`](crate::remote::ServeOptions::concurrency)):
    /// how many jobs it takes at once.
    pub slots: usize,
    /// Its local pool's worker processes ([`ServeOptions::workers`](crate::remote::ServeOptions::workers)).
    pub workers: usize,
    /// Jobs running in its local pool's workers (those sent ahead to a busy worker included).
    pub running: usize,
    /// Jobs taken and waiting in its local pool's queue for a worker.
    pub queued: usize,
    /// Jobs it answered with a value since it started.
    pub ok: u64,
    /// Jobs it answered with an error (panic, crash, timeout, unknown job, `max_deliver`).
    pub failed: u64,
    /// Running jobs it stopped because their client asked.
    pub stopped: u64,
    /// Jobs it received on a second or later delivery (another host was lost).
    pub redelivered: u64,
    /// Queue wait in its local pool (taken → a worker started it), as the local pool measures
    /// it ([`PoolMetrics::queue_wait`](crate::PoolMetrics::queue_wait)); `None` before a job.
    pub queue_wait: Option<LatencySummary>,
    /// Run time in its local pool's workers
    /// ([`PoolMetrics::run_time`](crate::PoolMetrics::run_time)); `None` before a job.
    pub run_time: Option<LatencySummary>,
    /// How long it had been serving when it published this status.
    pub uptime: Duration,
    /// How long ago this client received this status.
    pub age: Duration,
    /// The interval at which it publishes its status.
    pub interval: Duration,
    /// Alive, silent (no status for three intervals) or gone (stopped gracefully).
    pub state: HostState,
}

/// How many jobs wait in the job stream: [`RemoteMetrics::stream`], from the hosts' durable
/// consumer's info at the server.
///
/// # Examples
///
/// ```no_run
/// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
/// if let Some(depth) = ex.metrics().stream {
///     println!("{} waiting, {} taken by hosts", depth.undelivered, depth.unacknowledged);
/// }
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamDepth {
    /// Jobs in the stream that no host has taken yet (the consumer's pending count).
    pub undelivered: u64,
    /// Jobs delivered to a host and not acknowledged yet: running, queued on their host, or
    /// held by a host that was lost (they are delivered again after `ack_wait`).
    pub unacknowledged: u64,
    /// How long ago this client read these numbers.
    pub age: Duration,
}

/// What a worker host did, returned by [`serve`] after a graceful stop.
///
/// # Examples
///
/// ```no_run
/// poolbridge::process::init();
/// let report = poolbridge::remote::serve("nats://127.0.0.1:4222", Default::default()).unwrap();
/// eprintln!("host {} ran {} jobs ({} failed)", report.name, report.ok + report.failed, report.failed);
/// ```
///
/// [`serve`]: crate::remote::serve()
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// The host's name ([`ServeOptions::name`](crate::remote::ServeOptions::name)).
    pub name: String,
    /// Jobs answered with a value.
    pub ok: u64,
    /// Jobs answered with an error (panic, crash, timeout, unknown job).
    pub failed: u64,
    /// Jobs this host received on a second or later delivery (another host was lost).
    pub redelivered: u64,
    /// Jobs skipped because their client cancelled them.
    pub skipped_cancelled: u64,
    /// Running jobs stopped because their client asked ([`PoolFuture::request_cancel`], a
    /// dropped awaitable, a cancel that crossed the pickup), answered "stopped": each gave its
    /// run slot back once its local process job ended, and was not retried.
    ///
    /// [`PoolFuture::request_cancel`]: crate::PoolFuture::request_cancel
    pub stopped: u64,
    /// Jobs answered `DeadlineExceeded`: taken after their deadline (not run), or stopped when
    /// it passed while they ran.
    pub deadline_exceeded: u64,
    /// Jobs answered `WorkerDied` because `max_deliver` deliveries had lost their host.
    pub exhausted: u64,
}

/// Which worker host started or ran a remote job: [`RemoteExecutor::job_host`].
///
/// # Examples
///
/// ```no_run
/// #[poolbridge::job]
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// fn main() {
///     poolbridge::process::init();
///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
///     let fut = ex.submit(square, (7,));
///     assert_eq!(fut.result(), Ok(49));
///     let host = ex.job_host(&fut).expect("a host answered");
///     println!("ran on {} (pid {}), delivery {}", host.name, host.pid, host.attempt);
/// }
/// ```
///
/// [`RemoteExecutor::job_host`]: crate::RemoteExecutor::job_host
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobHost {
    /// The host's name: [`ServeOptions::name`](crate::remote::ServeOptions::name), by default
    /// `{hostname}-{pid}`.
    pub name: String,
    /// The host's process id (on its machine).
    pub pid: u32,
    /// Which delivery of the job this host had: 1 for the first, more after earlier hosts were
    /// lost.
    pub attempt: u32,
}
