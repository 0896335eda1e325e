//! [`ServeOptions`] and [`serve`]: a worker host's settings, checked, handed to `host.rs`.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::BuildError;
use crate::remote::connect::{self, NatsOptions};
use crate::remote::defaults::{DEFAULT_STATUS_INTERVAL, DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX};
use crate::remote::report::ServeReport;
use crate::remote::{host, wire};

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
    status_interval: Duration,
    nats: NatsOptions,
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
            status_interval: DEFAULT_STATUS_INTERVAL,
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
    ///
    /// [`RemoteBuilder::stream`]: crate::remote::RemoteBuilder::stream
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
    ///
    /// [`RemoteBuilder::subject_prefix`]: crate::remote::RemoteBuilder::subject_prefix
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
    ///
    /// [`RemoteExecutor::job_host`]: crate::RemoteExecutor::job_host
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
    /// ([`ProcessPoolBuilder::program`](crate::process::ProcessPoolBuilder::program)); by default the
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
    ///
    /// [`RemoteBuilder::replicas`]: crate::remote::RemoteBuilder::replicas
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = Some(n);
        self
    }

    /// How often the host publishes its status ([`DEFAULT_STATUS_INTERVAL`], 1 s) on
    /// `{prefix}.status.{name}` (a core NATS message: its name, pid, slots, running and queued
    /// jobs, counts, local queue wait and run time, uptime), and a last one saying it is gone
    /// when it stops gracefully: what clients show in
    /// [`RemoteMetrics::hosts`](crate::remote::RemoteMetrics::hosts). A client calls a host
    /// silent after three intervals without a status.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = poolbridge::remote::ServeOptions::default()
    ///     .status_interval(Duration::from_secs(5));
    /// ```
    pub fn status_interval(mut self, interval: Duration) -> Self {
        self.status_interval = interval;
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
/// fn main() -> Result<(), poolbridge::BuildError> {
///     poolbridge::process::init();
///     let report = serve("nats://nats.internal:4222", ServeOptions::default().workers(8))?;
///     eprintln!("{report:?}");
///     Ok(())
/// }
/// ```
pub fn serve(url: &str, options: ServeOptions) -> Result<ServeReport, BuildError> {
    wire::Names::check(&options.stream, &options.prefix).map_err(BuildError::new)?;
    if options.workers == Some(0) || options.concurrency == Some(0) {
        return Err(BuildError::new(
            "ServeOptions::workers and ServeOptions::concurrency must be greater than 0",
        ));
    }
    connect::check_replicas(options.replicas, "ServeOptions::replicas")?;
    if options.status_interval.is_zero() || options.status_interval > Duration::from_secs(3600) {
        return Err(BuildError::new(format!(
            "ServeOptions::status_interval({:?}) must be greater than zero and at most an hour",
            options.status_interval
        )));
    }
    let settings = host::HostSettings {
        names: wire::Names::new(&options.stream, &options.prefix),
        name: options.name,
        workers: options.workers,
        concurrency: options.concurrency,
        program: options.program,
        replicas: options.replicas,
        status_interval: options.status_interval,
    };
    host::serve(url, settings, options.nats.connection)
}
