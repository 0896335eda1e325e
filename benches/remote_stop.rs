//! How fast a stop reaches a remote job: `cargo bench --features nats --bench remote_stop
//! [-- --quick] [-- --never-polls]`.
//!
//! Starts a local `nats-server -js` and one worker host with one worker and one run slot (this
//! binary re-run as `remote_stop host URL NAME 1`), then, 100 times (30 with `--quick`): submits
//! a 10 s job, waits until it runs, calls `request_cancel` and submits a trivial job at once.
//! Prints, as JSON lines, p50 and p99 of
//!
//! * `stop_confirmed`: from `request_cancel` to the future resolving `Cancelled` (the host's
//!   "stopped" answer; the host gives its slot back just before sending it);
//! * `slot_free`: from `request_cancel` to the trivial job's result, which could run only once
//!   the slot was free: the stop, plus one job's round trip;
//! * `roundtrip`: one trivial job's round trip on the idle host, to subtract from `slot_free`.
//!
//! The long job checks `poolbridge::cancelled()` every millisecond, or never (`--never-polls`:
//! it stops only when the process pool kills its worker after the grace period).

#[path = "../examples/support/nats.rs"]
mod nats;

use std::time::{Duration, Instant};

use poolbridge::{FutureError, RemoteExecutor};

#[poolbridge::job]
fn inc(x: u64) -> u64 {
    x + 1
}

/// Works for up to `ms` milliseconds in 1 ms steps, checking `cancelled()` between steps.
#[poolbridge::job]
fn polls(ms: u64) -> u64 {
    let end = Instant::now() + Duration::from_millis(ms);
    let mut steps = 0;
    while Instant::now() < end && !poolbridge::cancelled() {
        std::thread::sleep(Duration::from_millis(1));
        steps += 1;
    }
    steps
}

/// Sleeps `ms` milliseconds, never checking `cancelled()`.
#[poolbridge::job]
fn never_polls(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn emit(metric: &str, sorted: &[Duration]) {
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let value = sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        println!(
            "{{\"lib\": \"poolbridge-remote\", \"metric\": \"{metric}_{name}\", \"value\": {:.3}, \"unit\": \"ms\"}}",
            value.as_secs_f64() * 1e3
        );
    }
}

fn main() {
    poolbridge::process::init();
    nats::host_main(|options| options.concurrency(1));
    let quick = std::env::args().any(|a| a == "--quick");
    let never = std::env::args().any(|a| a == "--never-polls");
    let Some(binary) = nats::server_binary() else {
        eprintln!("benches/remote_stop.rs: {}", nats::INSTALL_HINT);
        std::process::exit(2);
    };
    let server = nats::LocalNats::start(&binary).expect("start nats-server");
    let ex = RemoteExecutor::connect(&server.url).expect("connect");
    let mut host = nats::HostProcess::start(&server.url, "stop-bench", 1).expect("host");
    for i in 0..200 {
        assert_eq!(ex.submit(inc, (i,)).join(), Ok(i + 1));
    }
    let rounds = if quick { 30 } else { 100 };
    let mut roundtrip = Vec::with_capacity(rounds);
    for i in 0..rounds as u64 {
        let t = Instant::now();
        assert_eq!(ex.submit(inc, (i,)).join(), Ok(i + 1));
        roundtrip.push(t.elapsed());
    }
    let (mut confirmed, mut free) = (Vec::new(), Vec::new());
    for i in 0..rounds as u64 {
        let long = if never {
            ex.submit(never_polls, (10_000,))
        } else {
            ex.submit(polls, (10_000,))
        };
        while !long.running() {
            std::thread::sleep(Duration::from_micros(100));
        }
        // The started notice comes before the job reaches the worker: let it get there.
        std::thread::sleep(Duration::from_millis(20));
        let t = Instant::now();
        assert!(long.request_cancel());
        let next = ex.submit(inc, (i,));
        assert_eq!(long.result(), Err(FutureError::Cancelled));
        confirmed.push(t.elapsed());
        assert_eq!(next.join(), Ok(i + 1));
        free.push(t.elapsed());
    }
    for samples in [&mut roundtrip, &mut confirmed, &mut free] {
        samples.sort();
    }
    emit("roundtrip", &roundtrip);
    emit("stop_confirmed", &confirmed);
    emit("slot_free", &free);
    eprintln!("client: {:?}", ex.metrics());
    drop(ex);
    host.terminate();
}
