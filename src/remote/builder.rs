//! [`RemoteBuilder`]: a client's settings and their checks, and connecting with them; with
//! [`RemoteExecutor::connect`], [`connect_async`](RemoteExecutor::connect_async) and
//! [`builder`](RemoteExecutor::builder).

use std::future::Future;
use std::time::Duration;

// For the documentation's links.
use crate::error::BuildError;
#[allow(unused_imports)]
use crate::error::FutureError;
use crate::remote::connect::{self, NatsOptions};
use crate::remote::defaults::{
    DEFAULT_ACK_WAIT, DEFAULT_DEDUP_WINDOW, DEFAULT_MAX_DELIVER, DEFAULT_PUBLISH_TIMEOUT,
    DEFAULT_STOP_PATIENCE, DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX,
};
use crate::remote::executor::RemoteExecutor;
use crate::remote::{client, wire};

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
    /// # Ok::<(), poolbridge::BuildError>(())
    /// ```
    pub fn connect(url: &str) -> Result<RemoteExecutor, BuildError> {
        RemoteExecutor::builder().connect(url)
    }

    /// [`connect`](Self::connect) for async code: see [`RemoteBuilder::connect_async`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), poolbridge::BuildError> {
    /// let ex = poolbridge::RemoteExecutor::connect_async("nats://127.0.0.1:4222").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_async(
        url: &str,
    ) -> impl Future<Output = Result<RemoteExecutor, BuildError>> + Send + 'static {
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
    /// # Ok::<(), poolbridge::BuildError>(())
    /// ```
    pub fn builder() -> RemoteBuilder {
        RemoteBuilder::default()
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
/// use poolbridge::RemoteExecutor;
/// use poolbridge::remote::NatsOptions;
///
/// let ex = RemoteExecutor::builder()
///     .ack_wait(Duration::from_secs(10))
///     .max_deliver(2)
///     .job_timeout(Duration::from_secs(300))
///     .nats(NatsOptions::default().credentials_file("client.creds"))
///     .connect("nats://nats.internal:4222")?;
/// # Ok::<(), poolbridge::BuildError>(())
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
    stop_patience: Duration,
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
            stop_patience: DEFAULT_STOP_PATIENCE,
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
    ///
    /// [`ServeOptions::stream`]: crate::remote::ServeOptions::stream
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
    ///
    /// [`SubmitOptions::timeout`]: crate::SubmitOptions::timeout
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

    /// How long to wait for a host to confirm that it stopped a running job
    /// ([`PoolFuture::request_cancel`](crate::PoolFuture::request_cancel), a dropped awaitable)
    /// before the future resolves to `Cancelled` anyway ([`DEFAULT_STOP_PATIENCE`], which says
    /// what to weigh).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = poolbridge::RemoteExecutor::builder().stop_patience(Duration::from_secs(30));
    /// ```
    pub fn stop_patience(mut self, d: Duration) -> Self {
        self.stop_patience = d;
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
    ///
    /// [`ServeOptions::replicas`]: crate::remote::ServeOptions::replicas
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
    pub fn connect(self, url: &str) -> Result<RemoteExecutor, BuildError> {
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
            stop_patience: self.stop_patience,
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
    ) -> impl Future<Output = Result<RemoteExecutor, BuildError>> + Send + 'static {
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
                    BuildError::new(format!("could not start a thread to connect: {err}"))
                })
        });
        async move {
            spawned?;
            match fut.await {
                Ok(connected) => connected,
                Err(err) => Err(BuildError::new(format!(
                    "the thread connecting to NATS ended without an answer: {err}"
                ))),
            }
        }
    }

    /// The settings a connection cannot fix.
    fn check(&self) -> Result<(), BuildError> {
        wire::Names::check(&self.stream, &self.prefix).map_err(BuildError::new)?;
        if self.max_deliver == 0 {
            return Err(BuildError::new(
                "max_deliver must be at least 1 (RemoteBuilder::max_deliver(0))",
            ));
        }
        connect::check_replicas(self.replicas, "RemoteBuilder::replicas")?;
        if self.ack_wait.is_zero() || self.publish_timeout.is_zero() || self.dedup_window.is_zero()
        {
            return Err(BuildError::new(
                "ack_wait, publish_timeout and dedup_window must be greater than zero",
            ));
        }
        if self.large_payloads == Some(0) {
            return Err(BuildError::new(
                "RemoteBuilder::large_payloads(0): the limit must be greater than zero",
            ));
        }
        if self.keep_answers.is_some_and(|d| d.is_zero()) {
            return Err(BuildError::new(
                "RemoteBuilder::keep_answers: the retention must be greater than zero",
            ));
        }
        // JetStream carries durations as signed 64-bit nanoseconds (about 292 years).
        let too_long = |d: Duration| i64::try_from(d.as_nanos()).is_err();
        if self.keep_answers.is_some_and(too_long) {
            return Err(BuildError::new(
                "RemoteBuilder::keep_answers: the retention must be under 292 years (JetStream \
                 counts it in 64-bit nanoseconds)",
            ));
        }
        if too_long(self.ack_wait) || too_long(self.dedup_window) {
            return Err(BuildError::new(
                "ack_wait and dedup_window must be under 292 years (JetStream counts them in \
                 64-bit nanoseconds)",
            ));
        }
        Ok(())
    }
}
