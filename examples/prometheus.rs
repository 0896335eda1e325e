//! The executors' metrics through the `metrics` crate facade, rendered as Prometheus text:
//! a thread pool and a process pool run a short workload while `poolbridge::metrics_export`
//! publishes their metrics to the Prometheus recorder, then the text a scrape would get is
//! printed. Ends by itself in about a second.
//!
//! ```text
//! cargo run --release --features metrics --example prometheus
//! ```
//!
//! A real service would serve `handle.render()` on `/metrics` (or enable the exporter's
//! `http-listener` feature and call `PrometheusBuilder::install`).

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use poolbridge::metrics_export;
use poolbridge::{ProcessPoolExecutor, ThreadPoolExecutor};

#[poolbridge::job]
fn square(x: u64) -> u64 {
    thread::sleep(Duration::from_millis(2));
    x * x
}

fn main() -> anyhow::Result<()> {
    poolbridge::process::init();
    let handle = PrometheusBuilder::new().install_recorder()?;

    let threads = Arc::new(ThreadPoolExecutor::new(4));
    let processes = Arc::new(ProcessPoolExecutor::new(2));
    let every = Duration::from_millis(100);
    let publishers = [
        metrics_export::publish("threads", &threads, every),
        metrics_export::publish_process("processes", &processes, every),
    ];

    // A workload: 2,000 short thread jobs (one in 64 timed) and 200 process jobs (all timed).
    let futures: Vec<_> = (0..2_000u64)
        .map(|i| threads.submit(move || thread::sleep(Duration::from_micros(200 + i % 300))))
        .collect();
    let squares: Vec<_> = (0..200u64)
        .map(|i| processes.submit(square, (i,)))
        .collect();
    futures.iter().for_each(|f| f.wait());
    let total: u64 = squares
        .into_iter()
        .map(|f| f.result())
        .sum::<Result<u64, _>>()?;
    println!("# sum of squares: {total}");

    // One more period, so that the publishers record the end of the workload, then stop them.
    thread::sleep(every * 2);
    drop(publishers);
    print!("{}", handle.render());
    Ok(())
}
