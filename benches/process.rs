//! The process-pool benchmark: `cargo bench --bench process [-- --quick]`.
//!
//! The same workloads as `benches/process_python.py` (CPython's ProcessPoolExecutor, fork and
//! spawn) and `benches/procspawn_peer` (the `procspawn` crate's pool);
//! `benches/process_compare.py` runs all three side by side and prints the table of
//! docs/benchmarks.md. Prints one JSON object per line.
//!
//! This binary is its own worker program, so `main` calls `poolbridge::process::init()` first.

use std::time::{Duration, Instant};

use poolbridge::{FutureError, ProcessPoolExecutor, ThreadPoolExecutor};

#[poolbridge::job]
fn noop(x: u64) -> u64 {
    x
}

#[poolbridge::job]
fn count_primes(lo: u64, hi: u64) -> u64 {
    primes_in(lo, hi)
}

fn primes_in(lo: u64, hi: u64) -> u64 {
    (lo.max(2)..hi)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

#[poolbridge::job]
fn crash() -> u64 {
    std::process::exit(3)
}

fn emit(metric: &str, value: f64, unit: &str) {
    println!(
        "{{\"lib\": \"poolbridge\", \"metric\": \"{metric}\", \"value\": {value}, \"unit\": \"{unit}\"}}"
    );
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    poolbridge::process::init();
    let quick = std::env::args().any(|a| a == "--quick");

    // Time from new() to the first result: one worker process started, introduced, run.
    let first = median(
        (0..if quick { 5 } else { 11 })
            .map(|_| {
                let t = Instant::now();
                let pool = ProcessPoolExecutor::new(2);
                pool.submit(noop, (1,)).join().unwrap();
                let elapsed = t.elapsed();
                drop(pool);
                elapsed
            })
            .collect(),
    );
    emit("first_result", first.as_secs_f64() * 1e3, "ms");

    // Warm roundtrip of a trivial job, one at a time.
    let pool = ProcessPoolExecutor::new(1);
    for i in 0..500 {
        pool.submit(noop, (i,)).join().unwrap();
    }
    let samples: Vec<Duration> = (0..if quick { 2_000 } else { 20_000 })
        .map(|i| {
            let t = Instant::now();
            pool.submit(noop, (i,)).join().unwrap();
            t.elapsed()
        })
        .collect();
    emit("roundtrip_p50", median(samples).as_secs_f64() * 1e6, "us");
    drop(pool);

    // Throughput of many small jobs on two workers.
    let n: u64 = if quick { 20_000 } else { 100_000 };
    let pool = ProcessPoolExecutor::new(2);
    pool.submit(noop, (0,)).join().unwrap();
    pool.submit(noop, (0,)).join().unwrap();
    let t = Instant::now();
    let futures: Vec<_> = (0..n).map(|i| pool.submit(noop, (i,))).collect();
    let sum: u64 = futures.into_iter().map(|f| f.join().unwrap()).sum();
    let elapsed = t.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    emit("throughput", n as f64 / elapsed.as_secs_f64(), "jobs/s");
    drop(pool);

    // CPU-bound speedup, 1 worker → 2 workers, and threads for reference.
    // A larger range than the CPython script's (compiled code is ~100x faster): the speedup is a
    // ratio of two runs of the same work, 1 worker then 2.
    let (lo, hi) = (
        10_000_000,
        10_000_000 + if quick { 200_000 } else { 1_000_000 },
    );
    let chunks = 8;
    let step = (hi - lo) / chunks;
    let ranges: Vec<(u64, u64)> = (0..chunks)
        .map(|i| (lo + i * step, lo + (i + 1) * step))
        .collect();
    let mut times = Vec::new();
    let mut totals = Vec::new();
    for workers in [1, 2] {
        let pool = ProcessPoolExecutor::new(workers);
        for _ in 0..workers {
            pool.submit(noop, (0,)).join().unwrap();
        }
        let t = Instant::now();
        let total: u64 = pool
            .map(count_primes, ranges.clone())
            .map(Result::unwrap)
            .sum();
        times.push(t.elapsed());
        totals.push(total);
    }
    let threads = ThreadPoolExecutor::new(2);
    let t = Instant::now();
    let total: u64 = threads
        .map(|(a, b)| primes_in(a, b), ranges.clone())
        .map(Result::unwrap)
        .sum();
    let thread_time = t.elapsed();
    assert!(totals.iter().all(|&t| t == total));
    emit(
        "cpu_speedup",
        times[0].as_secs_f64() / times[1].as_secs_f64(),
        "x",
    );
    emit("cpu_2_workers", times[1].as_secs_f64() * 1e3, "ms");
    emit("cpu_2_threads", thread_time.as_secs_f64() * 1e3, "ms");

    // Cost of a crash: the crashed job's error, then the next result from a replacement.
    let pool = ProcessPoolExecutor::new(2);
    pool.submit(noop, (0,)).join().unwrap();
    let recovery = median(
        (0..if quick { 5 } else { 11 })
            .map(|_| {
                let t = Instant::now();
                let err = pool.submit(crash, ()).join().unwrap_err();
                assert!(matches!(err, FutureError::WorkerDied(_)));
                // Both workers may be busy elsewhere; the next job goes to the replacement or
                // to the surviving worker, as a user's next job would.
                pool.submit(noop, (1,)).join().unwrap();
                t.elapsed()
            })
            .collect(),
    );
    emit("crash_recovery", recovery.as_secs_f64() * 1e3, "ms");
}
