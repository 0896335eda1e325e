//! Connecting to NATS (the settings a client and a host share, passed through to async-nats:
//! [`NatsOptions`]) and declaring the JetStream objects both sides use: the work-queue stream,
//! the hosts' durable pull consumer, and the KV bucket of cancelled jobs.

use std::fmt;
use std::future::poll_fn;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::IntoConsumerConfig;
use async_nats::jetstream::context::{
    CreateStreamError, CreateStreamErrorKind, GetStreamErrorKind, KeyValueErrorKind,
};
use async_nats::jetstream::stream::{ConsumerError, ConsumerErrorKind};
use async_nats::jetstream::{self, consumer, kv, stream};
use async_nats::{Client, ConnectOptions};

use crate::error::BuildError;
use crate::remote::defaults::{DEFAULT_ACK_WAIT, DEFAULT_DEDUP_WINDOW};
use crate::remote::wire::Names;

/// How long a cancelled job id is remembered (the KV bucket's `max_age`). A job cancelled and
/// still queued after this long runs if a host takes it; its future is cancelled all the same.
pub(crate) const CANCEL_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// How long the objects bucket keeps a large argument or output that nobody deleted (at least;
/// the retention of kept answers when longer). A client deletes a job's objects once it has
/// the answer; this bounds what a client that vanished leaves behind. The trade-off: a job whose
/// arguments wait in the queue longer than this finds them gone (its future fails with `Ipc`).
pub(crate) const OBJECT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The hosts' consumer keeps at most this many jobs delivered and not yet acknowledged, over
/// all hosts (each host also bounds its own share with `ServeOptions::concurrency`).
const MAX_ACK_PENDING: i64 = 10_000;

/// How long connecting may take in all: the TCP connection, TLS, and the NATS handshake (the
/// server's `INFO`, the client's `CONNECT`, the first `PONG`). async-nats bounds only the TCP
/// part with its `connection_timeout`; an endpoint that accepts TCP and never speaks NATS (a
/// frozen server, an HTTP port) would hold `connect` forever. Long enough for a TLS handshake
/// across continents, short enough that a wrong address is an error a person waits for.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A user's change to the connect options, applied after poolbridge's own.
pub(crate) type Configure = Box<dyn FnOnce(ConnectOptions) -> ConnectOptions + Send>;

/// Connection settings passed through to async-nats: credentials, TLS, and any other
/// [`ConnectOptions`]. Used by [`RemoteBuilder::nats`] and
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
///
/// [`RemoteBuilder::nats`]: crate::remote::RemoteBuilder::nats
/// [`ServeOptions::nats`]: crate::remote::ServeOptions::nats
#[derive(Debug, Default)]
pub struct NatsOptions {
    pub(crate) connection: Connection,
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

    /// Changes the async-nats [`ConnectOptions`] in any other way
    /// (nkeys, a JWT callback, ping interval, a rustls `ClientConfig`, ...), after poolbridge's
    /// settings and the ones above.
    ///
    /// poolbridge does not re-export async-nats (a 0.x crate whose releases would otherwise be
    /// breaking releases of poolbridge): to name its types, add it to your own `Cargo.toml` at
    /// the version poolbridge uses (`cargo tree -i async-nats` shows it), e.g.
    /// `async-nats = "0.46"`. The closure's argument needs no name.
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

/// Connection settings shared by `RemoteBuilder` and `ServeOptions`: passed to async-nats.
#[derive(Default)]
pub(crate) struct Connection {
    pub(crate) credentials_file: Option<PathBuf>,
    pub(crate) user_and_password: Option<(String, String)>,
    pub(crate) token: Option<String>,
    pub(crate) require_tls: bool,
    pub(crate) root_certificates: Vec<PathBuf>,
    pub(crate) client_certificate: Option<(PathBuf, PathBuf)>,
    pub(crate) configure: Option<Configure>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No secrets in debug output.
        f.debug_struct("Connection")
            .field("credentials_file", &self.credentials_file)
            .field("user", &self.user_and_password.as_ref().map(|(u, _)| u))
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("require_tls", &self.require_tls)
            .field("root_certificates", &self.root_certificates)
            .field("client_certificate", &self.client_certificate)
            .field(
                "connect_options",
                &self.configure.as_ref().map(|_| "<closure>"),
            )
            .finish()
    }
}

/// Reconnection back-off: 50 ms doubling to 1 s. async-nats's default grows to several seconds,
/// which a worker host waiting for a restarted server would spend idle.
fn reconnect_delay(attempts: usize) -> Duration {
    let exp = attempts.min(5) as u32;
    Duration::from_millis(50 * 2u64.pow(exp)).min(Duration::from_secs(1))
}

impl Connection {
    /// Connects to `url` (a comma-separated list of servers also works), reconnecting forever
    /// after a loss.
    pub(crate) async fn connect(self, url: &str, name: &str) -> Result<Client, BuildError> {
        let mut options = ConnectOptions::new()
            .name(name)
            .connection_timeout(CONNECT_TIMEOUT)
            .reconnect_delay_callback(reconnect_delay)
            .max_reconnects(None);
        if let Some(path) = &self.credentials_file {
            options = options.credentials_file(path).await.map_err(|err| {
                BuildError::new(format!(
                    "could not read the NATS credentials file {}: {err}",
                    path.display()
                ))
            })?;
        }
        if let Some((user, password)) = self.user_and_password {
            options = options.user_and_password(user, password);
        }
        if let Some(token) = self.token {
            options = options.token(token);
        }
        if self.require_tls {
            options = options.require_tls(true);
        }
        for path in self.root_certificates {
            options = options.add_root_certificates(path);
        }
        if let Some((cert, key)) = self.client_certificate {
            options = options.add_client_certificate(cert, key);
        }
        if let Some(configure) = self.configure {
            options = configure(options);
        }
        let servers: Vec<async_nats::ServerAddr> = url
            .split(',')
            .map(|s| s.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<_, _>>()
            .map_err(|err| {
                BuildError::new(format!(
                    "{url:?} is not a NATS server address ({err}): write nats://host:4222, or \
                     several separated by commas"
                ))
            })?;
        match tokio::time::timeout(CONNECT_TIMEOUT, options.connect(servers)).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(err)) => Err(BuildError::new(format!(
                "could not connect to NATS at {url}: {err}. Is a server running there with \
                 JetStream enabled (`nats-server -js`)?"
            ))),
            Err(_) => Err(BuildError::new(format!(
                "could not connect to NATS at {url}: no NATS handshake within \
                 {CONNECT_TIMEOUT:?} (something accepts connections there but does not speak \
                 NATS: a frozen server, or another service on that port?)"
            ))),
        }
    }
}

/// How long `connect` and `serve` keep trying to find or create the stream, the consumer and
/// the bucket while the server cannot answer for them: a JetStream cluster electing a new
/// leader (a node was lost) answers "temporarily unavailable" or not at all for a few seconds
/// (about 2 s measured on three local nodes). Long enough to ride over an election and a slow
/// restart of one node; short enough that a cluster that lost its quorum is an error a person
/// sees (with the last reason) instead of a hang.
pub(crate) const DECLARE_PATIENCE: Duration = Duration::from_secs(30);

/// The most replicas JetStream keeps of a stream.
pub(crate) const MAX_REPLICAS: usize = 5;

/// JetStream keeps 1 to 5 replicas of a stream.
pub(crate) fn check_replicas(replicas: Option<usize>, setting: &str) -> Result<(), BuildError> {
    match replicas {
        Some(n) if n == 0 || n > MAX_REPLICAS => Err(BuildError::new(format!(
            "{setting}({n}): JetStream keeps 1 to {} replicas of a stream",
            MAX_REPLICAS
        ))),
        _ => Ok(()),
    }
}

/// The replicas of a stream or bucket poolbridge creates: `explicit`, else 3 when `url` names
/// several servers (a cluster: a quorum of 2 survives the loss of any one), else 1.
pub(crate) fn replicas_for(explicit: Option<usize>, url: &str) -> usize {
    explicit.unwrap_or_else(|| {
        if url.split(',').filter(|s| !s.trim().is_empty()).count() > 1 {
            3
        } else {
            1
        }
    })
}

/// The stream, consumer and bucket settings a `RemoteExecutor` declares.
#[derive(Clone, Debug)]
pub(crate) struct Topology {
    pub(crate) names: Names,
    pub(crate) dedup_window: Duration,
    pub(crate) ack_wait: Duration,
    /// Replicas of the stream and the bucket when they are created.
    pub(crate) replicas: usize,
}

fn stream_config(names: &Names, dedup_window: Duration, replicas: usize) -> stream::Config {
    stream::Config {
        name: names.stream.clone(),
        subjects: vec![names.jobs.clone()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        duplicate_window: dedup_window,
        num_replicas: replicas,
        description: Some("poolbridge RemoteExecutor jobs (a work queue)".into()),
        ..Default::default()
    }
}

fn consumer_config(names: &Names, ack_wait: Duration) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(names.consumer.clone()),
        description: Some("poolbridge worker hosts".into()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait,
        // Unlimited: each job carries its own max_deliver, enforced by the hosts (the delivery
        // past it is answered `exhausted` instead of run).
        max_deliver: -1,
        filter_subject: names.jobs.clone(),
        max_ack_pending: MAX_ACK_PENDING,
        // 0: as many as the stream has.
        num_replicas: 0,
        ..Default::default()
    }
}

fn bucket_config(names: &Names, replicas: usize) -> kv::Config {
    kv::Config {
        bucket: names.cancelled.clone(),
        description: "poolbridge: jobs cancelled before a host took them".into(),
        history: 1,
        max_age: CANCEL_MEMORY,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

fn conflict_hint(what: &str, name: &str) -> String {
    format!(
        "; if a {what} named `{name}` exists with another configuration (not created by \
         poolbridge), choose other names with RemoteBuilder::stream and \
         ServeOptions::stream, or delete it"
    )
}

/// Checks that an existing stream is one poolbridge can use: a work queue on the jobs subject.
fn check_stream(config: &stream::Config, names: &Names) -> Result<(), BuildError> {
    if config.retention != stream::RetentionPolicy::WorkQueue
        || !config.subjects.iter().any(|s| s == &names.jobs)
    {
        return Err(BuildError::new(format!(
            "the JetStream stream `{}` exists but is not a poolbridge job queue (it needs \
             retention WorkQueue and the subject `{}`; it has {:?} and {:?}): choose another \
             name with RemoteBuilder::stream and ServeOptions::stream, or delete it",
            names.stream, names.jobs, config.retention, config.subjects
        )));
    }
    Ok(())
}

/// Why one attempt at declaring failed.
enum Step {
    /// The cluster may answer later (an election, a node restarting, a request timed out):
    /// try again, until `DECLARE_PATIENCE`.
    Retry(String),
    /// An answer that will not change (a conflicting configuration, no JetStream).
    Fail(BuildError),
}

/// JetStream errors that a cluster gives while it elects a leader, places a replica, or waits
/// for a node, and that go away by themselves. "Name already in use" is among them: another
/// client or host created the object between our lookup and our create; the next lookup finds
/// it and checks it.
fn transient(code: ErrorCode) -> bool {
    [
        ErrorCode::CLUSTER_INCOMPLETE,
        ErrorCode::CLUSTER_NO_PEERS,
        ErrorCode::CLUSTER_NOT_ACTIVE,
        ErrorCode::CLUSTER_NOT_ASSIGNED,
        ErrorCode::CLUSTER_NOT_AVAILABLE,
        ErrorCode::CLUSTER_NOT_LEADER,
        ErrorCode::INSUFFICIENT_RESOURCES,
        ErrorCode::STREAM_NAME_EXIST,
        ErrorCode::STREAM_OFFLINE,
        ErrorCode::CONSUMER_OFFLINE,
    ]
    .contains(&code)
}

/// What to change when the server refuses the replicas asked for.
fn replicas_hint(code: ErrorCode, replicas: usize) -> &'static str {
    if code == ErrorCode::STREAM_REPLICAS_NOT_SUPPORTED
        || (replicas > 1 && code == ErrorCode::CLUSTER_REQUIRED)
    {
        " (this server is not a cluster: connect with one URL or set RemoteBuilder::replicas(1) \
         / ServeOptions::replicas(1))"
    } else {
        ""
    }
}

/// Looks a stream up: `Ok(None)` only when the server says it does not exist. A lookup that
/// times out (a leader election) is no answer: it is never taken for "no stream", since
/// creating one then would fail or, worse, advise deleting the queue.
async fn lookup_stream(
    js: &jetstream::Context,
    name: &str,
) -> Result<Option<stream::Stream>, Step> {
    match js.get_stream(name).await {
        Ok(stream) => Ok(Some(stream)),
        Err(err) => match err.kind() {
            GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND => {
                Ok(None)
            }
            GetStreamErrorKind::JetStream(e) if !transient(e.error_code()) => {
                Err(Step::Fail(BuildError::new(format!(
                    "could not look up the JetStream stream `{name}`: {e}"
                ))))
            }
            _ => Err(Step::Retry(format!(
                "looking up the stream `{name}`: {err}"
            ))),
        },
    }
}

/// Classifies a failed create or update of a stream.
fn stream_step(err: &CreateStreamError, what: &str, name: &str, replicas: usize) -> Step {
    match err.kind() {
        CreateStreamErrorKind::JetStream(e) if !transient(e.error_code()) => {
            Step::Fail(BuildError::new(format!(
                "could not {what} the JetStream stream `{name}`: {e}{}{}",
                replicas_hint(e.error_code(), replicas),
                conflict_hint("stream", name)
            )))
        }
        CreateStreamErrorKind::EmptyStreamName
        | CreateStreamErrorKind::InvalidStreamName
        | CreateStreamErrorKind::DomainAndExternalSet => Step::Fail(BuildError::new(format!(
            "could not {what} the JetStream stream `{name}`: {err}"
        ))),
        _ => Step::Retry(format!("trying to {what} the stream `{name}`: {err}")),
    }
}

/// Classifies a failed lookup, create or update of the consumer.
fn consumer_step(err: &ConsumerError, what: &str, names: &Names) -> Step {
    match err.kind() {
        ConsumerErrorKind::JetStream(e) if !transient(e.error_code()) => {
            Step::Fail(BuildError::new(format!(
                "could not {what} the consumer `{}` of stream `{}`: {e}",
                names.consumer, names.stream
            )))
        }
        ConsumerErrorKind::InvalidConsumerType | ConsumerErrorKind::InvalidName => {
            Step::Fail(BuildError::new(format!(
                "could not {what} the consumer `{}` of stream `{}`: {err}",
                names.consumer, names.stream
            )))
        }
        _ => Step::Retry(format!(
            "trying to {what} the consumer `{}`: {err}",
            names.consumer
        )),
    }
}

fn is_not_found(err: &ConsumerError) -> bool {
    matches!(err.kind(), ConsumerErrorKind::JetStream(e)
        if e.error_code() == ErrorCode::CONSUMER_NOT_FOUND)
}

/// Runs `attempt` until it succeeds, fails for good, or `DECLARE_PATIENCE` has passed (then the
/// error gives the last reason), with a back-off of 100 ms to 1 s.
async fn patiently<T, F, Fut>(client: &async_nats::Client, mut attempt: F) -> Result<T, BuildError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Step>>,
{
    if !client.server_info().jetstream {
        return Err(BuildError::new(format!(
            "the NATS server {} has no JetStream: start it with `nats-server -js` (or \
             `jetstream {{}}` in its configuration)",
            client.server_info().server_name
        )));
    }
    let start = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Step::Fail(err)) => return Err(err),
            Err(Step::Retry(reason)) => {
                if start.elapsed() + backoff > DECLARE_PATIENCE {
                    return Err(BuildError::new(format!(
                        "JetStream did not answer for {DECLARE_PATIENCE:?} ({reason}): is the \
                         cluster up, with a quorum of the stream's replicas (a majority) \
                         running?"
                    )));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// The client side: creates the stream, the consumer and the bucket, or sets the existing
/// ones to this client's dedup window and `ack_wait` (the client that connects last sets
/// them). Every other setting of an existing stream or consumer is kept: one created by hand
/// with replicas, limits or placement stays as it is. Retries while the cluster cannot answer
/// (`DECLARE_PATIENCE`).
pub(crate) async fn declare(
    client: &async_nats::Client,
    js: &jetstream::Context,
    topology: &Topology,
) -> Result<kv::Store, BuildError> {
    patiently(client, || declare_once(js, topology)).await
}

async fn declare_once(js: &jetstream::Context, topology: &Topology) -> Result<kv::Store, Step> {
    let names = &topology.names;
    let replicas = topology.replicas;
    match lookup_stream(js, &names.stream).await? {
        Some(stream) => {
            let mut config = stream.cached_info().config.clone();
            check_stream(&config, names).map_err(Step::Fail)?;
            if config.duplicate_window != topology.dedup_window {
                config.duplicate_window = topology.dedup_window;
                js.update_stream(config)
                    .await
                    .map_err(|err| stream_step(&err, "update", &names.stream, replicas))?;
            }
        }
        None => {
            js.create_stream(stream_config(names, topology.dedup_window, replicas))
                .await
                .map_err(|err| stream_step(&err, "create", &names.stream, replicas))?;
        }
    }
    let existing = js
        .get_consumer_from_stream::<consumer::pull::Config, _, _>(&names.consumer, &names.stream)
        .await;
    let config = match existing {
        Ok(consumer) => {
            let mut config = consumer.cached_info().config.clone();
            if config.ack_wait == topology.ack_wait {
                None
            } else {
                config.ack_wait = topology.ack_wait;
                Some(config)
            }
        }
        Err(err) if is_not_found(&err) => {
            Some(consumer_config(names, topology.ack_wait).into_consumer_config())
        }
        Err(err) => return Err(consumer_step(&err, "look up", names)),
    };
    if let Some(config) = config {
        js.create_consumer_on_stream(config, &names.stream)
            .await
            .map_err(|err| consumer_step(&err, "create or update", names))?;
    }
    bucket(js, names, replicas).await
}

/// The host side: binds to the stream and consumer, creating them with the defaults (and
/// `replicas`) if no client has yet. Retries while the cluster cannot answer
/// (`DECLARE_PATIENCE`).
pub(crate) async fn bind(
    client: &async_nats::Client,
    js: &jetstream::Context,
    names: &Names,
    replicas: usize,
) -> Result<(consumer::Consumer<consumer::pull::Config>, kv::Store), BuildError> {
    patiently(client, || bind_once(js, names, replicas)).await
}

async fn bind_once(
    js: &jetstream::Context,
    names: &Names,
    replicas: usize,
) -> Result<(consumer::Consumer<consumer::pull::Config>, kv::Store), Step> {
    match lookup_stream(js, &names.stream).await? {
        Some(stream) => check_stream(&stream.cached_info().config, names).map_err(Step::Fail)?,
        None => {
            let config = stream_config(names, DEFAULT_DEDUP_WINDOW, replicas);
            js.create_stream(config)
                .await
                .map_err(|err| stream_step(&err, "create", &names.stream, replicas))?;
        }
    }
    let consumer = match js
        .get_consumer_from_stream::<consumer::pull::Config, _, _>(&names.consumer, &names.stream)
        .await
    {
        Ok(consumer) => consumer,
        Err(err) if is_not_found(&err) => js
            .create_consumer_on_stream(consumer_config(names, DEFAULT_ACK_WAIT), &names.stream)
            .await
            .map_err(|err| consumer_step(&err, "create", names))?,
        Err(err) => return Err(consumer_step(&err, "look up", names)),
    };
    let store = bucket(js, names, replicas).await?;
    Ok((consumer, store))
}

/// Binds to the cancelled-jobs bucket, creating it (with `replicas`) if the server says it does
/// not exist.
async fn bucket(
    js: &jetstream::Context,
    names: &Names,
    replicas: usize,
) -> Result<kv::Store, Step> {
    let stream = format!("KV_{}", names.cancelled);
    if lookup_stream(js, &stream).await?.is_some() {
        return js.get_key_value(&names.cancelled).await.map_err(|err| {
            if matches!(err.kind(), KeyValueErrorKind::InvalidStoreName) {
                Step::Fail(BuildError::new(format!(
                    "the stream `{stream}` exists but is not a KV bucket{}",
                    conflict_hint("bucket", &names.cancelled)
                )))
            } else {
                Step::Retry(format!(
                    "binding to the KV bucket `{}`: {err}",
                    names.cancelled
                ))
            }
        });
    }
    // A failure here is retried: the lookup above decides the next time (created meanwhile by
    // another client, or a conflict it reports).
    js.create_key_value(bucket_config(names, replicas))
        .await
        .map_err(|err| {
            Step::Retry(format!(
                "creating the KV bucket `{}` (cancelled jobs): {err}",
                names.cancelled
            ))
        })
}

/// The answers bucket of `RemoteBuilder::keep_answers`: bound, or created with `retention` as
/// its `max_age` and the topology's replicas. An existing bucket keeps its retention.
pub(crate) async fn answers_bucket(
    client: &async_nats::Client,
    js: &jetstream::Context,
    topology: &Topology,
    retention: Duration,
) -> Result<kv::Store, BuildError> {
    let names = &topology.names;
    patiently(client, || async {
        let stream = format!("KV_{}", names.answers);
        if lookup_stream(js, &stream).await?.is_some() {
            return js.get_key_value(&names.answers).await.map_err(|err| {
                Step::Retry(format!(
                    "binding to the KV bucket `{}`: {err}",
                    names.answers
                ))
            });
        }
        js.create_key_value(kv::Config {
            bucket: names.answers.clone(),
            description: "poolbridge: kept answers, by job id (RemoteBuilder::keep_answers)".into(),
            history: 1,
            max_age: retention,
            storage: stream::StorageType::File,
            num_replicas: topology.replicas,
            ..Default::default()
        })
        .await
        .map_err(|err| {
            Step::Retry(format!(
                "creating the KV bucket `{}` (kept answers): {err}",
                names.answers
            ))
        })
    })
    .await
}

/// The objects bucket of `RemoteBuilder::large_payloads`: bound, or created with
/// `OBJECT_RETENTION` (or `retention`, when longer) as its `max_age` and the topology's
/// replicas.
pub(crate) async fn objects_bucket(
    client: &async_nats::Client,
    js: &jetstream::Context,
    topology: &Topology,
    retention: Option<Duration>,
) -> Result<jetstream::object_store::ObjectStore, BuildError> {
    let names = &topology.names;
    patiently(client, || async {
        let stream = format!("OBJ_{}", names.objects);
        if lookup_stream(js, &stream).await?.is_some() {
            return js.get_object_store(&names.objects).await.map_err(|err| {
                Step::Retry(format!(
                    "binding to the object store `{}`: {err}",
                    names.objects
                ))
            });
        }
        js.create_object_store(jetstream::object_store::Config {
            bucket: names.objects.clone(),
            description: Some(
                "poolbridge: large arguments and outputs (RemoteBuilder::large_payloads)".into(),
            ),
            max_age: retention.map_or(OBJECT_RETENTION, |r| r.max(OBJECT_RETENTION)),
            storage: stream::StorageType::File,
            num_replicas: topology.replicas,
            ..Default::default()
        })
        .await
        .map_err(|err| {
            Step::Retry(format!(
                "creating the object store `{}`: {err}",
                names.objects
            ))
        })
    })
    .await
}

/// `StreamExt::next` for the async-nats streams, without another dependency.
pub(crate) async fn futures_next<S>(stream: &mut S) -> Option<S::Item>
where
    S: futures_core::Stream + Unpin,
{
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}
