//! `procspawn::Pool` on the workloads of `benches/process.rs` (see `benches/process_compare.py`).
//! Prints one JSON object per line.

use std::time::{Duration, Instant};

fn primes_in(lo: u64, hi: u64) -> u64 {
    (lo.max(2)..hi)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

fn emit(metric: &str, value: f64, unit: &str) {
    println!(
        "{{\"lib\": \"procspawn\", \"metric\": \"{metric}\", \"value\": {value}, \"unit\": \"{unit}\"}}"
    );
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    procspawn::init();
    let quick = std::env::args().any(|a| a == "--quick");

    let first = median(
        (0..if quick { 5 } else { 11 })
            .map(|_| {
                let t = Instant::now();
                let pool = procspawn::Pool::new(2).unwrap();
                pool.spawn(1u64, |x| x).join().unwrap();
                let elapsed = t.elapsed();
                pool.shutdown();
                elapsed
            })
            .collect(),
    );
    emit("first_result", first.as_secs_f64() * 1e3, "ms");

    let pool = procspawn::Pool::new(1).unwrap();
    for i in 0..200u64 {
        pool.spawn(i, |x| x).join().unwrap();
    }
    let samples: Vec<Duration> = (0..if quick { 1_000 } else { 5_000 })
        .map(|i: u64| {
            let t = Instant::now();
            pool.spawn(i, |x| x).join().unwrap();
            t.elapsed()
        })
        .collect();
    emit("roundtrip_p50", median(samples).as_secs_f64() * 1e6, "us");
    pool.shutdown();

    let n: u64 = if quick { 5_000 } else { 20_000 };
    let pool = procspawn::Pool::new(2).unwrap();
    pool.spawn(0u64, |x| x).join().unwrap();
    // At most 500 jobs in flight: each pending procspawn job holds file descriptors (IPC
    // channels), and 20k at once exceed the usual limit of 1024 open files.
    let t = Instant::now();
    let mut sum = 0u64;
    for window in (0..n).collect::<Vec<_>>().chunks(500) {
        let handles: Vec<_> = window.iter().map(|&i| pool.spawn(i, |x| x)).collect();
        sum += handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
    }
    let elapsed = t.elapsed();
    assert_eq!(sum, n * (n - 1) / 2);
    emit("throughput", n as f64 / elapsed.as_secs_f64(), "jobs/s");
    pool.shutdown();

    let (lo, hi) = (10_000_000u64, 10_000_000 + if quick { 200_000 } else { 1_000_000 });
    let chunks = 8;
    let step = (hi - lo) / chunks;
    let mut times = Vec::new();
    for workers in [1, 2] {
        let pool = procspawn::Pool::new(workers).unwrap();
        for _ in 0..workers {
            pool.spawn(0u64, |x| x).join().unwrap();
        }
        let t = Instant::now();
        let handles: Vec<_> = (0..chunks)
            .map(|i| pool.spawn((lo + i * step, lo + (i + 1) * step), |(a, b)| primes_in(a, b)))
            .collect();
        let _total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        times.push(t.elapsed());
        pool.shutdown();
    }
    emit("cpu_speedup", times[0].as_secs_f64() / times[1].as_secs_f64(), "x");
    emit("cpu_2_workers", times[1].as_secs_f64() * 1e3, "ms");

    let pool = procspawn::Pool::new(2).unwrap();
    pool.spawn(0u64, |x| x).join().unwrap();
    let recovery = median(
        (0..if quick { 5 } else { 11 })
            .map(|_| {
                let t = Instant::now();
                let crashed = pool.spawn((), |()| -> u64 { std::process::exit(3) }).join();
                assert!(crashed.is_err());
                pool.spawn(1u64, |x| x).join().unwrap();
                t.elapsed()
            })
            .collect(),
    );
    emit("crash_recovery", recovery.as_secs_f64() * 1e3, "ms");
    pool.shutdown();
}
