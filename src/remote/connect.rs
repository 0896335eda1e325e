//! Connecting to NATS (the settings a client and a host share, passed through to async-nats) and
//! declaring the JetStream objects both sides use: the work-queue stream, the hosts' durable
//! pull consumer, and the KV bucket of cancelled jobs.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::consumer::IntoConsumerConfig;
use async_nats::jetstream::{self, consumer, kv, stream};
use async_nats::{Client, ConnectOptions};

use crate::remote::RemoteError;
use crate::remote::wire::Names;

/// How long a cancelled job id is remembered (the KV bucket's `max_age`). A job cancelled and
/// still queued after this long runs if a host takes it; its future is cancelled all the same.
pub(crate) const CANCEL_MEMORY: Duration = Duration::from_secs(24 * 3600);

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
    pub(crate) async fn connect(self, url: &str, name: &str) -> Result<Client, RemoteError> {
        let mut options = ConnectOptions::new()
            .name(name)
            .connection_timeout(CONNECT_TIMEOUT)
            .reconnect_delay_callback(reconnect_delay)
            .max_reconnects(None);
        if let Some(path) = &self.credentials_file {
            options = options.credentials_file(path).await.map_err(|err| {
                RemoteError::new(format!(
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
                RemoteError::new(format!(
                    "{url:?} is not a NATS server address ({err}): write nats://host:4222, or \
                     several separated by commas"
                ))
            })?;
        match tokio::time::timeout(CONNECT_TIMEOUT, options.connect(servers)).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(err)) => Err(RemoteError::new(format!(
                "could not connect to NATS at {url}: {err}. Is a server running there with \
                 JetStream enabled (`nats-server -js`)?"
            ))),
            Err(_) => Err(RemoteError::new(format!(
                "could not connect to NATS at {url}: no NATS handshake within \
                 {CONNECT_TIMEOUT:?} (something accepts connections there but does not speak \
                 NATS: a frozen server, or another service on that port?)"
            ))),
        }
    }
}

/// The stream, consumer and bucket settings a `RemoteExecutor` declares.
#[derive(Clone, Debug)]
pub(crate) struct Topology {
    pub(crate) names: Names,
    pub(crate) dedup_window: Duration,
    pub(crate) ack_wait: Duration,
}

fn stream_config(names: &Names, dedup_window: Duration) -> stream::Config {
    stream::Config {
        name: names.stream.clone(),
        subjects: vec![names.jobs.clone()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        duplicate_window: dedup_window,
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
        ..Default::default()
    }
}

fn bucket_config(names: &Names) -> kv::Config {
    kv::Config {
        bucket: names.cancelled.clone(),
        description: "poolbridge: jobs cancelled before a host took them".into(),
        history: 1,
        max_age: CANCEL_MEMORY,
        storage: stream::StorageType::File,
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
fn check_stream(config: &stream::Config, names: &Names) -> Result<(), RemoteError> {
    if config.retention != stream::RetentionPolicy::WorkQueue
        || !config.subjects.iter().any(|s| s == &names.jobs)
    {
        return Err(RemoteError::new(format!(
            "the JetStream stream `{}` exists but is not a poolbridge job queue (it needs \
             retention WorkQueue and the subject `{}`; it has {:?} and {:?}): choose another \
             name with RemoteBuilder::stream and ServeOptions::stream, or delete it",
            names.stream, names.jobs, config.retention, config.subjects
        )));
    }
    Ok(())
}

/// The client side: creates the stream, the consumer and the bucket, or sets the existing
/// ones to this client's dedup window and `ack_wait` (the client that connects last sets
/// them). Every other setting of an existing stream or consumer is kept: one created by hand
/// with replicas, limits or placement stays as it is.
pub(crate) async fn declare(
    js: &jetstream::Context,
    topology: &Topology,
) -> Result<kv::Store, RemoteError> {
    let names = &topology.names;
    let stream_error = |err: &dyn fmt::Display| {
        RemoteError::new(format!(
            "could not create or update the JetStream stream `{}`: {err}{}",
            names.stream,
            conflict_hint("stream", &names.stream)
        ))
    };
    match js.get_stream(&names.stream).await {
        Ok(stream) => {
            let mut config = stream.cached_info().config.clone();
            check_stream(&config, names)?;
            if config.duplicate_window != topology.dedup_window {
                config.duplicate_window = topology.dedup_window;
                js.update_stream(config)
                    .await
                    .map_err(|err| stream_error(&err))?;
            }
        }
        Err(_) => {
            js.create_stream(stream_config(names, topology.dedup_window))
                .await
                .map_err(|err| stream_error(&err))?;
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
        Err(_) => Some(consumer_config(names, topology.ack_wait).into_consumer_config()),
    };
    if let Some(config) = config {
        js.create_consumer_on_stream(config, &names.stream)
            .await
            .map_err(|err| {
                RemoteError::new(format!(
                    "could not create or update the consumer `{}` of stream `{}`: {err}",
                    names.consumer, names.stream
                ))
            })?;
    }
    bucket(js, names).await
}

/// The host side: binds to the stream and consumer, creating them with the defaults if no
/// client has yet.
pub(crate) async fn bind(
    js: &jetstream::Context,
    names: &Names,
) -> Result<(consumer::Consumer<consumer::pull::Config>, kv::Store), RemoteError> {
    let stream = js
        .get_or_create_stream(stream_config(names, crate::remote::DEFAULT_DEDUP_WINDOW))
        .await
        .map_err(|err| {
            RemoteError::new(format!(
                "could not find or create the JetStream stream `{}`: {err}{}",
                names.stream,
                conflict_hint("stream", &names.stream)
            ))
        })?;
    check_stream(&stream.cached_info().config, names)?;
    let consumer = match js
        .get_consumer_from_stream::<consumer::pull::Config, _, _>(&names.consumer, &names.stream)
        .await
    {
        Ok(consumer) => consumer,
        Err(_) => js
            .create_consumer_on_stream(
                consumer_config(names, crate::remote::DEFAULT_ACK_WAIT),
                &names.stream,
            )
            .await
            .map_err(|err| {
                RemoteError::new(format!(
                    "could not create the consumer `{}` of stream `{}`: {err}",
                    names.consumer, names.stream
                ))
            })?,
    };
    let store = bucket(js, names).await?;
    Ok((consumer, store))
}

async fn bucket(js: &jetstream::Context, names: &Names) -> Result<kv::Store, RemoteError> {
    if let Ok(store) = js.get_key_value(&names.cancelled).await {
        return Ok(store);
    }
    js.create_key_value(bucket_config(names))
        .await
        .map_err(|err| {
            RemoteError::new(format!(
                "could not create the KV bucket `{}` (cancelled jobs): {err}{}",
                names.cancelled,
                conflict_hint("bucket", &names.cancelled)
            ))
        })
}
