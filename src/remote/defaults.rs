//! The defaults of the settings of a client ([`RemoteBuilder`](crate::remote::RemoteBuilder))
//! and a host ([`ServeOptions`](crate::remote::ServeOptions)); a leaf, read by the builders and
//! by `connect.rs`.

use std::time::Duration;

/// The stream's name unless [`RemoteBuilder::stream`] says otherwise. It also names the hosts'
/// consumer (`POOLBRIDGE_hosts`) and the cancelled-jobs bucket (`POOLBRIDGE_cancelled`).
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::DEFAULT_STREAM, "POOLBRIDGE");
/// ```
///
/// [`RemoteBuilder::stream`]: crate::remote::RemoteBuilder::stream
pub const DEFAULT_STREAM: &str = "POOLBRIDGE";

/// The subject prefix unless [`RemoteBuilder::subject_prefix`] says otherwise: jobs go to
/// `poolbridge.jobs`, answers to `poolbridge.results.{client id}`.
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::DEFAULT_SUBJECT_PREFIX, "poolbridge");
/// ```
///
/// [`RemoteBuilder::subject_prefix`]: crate::remote::RemoteBuilder::subject_prefix
pub const DEFAULT_SUBJECT_PREFIX: &str = "poolbridge";

/// How long the server waits for a host's acknowledgement or heartbeat before it delivers a job
/// again: how long a lost host's jobs wait before another host takes them.
///
/// Hosts send a heartbeat (`AckProgress`) every third of it, at most every second, while a job
/// runs or waits in their local pool, so a long job is never redelivered while its host lives:
/// only a host that died, hung, or lost the server for this long lets it pass.
///
/// The trade-off: shorter notices a lost host sooner (JetStream's own default, 30 s, left the
/// last jobs of a killed host waiting half a minute); longer tolerates a host whose heartbeats
/// stall (a host so overloaded that its runtime thread stops for seconds, a network blip, a
/// server restart that takes longer than this). Such a stall makes a job run twice, never lose
/// it (the second answer is dropped). 5 s is five missed heartbeats.
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::DEFAULT_ACK_WAIT, std::time::Duration::from_secs(5));
/// ```
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(5);

/// How many times a job is delivered to a host that is then lost, before its future fails with
/// [`FutureError::WorkerDied`].
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::DEFAULT_MAX_DELIVER, 3);
/// ```
///
/// [`FutureError::WorkerDied`]: crate::FutureError::WorkerDied
pub const DEFAULT_MAX_DELIVER: u32 = 3;

/// The stream's duplicate window: a job published again with the same id within it is stored
/// once (JetStream's default).
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::DEFAULT_DEDUP_WINDOW, std::time::Duration::from_secs(120));
/// ```
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(120);

/// How long a client waits for the server to confirm that it stored a job before it publishes
/// it again (same id: stored once).
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::DEFAULT_PUBLISH_TIMEOUT, std::time::Duration::from_secs(5));
/// ```
pub const DEFAULT_PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client waits for the host of a running job to confirm that it stopped the job
/// ([`PoolFuture::request_cancel`], a dropped awaitable) before the future resolves to
/// `Cancelled` anyway; a later answer is dropped.
///
/// The trade-off: it must cover the host's stop, which is cooperative first and then, for a
/// job that does not check [`cancelled()`], a kill of its worker after the process pool's grace
/// period, plus a round trip through the server. Shorter resolves the future sooner when the
/// host is gone (crashed, partitioned), but may resolve it while the host still runs the job
/// and holds its slot. Longer leaves a future of a lost host waiting that long. A job whose
/// host was lost is not run again: its id is in the cancelled-jobs bucket, which the next host
/// checks.
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::DEFAULT_STOP_PATIENCE, std::time::Duration::from_secs(10));
/// ```
///
/// [`PoolFuture::request_cancel`]: crate::PoolFuture::request_cancel
/// [`cancelled()`]: crate::cancelled()
pub const DEFAULT_STOP_PATIENCE: Duration = Duration::from_secs(10);

/// How often a worker host forwards a running job's progress ([`progress()`]) to its client at
/// most: one `progress` message per job per interval, carrying the latest value; the last value
/// is always sent, right before the answer. Fixed (not a setting).
///
/// The trade-off: what it buys is a bound on the traffic a chatty job makes, whatever its
/// `progress()` rate: at most 10 messages a second per running job through the server and the
/// client's NATS thread (a host's worker process already coalesces to one report per 10 ms
/// locally; 1,000 jobs running across the hosts make at most 10,000 small messages a second).
/// What it costs: a client sees a value up to 100 ms old (plus a network hop), and a job that
/// reports less often than this sends every report. Shorter follows a progress bar more
/// smoothly for more messages; longer would lag behind what a person watching notices.
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::PROGRESS_EVERY, std::time::Duration::from_millis(100));
/// ```
///
/// [`progress()`]: crate::progress()
pub const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// How often a worker host publishes its status unless
/// [`ServeOptions::status_interval`](crate::remote::ServeOptions::status_interval) says
/// otherwise, and how often a client that follows them
/// ([`RemoteMetrics::hosts`](crate::remote::RemoteMetrics::hosts)) reads the stream's depth. A
/// host silent for three intervals shows as silent.
///
/// The trade-off: one small core NATS message per host per interval, to every client that
/// follows the statuses (one that never called `metrics()` receives none), and one consumer
/// info request per interval per following client. Shorter notices a silent host sooner (3 s
/// here) for more messages; longer makes a dashboard lag.
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::DEFAULT_STATUS_INTERVAL, std::time::Duration::from_secs(1));
/// ```
pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(1);
