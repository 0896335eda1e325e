//! Why `run_in_executor` exists: a heartbeat task ticks every 10 ms on a current-thread tokio
//! runtime while the main task does four chunks of CPU-heavy work (~150 ms each), first inline
//! (the one runtime thread is busy, so the heartbeat stalls for a whole chunk at a time), then
//! the same chunks through `run_in_executor(None, ..)`, awaited one after another (the work
//! runs on a pool thread and the heartbeat keeps its period). Each way prints the work time, the
//! number of ticks and the worst gap between two ticks. Run it with
//! `cargo run --release --example responsive`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use poolbridge::run_in_executor;
use tokio::time::MissedTickBehavior;

const PERIOD: Duration = Duration::from_millis(10);
const CHUNKS: u64 = 4;
/// Hashing rounds per chunk: about 150 ms on a laptop core of 2024.
const ROUNDS: u64 = 120_000_000;

/// CPU-heavy, blocking work: a hash loop (FNV-1a over a counter).
fn crunch(chunk: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ chunk;
    for i in 0..ROUNDS {
        hash = (hash ^ black_box(i)).wrapping_mul(0x100_0000_01b3);
    }
    hash
}

/// Ticks every `PERIOD` until `stop`; returns the number of ticks and the worst gap.
async fn heartbeat(stop: Arc<AtomicBool>) -> (u32, Duration) {
    let mut interval = tokio::time::interval(PERIOD);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval.tick().await; // the first tick is immediate
    let (mut ticks, mut worst, mut last) = (0, Duration::ZERO, Instant::now());
    // ORDERING: Relaxed: a flag read once per tick; the join below orders everything else.
    while !stop.load(Ordering::Relaxed) {
        interval.tick().await;
        let now = Instant::now();
        worst = worst.max(now - last);
        last = now;
        ticks += 1;
    }
    (ticks, worst)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!(
        "heartbeat: a task on this current-thread runtime, ticking every {} ms",
        PERIOD.as_millis()
    );
    println!("work: {CHUNKS} chunks of CPU-heavy hashing, awaited one after another\n");
    println!(
        "  {:<30} {:>9}  {:>5}  {:>9}",
        "", "work time", "ticks", "worst gap"
    );

    // Inline: the blocking work runs on the runtime's only thread.
    let (took, ticks, worst) = with_heartbeat(async {
        for chunk in 0..CHUNKS {
            black_box(crunch(chunk));
            tokio::task::yield_now().await; // lets the heartbeat run between chunks
        }
    })
    .await;
    row("inline (blocks the runtime)", took, ticks, worst);

    // Through the pool: the same calls, the runtime thread only awaits.
    let (took, ticks, worst) = with_heartbeat(async {
        for chunk in 0..CHUNKS {
            black_box(run_in_executor(None, crunch, (chunk,)).await.unwrap());
        }
    })
    .await;
    row("run_in_executor(None, ..)", took, ticks, worst);
}

/// Runs `work` while a heartbeat task ticks; returns the work time, the ticks and the worst gap.
async fn with_heartbeat(work: impl Future<Output = ()>) -> (Duration, u32, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let beat = tokio::spawn(heartbeat(Arc::clone(&stop)));
    tokio::time::sleep(5 * PERIOD).await; // the heartbeat is running
    let started = Instant::now();
    work.await;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (ticks, worst) = beat.await.expect("the heartbeat task");
    (took, ticks, worst)
}

fn row(how: &str, took: Duration, ticks: u32, worst: Duration) {
    // A few ms of lateness is the OS scheduler; a gap of several periods is a stalled runtime.
    let verdict = if worst < 3 * PERIOD {
        "the heartbeat keeps time"
    } else {
        "the heartbeat stalled"
    };
    println!(
        "  {how:<30} {:>7.2} s  {ticks:>5}  {:>6.1} ms   {verdict}",
        took.as_secs_f64(),
        worst.as_secs_f64() * 1e3
    );
}
