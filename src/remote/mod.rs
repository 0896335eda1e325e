//! [`RemoteExecutor`]: the same `#[poolbridge::job]` handles and the same [`PoolFuture`]s, run by
//! worker hosts on other machines through NATS JetStream (feature `nats`).
//!
//! When one machine is not enough, Python users reach for dask.distributed's `Client` or
//! mpi4py's `MPIPoolExecutor`: the `concurrent.futures` interface on a cluster. This module is
//! that path on a proven engine, not a home-made one: jobs go to a JetStream work-queue stream
//! (stored, acknowledged, redelivered, deduplicated by the server), hosts pull them with
//! [`serve`], and each host runs them in a local [`ProcessPoolExecutor`](crate::ProcessPoolExecutor),
//! so a crashing job fails only itself.
//!
//! | file           | concept                                                                |
//! |----------------|------------------------------------------------------------------------|
//! | `wire.rs`      | subjects, headers and bodies of the messages                           |
//! | `connect.rs`   | connection settings (to async-nats), the stream, consumer and bucket   |
//! | `client.rs`    | the client: pending jobs, the NATS runtime thread, answers → futures    |
//! | `completer.rs` | the threads that publish outcomes and run done callbacks               |
//! | `host.rs`      | the worker host: pulling, heartbeats, answering, graceful stop         |
//!
//! The design note `src/remote/README.md` follows a job through its life and gives the delivery
//! semantics and the failure table; `docs/remote.md` is the user's guide (deployment,
//! idempotency advice).
//!
//! # Delivery semantics in one table
//!
//! | what happens                                  | what the future resolves to                      |
//! |-----------------------------------------------|--------------------------------------------------|
//! | the job returns                               | `Ok(value)` (the first answer; a second is dropped) |
//! | the job panics                                | [`FutureError::Panicked`], not retried           |
//! | the job's worker process dies on its host     | [`FutureError::WorkerDied`] (pid, signal, host), not retried |
//! | the job runs past its timeout                 | [`FutureError::JobTimeout`], not retried         |
//! | the host dies or hangs (no heartbeat)         | the job is delivered again after `ack_wait`      |
//! | … `max_deliver` times                         | [`FutureError::WorkerDied`] with [`attempts`](crate::WorkerExit::attempts) |
//! | `cancel()` before a host took it              | `Cancelled`; hosts skip it                        |
//! | a re-sent publication (lost acknowledgement)  | stored once (`Nats-Msg-Id` = job id, within the dedup window) |
//!
//! At-least-once: a job whose host was lost after it ran, but before it acknowledged the job,
//! runs again. Make jobs idempotent (see `docs/remote.md`).
//!
//! Hosts trust nothing in a job message they cannot check: they run only jobs registered in
//! their own program (same name and types), and publish only to reply subjects under the
//! executor's results prefix. `docs/remote.md` ("Security") has the NATS permissions a client
//! and a host need.
//!
//! # Examples
//!
//! ```no_run
//! use poolbridge::remote::{RemoteExecutor, ServeOptions};
//!
//! #[poolbridge::job]
//! fn thumbnail(path: String, width: u32) -> Result<Vec<u8>, String> {
//!     Ok(format!("{path}@{width}").into_bytes())
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     poolbridge::process::init(); // first: hosts run jobs in local worker processes
//!     if std::env::args().nth(1).as_deref() == Some("host") {
//!         // A worker host: serves until SIGTERM.
//!         poolbridge::remote::serve("nats://127.0.0.1:4222", ServeOptions::default())?;
//!         return Ok(());
//!     }
//!     let ex = RemoteExecutor::connect("nats://127.0.0.1:4222")?;
//!     let f = ex.submit(thumbnail, ("a.png".into(), 128));
//!     println!("{:?}", f.join()?);
//!     Ok(())
//! }
//! ```

mod client;
mod completer;
mod connect;
mod host;
mod wire;

use std::fmt;
use std::future::{Future, poll_fn};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use async_nats;

// For the documentation's links.
#[allow(unused_imports)]
use crate::error::FutureError;
use crate::future::PoolFuture;
use crate::map::{Map, MapOptions};
use crate::process::{Job, SubmitOptions};

/// The stream's name unless [`RemoteBuilder::stream`] says otherwise. It also names the hosts'
/// consumer (`POOLBRIDGE_hosts`) and the cancelled-jobs bucket (`POOLBRIDGE_cancelled`).
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::DEFAULT_STREAM, "POOLBRIDGE");
/// ```
pub const DEFAULT_STREAM: &str = "POOLBRIDGE";

/// The subject prefix unless [`RemoteBuilder::subject_prefix`] says otherwise: jobs go to
/// `poolbridge.jobs`, answers to `poolbridge.results.{client id}`.
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::remote::DEFAULT_SUBJECT_PREFIX, "poolbridge");
/// ```
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

/// `StreamExt::next` for the async-nats streams, without another dependency.
pub(crate) async fn futures_next<S>(stream: &mut S) -> Option<S::Item>
where
    S: futures_core::Stream + Unpin,
{
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Why a [`RemoteExecutor`] could not connect, or why [`serve`] stopped: the message says what
/// to change (the URL, the server's JetStream, a name, `process::init()`).
///
/// # Examples
///
/// ```
/// // Nothing listens on port 1: the message says so and how to start a server.
/// let err = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:1").unwrap_err();
/// assert!(err.to_string().contains("nats-server -js"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteError {
    message: String,
}

impl RemoteError {
    pub(crate) fn new(message: impl Into<String>) -> RemoteError {
        RemoteError {
            message: message.into(),
        }
    }

    /// The message, as `Display` prints it.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = poolbridge::RemoteExecutor::builder().stream("a.b").connect("nats://127.0.0.1:1");
    /// assert!(err.unwrap_err().message().contains("stream name"));
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoteError {}

/// Connection settings passed through to async-nats: credentials, TLS, and any other
/// [`ConnectOptions`](async_nats::ConnectOptions). Used by [`RemoteBuilder::nats`] and
/// [`ServeOptions::nats`].
///
/// poolbridge's own settings come first (reconnecting forever with a back-off of 50 ms to 1 s);
/// [`connect_options`](Self::connect_options) can change them. Connecting, the NATS handshake
/// included, is bounded by 5 s whatever the options say: an address where something accepts
/// connections but does not speak NATS is an error, not a hang.
///
/// # Examples
///
/// ```
/// use poolbridge::remote::NatsOptions;
///
/// let nats = NatsOptions::default()
///     .credentials_file("/etc/nats/worker.creds")
///     .require_tls(true)
///     .root_certificates("/etc/nats/ca.pem");
/// ```
#[derive(Debug, Default)]
pub struct NatsOptions {
    connection: connect::Connection,
}

impl NatsOptions {
    /// Authenticates with a NATS credentials file (a user JWT and its nkey seed, as `nsc`
    /// writes them).
    ///
    /// # Examples
    ///
    /// ```
    /// let nats = poolbridge::remote::NatsOptions::default().credentials_file("worker.creds");
    /// ```
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.connection.credentials_file = Some(path.into());
        self
    }

    /// Authenticates with a user name and password.
    ///
    /// # Examples
    ///
    /// ```
    /// let nats = poolbridge::remote::NatsOptions::default().user_and_password("batch", "s3cret");
    /// ```
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.connection.user_and_password = Some((user.into(), password.into()));
        self
    }

    /// Authenticates with a token.
    ///
    /// # Examples
    ///
    /// ```
    /// let nats = poolbridge::remote::NatsOptions::default().token("t0ken");
    /// ```
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.connection.token = Some(token.into());
        self
    }

    /// Refuses to connect without TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// let nats = poolbridge::remote::NatsOptions::default().require_tls(true);
    /// ```
    pub fn require_tls(mut self, required: bool) -> Self {
        self.connection.require_tls = required;
        self
    }

    /// Trusts the certificate authorities in this PEM file (for a server with a private CA).
    ///
    /// # Examples
    ///
    /// ```
    /// let nats = poolbridge::remote::NatsOptions::default().root_certificates("ca.pem");
    /// ```
    pub fn root_certificates(mut self, path: impl Into<PathBuf>) -> Self {
        self.connection.root_certificates.push(path.into());
        self
    }

    /// Presents this client certificate and key (PEM files): mutual TLS.
    ///
    /// # Examples
    ///
    /// ```
    /// let nats = poolbridge::remote::NatsOptions::default().client_certificate("me.pem", "me.key");
    /// ```
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.connection.client_certificate = Some((cert.into(), key.into()));
        self
    }

    /// Changes the async-nats [`ConnectOptions`](async_nats::ConnectOptions) in any other way
    /// (nkeys, a JWT callback, ping interval, a rustls `ClientConfig`, ...), after poolbridge's
    /// settings and the ones above.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let nats = poolbridge::remote::NatsOptions::default()
    ///     .connect_options(|options| options.ping_interval(Duration::from_secs(10)));
    /// ```
    pub fn connect_options<F>(mut self, configure: F) -> Self
    where
        F: FnOnce(async_nats::ConnectOptions) -> async_nats::ConnectOptions + Send + 'static,
    {
        self.connection.configure = Some(Box::new(configure));
        self
    }
}

/// A snapshot of a [`RemoteExecutor`]'s counters.
///
/// # Examples
///
/// ```no_run
/// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
/// let m = ex.metrics();
/// println!("{} of {} done, {} delivered again", m.completed + m.failed, m.submitted, m.redelivered);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteMetrics {
    /// Jobs submitted (sent or about to be).
    pub submitted: u64,
    /// Jobs answered with a value.
    pub completed: u64,
    /// Jobs that ended with an error (panic, crash, timeout, `max_deliver`, not stored).
    pub failed: u64,
    /// Jobs cancelled before a host answered.
    pub cancelled: u64,
    /// Jobs started on a second or later delivery: a host that had taken them was lost, whether
    /// it had started them or still held them queued. Counted once per job.
    pub redelivered: u64,
    /// Publications sent again because the server did not confirm the first in time (stored
    /// once all the same: same job id).
    pub republished: u64,
    /// Jobs submitted and not ended yet.
    pub pending: usize,
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
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// The host's name ([`ServeOptions::name`]).
    pub name: String,
    /// Jobs answered with a value.
    pub ok: u64,
    /// Jobs answered with an error (panic, crash, timeout, unknown job).
    pub failed: u64,
    /// Jobs this host received on a second or later delivery (another host was lost).
    pub redelivered: u64,
    /// Jobs skipped because their client cancelled them.
    pub skipped_cancelled: u64,
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
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobHost {
    /// The host's name: [`ServeOptions::name`], by default `{hostname}-{pid}`.
    pub name: String,
    /// The host's process id (on its machine).
    pub pid: u32,
    /// Which delivery of the job this host had: 1 for the first, more after earlier hosts were
    /// lost.
    pub attempt: u32,
}

/// Runs registered jobs on worker hosts through NATS JetStream and hands out ordinary
/// [`PoolFuture`]s: dask.distributed's `Client.submit`, or `MPIPoolExecutor`, on a proven
/// message engine.
///
/// * Jobs are the same `#[poolbridge::job]` handles as for
///   [`ProcessPoolExecutor`](crate::ProcessPoolExecutor); the client and the hosts must link and
///   register the same jobs (checked per call: the name and a hash of the types).
/// * [`connect`](Self::connect) is blocking and needs no async runtime: the async-nats client runs
///   on a private thread. [`submit`](Self::submit) encodes the arguments on the calling thread
///   and returns at once; the job is stored in a JetStream work-queue stream, and a host started
///   with [`serve`] takes it.
/// * The futures are ordinary [`PoolFuture`]s: `result`, `join`, callbacks,
///   [`wait`](crate::wait()), [`as_completed`](crate::as_completed) and `.await` work
///   unchanged, mixed with thread-pool and process-pool futures. Done callbacks run on a
///   completer thread of the executor, never on the thread that drives the NATS client; one that
///   blocks does not delay other results.
/// * A future is `Running` once a host says it took the job; `cancel()` before that succeeds
///   and hosts skip the job (a cancel that crosses the host's pickup in flight cannot stop it;
///   its result is then dropped).
/// * Dropping the executor is `shutdown(wait = true, cancel_futures = false)`: it waits for the
///   answers of the jobs submitted. With no host running, that is forever; shut down with
///   `cancel_futures = true` to leave at once.
///
/// See the [module docs](crate::remote) for the delivery semantics.
///
/// # Examples
///
/// ```no_run
/// use poolbridge::{RemoteExecutor, ThreadPoolExecutor, as_completed};
///
/// #[poolbridge::job]
/// fn score(doc: String) -> usize {
///     doc.split_whitespace().count()
/// }
///
/// fn main() -> Result<(), poolbridge::remote::RemoteError> {
///     poolbridge::process::init();
///     let remote = RemoteExecutor::connect("nats://127.0.0.1:4222")?;
///     let local = ThreadPoolExecutor::new(2);
///     let futures = vec![
///         remote.submit(score, ("a remote job".into(),)),
///         local.submit(|| "a local one".split_whitespace().count()),
///     ];
///     for f in as_completed(&futures) {
///         println!("{:?}", f.result());
///     }
///     Ok(())
/// }
/// ```
pub struct RemoteExecutor {
    shared: Arc<client::Shared>,
}

impl RemoteExecutor {
    /// Connects to the NATS server at `url` (blocking) with the default settings, creating the
    /// stream, the hosts' consumer and the cancelled-jobs bucket if they do not exist. Several
    /// servers of a cluster: `"nats://a:4222,nats://b:4222"`.
    ///
    /// # Errors
    ///
    /// If no server answers at `url`, if JetStream is not enabled there, or if a stream of the
    /// same name exists with another configuration: the message says which.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222")?;
    /// # Ok::<(), poolbridge::remote::RemoteError>(())
    /// ```
    pub fn connect(url: &str) -> Result<RemoteExecutor, RemoteError> {
        RemoteExecutor::builder().connect(url)
    }

    /// [`connect`](Self::connect) for async code: see [`RemoteBuilder::connect_async`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), poolbridge::remote::RemoteError> {
    /// let ex = poolbridge::RemoteExecutor::connect_async("nats://127.0.0.1:4222").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_async(
        url: &str,
    ) -> impl Future<Output = Result<RemoteExecutor, RemoteError>> + Send + 'static {
        RemoteExecutor::builder().connect_async(url)
    }

    /// A builder for other settings: names, `ack_wait`, `max_deliver`, a job timeout,
    /// credentials and TLS.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let ex = poolbridge::RemoteExecutor::builder()
    ///     .stream("THUMBNAILS")
    ///     .subject_prefix("acme.thumbnails")
    ///     .ack_wait(Duration::from_secs(10))
    ///     .max_deliver(5)
    ///     .connect("nats://127.0.0.1:4222")?;
    /// # Ok::<(), poolbridge::remote::RemoteError>(())
    /// ```
    pub fn builder() -> RemoteBuilder {
        RemoteBuilder::default()
    }

    /// Sends `job(args)` to the worker hosts and returns its future at once.
    ///
    /// The arguments are serialized now, on this thread: a `Serialize` impl that fails (or
    /// panics), or a job that is not registered here, resolves the future to
    /// [`FutureError::Ipc`] at once. After [`shutdown`](Self::shutdown) the future is already
    /// done with `Err(FutureError::Shutdown)`. If the server does not confirm storing the job
    /// within half the dedup window (publishing it again meanwhile), it resolves to
    /// [`FutureError::BrokenPool`] with the reason.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn area(width: f64, height: f64) -> f64 {
    ///     width * height
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     assert_eq!(ex.submit(area, (3.0, 4.0)).join(), Ok(12.0));
    /// }
    /// ```
    pub fn submit<J: Job>(&self, job: J, args: J::Args) -> PoolFuture<J::Output> {
        self.shared.submit(job, args, None)
    }

    /// [`submit`](Self::submit) with options: a [`timeout`](SubmitOptions::timeout) for this job,
    /// enforced by its host (the worker process is killed past it and the future resolves to
    /// [`FutureError::JobTimeout`]; not retried).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use poolbridge::{FutureError, SubmitOptions};
    ///
    /// #[poolbridge::job]
    /// fn spin() {
    ///     loop {}
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     let options = SubmitOptions::default().timeout(Duration::from_millis(200));
    ///     let err = ex.submit_with(spin, (), options).join().unwrap_err();
    ///     assert_eq!(err, FutureError::JobTimeout(Duration::from_millis(200)));
    /// }
    /// ```
    pub fn submit_with<J: Job>(
        &self,
        job: J,
        args: J::Args,
        options: SubmitOptions,
    ) -> PoolFuture<J::Output> {
        self.shared.submit(job, args, options.get_timeout())
    }

    /// Runs `job` on every item on the worker hosts and yields the results in input order:
    /// Python's `Executor.map`. Every item is submitted at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn cube(n: i64) -> i64 {
    ///     n * n * n
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     let cubes: Vec<i64> = ex.map(cube, (1..=4).map(|n| (n,))).map(Result::unwrap).collect();
    ///     assert_eq!(cubes, [1, 8, 27, 64]);
    /// }
    /// ```
    pub fn map<J, I>(&self, job: J, items: I) -> Map<J::Output>
    where
        J: Job,
        I: IntoIterator<Item = J::Args>,
    {
        let pending = items
            .into_iter()
            .map(|args| self.submit(job, args))
            .collect();
        Map::eager(pending, &MapOptions::default())
    }

    /// [`map`](Self::map) with options: a timeout for the whole iteration and a `buffersize`
    /// that keeps at most that many jobs in flight, pulling items lazily.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use poolbridge::MapOptions;
    ///
    /// #[poolbridge::job]
    /// fn double(n: u64) -> u64 {
    ///     n * 2
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     let options = MapOptions::default().buffersize(100);
    ///     let total: u64 = ex.map_with(double, (0..10_000).map(|n| (n,)), options).map(Result::unwrap).sum();
    ///     assert_eq!(total, 99_990_000);
    /// }
    /// ```
    pub fn map_with<J, I>(&self, job: J, items: I, options: MapOptions) -> Map<J::Output>
    where
        J: Job,
        I: IntoIterator<Item = J::Args>,
        I::IntoIter: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let closed = Arc::clone(&self.shared);
        Map::submitting(
            items.into_iter(),
            &options,
            move |args| shared.submit(job, args, None),
            move || closed.is_closed(),
        )
    }

    /// Stops accepting jobs: Python's `Executor.shutdown(wait, cancel_futures)`.
    ///
    /// * Later `submit`s return futures already done with `Err(FutureError::Shutdown)`.
    /// * `cancel_futures = true` cancels every job no host has taken (hosts skip them).
    /// * `wait = true` returns once every submitted job has its answer (or was cancelled), then
    ///   closes the connection. `wait = false` returns at once; answers still arrive until the
    ///   executor is dropped.
    ///
    /// Idempotent; callable from a done callback.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    /// ex.shutdown(true, true); // cancel what no host has started, wait for the rest
    /// assert!(ex.is_shutdown());
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.shutdown(wait, cancel_futures);
    }

    /// `true` once [`shutdown`](Self::shutdown) was called (or the connection was lost for good).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    /// assert!(!ex.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_closed()
    }

    /// Which worker host has `fut`'s job: the host that answered it once `fut` is done, the one
    /// running it while it is `Running`. `None` before a host took it, for a job cancelled
    /// before that, and for a future of another executor.
    ///
    /// The name is the host's [`ServeOptions::name`] (by default `{hostname}-{pid}`); a failed
    /// job also names its host in its error
    /// ([`WorkerExit::host`](crate::WorkerExit::host)). The executor remembers the hosts of
    /// the futures that are still held somewhere; dropping every handle to a future forgets it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use poolbridge::as_completed;
    ///
    /// #[poolbridge::job]
    /// fn render(frame: u32) -> Vec<u8> {
    ///     vec![0; frame as usize]
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     let frames: Vec<_> = (0..100).map(|i| ex.submit(render, (i,))).collect();
    ///     for f in as_completed(&frames) {
    ///         let host = ex.job_host(f).map(|h| h.name).unwrap_or_default();
    ///         println!("{} bytes from {host}", f.result().map_or(0, |v| v.len()));
    ///     }
    /// }
    /// ```
    pub fn job_host<T>(&self, fut: &PoolFuture<T>) -> Option<JobHost> {
        self.shared.job_host(fut)
    }

    /// The id of `fut`'s job (`{client id}-{n}`): what [`attach`](Self::attach) takes, on this
    /// client or on one started later. `None` for a future of another executor, or one this
    /// executor has forgotten (every handle to it was dropped).
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
    ///     let id = ex.job_id(&fut).expect("a job of this executor");
    ///     println!("job {id}"); // write it down somewhere durable to attach after a restart
    /// }
    /// ```
    pub fn job_id<T>(&self, fut: &PoolFuture<T>) -> Option<String> {
        self.shared.job_id_of(fut)
    }

    /// A future for the answer of job `id` (from [`job_id`](Self::job_id)), submitted by this
    /// client or by one that has gone (crashed, restarted) with
    /// [`keep_answers`](RemoteBuilder::keep_answers): it resolves to the kept answer, or to the
    /// answer still to come if the job is queued or running. `job` names its output type (the
    /// job it was submitted with).
    ///
    /// * It needs `keep_answers` on this executor too (it reads the answers bucket), else it
    ///   fails with [`FutureError::Ipc`]; so does an id that is not a job id, or one of a job
    ///   this executor already has a future for.
    /// * An id whose answer was never kept (its client did not keep answers), or is past the
    ///   retention, never resolves: bound the wait with `result_timeout`.
    /// * `cancel()` stops waiting; the job itself is not cancelled.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// #[poolbridge::job]
    /// fn square(n: u64) -> u64 {
    ///     n * n
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::builder()
    ///         .keep_answers(Duration::from_secs(3600))
    ///         .connect("nats://127.0.0.1:4222")
    ///         .unwrap();
    ///     // An id written down by an earlier run of this program.
    ///     let fut = ex.attach(square, "5e1f0c2a9d3b4e77-12");
    ///     println!("{:?}", fut.result_timeout(Duration::from_secs(60)));
    /// }
    /// ```
    pub fn attach<J: Job>(&self, job: J, id: &str) -> PoolFuture<J::Output> {
        self.shared.attach(job, id)
    }

    /// A snapshot of the executor's counters: submitted, completed, failed, cancelled,
    /// delivered again, pending.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    /// assert_eq!(ex.metrics().pending, 0);
    /// ```
    pub fn metrics(&self) -> RemoteMetrics {
        self.shared.metrics()
    }
}

impl Drop for RemoteExecutor {
    /// `shutdown(wait = true, cancel_futures = false)`. While the thread panics, it does not
    /// wait: pending futures fail with [`FutureError::BrokenPool`] (their jobs may still run).
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared
                .abandon("the RemoteExecutor was dropped while its owner panicked");
        } else {
            self.shared.shutdown(true, false);
        }
    }
}

impl fmt::Debug for RemoteExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.metrics();
        f.debug_struct("RemoteExecutor")
            .field("url", &self.shared.settings.url)
            .field("stream", &self.shared.settings.topology.names.stream)
            .field("pending", &m.pending)
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}

/// Builds a [`RemoteExecutor`] with non-default settings; [`connect`](Self::connect) ends it.
///
/// The stream and consumer settings (`ack_wait`, the dedup window) are declared by the client:
/// connecting creates the stream, the consumer and the bucket, or sets these two settings on
/// the existing ones (keeping every other setting: replicas, limits). Hosts bind to what exists
/// (and create it with the defaults if they start first).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use poolbridge::remote::{NatsOptions, RemoteExecutor};
///
/// let ex = RemoteExecutor::builder()
///     .ack_wait(Duration::from_secs(10))
///     .max_deliver(2)
///     .job_timeout(Duration::from_secs(300))
///     .nats(NatsOptions::default().credentials_file("client.creds"))
///     .connect("nats://nats.internal:4222")?;
/// # Ok::<(), poolbridge::remote::RemoteError>(())
/// ```
#[must_use = "a builder does nothing until `connect` is called"]
#[derive(Debug)]
pub struct RemoteBuilder {
    stream: String,
    prefix: String,
    ack_wait: Duration,
    max_deliver: u32,
    job_timeout: Option<Duration>,
    dedup_window: Duration,
    publish_timeout: Duration,
    replicas: Option<usize>,
    keep_answers: Option<Duration>,
    large_payloads: Option<usize>,
    nats: NatsOptions,
}

impl Default for RemoteBuilder {
    fn default() -> Self {
        RemoteBuilder {
            stream: DEFAULT_STREAM.to_owned(),
            prefix: DEFAULT_SUBJECT_PREFIX.to_owned(),
            ack_wait: DEFAULT_ACK_WAIT,
            max_deliver: DEFAULT_MAX_DELIVER,
            job_timeout: None,
            dedup_window: DEFAULT_DEDUP_WINDOW,
            publish_timeout: DEFAULT_PUBLISH_TIMEOUT,
            replicas: None,
            keep_answers: None,
            large_payloads: None,
            nats: NatsOptions::default(),
        }
    }
}

impl RemoteBuilder {
    /// The JetStream stream that holds the jobs ([`DEFAULT_STREAM`]); hosts must serve the same
    /// ([`ServeOptions::stream`]). Letters, digits, `_` and `-`.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = poolbridge::RemoteExecutor::builder().stream("RENDER_JOBS");
    /// ```
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// The prefix of the subjects ([`DEFAULT_SUBJECT_PREFIX`]): jobs go to `{prefix}.jobs`,
    /// answers to `{prefix}.results.{client id}`. Hosts must use the same.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = poolbridge::RemoteExecutor::builder().subject_prefix("acme.render");
    /// ```
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long the server waits for a host's acknowledgement or heartbeat before it delivers the
    /// job to another host ([`DEFAULT_ACK_WAIT`]). Shorter: a lost host's job moves sooner;
    /// hosts send heartbeats every `ack_wait / 3` (capped at 1 s) while a job runs.
    ///
    /// It is a setting of the consumer that every host of the stream shares, not of this
    /// client's jobs: the client that connects last sets it for all jobs in the stream, and
    /// hosts pick it up within 5 s. Clients that need different values use different streams.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = poolbridge::RemoteExecutor::builder().ack_wait(Duration::from_secs(5));
    /// ```
    pub fn ack_wait(mut self, d: Duration) -> Self {
        self.ack_wait = d;
        self
    }

    /// How many deliveries a job gets when its host is lost each time
    /// ([`DEFAULT_MAX_DELIVER`]); then its future fails with [`FutureError::WorkerDied`] naming
    /// the attempts. At least 1. A job that panics, crashes its worker process or times out is
    /// never delivered again.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = poolbridge::RemoteExecutor::builder().max_deliver(5);
    /// ```
    pub fn max_deliver(mut self, n: u32) -> Self {
        self.max_deliver = n;
        self
    }

    /// The default time limit of every job, enforced by its host ([`SubmitOptions::timeout`]
    /// overrides it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = poolbridge::RemoteExecutor::builder().job_timeout(Duration::from_secs(600));
    /// ```
    pub fn job_timeout(mut self, d: Duration) -> Self {
        self.job_timeout = Some(d);
        self
    }

    /// The stream's duplicate window ([`DEFAULT_DEDUP_WINDOW`]): a job published twice with the
    /// same id within it is stored once. The client re-sends an unconfirmed job for at most half
    /// of it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = poolbridge::RemoteExecutor::builder().dedup_window(Duration::from_secs(600));
    /// ```
    pub fn dedup_window(mut self, d: Duration) -> Self {
        self.dedup_window = d;
        self
    }

    /// How long to wait for the server to confirm a stored job before publishing it again
    /// ([`DEFAULT_PUBLISH_TIMEOUT`]); also the timeout of the requests made while connecting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = poolbridge::RemoteExecutor::builder().publish_timeout(Duration::from_secs(1));
    /// ```
    pub fn publish_timeout(mut self, d: Duration) -> Self {
        self.publish_timeout = d;
        self
    }

    /// How many copies JetStream keeps of the job stream and the cancelled-jobs bucket when
    /// this client creates them (1 to 5): by default 3 when `connect` is given several server
    /// URLs (a cluster: the queue survives the loss of any one server), else 1. A stream or
    /// bucket that exists keeps its replicas (change them with `nats stream edit --replicas`).
    /// Hosts that may start first should say the same ([`ServeOptions::replicas`]).
    ///
    /// # Examples
    ///
    /// ```
    /// // A five-node cluster reached through a load balancer: one URL, five replicas.
    /// let builder = poolbridge::RemoteExecutor::builder().replicas(5);
    /// ```
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = Some(n);
        self
    }

    /// Keeps the answer of every job this client submits for `retention`, so that a client
    /// that restarts (or any other client of the stream) can
    /// [`attach`](RemoteExecutor::attach) to it by its [`job_id`](RemoteExecutor::job_id).
    ///
    /// Hosts store each answer in the KV bucket `{stream}_answers` (key: the job id; value: the
    /// answer, at most `max_payload` bytes) before they send it, and the bucket forgets it
    /// after `retention` (its `max_age`, fixed by the client that creates it; the bucket's
    /// replicas are the stream's). Without this setting nothing is stored: an answer whose
    /// client is gone is dropped after 30 s. The cost: one more write per job.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = poolbridge::RemoteExecutor::builder().keep_answers(Duration::from_secs(24 * 3600));
    /// ```
    pub fn keep_answers(mut self, retention: Duration) -> Self {
        self.keep_answers = Some(retention);
        self
    }

    /// Sends arguments and outputs larger than the server's `max_payload` (1 MiB by default),
    /// up to `limit` bytes, through the JetStream object store instead of failing with
    /// [`FutureError::Ipc`].
    ///
    /// Such arguments are stored (chunked) as the object `{job id}.in` of the bucket
    /// `{stream}_objects`, and the job message carries a reference; a host stores such an output
    /// as `{job id}.out`. The client deletes both once it has the answer (the output stays
    /// when [`keep_answers`](Self::keep_answers) is set, for `attach`); the bucket forgets what
    /// is left after 24 h (or the answers' retention, if longer). Arguments past `limit` fail
    /// at submit with an `Ipc` error that names this setting; an output past it fails the job
    /// the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = poolbridge::RemoteExecutor::builder().large_payloads(256 << 20); // 256 MiB
    /// ```
    pub fn large_payloads(mut self, limit: usize) -> Self {
        self.large_payloads = Some(limit);
        self
    }

    /// Credentials, TLS and other connection settings, passed through to async-nats.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::remote::NatsOptions;
    /// let builder = poolbridge::RemoteExecutor::builder()
    ///     .nats(NatsOptions::default().user_and_password("batch", "s3cret"));
    /// ```
    pub fn nats(mut self, options: NatsOptions) -> Self {
        self.nats = options;
        self
    }

    /// Connects (blocking), declares the stream, the consumer and the bucket, and starts the
    /// client's threads.
    ///
    /// It blocks the calling thread for a few network round trips (about 100 ms to a server
    /// nearby; at most the 5 s connection timeout plus the
    /// [`publish_timeout`](Self::publish_timeout) of each step when the server is slow; up to
    /// 30 s more while a JetStream cluster elects a new leader for the stream). That is
    /// harmless in `main` or on a thread of your own; inside async code it stalls that
    /// runtime's thread and every task on it for as long, so use
    /// [`connect_async`](Self::connect_async) there.
    ///
    /// # Errors
    ///
    /// A name that JetStream refuses, `max_deliver(0)`, a zero (or centuries-long) `ack_wait`,
    /// no server at `url` (or no NATS handshake within 5 s), no JetStream there, a cluster that
    /// cannot answer for the stream for 30 s (no quorum), replicas the server cannot keep, or a
    /// stream of that name with another configuration: the message says which and what to
    /// change.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = poolbridge::RemoteExecutor::builder().max_deliver(0).connect("nats://127.0.0.1:4222");
    /// assert!(err.unwrap_err().to_string().contains("max_deliver must be at least 1"));
    /// ```
    pub fn connect(self, url: &str) -> Result<RemoteExecutor, RemoteError> {
        self.check()?;
        let settings = client::Settings {
            url: url.to_owned(),
            topology: connect::Topology {
                names: wire::Names::new(&self.stream, &self.prefix),
                dedup_window: self.dedup_window,
                ack_wait: self.ack_wait,
                replicas: connect::replicas_for(self.replicas, url),
            },
            max_deliver: self.max_deliver,
            job_timeout: self.job_timeout,
            publish_timeout: self.publish_timeout,
            keep_answers: self.keep_answers,
            large_payloads: self.large_payloads,
        };
        let shared = client::start(settings, self.nats.connection)?;
        Ok(RemoteExecutor { shared })
    }

    /// [`connect`](Self::connect) for async code, on any runtime: connects on a thread of its
    /// own and resolves once connected, so the awaiting task's thread never blocks. The settings
    /// are checked at once (a bad name is an error before any thread starts).
    ///
    /// The executor it returns is used the same way from async code (`submit` never waits for
    /// the network; `.await` its futures). Dropping it waits for the answers of the jobs
    /// submitted (`shutdown(wait = true)`): drop it where blocking is fine, or call
    /// `shutdown(false, ..)` first.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let err = poolbridge::RemoteExecutor::builder()
    ///     .connect_async("nats://127.0.0.1:1")
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("could not connect to NATS"), "{err}");
    /// # });
    /// ```
    pub fn connect_async(
        self,
        url: &str,
    ) -> impl Future<Output = Result<RemoteExecutor, RemoteError>> + Send + 'static {
        let checked = self.check();
        let (promise, fut) = crate::Promise::new();
        let url = url.to_owned();
        let spawned = checked.and_then(|()| {
            std::thread::Builder::new()
                .name("poolbridge-nats-connect".into())
                .spawn(move || {
                    let _ = promise.set_result(self.connect(&url));
                })
                .map_err(|err| {
                    RemoteError::new(format!("could not start a thread to connect: {err}"))
                })
        });
        async move {
            spawned?;
            match fut.await {
                Ok(connected) => connected,
                Err(err) => Err(RemoteError::new(format!(
                    "the thread connecting to NATS ended without an answer: {err}"
                ))),
            }
        }
    }

    /// The settings a connection cannot fix.
    fn check(&self) -> Result<(), RemoteError> {
        wire::Names::check(&self.stream, &self.prefix).map_err(RemoteError::new)?;
        if self.max_deliver == 0 {
            return Err(RemoteError::new(
                "max_deliver must be at least 1 (RemoteBuilder::max_deliver(0))",
            ));
        }
        check_replicas(self.replicas, "RemoteBuilder::replicas")?;
        if self.ack_wait.is_zero() || self.publish_timeout.is_zero() || self.dedup_window.is_zero()
        {
            return Err(RemoteError::new(
                "ack_wait, publish_timeout and dedup_window must be greater than zero",
            ));
        }
        if self.large_payloads == Some(0) {
            return Err(RemoteError::new(
                "RemoteBuilder::large_payloads(0): the limit must be greater than zero",
            ));
        }
        if self.keep_answers.is_some_and(|d| d.is_zero()) {
            return Err(RemoteError::new(
                "RemoteBuilder::keep_answers: the retention must be greater than zero",
            ));
        }
        // JetStream carries durations as signed 64-bit nanoseconds (about 292 years).
        let too_long = |d: Duration| i64::try_from(d.as_nanos()).is_err();
        if self.keep_answers.is_some_and(too_long) {
            return Err(RemoteError::new(
                "RemoteBuilder::keep_answers: the retention must be under 292 years (JetStream \
                 counts it in 64-bit nanoseconds)",
            ));
        }
        if too_long(self.ack_wait) || too_long(self.dedup_window) {
            return Err(RemoteError::new(
                "ack_wait and dedup_window must be under 292 years (JetStream counts them in \
                 64-bit nanoseconds)",
            ));
        }
        Ok(())
    }
}

/// Settings of a worker host started by [`serve`].
///
/// # Examples
///
/// ```
/// use poolbridge::remote::ServeOptions;
///
/// let options = ServeOptions::default()
///     .name("render-07")
///     .workers(8)
///     .concurrency(8); // long jobs: take no more than the workers can start
/// ```
#[derive(Debug)]
pub struct ServeOptions {
    stream: String,
    prefix: String,
    name: Option<String>,
    workers: Option<usize>,
    concurrency: Option<usize>,
    program: Option<PathBuf>,
    replicas: Option<usize>,
    nats: NatsOptions,
}

/// JetStream keeps 1 to 5 replicas of a stream.
fn check_replicas(replicas: Option<usize>, setting: &str) -> Result<(), RemoteError> {
    match replicas {
        Some(n) if n == 0 || n > connect::MAX_REPLICAS => Err(RemoteError::new(format!(
            "{setting}({n}): JetStream keeps 1 to {} replicas of a stream",
            connect::MAX_REPLICAS
        ))),
        _ => Ok(()),
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            stream: DEFAULT_STREAM.to_owned(),
            prefix: DEFAULT_SUBJECT_PREFIX.to_owned(),
            name: None,
            workers: None,
            concurrency: None,
            program: None,
            replicas: None,
            nats: NatsOptions::default(),
        }
    }
}

impl ServeOptions {
    /// The stream to serve: the clients' [`RemoteBuilder::stream`] ([`DEFAULT_STREAM`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let options = poolbridge::remote::ServeOptions::default().stream("RENDER_JOBS");
    /// ```
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// The clients' [`RemoteBuilder::subject_prefix`] ([`DEFAULT_SUBJECT_PREFIX`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let options = poolbridge::remote::ServeOptions::default().subject_prefix("acme.render");
    /// ```
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The host's name in answers and errors ([`WorkerExit::host`](crate::WorkerExit::host)),
    /// in its [`ServeReport`], and on each future it answered
    /// ([`RemoteExecutor::job_host`]); by default `{hostname}-{pid}`.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = poolbridge::remote::ServeOptions::default().name("gpu-box-3");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Worker processes of the host's local pool (default: the available parallelism).
    ///
    /// # Examples
    ///
    /// ```
    /// let options = poolbridge::remote::ServeOptions::default().workers(4);
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Jobs the host holds at once, running or waiting in its local pool (default: twice the
    /// workers, so a worker never waits for the network between two short jobs). Every job held
    /// gets heartbeats, so none is delivered again while it waits. For long jobs, set it to the
    /// number of workers: another host then takes what this one cannot start.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = poolbridge::remote::ServeOptions::default().workers(4).concurrency(4);
    /// ```
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n);
        self
    }

    /// The worker program of the local pool
    /// ([`ProcessPoolBuilder::program`](crate::ProcessPoolBuilder::program)); by default the
    /// current executable.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = poolbridge::remote::ServeOptions::default().program("/opt/app/worker");
    /// ```
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.program = Some(path.into());
        self
    }

    /// Replicas of the job stream and the cancelled-jobs bucket if this host creates them
    /// (no client has yet): as [`RemoteBuilder::replicas`], by default 3 when `serve` is given
    /// several server URLs, else 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = poolbridge::remote::ServeOptions::default().replicas(3);
    /// ```
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = Some(n);
        self
    }

    /// Credentials, TLS and other connection settings, passed through to async-nats.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::remote::{NatsOptions, ServeOptions};
    /// let options = ServeOptions::default().nats(NatsOptions::default().token("t0ken"));
    /// ```
    pub fn nats(mut self, options: NatsOptions) -> Self {
        self.nats = options;
        self
    }
}

/// Serves jobs as a worker host until `SIGTERM` or `SIGINT`: pulls jobs from the stream's
/// durable consumer (at most [`ServeOptions::concurrency`] at a time), runs each in a local
/// [`ProcessPoolExecutor`](crate::ProcessPoolExecutor) of [`ServeOptions::workers`] processes,
/// and answers the job's client.
///
/// * Call [`process::init()`](crate::process::init) first in `main`: the local workers are this
///   program re-run. The jobs served are those linked into this program.
/// * A job that crashes its worker process fails alone (`WorkerDied`, reported to its client,
///   not delivered again); the host replaces the worker and goes on.
/// * While a job runs, the host sends heartbeats (`AckProgress`), so a long job is not delivered
///   to another host; a host that dies (or hangs) stops them, and after `ack_wait` the job goes
///   to another host.
/// * On `SIGTERM` or `SIGINT` it takes no new job (a job that arrives while it stops is handed
///   back at once), finishes and answers the running ones, and returns the [`ServeReport`]. The
///   signal handlers stay installed after it returns (tokio's).
///
/// # Errors
///
/// If [`process::init()`](crate::process::init) was not called, the connection fails, a name
/// is refused, or the local pool breaks (a worker cannot start): the message says which.
///
/// # Examples
///
/// ```no_run
/// use poolbridge::remote::{ServeOptions, serve};
///
/// #[poolbridge::job]
/// fn resize(image: Vec<u8>, width: u32) -> Vec<u8> {
///     image.into_iter().take(width as usize).collect()
/// }
///
/// fn main() -> Result<(), poolbridge::remote::RemoteError> {
///     poolbridge::process::init();
///     let report = serve("nats://nats.internal:4222", ServeOptions::default().workers(8))?;
///     eprintln!("{report:?}");
///     Ok(())
/// }
/// ```
pub fn serve(url: &str, options: ServeOptions) -> Result<ServeReport, RemoteError> {
    wire::Names::check(&options.stream, &options.prefix).map_err(RemoteError::new)?;
    if options.workers == Some(0) || options.concurrency == Some(0) {
        return Err(RemoteError::new(
            "ServeOptions::workers and ServeOptions::concurrency must be greater than 0",
        ));
    }
    check_replicas(options.replicas, "ServeOptions::replicas")?;
    let settings = host::HostSettings {
        names: wire::Names::new(&options.stream, &options.prefix),
        name: options.name,
        workers: options.workers,
        concurrency: options.concurrency,
        program: options.program,
        replicas: options.replicas,
    };
    host::serve(url, settings, options.nats.connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executor_is_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<RemoteExecutor>();
        send_sync::<RemoteError>();
        fn send<T: Send>() {}
        send::<RemoteBuilder>();
        send::<ServeOptions>();
    }

    #[test]
    fn replicas_default_to_three_for_several_urls() {
        assert_eq!(connect::replicas_for(None, "nats://a:4222"), 1);
        assert_eq!(
            connect::replicas_for(None, "nats://a:4222, nats://b:4222"),
            3
        );
        assert_eq!(connect::replicas_for(Some(5), "nats://a:4222"), 5);
        assert_eq!(
            connect::replicas_for(Some(1), "nats://a:1,nats://b:2,nats://c:3"),
            1
        );
        let err = RemoteExecutor::builder()
            .replicas(0)
            .connect("nats://127.0.0.1:1")
            .unwrap_err();
        assert!(err.message().contains("replicas(0)"), "{err}");
        let err = serve("nats://127.0.0.1:1", ServeOptions::default().replicas(6)).unwrap_err();
        assert!(err.message().contains("ServeOptions::replicas(6)"), "{err}");
    }

    #[test]
    fn settings_are_checked_before_connecting() {
        let err = RemoteExecutor::builder()
            .ack_wait(Duration::ZERO)
            .connect("nats://127.0.0.1:1")
            .unwrap_err();
        assert!(err.message().contains("greater than zero"), "{err}");
        let err = RemoteExecutor::builder()
            .dedup_window(Duration::MAX)
            .connect("nats://127.0.0.1:1")
            .unwrap_err();
        assert!(err.message().contains("under 292 years"), "{err}");
        let err = serve("nats://127.0.0.1:1", ServeOptions::default().workers(0)).unwrap_err();
        assert!(err.message().contains("greater than 0"), "{err}");
        let err = serve(
            "nats://127.0.0.1:1",
            ServeOptions::default().subject_prefix("a b"),
        )
        .unwrap_err();
        assert!(err.message().contains("subject prefix"), "{err}");
        // This test binary never called process::init(): a host would start no worker.
        let err = serve("nats://127.0.0.1:1", ServeOptions::default()).unwrap_err();
        assert!(err.message().contains("process::init()"), "{err}");
    }
}
