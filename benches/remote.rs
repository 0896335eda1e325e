//! The remote-executor benchmark: `cargo bench --features nats --bench remote [-- --quick]`.
//!
//! Starts a local `nats-server -js` and two worker hosts (this binary re-run as
//! `remote host URL NAME WORKERS`, one worker process each), then measures from a client:
//!
//! * `roundtrip_p50` / `roundtrip_p99`: one trivial job at a time, `submit` then `join`;
//! * `throughput`: 10,000 trivial jobs submitted at once, then every result collected.
//!
//! The same workloads as `benches/remote_dask.py` (dask.distributed's `Client.submit` on a
//! `LocalCluster` of two worker processes); `benches/remote_compare.py` runs both and prints the
//! table of docs/benchmarks.md ("Remote executor"). Prints one JSON object per line.

#[path = "../examples/support/nats.rs"]
mod nats;

use std::time::{Duration, Instant};

use poolbridge::RemoteExecutor;

#[poolbridge::job]
fn inc(x: u64) -> u64 {
    x + 1
}

/// Jobs a host holds at once: enough that its worker never waits for the network between two
/// trivial jobs.
const HOST_CONCURRENCY: usize = 16;

fn emit(metric: &str, value: f64, unit: &str) {
    println!(
        "{{\"lib\": \"poolbridge-remote\", \"metric\": \"{metric}\", \"value\": {value}, \"unit\": \"{unit}\"}}"
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    poolbridge::process::init();
    nats::host_main(|options| options.concurrency(HOST_CONCURRENCY));
    let quick = std::env::args().any(|a| a == "--quick");
    let Some(binary) = nats::server_binary() else {
        eprintln!("benches/remote.rs: {}", nats::INSTALL_HINT);
        std::process::exit(2);
    };
    let server = nats::LocalNats::start(&binary).expect("start nats-server");
    let ex = RemoteExecutor::connect(&server.url).expect("connect");
    let mut hosts = [
        nats::HostProcess::start(&server.url, "bench-1", 1).expect("host"),
        nats::HostProcess::start(&server.url, "bench-2", 1).expect("host"),
    ];

    // Warm-up: both hosts connected, their worker processes started.
    let warm: Vec<_> = (0..2_000).map(|i| ex.submit(inc, (i,))).collect();
    for f in warm {
        f.join().unwrap();
    }
    for i in 0..200 {
        assert_eq!(ex.submit(inc, (i,)).join(), Ok(i + 1));
    }

    let rounds = if quick { 500 } else { 2_000 };
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds as u64 {
        let t = Instant::now();
        let value = ex.submit(inc, (i,)).join().unwrap();
        samples.push(t.elapsed());
        assert_eq!(value, i + 1);
    }
    samples.sort();
    emit(
        "roundtrip_p50",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        "µs",
    );
    emit(
        "roundtrip_p99",
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        "µs",
    );

    let jobs = 10_000u64;
    let runs = if quick { 1 } else { 3 };
    let mut rates = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let futures: Vec<_> = (0..jobs).map(|i| ex.submit(inc, (i,))).collect();
        let sum: u64 = futures.into_iter().map(|f| f.join().unwrap()).sum();
        let elapsed = t.elapsed();
        assert_eq!(sum, jobs * (jobs + 1) / 2);
        rates.push(jobs as f64 / elapsed.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    emit("throughput", rates[rates.len() / 2], "jobs/s");
    let m = ex.metrics();
    eprintln!("client: {m:?}");
    drop(ex);
    for host in &mut hosts {
        host.terminate();
    }
}
