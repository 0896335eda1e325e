//! Feature `metrics`: every executor's [`PoolMetrics`] published through the [`metrics`] crate
//! facade, the Rust ecosystem's convention for application metrics, so that whichever exporter
//! the application installs (Prometheus, StatsD, OpenTelemetry, …) serves them.
//!
//! [`publish`] starts a thread that reads `metrics()` every period and records it; the
//! [`Publisher`] it returns stops that thread when dropped (and the thread ends by itself once
//! its pool is dropped: it holds only a weak reference). [`record`] records one snapshot, for an
//! application that has a loop of its own.
//!
//! Why a sampling thread rather than counting in the pool itself: the thread pool's hot path
//! touches no shared counter (`PoolMetrics` sums per-worker counters when read), and the
//! facade's macros look their key up in the recorder's registry at each call; reading the
//! snapshot a few times a minute costs the pool nothing per job, and an exporter only reads
//! when it is scraped anyway.
//!
//! What is recorded, each with the label `executor` (the name given to [`publish`]):
//!
//! | name | kind | from |
//! |------|------|------|
//! | `poolbridge_jobs_completed_total`, `_panicked_total`, `_cancelled_total`, `_deadline_exceeded_total`, `_stolen_total`, `_worker_died_total`, `_timed_out_total`, `_stopped_total`, `_killed_total` | counter | the job counters |
//! | `poolbridge_workers_spawned_total`, `poolbridge_workers_retired_total` | counter | `spawned`, `retired` |
//! | `poolbridge_threads`, `poolbridge_idle`, `poolbridge_queued`, `poolbridge_running`, `poolbridge_waiting_submits` | gauge | the gauges |
//! | `poolbridge_queue_wait_seconds`, `poolbridge_run_time_seconds` (label `quantile`: `0.5`, `0.9`, `0.99`, `1` for the max) | gauge | [`PoolMetrics::queue_wait`], [`PoolMetrics::run_time`] (over the last 10–20 s; not set before a job was timed) |
//! | `poolbridge_queue_wait_samples`, `poolbridge_run_time_samples` | gauge | how many timed jobs those are made of |
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use poolbridge::ThreadPoolExecutor;
//!
//! // With no recorder installed the macros record nothing; an application installs one
//! // (`metrics_exporter_prometheus::PrometheusBuilder`, for instance) first.
//! let pool = Arc::new(ThreadPoolExecutor::new(2));
//! let publisher = poolbridge::metrics_export::publish("workers", &pool, Duration::from_secs(5));
//! pool.submit(|| 1 + 1).wait();
//! drop(publisher); // stops publishing
//! ```

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use metrics::{counter, gauge};

use crate::{LatencySummary, PoolMetrics, ThreadPoolExecutor};

/// Publishes `pool`'s metrics under the label `executor = name`, every `every` (and once at
/// once), on a thread of its own, until the returned [`Publisher`] is dropped or the pool is.
/// The names recorded are in the [module docs](self).
///
/// # Panics
///
/// If the thread cannot be started.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use poolbridge::ThreadPoolExecutor;
///
/// let pool = Arc::new(ThreadPoolExecutor::new(2));
/// let _publisher = poolbridge::metrics_export::publish("io", &pool, Duration::from_secs(1));
/// ```
pub fn publish(name: &str, pool: &Arc<ThreadPoolExecutor>, every: Duration) -> Publisher {
    let weak = Arc::downgrade(pool);
    publish_from(name, every, move || weak.upgrade().map(|p| p.metrics()))
}

/// [`publish`] for a process pool (feature `process`).
///
/// # Panics
///
/// If the thread cannot be started.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use poolbridge::ProcessPoolExecutor;
///
/// let pool = Arc::new(ProcessPoolExecutor::new(2));
/// let _publisher =
///     poolbridge::metrics_export::publish_process("cpu", &pool, Duration::from_secs(1));
/// ```
#[cfg(feature = "process")]
pub fn publish_process(
    name: &str,
    pool: &Arc<crate::ProcessPoolExecutor>,
    every: Duration,
) -> Publisher {
    let weak: std::sync::Weak<crate::ProcessPoolExecutor> = Arc::downgrade(pool);
    publish_from(name, every, move || weak.upgrade().map(|p| p.metrics()))
}

/// The thread behind [`publish`]: `read` gives a snapshot, or `None` once the pool is gone.
fn publish_from(
    name: &str,
    every: Duration,
    mut read: impl FnMut() -> Option<PoolMetrics> + Send + 'static,
) -> Publisher {
    let name = name.to_owned();
    let (stop, stopped) = mpsc::sync_channel::<()>(1);
    let thread = thread::Builder::new()
        .name(format!("poolbridge-metrics-{name}"))
        .spawn(move || {
            loop {
                let Some(m) = read() else { return };
                record(&name, &m);
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })
        .expect("poolbridge: could not start the metrics publisher thread");
    Publisher {
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// The thread started by [`publish`]: dropping it stops the thread (after one last snapshot
/// already under way, if any) and waits for it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use poolbridge::ThreadPoolExecutor;
///
/// let pool = Arc::new(ThreadPoolExecutor::new(1));
/// let publisher = poolbridge::metrics_export::publish("p", &pool, Duration::from_secs(60));
/// drop(publisher); // returns at once, not after 60 s
/// ```
#[derive(Debug)]
pub struct Publisher {
    stop: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Records one snapshot `m` of the executor `name` through the `metrics` macros (the names are
/// in the [module docs](self)). Counters are set to their absolute values.
///
/// # Examples
///
/// ```
/// use poolbridge::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(1);
/// pool.submit(|| ()).wait();
/// poolbridge::metrics_export::record("mine", &pool.metrics());
/// ```
pub fn record(name: &str, m: &PoolMetrics) {
    let counters = [
        ("poolbridge_jobs_completed_total", m.completed),
        ("poolbridge_jobs_panicked_total", m.panicked),
        ("poolbridge_jobs_cancelled_total", m.cancelled),
        (
            "poolbridge_jobs_deadline_exceeded_total",
            m.deadline_exceeded,
        ),
        ("poolbridge_jobs_stolen_total", m.stolen),
        ("poolbridge_jobs_worker_died_total", m.worker_died),
        ("poolbridge_jobs_timed_out_total", m.timed_out),
        ("poolbridge_jobs_stopped_total", m.stopped),
        ("poolbridge_jobs_killed_total", m.killed),
        ("poolbridge_workers_spawned_total", m.spawned),
        ("poolbridge_workers_retired_total", m.retired),
    ];
    for (key, value) in counters {
        counter!(key, "executor" => name.to_owned()).absolute(value);
    }
    let gauges = [
        ("poolbridge_threads", m.threads),
        ("poolbridge_idle", m.idle),
        ("poolbridge_queued", m.queued),
        ("poolbridge_running", m.running),
        ("poolbridge_waiting_submits", m.waiting_submits),
    ];
    for (key, value) in gauges {
        gauge!(key, "executor" => name.to_owned()).set(value as f64);
    }
    latency(name, "poolbridge_queue_wait", m.queue_wait);
    latency(name, "poolbridge_run_time", m.run_time);
}

/// `<prefix>_seconds{quantile}` and `<prefix>_samples` of one summary, if there is one.
fn latency(name: &str, prefix: &'static str, summary: Option<LatencySummary>) {
    let Some(s) = summary else { return };
    let seconds = format!("{prefix}_seconds");
    for (quantile, value) in [
        ("0.5", s.p50),
        ("0.9", s.p90),
        ("0.99", s.p99),
        ("1", s.max),
    ] {
        gauge!(seconds.clone(), "executor" => name.to_owned(), "quantile" => quantile)
            .set(value.as_secs_f64());
    }
    gauge!(format!("{prefix}_samples"), "executor" => name.to_owned()).set(s.samples as f64);
}
