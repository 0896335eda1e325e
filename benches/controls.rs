//! Costs of the controls of issue 12, measured in isolation (not the comparison harness):
//!
//! * `cancelled`: one call of `poolbridge::cancelled()` inside a job, and outside one (target:
//!   at most 2 ns);
//! * `burst`: the `burst` workload of `benches/compare` in miniature (100k trivial jobs through
//!   `run_in_executor(Some(&pool), ..)` on a current-thread tokio runtime, awaited in order),
//!   and the same with `submit` + `join`: what the per-worker job counters and the cancellation
//!   cell cost on the hot path (target: within 2% of the code before them; compare with the
//!   same section built from the earlier commit);
//! * `submit_async`: a submit loop through `submit_async(..).await` against `submit`, on a pool
//!   without `max_queued` and on one whose bound is never reached (target: within 10%), with
//!   the pool's worker busy meanwhile so that the submits are timed alone.
//! * `execute`: 200k trivial jobs by `ThreadPoolExecutor::execute` from one plain thread into
//!   the default pool, as the comparison harness's `fire` workload submits them: the submitting
//!   thread's CPU time per job and the throughput. With `--once` a single round and no report
//!   but a checksum (`--once burst`: one `submit + join` burst of `burst`): for `valgrind --tool=callgrind`, whose instruction counts per function do
//!   not depend on what else the machine runs (though they do depend on how valgrind, which runs
//!   one thread at a time, interleaves the submitter and the workers).
//!
//! With `--observed`: every job is submitted from inside a span (as a request handler would),
//! and before any section a `tracing` subscriber that records every span is installed as the
//! global default (a minimal one: ids from a counter, nothing stored, so the cost is
//! poolbridge's and the tracing dispatch's, a lower bound for a real subscriber), the `metrics`
//! facade gets a Prometheus recorder, and the burst pools are published every 100 ms; each
//! where its feature (`tracing`, `metrics`) is on. The cost of both features per job is
//! `cargo bench --bench controls -- burst` against
//! `cargo bench --bench controls --features tracing,metrics -- burst --observed`.
//!
//! Plain `Instant` loops, each case repeated and reported as the median (with min and max) of
//! its repetitions. Run with `cargo bench --bench controls [-- SECTION...]`, where SECTION is
//! `cancelled`, `burst`, `submit_async` or `execute` (default: all). On a shared machine, run it
//! several times and compare medians, not single numbers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use poolbridge::{ThreadPoolExecutor, default_max_workers, run_in_executor};

/// Repetitions of every case; the median is reported.
const REPS: usize = 9;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |section: &str| args.is_empty() || args.iter().any(|a| a == section);
    let observed = std::env::args().any(|a| a == "--observed");
    if observed {
        observe();
    }
    // Observed, everything is submitted from inside a span, as a request handler would: each
    // job keeps it (with `tracing`) and runs inside it.
    let span = if observed {
        tracing::info_span!("request", id = 1)
    } else {
        tracing::Span::none()
    };
    let _entered = span.enter();
    if std::env::args().any(|a| a == "--once") {
        // One round, no CPU clock (see `execute_round`): `--once` runs `execute`, `--once burst`
        // one `submit + join` burst.
        if wants("burst") && !args.is_empty() {
            let pool = ThreadPoolExecutor::new(default_max_workers());
            println!("burst once: {:.0} jobs/s", burst_sync(&pool));
        } else {
            let pool = ThreadPoolExecutor::default();
            println!("execute once: {}", execute_round(&pool, false).2);
        }
        return;
    }
    println!(
        "controls bench: {REPS} repetitions per case, median [min, max]; {} CPUs; features: {}{}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        FEATURES.join(", "),
        if observed { "; observed" } else { "" },
    );
    if wants("cancelled") {
        cancelled();
    }
    if wants("burst") {
        burst();
    }
    if wants("submit_async") {
        submit_async();
    }
    if wants("execute") {
        execute();
    }
}

/// Median, min and max of `f()` over `REPS` runs.
fn stats(mut f: impl FnMut() -> f64) -> (f64, f64, f64) {
    let mut xs: Vec<f64> = (0..REPS).map(|_| f()).collect();
    xs.sort_by(f64::total_cmp);
    (xs[REPS / 2], xs[0], xs[REPS - 1])
}

fn report(name: &str, unit: &str, (median, min, max): (f64, f64, f64)) {
    println!("  {name:<52} {median:>10.3} {unit}  [{min:.3}, {max:.3}]");
}

// ---- cancelled() ---------------------------------------------------------------------------

const CALLS: u64 = 50_000_000;

/// ns per call of `cancelled()` in a loop of `CALLS`.
fn time_calls() -> f64 {
    let start = Instant::now();
    let mut seen = 0u64;
    for _ in 0..CALLS {
        seen += u64::from(black_box(poolbridge::cancelled()));
    }
    black_box(seen);
    start.elapsed().as_nanos() as f64 / CALLS as f64
}

/// ns per iteration of the same loop without the call: the loop's own cost.
fn time_empty_loop() -> f64 {
    let start = Instant::now();
    let mut seen = 0u64;
    for _ in 0..CALLS {
        seen += u64::from(black_box(false));
    }
    black_box(seen);
    start.elapsed().as_nanos() as f64 / CALLS as f64
}

fn cancelled() {
    println!("cancelled(): {CALLS} calls per repetition");
    let pool = ThreadPoolExecutor::new(1);
    report(
        "inside a job (nobody asked it to stop)",
        "ns/call",
        stats(|| pool.submit(time_calls).join().unwrap()),
    );
    report("outside any job", "ns/call", stats(time_calls));
    report(
        "the loop alone (no call)",
        "ns/iter",
        stats(time_empty_loop),
    );
}

// ---- burst ---------------------------------------------------------------------------------

const BURST: u64 = 100_000;

/// CPU time used by the whole process so far (every thread, user + system). Less sensitive than
/// wall time to other processes on a shared machine: what a job costs, not how long it waited.
fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Jobs per second of `BURST` trivial jobs through `run_in_executor`, awaited in order.
fn burst_async(pool: &ThreadPoolExecutor, rt: &tokio::runtime::Runtime) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..BURST)
            .map(|i| run_in_executor(Some(pool), move || black_box(i), ()))
            .collect();
        let mut sum = 0u64;
        for h in handles {
            sum = sum.wrapping_add(h.await.unwrap());
        }
        assert_eq!(sum, BURST * (BURST - 1) / 2);
        BURST as f64 / start.elapsed().as_secs_f64()
    })
}

/// Jobs per second of `BURST` trivial jobs through `submit`, joined in order.
fn burst_sync(pool: &ThreadPoolExecutor) -> f64 {
    let start = Instant::now();
    let futures: Vec<_> = (0..BURST)
        .map(|i| pool.submit(move || black_box(i)))
        .collect();
    let sum = futures
        .into_iter()
        .fold(0u64, |s, f| s.wrapping_add(f.join().unwrap()));
    assert_eq!(sum, BURST * (BURST - 1) / 2);
    BURST as f64 / start.elapsed().as_secs_f64()
}

/// CPU nanoseconds per job of one `burst_*` run.
fn cpu_per_job(run: impl FnOnce() -> f64) -> f64 {
    let cpu = cpu_time();
    black_box(run());
    (cpu_time() - cpu).as_nanos() as f64 / BURST as f64
}

fn burst() {
    let workers = default_max_workers();
    println!("burst: {BURST} trivial jobs per repetition, {workers} workers");
    let pool = std::sync::Arc::new(ThreadPoolExecutor::new(workers));
    let _published = publish(&pool);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Warm up: start the threads, fault in the allocator's arenas.
    burst_async(&pool, &rt);
    report(
        "run_in_executor + .await in order",
        "k jobs/s",
        stats(|| burst_async(&pool, &rt) / 1e3),
    );
    report(
        "submit + join in order",
        "k jobs/s",
        stats(|| burst_sync(&pool) / 1e3),
    );
    report(
        "run_in_executor + .await in order: CPU time",
        "ns/job",
        stats(|| cpu_per_job(|| burst_async(&pool, &rt))),
    );
    report(
        "submit + join in order: CPU time",
        "ns/job",
        stats(|| cpu_per_job(|| burst_sync(&pool))),
    );
}

// ---- submit_async --------------------------------------------------------------------------

const SUBMITS: u64 = 100_000;

/// CPU time used by the calling thread so far: what submitting costs the submitter, whatever
/// else runs on the machine.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// (wall, submitting thread's CPU) ns per submit of `SUBMITS` trivial jobs, by `submit`
/// (async = false) or by `submit_async(..).await` on a current-thread runtime. The pool's only
/// worker is held meanwhile, so that the submits are measured alone (no worker draining the
/// queue on the other core); the jobs run and are joined afterwards, outside the measured time.
fn time_submits(
    pool: &ThreadPoolExecutor,
    rt: &tokio::runtime::Runtime,
    async_: bool,
) -> (f64, f64) {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started, running) = std::sync::mpsc::channel::<()>();
    let holder = pool.submit(move || {
        started.send(()).unwrap();
        held.recv().unwrap();
    });
    running.recv().unwrap();
    let (wall, cpu, futures) = if async_ {
        rt.block_on(async {
            let (start, cpu) = (Instant::now(), thread_cpu_time());
            let mut futures = Vec::with_capacity(SUBMITS as usize);
            for i in 0..SUBMITS {
                futures.push(pool.submit_async(move || black_box(i)).await);
            }
            (start.elapsed(), thread_cpu_time() - cpu, futures)
        })
    } else {
        let (start, cpu) = (Instant::now(), thread_cpu_time());
        let mut futures = Vec::with_capacity(SUBMITS as usize);
        for i in 0..SUBMITS {
            futures.push(pool.submit(move || black_box(i)));
        }
        (start.elapsed(), thread_cpu_time() - cpu, futures)
    };
    release.send(()).unwrap();
    holder.wait();
    for f in futures {
        f.wait();
    }
    let per = |d: Duration| d.as_nanos() as f64 / SUBMITS as f64;
    (per(wall), per(cpu))
}

fn submit_async() {
    let workers = 1;
    println!(
        "submit vs submit_async: {SUBMITS} submits per repetition, into a pool whose {workers} \
         worker is busy meanwhile"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let unbounded = ThreadPoolExecutor::new(workers);
    // A bound never reached: the reservation is taken and given back per job, nobody waits.
    let bounded = ThreadPoolExecutor::builder()
        .max_workers(workers)
        .max_queued(2 * SUBMITS as usize)
        .build()
        .expect("valid settings");
    for (name, pool) in [
        ("no max_queued", &unbounded),
        ("max_queued, never full", &bounded),
    ] {
        let _ = time_submits(pool, &rt, false);
        // Alternate the two, so that drift on a shared machine hits both alike.
        let (mut sync_ns, mut async_ns) = (Vec::new(), Vec::new());
        for _ in 0..REPS {
            sync_ns.push(time_submits(pool, &rt, false));
            async_ns.push(time_submits(pool, &rt, true));
        }
        let summary = |xs: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64| {
            let mut xs: Vec<f64> = xs.iter().map(pick).collect();
            xs.sort_by(f64::total_cmp);
            (xs[REPS / 2], xs[0], xs[REPS - 1])
        };
        for (what, pick) in [
            ("wall", (|x: &(f64, f64)| x.0) as fn(&(f64, f64)) -> f64),
            ("submitter CPU", |x: &(f64, f64)| x.1),
        ] {
            let (s, a) = (summary(&sync_ns, pick), summary(&async_ns, pick));
            report(&format!("{name}: submit, {what}"), "ns/submit", s);
            report(
                &format!("{name}: submit_async(..).await, {what}"),
                "ns/submit",
                a,
            );
            println!(
                "  {:<52} {:>+10.1} %",
                format!("{name}: submit_async vs submit, {what}"),
                (a.0 / s.0 - 1.0) * 100.0
            );
        }
    }
}

// ---- execute -------------------------------------------------------------------------------

const FIRED: u64 = 200_000;

/// One round of `FIRED` `execute`s from this thread: (wall ns per job until the last job ran,
/// submitting thread's CPU ns per job, checksum). Without `cpu`, no CPU clock is read (rustix
/// reads the auxiliary vector for it, which valgrind does not emulate) and the CPU time is 0.
fn execute_round(pool: &ThreadPoolExecutor, cpu: bool) -> (f64, f64, u64) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    // The job of the harness's `fire` workload: one `Arc` and the index (16 bytes).
    struct Tally {
        sum: AtomicU64,
        ran: AtomicU64,
        done: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    }
    let cpu_now = || {
        if cpu {
            thread_cpu_time()
        } else {
            Duration::ZERO
        }
    };
    let (done, last) = std::sync::mpsc::channel::<()>();
    let tally = Arc::new(Tally {
        sum: AtomicU64::new(0),
        ran: AtomicU64::new(0),
        done: std::sync::Mutex::new(done),
    });
    let (start, cpu_start) = (Instant::now(), cpu_now());
    for i in 0..FIRED {
        let tally = Arc::clone(&tally);
        let job = move || {
            tally.sum.fetch_add(black_box(i), Ordering::Relaxed);
            if tally.ran.fetch_add(1, Ordering::AcqRel) + 1 == FIRED {
                tally.done.lock().unwrap().send(()).unwrap();
            }
        };
        if pool.execute(job).is_err() {
            panic!("the pool refused a job");
        }
    }
    let cpu = cpu_now() - cpu_start;
    last.recv().unwrap();
    let wall = start.elapsed();
    let per = |d: Duration| d.as_nanos() as f64 / FIRED as f64;
    (per(wall), per(cpu), tally.sum.load(Ordering::Relaxed))
}

fn execute() {
    println!("execute: {FIRED} trivial jobs from one thread into the default pool");
    let pool = ThreadPoolExecutor::default();
    execute_round(&pool, true);
    let rounds: Vec<(f64, f64, u64)> = (0..REPS).map(|_| execute_round(&pool, true)).collect();
    let mut it = rounds.iter();
    report(
        "submitting thread's CPU per execute",
        "ns",
        stats(|| it.next().unwrap().1),
    );
    let mut it = rounds.iter();
    report(
        "throughput (until the last job ran)",
        "M jobs/s",
        stats(|| 1e3 / it.next().unwrap().0),
    );
}

// ---- --observed ----------------------------------------------------------------------------

/// The features this binary was built with that add work per job.
const FEATURES: &[&str] = &[
    #[cfg(feature = "tracing")]
    "tracing",
    #[cfg(feature = "metrics")]
    "metrics",
];

/// Whether `--observed` installed the recorder (so the burst pools are published).
static OBSERVED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Installs what `--observed` says (see the module docs).
fn observe() {
    OBSERVED.store(true, std::sync::atomic::Ordering::SeqCst);
    #[cfg(feature = "tracing")]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        use tracing_core::span::{Attributes, Id, Record};
        use tracing_core::{Event, Metadata, subscriber::Subscriber};

        /// Every span and event enabled; ids from a counter; nothing kept.
        struct Counting(AtomicU64);
        impl Subscriber for Counting {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(self.0.fetch_add(1, Ordering::Relaxed) + 1)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, _: &Event<'_>) {}
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }
        tracing_core::dispatcher::set_global_default(tracing_core::Dispatch::new(Counting(
            AtomicU64::new(0),
        )))
        .expect("no subscriber yet");
    }
    #[cfg(feature = "metrics")]
    {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder();
        std::mem::forget(recorder.expect("no recorder yet"));
    }
}

/// With `--observed` and the `metrics` feature: publishes `pool` every 100 ms while the guard
/// lives.
#[cfg(feature = "metrics")]
fn publish(
    pool: &std::sync::Arc<ThreadPoolExecutor>,
) -> Option<poolbridge::metrics_export::Publisher> {
    OBSERVED
        .load(std::sync::atomic::Ordering::SeqCst)
        .then(|| poolbridge::metrics_export::publish("bench", pool, Duration::from_millis(100)))
}

#[cfg(not(feature = "metrics"))]
fn publish(_: &std::sync::Arc<ThreadPoolExecutor>) -> Option<()> {
    None
}
