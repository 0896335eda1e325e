//! A live page for your executors (feature `dashboard`): one web page and one JSON document,
//! served from the binary, that show each executor's workers, queued, running, completed,
//! failed and cancelled jobs as they change, and a chart of throughput and queue depth.
//!
//! ```
//! use std::sync::Arc;
//! use poolbridge::ThreadPoolExecutor;
//! use poolbridge::dashboard::Dashboard;
//!
//! let pool = Arc::new(ThreadPoolExecutor::new(4));
//! let dashboard = Dashboard::builder().thread_pool("threads", &pool).bind("127.0.0.1:0")?;
//! println!("open {}", dashboard.url());
//! pool.submit(|| 6 * 7).wait();
//! assert!(dashboard.snapshot().contains(r#""completed":1"#));
//! # Ok::<(), poolbridge::BuildError>(())
//! ```
//!
//! # What is served
//!
//! * `GET /`: the page, one HTML file with its CSS and JS inline. It loads nothing from
//!   anywhere else (no CDN, no font, no image; its `Content-Security-Policy` forbids it) and
//!   asks for `/metrics.json` every 500 ms. Per executor: a table of its numbers (each in an
//!   element with a stable id, `{id}-{field}`, for example `threads-completed`), and a chart
//!   of jobs completed per second and jobs queued over the last samples.
//! * `GET /metrics.json`: the numbers, read when asked, and each executor's history (one point
//!   per [`sample_every`](DashboardBuilder::sample_every)), in the layout below.
//! * Anything else: 404 (another path), 405 (another method), 400 (not HTTP/1.x), 431 (a
//!   request head over 8 KiB). Every response says `Connection: close`.
//!
//! ```json
//! {"version": 1, "now_ms": 5012, "sample_every_ms": 500, "history_capacity": 300,
//!  "executors": [
//!   {"id": "threads", "name": "threads", "kind": "thread_pool", "alive": true,
//!    "current": {"threads": 4, "idle": 0, "queued": 12, "running": 4, "completed": 310,
//!                "failed": 1, "cancelled": 0, "panicked": 1, "worker_died": 0, "timed_out": 0,
//!                "stolen": 20, "spawned": 4, "retired": 0, "waiting_submits": 0},
//!    "progress": [{"done": 3, "total": 10}],
//!    "latency": {"queue_wait": {"p50_us": 12, "p90_us": 40, "p99_us": 90, "max_us": 95,
//!                               "samples": 30},
//!                "run_time": {"p50_us": 2100, "p90_us": 2300, "p99_us": 2900,
//!                             "max_us": 2950, "samples": 30}},
//!    "history": {"t_ms": [...], "completed": [...], "failed": [...], "cancelled": [...],
//!                "queued": [...], "running": [...], "run_p50_us": [...], "run_p99_us": [...]}},
//!   {"id": "cluster", "name": "cluster", "kind": "remote", "alive": true,
//!    "current": {"submitted": 40, "pending": 8, "completed": 31, "failed": 1, "cancelled": 0,
//!                "stopped": 0, "deadline_exceeded": 0, "redelivered": 0, "republished": 0},
//!    "progress": null,
//!    "latency": {"queue_wait": {"p50_us": 900, ...}, "run_time": {"p50_us": 21000, ...}},
//!    "hosts": [{"name": "render-1", "state": "alive", "pid": 4242, "slots": 4, "workers": 2,
//!               "running": 2, "queued": 2, "completed": 17, "failed": 0, "stopped": 0,
//!               "redelivered": 0, "uptime_ms": 61000, "age_ms": 420, "interval_ms": 1000,
//!               "queue_wait": {"p50_us": 40, ...}, "run_time": {"p50_us": 20100, ...}}],
//!    "stream": {"undelivered": 12, "unacknowledged": 4, "age_ms": 310},
//!    "history": {..., "queued": [pending...], "running": [2...]}}]}
//! ```
//!
//! `kind` is `thread_pool`, `process_pool` or `remote`. `current` has every field of the
//! executor's metrics ([`PoolMetrics`], or `RemoteMetrics` for `remote`) by its Rust name, and
//! `failed`: for a pool `panicked + worker_died + timed_out + deadline_exceeded`. Counters in the history are the
//! running totals (the page derives the rates). An executor that is gone (its last `Arc`
//! dropped) keeps the numbers of its last reading (a sample or a request, so at most one
//! `sample_every` old) and its history, with `"alive": false`. New fields may appear
//! in any place (`version` changes only when one changes meaning or goes away).
//!
//! `latency` holds `queue_wait` and `run_time`, each `{"p50_us","p90_us","p99_us","max_us",
//! "samples"}` or `null` before a job was timed: a pool's own, and for the remote executor the
//! client's over every host (`RemoteMetrics::queue_wait`: submit to a host's `started`;
//! `run_time`: how long the hosts held the jobs); the history's `run_p50_us`/`run_p99_us` are
//! drawn on the chart. For the remote executor, `hosts` has one object per worker host from the
//! status it publishes (`RemoteMetrics::hosts`: `state` is `alive`, `silent` after three
//! intervals without a status, or `gone` after a graceful stop; `completed` is the host's `ok`;
//! `queue_wait` and `run_time` are its local pool's), `[]` before any host was heard of; and
//! `stream` the job stream's depth (`undelivered`: no host took them yet; `unacknowledged`:
//! taken and not acknowledged), `null` until the client read it. A remote executor's history
//! `running` is the sum of the hosts' `running` (hosts gone excluded), `null` before any host.
//! `progress` lists the running jobs that reported progress ([`PoolMetrics::progress`]), as
//! `{"done", "total"}` objects (the page draws a bar each under the table); `null` for the
//! remote executor (a remote job's progress reaches its future, not the page).
//!
//! # How the executors are held
//!
//! Weakly. The builder takes an `&Arc` of each executor and keeps a `Weak`: the dashboard never
//! keeps an executor alive, and an executor dropped while the page is open shows as gone.
//! Reading an executor's metrics upgrades the `Weak` for the few microseconds of the call; if
//! the last other `Arc` is dropped during that window, the executor's drop (its
//! `shutdown(wait = true, ..)`) runs on the dashboard's thread instead, and the thread that
//! dropped it does not wait for its jobs. Where that matters (a `main` that relies on the drop
//! to wait), call `shutdown(true, false)` before dropping the executor, or drop the dashboard
//! first. Anything else that can report [`PoolMetrics`] (the default executor, a pool in a
//! `static`) can be watched through a closure: [`pool_metrics`](DashboardBuilder::pool_metrics).
//!
//! # Threads
//!
//! Two threads run while a [`Dashboard`] lives: the sampler (one reading of every executor per
//! [`sample_every`](DashboardBuilder::sample_every), into a ring of the last
//! [`history`](DashboardBuilder::history) points) and the server's accept thread; each
//! connection is answered on a short-lived thread of its own (at most 8 at once), within a 2 s
//! limit for reading its request and writing its response. Dropping the [`Dashboard`] stops
//! and joins them all.
//!
//! # Why std and not an HTTP crate
//!
//! The server answers two fixed GET requests from a browser on the same machine or network; a
//! request head is at most 8 KiB and a body is never read. `std::net::TcpListener` and about
//! 200 lines of request reading, parsing and threads (`http.rs`) do that with no dependency at
//! all, so the feature adds nothing to the build (the JSON is written by hand too: no serde). A
//! full HTTP stack (hyper, axum) would bring an async runtime, and the small synchronous servers
//! (tiny_http) bring their own dependency trees, to parse requests the dashboard refuses anyway.
//!
//! | file        | concept                                                              |
//! |-------------|----------------------------------------------------------------------|
//! | `json.rs`   | a JSON writer: objects, arrays, strings, integers                    |
//! | `state.rs`  | the watched executors, their last readings and histories; `/metrics.json` |
//! | `http.rs`   | the server: request heads, routes, responses, threads                |
//! | `page.html` | the page (inline CSS and JS, no build step)                          |
//! | `mod.rs`    | [`Dashboard`] and [`DashboardBuilder`], the sampler thread           |

mod http;
mod json;
mod state;

use std::fmt;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[cfg(feature = "process")]
use crate::ProcessPoolExecutor;
#[cfg(all(unix, feature = "nats"))]
use crate::RemoteExecutor;
use crate::{BuildError, PoolMetrics, ThreadPoolExecutor};

use self::http::Server;
use self::state::{Kind, ReadFn, Reading, Source, State};

/// How often the sampler reads the executors, by default: as often as the page asks.
///
/// # Examples
///
/// ```
/// assert_eq!(poolbridge::dashboard::DEFAULT_SAMPLE_EVERY.as_millis(), 500);
/// ```
pub const DEFAULT_SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// How many samples each executor's history keeps, by default (2.5 minutes at 500 ms).
///
/// # Examples
///
/// ```
/// use poolbridge::dashboard::{DEFAULT_HISTORY, DEFAULT_SAMPLE_EVERY};
///
/// assert_eq!((DEFAULT_SAMPLE_EVERY * DEFAULT_HISTORY as u32).as_secs(), 150);
/// ```
pub const DEFAULT_HISTORY: usize = 300;

/// A running dashboard: a page and a JSON document served on a local address, and a sampler
/// that records each executor's history. Dropping it stops and joins its threads.
///
/// Built by [`Dashboard::builder`]; see the [module docs](self) for what it serves.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use poolbridge::ThreadPoolExecutor;
/// use poolbridge::dashboard::Dashboard;
///
/// let pool = Arc::new(ThreadPoolExecutor::new(2));
/// let dashboard = Dashboard::builder().thread_pool("threads", &pool).bind("127.0.0.1:0").unwrap();
/// assert!(dashboard.url().starts_with("http://127.0.0.1:"));
/// drop(dashboard); // the server and the sampler stop here
/// ```
pub struct Dashboard {
    state: Arc<State>,
    addr: SocketAddr,
    server: Server,
    sampler: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Dashboard {
    /// A builder with no executor, [`DEFAULT_SAMPLE_EVERY`] and [`DEFAULT_HISTORY`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use poolbridge::ThreadPoolExecutor;
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// let io = Arc::new(ThreadPoolExecutor::new(16));
    /// let cpu = Arc::new(ThreadPoolExecutor::new(4));
    /// let dashboard = Dashboard::builder()
    ///     .thread_pool("io", &io)
    ///     .thread_pool("cpu", &cpu)
    ///     .sample_every(Duration::from_secs(1))
    ///     .history(600) // ten minutes
    ///     .bind("127.0.0.1:0")
    ///     .unwrap();
    /// println!("{}", dashboard.url());
    /// ```
    pub fn builder() -> DashboardBuilder {
        DashboardBuilder {
            sources: Vec::new(),
            sample_every: DEFAULT_SAMPLE_EVERY,
            history: DEFAULT_HISTORY,
        }
    }

    /// The page's address, `http://{ip}:{port}/` (an IPv6 address in brackets; an unspecified
    /// address such as `0.0.0.0` is written as it was bound: open it with the machine's name).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// let pool = Arc::new(poolbridge::ThreadPoolExecutor::new(1));
    /// let dashboard = Dashboard::builder().thread_pool("p", &pool).bind("127.0.0.1:0").unwrap();
    /// let port = dashboard.local_addr().port();
    /// assert_eq!(dashboard.url(), format!("http://127.0.0.1:{port}/"));
    /// ```
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The address the server listens on (with the port chosen for `:0`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// let pool = Arc::new(poolbridge::ThreadPoolExecutor::new(1));
    /// let dashboard = Dashboard::builder().thread_pool("p", &pool).bind("127.0.0.1:0").unwrap();
    /// assert!(dashboard.local_addr().ip().is_loopback());
    /// assert_ne!(dashboard.local_addr().port(), 0);
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `/metrics.json` document, as the page would get it now: every executor's metrics
    /// read at this call, and its history (the layout is in the [module docs](self)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// let pool = Arc::new(poolbridge::ThreadPoolExecutor::new(2));
    /// let dashboard = Dashboard::builder().thread_pool("work", &pool).bind("127.0.0.1:0").unwrap();
    /// pool.submit(|| ()).wait();
    /// let json = dashboard.snapshot();
    /// assert!(json.contains(r#""name":"work","kind":"thread_pool","alive":true"#));
    /// assert!(json.contains(r#""completed":1"#));
    /// drop(pool);
    /// assert!(dashboard.snapshot().contains(r#""alive":false"#)); // its last numbers stay
    /// ```
    pub fn snapshot(&self) -> String {
        self.state.snapshot_json()
    }
}

impl Drop for Dashboard {
    /// Stops the sampler and the server, and joins their threads (and those of connections
    /// being answered, whose sockets are shut down first).
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.sampler.take() {
            drop(stop);
            let _ = thread.join();
        }
        self.server.stop();
    }
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("url", &self.url())
            .field(
                "executors",
                &self
                    .state
                    .sources
                    .iter()
                    .map(|s| &s.name)
                    .collect::<Vec<_>>(),
            )
            .field("sample_every", &self.state.sample_every)
            .field("history", &self.state.capacity)
            .finish()
    }
}

/// The settings of a [`Dashboard`]: which executors it shows, how often it samples them, how
/// much history it keeps. From [`Dashboard::builder`]; [`bind`](Self::bind) starts it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use poolbridge::dashboard::Dashboard;
///
/// let pool = Arc::new(poolbridge::ThreadPoolExecutor::new(2));
/// let builder = Dashboard::builder().thread_pool("threads", &pool);
/// let dashboard = builder.bind("127.0.0.1:0").unwrap();
/// # drop(dashboard);
/// ```
pub struct DashboardBuilder {
    sources: Vec<Source>,
    sample_every: Duration,
    history: usize,
}

impl DashboardBuilder {
    fn source(mut self, name: impl Into<String>, kind: Kind, read: ReadFn) -> Self {
        self.sources.push(Source::new(name.into(), kind, read));
        self
    }

    /// Shows a thread pool, held weakly (see the [module docs](self#how-the-executors-are-held)).
    /// Its id on the page is `name` with every character but ASCII letters and digits made `-`,
    /// lowercased (`"threads"` → ids `threads-completed`, `threads-queued`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// let pool = Arc::new(poolbridge::ThreadPoolExecutor::new(2));
    /// let dashboard = Dashboard::builder().thread_pool("threads", &pool).bind("127.0.0.1:0").unwrap();
    /// assert!(dashboard.snapshot().contains(r#""id":"threads""#));
    /// ```
    pub fn thread_pool(self, name: impl Into<String>, pool: &Arc<ThreadPoolExecutor>) -> Self {
        let pool: Weak<ThreadPoolExecutor> = Arc::downgrade(pool);
        self.source(
            name,
            Kind::ThreadPool,
            Box::new(move || pool.upgrade().map(|p| Reading::Pool(Box::new(p.metrics())))),
        )
    }

    /// Shows a process pool (feature `process`), held weakly; its `threads` column counts
    /// worker processes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// poolbridge::process::init();
    /// let procs = Arc::new(poolbridge::ProcessPoolExecutor::new(2));
    /// let dashboard = Dashboard::builder().process_pool("processes", &procs).bind("127.0.0.1:0").unwrap();
    /// println!("{}", dashboard.url());
    /// ```
    #[cfg(feature = "process")]
    pub fn process_pool(self, name: impl Into<String>, pool: &Arc<ProcessPoolExecutor>) -> Self {
        let pool: Weak<ProcessPoolExecutor> = Arc::downgrade(pool);
        self.source(
            name,
            Kind::ProcessPool,
            Box::new(move || pool.upgrade().map(|p| Reading::Pool(Box::new(p.metrics())))),
        )
    }

    /// Shows a remote executor's client (feature `nats`), held weakly: its
    /// [`RemoteMetrics`](crate::remote::RemoteMetrics). The page has, besides the client's
    /// counts, a table of the worker hosts (one row each from the statuses they publish: state,
    /// slots, running, completed, failed, run p50 and p99) and a stream panel (jobs waiting for a
    /// host, jobs taken and not acknowledged, queue wait and run time over all hosts). The first
    /// reading makes the client follow the hosts' statuses and the stream's depth: they show
    /// from the next sample on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// let ex = Arc::new(poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap());
    /// let dashboard = Dashboard::builder().remote("cluster", &ex).bind("127.0.0.1:0").unwrap();
    /// println!("{}", dashboard.url());
    /// ```
    #[cfg(all(unix, feature = "nats"))]
    pub fn remote(self, name: impl Into<String>, executor: &Arc<RemoteExecutor>) -> Self {
        let executor: Weak<RemoteExecutor> = Arc::downgrade(executor);
        self.source(
            name,
            Kind::Remote,
            Box::new(move || {
                executor
                    .upgrade()
                    .map(|e| Reading::Remote(Box::new(e.metrics())))
            }),
        )
    }

    /// Shows anything that reports [`PoolMetrics`], through a closure called at each sample and
    /// each request (from the dashboard's threads): `Some(metrics)`, or `None` once the pool is
    /// gone (the page then keeps its last numbers). Shown as a thread pool.
    ///
    /// # Examples
    ///
    /// The default executor (behind `spawn_blocking`, `to_thread`, `run_in_executor(None, ..)`):
    ///
    /// ```
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// let dashboard = Dashboard::builder()
    ///     .pool_metrics("default", || Some(poolbridge::default_executor().metrics()))
    ///     .bind("127.0.0.1:0")
    ///     .unwrap();
    /// poolbridge::spawn_blocking(|| ());
    /// println!("{}", dashboard.url());
    /// ```
    pub fn pool_metrics(
        self,
        name: impl Into<String>,
        metrics: impl Fn() -> Option<PoolMetrics> + Send + Sync + 'static,
    ) -> Self {
        self.source(
            name,
            Kind::ThreadPool,
            Box::new(move || metrics().map(|m| Reading::Pool(Box::new(m)))),
        )
    }

    /// How often the sampler reads every executor into its history (the chart's resolution):
    /// [`DEFAULT_SAMPLE_EVERY`] unless set; at least 10 ms ([`bind`](Self::bind) refuses less).
    /// The numbers in the tables are read when the page asks, whatever this is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// let pool = Arc::new(poolbridge::ThreadPoolExecutor::new(1));
    /// let err = Dashboard::builder()
    ///     .thread_pool("p", &pool)
    ///     .sample_every(Duration::ZERO)
    ///     .bind("127.0.0.1:0")
    ///     .unwrap_err();
    /// assert!(err.message().contains("sample_every"));
    /// ```
    pub fn sample_every(mut self, every: Duration) -> Self {
        self.sample_every = every;
        self
    }

    /// How many samples each executor's history keeps (the chart's width in samples):
    /// [`DEFAULT_HISTORY`] unless set; from 2 to 100,000.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// let pool = Arc::new(poolbridge::ThreadPoolExecutor::new(1));
    /// // One hour at one sample a second.
    /// let dashboard = Dashboard::builder()
    ///     .thread_pool("p", &pool)
    ///     .sample_every(Duration::from_secs(1))
    ///     .history(3600)
    ///     .bind("127.0.0.1:0")
    ///     .unwrap();
    /// # drop(dashboard);
    /// ```
    pub fn history(mut self, samples: usize) -> Self {
        self.history = samples;
        self
    }

    /// Checks the settings, binds `addr` and starts the server and the sampler (the first
    /// sample is taken at once). `"127.0.0.1:0"` picks a free port on loopback ([`Dashboard::url`]
    /// says which); the page has no authentication, so bind a public address only on a network
    /// you trust.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] when no executor was added, two names give the same id, a name is empty,
    /// [`sample_every`](Self::sample_every) is under 10 ms, [`history`](Self::history) is out of
    /// range, the address cannot be bound (in use, not resolvable), or a thread cannot start.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use poolbridge::dashboard::Dashboard;
    ///
    /// let pool = Arc::new(poolbridge::ThreadPoolExecutor::new(1));
    /// let err = Dashboard::builder()
    ///     .thread_pool("a b", &pool)
    ///     .thread_pool("a-b", &pool)
    ///     .bind("127.0.0.1:0")
    ///     .unwrap_err();
    /// assert!(err.message().contains("same id"));
    /// ```
    pub fn bind(self, addr: impl ToSocketAddrs) -> Result<Dashboard, BuildError> {
        if self.sources.is_empty() {
            return Err(BuildError::new(
                "the dashboard has no executor to show: add one with thread_pool, process_pool, remote or pool_metrics",
            ));
        }
        for (i, source) in self.sources.iter().enumerate() {
            if source.name.is_empty() {
                return Err(BuildError::new("an executor's name must not be empty"));
            }
            if let Some(other) = self.sources[..i].iter().find(|s| s.id == source.id) {
                return Err(BuildError::new(format!(
                    "the executors {:?} and {:?} have the same id {:?} on the page: name them apart",
                    other.name, source.name, source.id
                )));
            }
        }
        if self.sample_every < Duration::from_millis(10) {
            return Err(BuildError::new(format!(
                "sample_every must be at least 10 ms (was {:?})",
                self.sample_every
            )));
        }
        if !(2..=100_000).contains(&self.history) {
            return Err(BuildError::new(format!(
                "history must be from 2 to 100000 samples (was {})",
                self.history
            )));
        }
        let listener = TcpListener::bind(addr).map_err(|e| {
            BuildError::new(format!("the dashboard could not bind its address: {e}"))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| BuildError::new(format!("the dashboard's address: {e}")))?;
        let state = Arc::new(State {
            started: Instant::now(),
            sample_every: self.sample_every,
            capacity: self.history,
            sources: self.sources,
        });
        state.sample();
        let thread_error = |e: std::io::Error| {
            BuildError::new(format!("the dashboard's thread could not start: {e}"))
        };
        let (stop, stopped) = mpsc::channel::<()>();
        let sampler = std::thread::Builder::new()
            .name("poolbridge-dashboard-sampler".into())
            .spawn({
                let state = Arc::clone(&state);
                move || {
                    let mut next = Instant::now() + state.sample_every;
                    loop {
                        let wait = next.saturating_duration_since(Instant::now());
                        match stopped.recv_timeout(wait) {
                            Err(RecvTimeoutError::Timeout) => {}
                            _ => return,
                        }
                        state.sample();
                        // A steady cadence; after a long stall, start again from now.
                        next += state.sample_every;
                        let now = Instant::now();
                        if next < now {
                            next = now + state.sample_every;
                        }
                    }
                }
            })
            .map_err(thread_error)?;
        let server = match Server::start(listener, Arc::clone(&state)) {
            Ok(server) => server,
            Err(e) => {
                drop(stop);
                let _ = sampler.join();
                return Err(thread_error(e));
            }
        };
        Ok(Dashboard {
            state,
            addr,
            server,
            sampler: Some((stop, sampler)),
        })
    }
}

impl fmt::Debug for DashboardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardBuilder")
            .field(
                "executors",
                &self.sources.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("sample_every", &self.sample_every)
            .field("history", &self.history)
            .finish()
    }
}
