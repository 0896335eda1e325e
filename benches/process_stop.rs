//! How fast a stopped process job frees its worker (issue 19):
//! `cargo bench --bench process_stop [-- --quick]`.
//!
//! For a job that polls `cancelled()` (in a tight loop) and one that never does, on a pool of
//! one worker: the time from `request_cancel` until the next job has run on the freed slot (the
//! next job is a no-op, so its round trip is part of the number, as a caller would see it).
//! The polling job returns and keeps its worker; the other is killed after the grace period
//! (50 ms here) and its worker replaced, so its number is the grace plus the kill, the reap and
//! a new worker's start. Prints p50 and p99 over the samples, one JSON object per line.
//!
//! This binary is its own worker program, so `main` calls `poolbridge::process::init()` first.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use poolbridge::ProcessPoolExecutor;

const GRACE: Duration = Duration::from_millis(50);

#[poolbridge::job]
fn noop(x: u64) -> u64 {
    x
}

/// Marks its start, then spins until it sees `cancelled()`.
#[poolbridge::job]
fn polling(started: PathBuf) -> u64 {
    std::fs::write(&started, b"").unwrap();
    let mut x = 0u64;
    while !poolbridge::cancelled() {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    x
}

/// Marks its start, then spins forever.
#[poolbridge::job]
fn deaf(started: PathBuf) -> u64 {
    std::fs::write(&started, b"").unwrap();
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

fn wait_file(path: &Path) {
    while !path.exists() {
        std::thread::sleep(Duration::from_micros(100));
    }
    let _ = std::fs::remove_file(path);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn measure(
    name: &str,
    job: fn(&ProcessPoolExecutor, PathBuf) -> poolbridge::PoolFuture<u64>,
    n: usize,
) {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .cancel_grace(GRACE)
        .build()
        .unwrap();
    pool.submit(noop, (0,)).join().unwrap();
    let started =
        std::env::temp_dir().join(format!("poolbridge-stop-bench-{}", std::process::id()));
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let fut = job(&pool, started.clone());
        wait_file(&started);
        let t = Instant::now();
        fut.request_cancel();
        pool.submit(noop, (i as u64,)).join().unwrap();
        samples.push(t.elapsed());
        assert!(fut.join().is_err());
    }
    samples.sort();
    let m = pool.metrics();
    for (metric, p) in [("p50", 0.5), ("p99", 0.99)] {
        println!(
            "{{\"lib\": \"poolbridge\", \"metric\": \"stop_{name}_{metric}\", \"value\": {:.3}, \"unit\": \"ms\", \"samples\": {n}, \"stopped\": {}, \"killed\": {}}}",
            percentile(&samples, p).as_secs_f64() * 1e3,
            m.stopped,
            m.killed
        );
    }
}

fn main() {
    poolbridge::process::init();
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 100 } else { 300 };
    measure(
        "polling",
        |pool, started| pool.submit(polling, (started,)),
        n,
    );
    measure("deaf", |pool, started| pool.submit(deaf, (started,)), n);
}
