//! `poolbridge-worker`: a worker host for `RemoteExecutor`, serving the jobs linked into it.
//!
//! A real deployment builds this same `main` into its own binary, next to (or depending on) the
//! crate that defines its `#[poolbridge::job]` functions, so clients and hosts register the
//! same jobs. The demo jobs below stand in for those.
//!
//! ```text
//! cargo run --release --features nats --example poolbridge-worker -- nats://127.0.0.1:4222 [NAME] [WORKERS]
//! ```
//!
//! It serves until `SIGTERM` or Ctrl-C (finishing and answering its running jobs first), then
//! prints what it did. Run bare, it prints this usage and exits.

use std::time::Duration;

use poolbridge::remote::{ServeOptions, serve};

/// Demo job: the number of words in a text.
#[poolbridge::job]
fn word_count(text: String) -> usize {
    text.split_whitespace().count()
}

/// Demo job: sleeps, then echoes (a stand-in for a slow call).
#[poolbridge::job]
fn slow_echo(ms: u64, value: String) -> String {
    std::thread::sleep(Duration::from_millis(ms));
    value
}

fn main() {
    poolbridge::process::init(); // first: the local worker processes are this program re-run
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next().or_else(|| std::env::var("NATS_URL").ok()) else {
        println!(
            "usage: poolbridge-worker NATS_URL [NAME] [WORKERS]   (or set NATS_URL)\n\
             serves the jobs linked into this binary ({} and {}) until SIGTERM or Ctrl-C",
            poolbridge::process::Job::name(&word_count),
            poolbridge::process::Job::name(&slow_echo),
        );
        return;
    };
    let mut options = ServeOptions::default();
    if let Some(name) = args.next() {
        options = options.name(name);
    }
    if let Some(workers) = args.next() {
        options = options.workers(workers.parse().expect("WORKERS is a number"));
    }
    match serve(&url, options) {
        Ok(report) => println!("{report:?}"),
        Err(err) => {
            eprintln!("poolbridge-worker: {err}");
            std::process::exit(1);
        }
    }
}
