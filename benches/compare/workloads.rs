//! The workloads, each a generic function over [`Lib`], run inside a fresh child process.
//! Each returns its metrics as `(name, value)` pairs.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::libs::{Lib, Mode};
use crate::sys;

/// Sizes of the workloads. The parent passes every field to the child explicitly, so a run is
/// fully described by the JSON it writes.
#[derive(Clone, Debug)]
pub struct Params {
    pub roundtrip_warmup: u64,
    pub roundtrip_jobs: u64,
    pub burst_jobs: u64,
    pub sync_jobs: u64,
    pub fire_jobs: u64,
    /// Jobs of `mpburst`, shared out among one producer task per CPU.
    pub mpburst_jobs: u64,
    pub sleepy_jobs: u64,
    pub sleepy_workers: usize,
    pub sleepy_ms: u64,
    pub cpu_jobs: u64,
    /// 0: the number of cores.
    pub cpu_workers: usize,
    /// Iterations of [`spin`] that take ~5 ms, calibrated once by the parent.
    pub cpu_iters: u64,
    pub idle_warmup: u64,
    pub idle_ms: u64,
    pub stall_jobs: u64,
    pub stall_tasks: u64,
    /// Trivial jobs run before the measured part of every workload (runtime, allocator and pool
    /// initialised; lazily started pools have a thread or two).
    pub warmup: u64,
}

impl Params {
    pub fn full() -> Params {
        Params {
            roundtrip_warmup: 2_000,
            roundtrip_jobs: 20_000,
            burst_jobs: 200_000,
            sync_jobs: 200_000,
            fire_jobs: 200_000,
            mpburst_jobs: 200_000,
            sleepy_jobs: 1_024,
            sleepy_workers: 128,
            sleepy_ms: 10,
            cpu_jobs: 64,
            cpu_workers: 0,
            cpu_iters: 0,
            idle_warmup: 10_000,
            idle_ms: 5_000,
            stall_jobs: 10_000,
            stall_tasks: 100,
            warmup: 1_000,
        }
    }

    /// `--quick`: the same workloads, smaller where size does not change the per-job numbers.
    pub fn quick() -> Params {
        Params {
            roundtrip_warmup: 1_000,
            roundtrip_jobs: 5_000,
            burst_jobs: 100_000,
            sync_jobs: 100_000,
            fire_jobs: 100_000,
            mpburst_jobs: 100_000,
            idle_ms: 1_000,
            ..Params::full()
        }
    }

    pub fn fields(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("roundtrip_warmup", self.roundtrip_warmup),
            ("roundtrip_jobs", self.roundtrip_jobs),
            ("burst_jobs", self.burst_jobs),
            ("sync_jobs", self.sync_jobs),
            ("fire_jobs", self.fire_jobs),
            ("mpburst_jobs", self.mpburst_jobs),
            ("sleepy_jobs", self.sleepy_jobs),
            ("sleepy_workers", self.sleepy_workers as u64),
            ("sleepy_ms", self.sleepy_ms),
            ("cpu_jobs", self.cpu_jobs),
            ("cpu_workers", self.cpu_workers as u64),
            ("cpu_iters", self.cpu_iters),
            ("idle_warmup", self.idle_warmup),
            ("idle_ms", self.idle_ms),
            ("stall_jobs", self.stall_jobs),
            ("stall_tasks", self.stall_tasks),
            ("warmup", self.warmup),
        ]
    }

    pub fn set(&mut self, key: &str, value: u64) -> Result<(), String> {
        let v = value;
        match key {
            "roundtrip_warmup" => self.roundtrip_warmup = v,
            "roundtrip_jobs" => self.roundtrip_jobs = v,
            "burst_jobs" => self.burst_jobs = v,
            "sync_jobs" => self.sync_jobs = v,
            "fire_jobs" => self.fire_jobs = v,
            "mpburst_jobs" => self.mpburst_jobs = v,
            "sleepy_jobs" => self.sleepy_jobs = v,
            "sleepy_workers" => self.sleepy_workers = v as usize,
            "sleepy_ms" => self.sleepy_ms = v,
            "cpu_jobs" => self.cpu_jobs = v,
            "cpu_workers" => self.cpu_workers = v as usize,
            "cpu_iters" => self.cpu_iters = v,
            "idle_warmup" => self.idle_warmup = v,
            "idle_ms" => self.idle_ms = v,
            "stall_jobs" => self.stall_jobs = v,
            "stall_tasks" => self.stall_tasks = v,
            "warmup" => self.warmup = v,
            _ => return Err(format!("unknown parameter {key:?}")),
        }
        Ok(())
    }

    pub fn cpu_workers(&self) -> usize {
        if self.cpu_workers == 0 {
            cores()
        } else {
            self.cpu_workers
        }
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub struct Workload {
    pub name: &'static str,
    pub what: &'static str,
    /// The parameter that holds its job count (what `--scale` sets), if it has one.
    pub size: Option<&'static str>,
    /// Part of a plain `cargo bench --bench compare` (the others run when named, or in `--scale`).
    pub default: bool,
}

/// The workloads of `--scale` when none is named (issue 23, "cost as work grows").
pub const SCALE_DEFAULT: &[&str] = &["burst", "join_all", "as_completed", "wait", "joinset"];

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "roundtrip",
        what: "latency of one trivial job at a time, awaited from a current-thread tokio runtime",
        size: Some("roundtrip_jobs"),
        default: true,
    },
    Workload {
        name: "burst",
        what: "N trivial jobs submitted at once from a current-thread runtime, then awaited in order: throughput and peak RSS growth",
        size: Some("burst_jobs"),
        default: true,
    },
    Workload {
        name: "join_all",
        what: "the same burst awaited through futures::future::join_all",
        size: Some("burst_jobs"),
        default: true,
    },
    Workload {
        name: "sync",
        what: "N trivial jobs submitted from a plain thread (no runtime), results collected in order",
        size: Some("sync_jobs"),
        default: true,
    },
    Workload {
        name: "fire",
        what: "N trivial jobs with no handle (fire and forget: the library's cheapest path, see each library's api) from a plain thread; the last one to run signals the end: throughput, CPU and peak RSS growth",
        size: Some("fire_jobs"),
        default: true,
    },
    Workload {
        name: "mpburst",
        what: "multi-producer burst: one producer task per CPU on a multi-thread tokio runtime (one worker per CPU), each submitting its share of N trivial jobs, then awaiting them in order",
        size: Some("mpburst_jobs"),
        default: true,
    },
    Workload {
        name: "sleepy",
        what: "1024 jobs of thread::sleep(10 ms) on 128 workers (ideal: 8 waves = 80 ms)",
        size: Some("sleepy_jobs"),
        default: true,
    },
    Workload {
        name: "cpu",
        what: "64 jobs of ~5 ms of arithmetic on one worker per core: speedup over running them sequentially",
        size: Some("cpu_jobs"),
        default: true,
    },
    Workload {
        name: "idle",
        what: "CPU time used by the process while the pool sits idle after a warm-up burst",
        size: None,
        default: true,
    },
    Workload {
        name: "stall",
        what: "worst gap of a 1 ms tokio interval on a current-thread runtime while jobs flow through the library from tasks of that runtime",
        size: Some("stall_jobs"),
        default: true,
    },
    // Not in the default run (it stays as it was); named with --only, or run by --scale.
    Workload {
        name: "as_completed",
        what: "N trivial jobs submitted from a plain thread (as sync), outcomes taken in completion order (poolbridge::as_completed; peers: a FuturesUnordered of their handles under block_on)",
        size: Some("sync_jobs"),
        default: false,
    },
    Workload {
        name: "wait",
        what: "N trivial jobs submitted from a plain thread (as sync), then one wait for all of them (poolbridge::wait with ALL_COMPLETED; peers: block_on(join_all(handles))) and their outcomes summed",
        size: Some("sync_jobs"),
        default: false,
    },
    Workload {
        name: "joinset",
        what: "the burst through the library's JoinSet (spawn_blocking into a new set, join_next until empty) on a current-thread runtime; n/a for libraries without one",
        size: Some("burst_jobs"),
        default: false,
    },
];

/// ~5 ms (after calibration) of dependent integer arithmetic that the optimiser cannot shorten.
#[inline(never)]
pub fn spin(iters: u64, seed: u64) -> u64 {
    let mut x = black_box(seed) | 1;
    for _ in 0..black_box(iters) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// Iterations of [`spin`] that take `target` on this machine: the fastest of several timed
/// trials (the least disturbed by other processes), scaled.
pub fn calibrate(target: Duration) -> u64 {
    let probe = 1u64 << 20;
    let mut best = Duration::MAX;
    for i in 0..9 {
        let t = Instant::now();
        black_box(spin(probe, i));
        best = best.min(t.elapsed());
    }
    let ns_per_iter = best.as_nanos() as f64 / probe as f64;
    (target.as_nanos() as f64 / ns_per_iter).round() as u64
}

#[inline]
fn trivial(i: u64) -> impl FnOnce() -> u64 + Send + 'static {
    move || black_box(i).wrapping_mul(3)
}

fn expected_sum(n: u64) -> u64 {
    (0..n).fold(0u64, |s, i| s.wrapping_add(i.wrapping_mul(3)))
}

fn runtime<L: Lib>(workers: Option<usize>) -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_current_thread();
    b.enable_all();
    L::tune_runtime(&mut b, workers);
    b.build().expect("tokio runtime")
}

/// A multi-thread runtime with `threads` worker threads, tuned for `L` like [`runtime`].
fn multi_thread_runtime<L: Lib>(threads: usize) -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.worker_threads(threads).enable_all();
    L::tune_runtime(&mut b, None);
    b.build().expect("tokio runtime")
}

/// The process's CPU time (all threads, exited ones included, user + system) over a measured
/// section: `start()` right before it, `per_job(n)` right after it.
struct CpuClock(u64);

impl CpuClock {
    fn start() -> CpuClock {
        CpuClock(sys::cpu_ns_process())
    }

    /// CPU µs per job since `start()`.
    fn per_job(&self, jobs: u64) -> f64 {
        let ns = sys::cpu_ns_process().saturating_sub(self.0);
        ns as f64 / 1e3 / jobs.max(1) as f64
    }
}

async fn warm_up<L: Lib>(lib: &L, n: u64) {
    let handles: Vec<_> = (0..n).map(|i| lib.spawn(trivial(i))).collect();
    let mut sum = 0u64;
    for h in handles {
        sum = sum.wrapping_add(h.await);
    }
    assert_eq!(sum, expected_sum(n));
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

type Metrics = Vec<(&'static str, f64)>;

pub fn run<L: Lib>(workload: &str, p: &Params) -> Result<Metrics, String> {
    let mut m = match workload {
        "roundtrip" => roundtrip::<L>(p),
        "burst" => burst::<L>(p, false),
        "join_all" => burst::<L>(p, true),
        "sync" => sync::<L>(p),
        "fire" => fire::<L>(p),
        "mpburst" => mpburst::<L>(p),
        "sleepy" => sleepy::<L>(p),
        "cpu" => cpu::<L>(p),
        "idle" => idle::<L>(p),
        "stall" => stall::<L>(p),
        "as_completed" => collect::<L>(p, L::as_completed),
        "wait" => collect::<L>(p, L::wait_all),
        "joinset" => joinset::<L>(p)?,
        _ => return Err(format!("unknown workload {workload:?}")),
    };
    if !m.iter().any(|(k, _)| *k == "threads") {
        m.push(("threads", sys::threads() as f64));
    }
    Ok(m)
}

/// When the running roundtrip job started, in ns after the workload's origin: written by the
/// job, read by the awaiting task after the await (the library's completion orders the two).
static ROUNDTRIP_STARTED_NS: AtomicU64 = AtomicU64::new(0);

/// `roundtrip`'s job: `trivial(i)`, recording when it started (one `Instant::now()` and a store,
/// the same for every library), so that each roundtrip splits into its two legs: submit → the
/// job starts (the pool's wake-up), and the job starts → the awaiting task resumes (the
/// runtime's wake-up, which the pool does not control).
fn stamped(i: u64, origin: Instant) -> impl FnOnce() -> u64 + Send + 'static {
    move || {
        let started = origin.elapsed().as_nanos() as u64;
        ROUNDTRIP_STARTED_NS.store(started, Ordering::Relaxed);
        black_box(i).wrapping_mul(3)
    }
}

fn roundtrip<L: Lib>(p: &Params) -> Metrics {
    let rt = runtime::<L>(None);
    let lib = L::new(Mode::Async, None);
    let origin = Instant::now();
    let ns = |t: Instant| t.duration_since(origin).as_nanos() as f64;
    let (mut lat, mut submit_leg, mut return_leg, cpu_us) = rt.block_on(async {
        for i in 0..p.roundtrip_warmup {
            black_box(lib.spawn(stamped(i, origin)).await);
        }
        let n = p.roundtrip_jobs as usize;
        let (mut lat, mut submit_leg, mut return_leg) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let cpu = CpuClock::start();
        for i in 0..p.roundtrip_jobs {
            let t = Instant::now();
            let v = lib.spawn(stamped(i, origin)).await;
            let end = Instant::now();
            lat.push(end.duration_since(t).as_nanos() as f64 / 1e3);
            let started = ROUNDTRIP_STARTED_NS.load(Ordering::Relaxed) as f64;
            submit_leg.push((started - ns(t)) / 1e3);
            return_leg.push((ns(end) - started) / 1e3);
            assert_eq!(v, i.wrapping_mul(3));
        }
        (lat, submit_leg, return_leg, cpu.per_job(p.roundtrip_jobs))
    });
    let threads = sys::threads();
    lat.sort_by(f64::total_cmp);
    submit_leg.sort_by(f64::total_cmp);
    return_leg.sort_by(f64::total_cmp);
    let mean = lat.iter().sum::<f64>() / lat.len() as f64;
    vec![
        ("p50_us", percentile(&lat, 50.0)),
        ("p90_us", percentile(&lat, 90.0)),
        ("p99_us", percentile(&lat, 99.0)),
        ("max_us", percentile(&lat, 100.0)),
        ("mean_us", mean),
        ("submit_leg_p50_us", percentile(&submit_leg, 50.0)),
        ("return_leg_p50_us", percentile(&return_leg, 50.0)),
        ("submit_leg_p99_us", percentile(&submit_leg, 99.0)),
        ("return_leg_p99_us", percentile(&return_leg, 99.0)),
        ("cpu_us_per_job", cpu_us),
        ("threads", threads as f64),
    ]
}

fn burst<L: Lib>(p: &Params, join_all: bool) -> Metrics {
    let rt = runtime::<L>(None);
    let lib = L::new(Mode::Async, None);
    let n = p.burst_jobs;
    rt.block_on(async {
        warm_up(&lib, p.warmup).await;
        let hwm_before = sys::status_kib("VmHWM").unwrap_or(0);
        let cpu = CpuClock::start();
        let t = Instant::now();
        let handles: Vec<_> = (0..n).map(|i| lib.spawn(trivial(i))).collect();
        let submitted = t.elapsed();
        let sum = if join_all {
            futures::future::join_all(handles)
                .await
                .into_iter()
                .fold(0u64, u64::wrapping_add)
        } else {
            let mut sum = 0u64;
            for h in handles {
                sum = sum.wrapping_add(h.await);
            }
            sum
        };
        let elapsed = t.elapsed();
        let cpu_us = cpu.per_job(n);
        let hwm_after = sys::status_kib("VmHWM").unwrap_or(0);
        let threads = sys::threads();
        assert_eq!(sum, expected_sum(n));
        burst_metrics(
            n,
            elapsed,
            submitted,
            (hwm_before, hwm_after),
            cpu_us,
            threads,
        )
    })
}

/// `joinset`: the burst through the library's own `JoinSet` ([`Lib::join_set`]); an error
/// ("n/a") for a library without one.
fn joinset<L: Lib>(p: &Params) -> Result<Metrics, String> {
    let rt = runtime::<L>(None);
    // The pool the set submits to (poolbridge's default executor, the runtime's blocking pool)
    // is the one `spawn` uses: the warm-up below warms it.
    let lib = L::new(Mode::Async, None);
    let n = p.burst_jobs;
    rt.block_on(async {
        warm_up(&lib, p.warmup).await;
        let hwm_before = sys::status_kib("VmHWM").unwrap_or(0);
        let cpu = CpuClock::start();
        let t = Instant::now();
        let Some(drain) = L::join_set(n, trivial) else {
            return Err("n/a: this library has no JoinSet of blocking jobs".to_owned());
        };
        let (sum, submitted) = drain.await;
        let elapsed = t.elapsed();
        let cpu_us = cpu.per_job(n);
        let hwm_after = sys::status_kib("VmHWM").unwrap_or(0);
        let threads = sys::threads();
        assert_eq!(sum, expected_sum(n));
        Ok(burst_metrics(
            n,
            elapsed,
            submitted,
            (hwm_before, hwm_after),
            cpu_us,
            threads,
        ))
    })
}

/// `as_completed` and `wait`: `sync_jobs` jobs submitted from this plain thread, then all of
/// their outcomes collected at once by `gather` ([`Lib::as_completed`] or [`Lib::wait_all`]).
fn collect<L: Lib>(p: &Params, gather: fn(Vec<L::SyncHandle>) -> u64) -> Metrics {
    let lib = L::new(Mode::Sync, None);
    let n = p.sync_jobs;
    let warm: Vec<_> = (0..p.warmup).map(|i| lib.submit(trivial(i))).collect();
    assert_eq!(gather(warm), expected_sum(p.warmup));
    let hwm_before = sys::status_kib("VmHWM").unwrap_or(0);
    let cpu = CpuClock::start();
    let t = Instant::now();
    let handles: Vec<_> = (0..n).map(|i| lib.submit(trivial(i))).collect();
    let submitted = t.elapsed();
    let sum = gather(handles);
    let elapsed = t.elapsed();
    let cpu_us = cpu.per_job(n);
    let hwm_after = sys::status_kib("VmHWM").unwrap_or(0);
    let threads = sys::threads();
    assert_eq!(sum, expected_sum(n));
    burst_metrics(
        n,
        elapsed,
        submitted,
        (hwm_before, hwm_after),
        cpu_us,
        threads,
    )
}

/// The metrics of a burst of `n` jobs (`burst`, `join_all`, `fire`, `joinset`, `as_completed`,
/// `wait`): throughput, times, peak
/// RSS growth (`hwm`: `VmHWM` before and after, KiB), CPU per job and threads.
fn burst_metrics(
    n: u64,
    elapsed: Duration,
    submitted: Duration,
    hwm: (u64, u64),
    cpu_us: f64,
    threads: u64,
) -> Metrics {
    let grown_kib = hwm.1.saturating_sub(hwm.0) as f64;
    vec![
        ("jobs_per_s", n as f64 / elapsed.as_secs_f64()),
        ("elapsed_ms", elapsed.as_secs_f64() * 1e3),
        ("submit_ms", submitted.as_secs_f64() * 1e3),
        ("rss_growth_mib", grown_kib / 1024.0),
        ("bytes_per_job", grown_kib * 1024.0 / n as f64),
        ("cpu_us_per_job", cpu_us),
        ("threads", threads as f64),
    ]
}

fn sync<L: Lib>(p: &Params) -> Metrics {
    let lib = L::new(Mode::Sync, None);
    let n = p.sync_jobs;
    let warm: Vec<_> = (0..p.warmup).map(|i| lib.submit(trivial(i))).collect();
    let warm_sum = warm.into_iter().map(L::wait).fold(0u64, u64::wrapping_add);
    assert_eq!(warm_sum, expected_sum(p.warmup));
    let cpu = CpuClock::start();
    let t = Instant::now();
    let handles: Vec<_> = (0..n).map(|i| lib.submit(trivial(i))).collect();
    let submitted = t.elapsed();
    let sum = handles
        .into_iter()
        .map(L::wait)
        .fold(0u64, u64::wrapping_add);
    let elapsed = t.elapsed();
    let cpu_us = cpu.per_job(n);
    let threads = sys::threads();
    assert_eq!(sum, expected_sum(n));
    vec![
        ("jobs_per_s", n as f64 / elapsed.as_secs_f64()),
        ("elapsed_ms", elapsed.as_secs_f64() * 1e3),
        ("submit_ms", submitted.as_secs_f64() * 1e3),
        ("cpu_us_per_job", cpu_us),
        ("threads", threads as f64),
    ]
}

/// `fire`: `n` jobs with no handle; each adds its value to a shared sum and counts itself, and
/// the one that finds itself last sends the sum on a channel.
fn fire<L: Lib>(p: &Params) -> Metrics {
    use std::sync::atomic::AtomicU64;
    use std::sync::mpsc;

    struct Tally {
        sum: AtomicU64,
        ran: AtomicU64,
        n: u64,
        done: std::sync::Mutex<mpsc::Sender<u64>>,
    }

    fn job(tally: &Arc<Tally>, i: u64) -> impl FnOnce() + Send + 'static {
        let tally = Arc::clone(tally);
        move || {
            tally
                .sum
                .fetch_add(black_box(i).wrapping_mul(3), Ordering::Relaxed);
            if tally.ran.fetch_add(1, Ordering::AcqRel) + 1 == tally.n {
                let sum = tally.sum.load(Ordering::Relaxed);
                tally.done.lock().unwrap().send(sum).unwrap();
            }
        }
    }

    fn round<L: Lib>(lib: &L, n: u64) -> (Duration, Duration, u64) {
        let (tx, rx) = mpsc::channel();
        let tally = Arc::new(Tally {
            sum: AtomicU64::new(0),
            ran: AtomicU64::new(0),
            n,
            done: std::sync::Mutex::new(tx),
        });
        let t = Instant::now();
        for i in 0..n {
            lib.fire(job(&tally, i));
        }
        let submitted = t.elapsed();
        let sum = rx.recv().expect("the last job signals");
        (t.elapsed(), submitted, sum)
    }

    let lib = L::new(Mode::Sync, None);
    let (_, _, warm_sum) = round(&lib, p.warmup);
    assert_eq!(warm_sum, expected_sum(p.warmup));
    let n = p.fire_jobs;
    let hwm_before = sys::status_kib("VmHWM").unwrap_or(0);
    let cpu = CpuClock::start();
    let (elapsed, submitted, sum) = round(&lib, n);
    let cpu_us = cpu.per_job(n);
    let hwm_after = sys::status_kib("VmHWM").unwrap_or(0);
    let threads = sys::threads();
    assert_eq!(sum, expected_sum(n));
    burst_metrics(
        n,
        elapsed,
        submitted,
        (hwm_before, hwm_after),
        cpu_us,
        threads,
    )
}

/// The jobs `first..first + count` of producer `k` of `producers`: `n` shared out as evenly as
/// the division allows (the first `n % producers` producers take one more).
fn share(n: u64, producers: u64, k: u64) -> (u64, u64) {
    let (base, extra) = (n / producers, n % producers);
    let first = k * base + k.min(extra);
    (first, base + u64::from(k < extra))
}

/// One producer of `mpburst`: submits its share, then awaits its own handles in order.
async fn produce<L: Lib>(lib: &L, first: u64, count: u64) -> u64 {
    let handles: Vec<_> = (first..first + count)
        .map(|i| lib.spawn(trivial(i)))
        .collect();
    let mut sum = 0u64;
    for h in handles {
        sum = sum.wrapping_add(h.await);
    }
    sum
}

fn mpburst<L: Lib>(p: &Params) -> Metrics {
    let producers = cores();
    let rt = multi_thread_runtime::<L>(producers);
    let lib = Arc::new(L::new(Mode::Async, None));
    let n = p.mpburst_jobs;
    rt.block_on(async {
        // Warm up from the runtime's workers, where the producers will run.
        let warm = Arc::clone(&lib);
        let warm_n = p.warmup;
        tokio::spawn(async move { warm_up(&*warm, warm_n).await })
            .await
            .expect("warm-up task");
        let cpu = CpuClock::start();
        let t = Instant::now();
        let tasks: Vec<_> = (0..producers as u64)
            .map(|k| {
                let lib = Arc::clone(&lib);
                let (first, count) = share(n, producers as u64, k);
                tokio::spawn(async move { produce(&*lib, first, count).await })
            })
            .collect();
        let mut sum = 0u64;
        for task in tasks {
            sum = sum.wrapping_add(task.await.expect("producer task"));
        }
        let elapsed = t.elapsed();
        let cpu_us = cpu.per_job(n);
        let threads = sys::threads();
        assert_eq!(sum, expected_sum(n));
        vec![
            ("jobs_per_s", n as f64 / elapsed.as_secs_f64()),
            ("elapsed_ms", elapsed.as_secs_f64() * 1e3),
            ("cpu_us_per_job", cpu_us),
            ("producers", producers as f64),
            ("threads", threads as f64),
        ]
    })
}

fn sleepy<L: Lib>(p: &Params) -> Metrics {
    let workers = p.sleepy_workers;
    let rt = runtime::<L>(Some(workers));
    let lib = L::new(Mode::Async, Some(workers));
    let nap = Duration::from_millis(p.sleepy_ms);
    rt.block_on(async {
        warm_up(&lib, p.warmup).await;
        let t = Instant::now();
        let handles: Vec<_> = (0..p.sleepy_jobs)
            .map(|i| {
                lib.spawn(move || {
                    std::thread::sleep(nap);
                    i
                })
            })
            .collect();
        for h in handles {
            black_box(h.await);
        }
        let wall = t.elapsed();
        let threads = sys::threads();
        let waves = p.sleepy_jobs.div_ceil(workers as u64);
        let ideal = nap * waves as u32;
        vec![
            ("wall_ms", wall.as_secs_f64() * 1e3),
            ("ideal_ms", ideal.as_secs_f64() * 1e3),
            ("ratio_to_ideal", wall.as_secs_f64() / ideal.as_secs_f64()),
            ("threads", threads as f64),
        ]
    })
}

fn cpu<L: Lib>(p: &Params) -> Metrics {
    let workers = p.cpu_workers();
    assert!(
        p.cpu_iters > 0,
        "cpu_iters must be calibrated by the parent"
    );
    let iters = p.cpu_iters;
    let rt = runtime::<L>(Some(workers));
    let lib = L::new(Mode::Async, Some(workers));
    // Sequential reference, same loop, same process.
    let t = Instant::now();
    let mut seq_sum = 0u64;
    for i in 0..p.cpu_jobs {
        seq_sum = seq_sum.wrapping_add(spin(iters, i));
    }
    let seq = t.elapsed();
    let (par, par_sum) = rt.block_on(async {
        warm_up(&lib, p.warmup).await;
        let t = Instant::now();
        let handles: Vec<_> = (0..p.cpu_jobs)
            .map(|i| lib.spawn(move || spin(iters, i)))
            .collect();
        let mut sum = 0u64;
        for h in handles {
            sum = sum.wrapping_add(h.await);
        }
        (t.elapsed(), sum)
    });
    let threads = sys::threads();
    assert_eq!(seq_sum, par_sum);
    vec![
        ("speedup", seq.as_secs_f64() / par.as_secs_f64()),
        ("parallel_ms", par.as_secs_f64() * 1e3),
        ("sequential_ms", seq.as_secs_f64() * 1e3),
        ("job_ms", seq.as_secs_f64() * 1e3 / p.cpu_jobs as f64),
        ("workers", workers as f64),
        ("threads", threads as f64),
    ]
}

fn idle<L: Lib>(p: &Params) -> Metrics {
    let rt = runtime::<L>(None);
    let lib = L::new(Mode::Async, None);
    rt.block_on(warm_up(&lib, p.idle_warmup));
    let threads = sys::threads();
    // Measured from the end of the burst: a pool that spins before parking pays for it here.
    let (ns0, ms0) = (sys::cpu_ns_threads(), sys::cpu_ms_process());
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(p.idle_ms));
    let window = t.elapsed();
    let (ns1, ms1) = (sys::cpu_ns_threads(), sys::cpu_ms_process());
    let cpu_ms = ns1.saturating_sub(ns0) as f64 / 1e6;
    drop(lib);
    drop(rt);
    vec![
        ("cpu_ms", cpu_ms),
        ("cpu_pct", cpu_ms / (window.as_secs_f64() * 1e3) * 100.0),
        ("cpu_ms_ticks", ms1 - ms0),
        ("window_ms", window.as_secs_f64() * 1e3),
        ("threads", threads as f64),
    ]
}

fn stall<L: Lib>(p: &Params) -> Metrics {
    let rt = runtime::<L>(None);
    let lib = Arc::new(L::new(Mode::Async, None));
    rt.block_on(async {
        warm_up(&*lib, p.warmup).await;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = tokio::spawn({
            let stop = Arc::clone(&stop);
            async move {
                let mut interval = tokio::time::interval(Duration::from_millis(1));
                interval.tick().await; // the first tick is immediate
                let mut last = Instant::now();
                let mut gaps = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    interval.tick().await;
                    let now = Instant::now();
                    gaps.push((now - last).as_secs_f64() * 1e3);
                    last = now;
                }
                gaps
            }
        });
        // Let the ticker settle into its rhythm.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let t = Instant::now();
        let tasks = p.stall_tasks.max(1);
        let per_task = p.stall_jobs / tasks;
        let workers: Vec<_> = (0..tasks)
            .map(|k| {
                let lib = Arc::clone(&lib);
                tokio::spawn(async move {
                    let mut sum = 0u64;
                    for j in 0..per_task {
                        sum = sum.wrapping_add(lib.spawn(trivial(k * per_task + j)).await);
                    }
                    sum
                })
            })
            .collect();
        let mut sum = 0u64;
        for w in workers {
            sum = sum.wrapping_add(w.await.expect("worker task"));
        }
        let elapsed = t.elapsed();
        let threads = sys::threads();
        stop.store(true, Ordering::Relaxed);
        let mut gaps = ticker.await.expect("ticker task");
        assert_eq!(sum, expected_sum(per_task * tasks));
        gaps.sort_by(f64::total_cmp);
        vec![
            ("max_gap_ms", percentile(&gaps, 100.0)),
            ("p99_gap_ms", percentile(&gaps, 99.0)),
            ("ticks", gaps.len() as f64),
            ("elapsed_ms", elapsed.as_secs_f64() * 1e3),
            (
                "jobs_per_s",
                (per_task * tasks) as f64 / elapsed.as_secs_f64(),
            ),
            ("threads", threads as f64),
        ]
    })
}
