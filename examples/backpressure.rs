//! Back-pressure: a producer that reads records much faster than the pool can process them.
//!
//! Without a bound, every record the producer reads waits in the pool's queue (inside its job's
//! closure) until a worker gets to it: memory grows with the backlog, as with Python's
//! `ThreadPoolExecutor` or a plain channel. With `ThreadPoolBuilder::max_queued(n)`, `submit`
//! blocks the producer while `n` jobs wait, and `submit_async` suspends an async producer
//! without blocking its runtime thread: memory stays flat and the pool is just as busy.
//!
//! The example runs the same producer three ways and prints, for each, the peak memory held by
//! records waiting or in progress (counted exactly) and the growth of the process's resident
//! memory (Linux), the most jobs ever queued, and the time taken. Look at the first column: flat
//! with `max_queued`, the whole input without it; and at the last: the same time.
//! Run it with `cargo run --release --example backpressure`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use poolbridge::{PoolFuture, ThreadPoolExecutor};

/// Records the producer reads.
const RECORDS: usize = 2_000;
/// Size of one record.
const RECORD_BYTES: usize = 32 * 1024;
/// Workers, and how long one takes per record.
const WORKERS: usize = 2;
const WORK: Duration = Duration::from_micros(500);
/// The bound of the bounded runs.
const MAX_QUEUED: usize = 16;

/// Bytes held by records alive now, and the most ever held.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A record read by the producer: its bytes count as live until it is dropped (processed).
struct Record(Vec<u8>);

impl Record {
    fn read(i: usize) -> Record {
        let live = LIVE.fetch_add(RECORD_BYTES, Ordering::SeqCst) + RECORD_BYTES;
        PEAK.fetch_max(live, Ordering::SeqCst);
        Record(vec![(i % 251) as u8; RECORD_BYTES])
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        LIVE.fetch_sub(RECORD_BYTES, Ordering::SeqCst);
    }
}

/// The job: "process" a record (a checksum, then the time a real parser or upload would take).
fn process(record: Record) -> u64 {
    let sum = record.0.iter().step_by(4096).map(|&b| b as u64).sum();
    thread::sleep(WORK);
    sum
}

/// What one run came to.
struct Run {
    peak_bytes: usize,
    rss_growth: Option<usize>,
    max_queued: usize,
    took: Duration,
    heartbeats: Option<usize>,
}

fn main() {
    println!(
        "a producer reads {RECORDS} records of {} KiB as fast as it can; {WORKERS} workers take \
         {} ms per record\n",
        RECORD_BYTES / 1024,
        WORK.as_secs_f64() * 1e3
    );
    println!(
        "  {:<34} {:>12} {:>12} {:>11} {:>8}",
        "", "peak held", "RSS growth", "max queued", "took"
    );
    // The bounded runs first: memory the unbounded run takes is not always given back to the
    // OS, which would hide the bounded runs' resident memory.
    let rows = [
        (
            format!("submit, max_queued({MAX_QUEUED})"),
            run_blocking(Some(MAX_QUEUED)),
        ),
        (
            format!("submit_async, max_queued({MAX_QUEUED})"),
            run_async(MAX_QUEUED),
        ),
        ("submit, no max_queued".to_owned(), run_blocking(None)),
    ];
    for (name, run) in &rows {
        println!(
            "  {name:<34} {:>12} {:>12} {:>11} {:>6.2} s",
            mib(run.peak_bytes),
            run.rss_growth.map_or("n/a".to_owned(), mib),
            run.max_queued,
            run.took.as_secs_f64()
        );
    }
    let async_run = &rows[1].1;
    if let Some(beats) = async_run.heartbeats {
        println!(
            "\n  while submit_async waited for room, a heartbeat task on the same single-thread\n  \
             runtime ticked {beats} times (every 5 ms): the runtime was never blocked"
        );
    }
    println!(
        "\n  with max_queued({MAX_QUEUED}), at most {MAX_QUEUED} records wait and {WORKERS} are \
         in progress: memory is flat\n  whatever the input's size; without it, the backlog is \
         the whole input, for the same time"
    );
    assert!(rows[0].1.max_queued <= MAX_QUEUED && rows[1].1.max_queued <= MAX_QUEUED);
    assert!(rows[0].1.peak_bytes <= (MAX_QUEUED + WORKERS + 1) * RECORD_BYTES);
}

fn pool(max_queued: Option<usize>) -> ThreadPoolExecutor {
    let builder = ThreadPoolExecutor::builder().max_workers(WORKERS);
    match max_queued {
        Some(n) => builder.max_queued(n),
        None => builder,
    }
    .build()
    .expect("valid settings")
}

/// A plain thread reads and submits every record, then waits for the results.
fn run_blocking(max_queued: Option<usize>) -> Run {
    let pool = Arc::new(pool(max_queued));
    measure(&pool, || {
        let futures: Vec<PoolFuture<u64>> = (0..RECORDS)
            .map(|i| {
                let record = Record::read(i);
                pool.submit(move || process(record))
            })
            .collect();
        futures.into_iter().map(|f| f.join().unwrap()).sum::<u64>();
        None
    })
}

/// An async task reads and submits every record with `submit_async`, on a single-thread runtime
/// shared with a heartbeat task.
fn run_async(max_queued: usize) -> Run {
    let pool = Arc::new(pool(Some(max_queued)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    measure(&pool, || {
        rt.block_on(async {
            let beats = Arc::new(AtomicUsize::new(0));
            let heartbeat = {
                let beats = Arc::clone(&beats);
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        beats.fetch_add(1, Ordering::Relaxed);
                    }
                })
            };
            let mut futures = Vec::with_capacity(RECORDS);
            for i in 0..RECORDS {
                let record = Record::read(i);
                futures.push(pool.submit_async(move || process(record)).await);
            }
            let mut sum = 0u64;
            for f in futures {
                sum += f.await.unwrap();
            }
            std::hint::black_box(sum);
            heartbeat.abort();
            Some(beats.load(Ordering::Relaxed))
        })
    })
}

/// Runs `produce` while a sampler watches the queue and the resident memory.
fn measure(pool: &Arc<ThreadPoolExecutor>, produce: impl FnOnce() -> Option<usize>) -> Run {
    PEAK.store(LIVE.load(Ordering::SeqCst), Ordering::SeqCst);
    let rss_before = rss_bytes();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (pool, done) = (Arc::clone(pool), Arc::clone(&done));
        thread::spawn(move || {
            let (mut max_queued, mut max_rss) = (0, rss_bytes());
            while !done.load(Ordering::SeqCst) {
                max_queued = max_queued.max(pool.metrics().queued);
                max_rss = max_rss.max(rss_bytes());
                thread::sleep(Duration::from_micros(500));
            }
            (max_queued, max_rss)
        })
    };
    let started = Instant::now();
    let heartbeats = produce();
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let (max_queued, max_rss) = sampler.join().expect("the sampler");
    Run {
        peak_bytes: PEAK.load(Ordering::SeqCst),
        rss_growth: rss_before
            .zip(max_rss)
            .map(|(before, max)| max.saturating_sub(before)),
        max_queued,
        took,
        heartbeats,
    }
}

/// The resident memory of this process (Linux), from `/proc/self/statm`.
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
