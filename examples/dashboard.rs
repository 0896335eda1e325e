//! The live page (feature `dashboard`): a thread pool and a process pool at work, on a web page
//! served by the program itself, with a chart of jobs completed per second and jobs queued.
//!
//! Run it with `cargo run --release --features dashboard --example dashboard -- --serve` and
//! open the URL it prints; it keeps feeding both pools and serving the page until Ctrl-C.
//! Without `--serve` it runs its workload for about three seconds, prints the URL and the last
//! `/metrics.json` document, and ends (as CI runs it). The program is its own worker:
//! `main` calls `poolbridge::process::init()` first.
//!
//! With `--features nats,dashboard` and a `nats-server` on `PATH` (or in
//! `$POOLBRIDGE_NATS_SERVER`), it also starts a local server and two worker hosts (this program
//! re-run as `dashboard host URL NAME`), and shows a `RemoteExecutor` feeding them: the page's
//! hosts table and stream panel. Without a server it says so and shows the two pools alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use poolbridge::dashboard::Dashboard;
use poolbridge::{ProcessPoolExecutor, ThreadPoolExecutor};

#[cfg(feature = "nats")]
#[path = "support/nats.rs"]
mod nats;

/// A local server, two worker hosts and a client, for the remote part (feature `nats`).
#[cfg(feature = "nats")]
struct Cluster {
    // Dropped in this order: the client (after its answers), the hosts, the server.
    executor: Arc<poolbridge::RemoteExecutor>,
    _hosts: Vec<nats::HostProcess>,
    _server: nats::LocalNats,
}

/// Starts the remote part, or says why not (no `nats-server` here).
#[cfg(feature = "nats")]
fn start_cluster() -> Option<Cluster> {
    let Some(binary) = nats::server_binary() else {
        println!("remote: skipped ({})", nats::INSTALL_HINT);
        return None;
    };
    let server = nats::LocalNats::start(&binary).expect("start nats-server");
    let executor = poolbridge::RemoteExecutor::connect(&server.url).expect("connect");
    let hosts = ["host-1", "host-2"]
        .iter()
        .map(|name| nats::HostProcess::start(&server.url, name, 1).expect("start a host"))
        .collect();
    println!("remote: nats-server {} and 2 worker hosts", server.url);
    Some(Cluster {
        executor: Arc::new(executor),
        _hosts: hosts,
        _server: server,
    })
}

/// A job for the process pool: a little arithmetic, and one input in 50 panics (counted as
/// failed on the page).
#[poolbridge::job]
fn checksum(seed: u64) -> u64 {
    assert!(seed % 50 != 49, "demo failure: bad input {seed}");
    (0..200_000u64).fold(seed, |acc, i| {
        acc.wrapping_mul(6364136223846793005).wrapping_add(i)
    })
}

fn main() {
    // The failures are on purpose: keep their panic messages off standard error (in the worker
    // processes too, which run `main` up to `init()`).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>();
        if !message.is_some_and(|m| m.contains("demo failure")) {
            default_hook(info);
        }
    }));
    poolbridge::process::init();
    #[cfg(feature = "nats")]
    nats::host_main(|options| options); // `dashboard host URL NAME`: a worker host
    let serve = std::env::args().any(|a| a == "--serve");

    let threads = Arc::new(ThreadPoolExecutor::new(4));
    let processes = Arc::new(ProcessPoolExecutor::new(2));
    let builder = Dashboard::builder()
        .thread_pool("threads", &threads)
        .process_pool("processes", &processes);
    #[cfg(feature = "nats")]
    let cluster = start_cluster();
    #[cfg(feature = "nats")]
    let builder = match &cluster {
        Some(cluster) => builder.remote("cluster", &cluster.executor),
        None => builder,
    };
    let dashboard = builder
        .sample_every(Duration::from_millis(250))
        .bind("127.0.0.1:0")
        .expect("bind the dashboard");
    println!("dashboard: {}", dashboard.url());
    if serve {
        println!("(serving until Ctrl-C)");
    }

    // Bursts of jobs: the thread pool sleeps (I/O-like), the process pool computes. The queue
    // grows during a burst and drains between them, so the chart has something to show.
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let run_for = if serve {
        Duration::MAX
    } else {
        Duration::from_secs(3)
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let burst: Vec<_> = (0..40)
                    .map(|_| {
                        n += 1;
                        let ms = 5 + n % 20;
                        threads.submit(move || {
                            std::thread::sleep(Duration::from_millis(ms));
                            assert!(n % 97 != 0, "demo failure: job {n}");
                        })
                    })
                    .collect();
                std::thread::sleep(Duration::from_millis(400));
                burst.iter().for_each(|f| f.wait());
            }
        });
        scope.spawn(|| {
            let mut seed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let burst: Vec<_> = (0..10)
                    .map(|_| {
                        seed += 1;
                        processes.submit(checksum, (seed,))
                    })
                    .collect();
                burst.iter().for_each(|f| f.wait());
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        // The remote executor: bursts of the same job, run by the hosts' worker processes.
        #[cfg(feature = "nats")]
        if let Some(cluster) = &cluster {
            let stop = &stop;
            scope.spawn(move || {
                let mut seed = 1_000_000u64;
                while !stop.load(Ordering::Relaxed) {
                    let burst: Vec<_> = (0..10)
                        .map(|_| {
                            seed += 1;
                            cluster.executor.submit(checksum, (seed,))
                        })
                        .collect();
                    burst
                        .iter()
                        .for_each(|f| _ = f.wait_timeout(Duration::from_secs(10)));
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
        while started.elapsed() < run_for {
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
    });

    let t = threads.metrics();
    let p = processes.metrics();
    println!(
        "threads: {} completed, {} failed; processes: {} completed, {} failed",
        t.completed, t.panicked, p.completed, p.panicked
    );
    #[cfg(feature = "nats")]
    if let Some(cluster) = &cluster {
        let m = cluster.executor.metrics();
        println!(
            "remote: {} completed, {} failed; hosts {:?}",
            m.completed,
            m.failed,
            m.hosts.iter().map(|h| (&h.name, h.ok)).collect::<Vec<_>>()
        );
    }
    println!("last /metrics.json:\n{}", dashboard.snapshot());
}
