//! `JoinSet`: tokio's `JoinSet` for blocking jobs, the async `as_completed`. A current-thread
//! tokio runtime checksums a folder of generated files (each job reads a file and hashes it, plain
//! blocking code) and takes the results as they finish, while a heartbeat task keeps ticking.
//! Then two ways to stop early: `cancel_all` on the first error (the jobs not started yet are
//! cancelled), and the set as a `Stream`, of which only the first three results are taken (the
//! set is dropped, which cancels the rest). Everything is generated in a temporary folder, so it
//! runs offline in about a second: `cargo run --release --example join_set`.
//!
//! Look at: the completion order (not the submission order), the heartbeat's worst gap (it stays
//! near its period: the runtime never blocks), and how many jobs each early stop cancelled.

use std::hint::black_box;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use poolbridge::{JoinSet, ThreadPoolExecutor};
use tokio::time::MissedTickBehavior;

const FILES: usize = 16;
const PERIOD: Duration = Duration::from_millis(10);

/// Writes `FILES` files of 0.25 to 4 MB of pseudo-random bytes; returns their paths.
fn generate(dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    (0..FILES)
        .map(|i| {
            // Sizes in a scrambled order, so completion order differs from submission order.
            let size = (1 + (i * 7) % FILES) * 256 * 1024;
            let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ i as u64;
            let bytes: Vec<u8> = (0..size / 8)
                .flat_map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()
                })
                .collect();
            let path = dir.join(format!("part-{i:02}.bin"));
            std::fs::write(&path, bytes)?;
            Ok(path)
        })
        .collect()
}

/// Blocking work: reads a file and hashes it (FNV-1a, a few rounds, so it costs some CPU).
fn checksum(path: &Path) -> io::Result<(String, u64, usize)> {
    let bytes = std::fs::read(path)
        .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?;
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for round in 0..4u8 {
        for &b in &bytes {
            hash = (hash ^ u64::from(b ^ round)).wrapping_mul(0x100_0000_01b3);
        }
    }
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    Ok((name, black_box(hash), bytes.len()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let dir = std::env::temp_dir().join("poolbridge-join_set");
    let paths = generate(&dir)?;
    println!("{FILES} files in {}", dir.display());

    // 1. All at once, results in completion order, with a heartbeat on the same runtime thread.
    println!("\n1. checksums with JoinSet::spawn_blocking + join_next, as they finish:");
    let stop = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(heartbeat(Arc::clone(&stop)));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for path in &paths {
        let path = path.clone();
        set.spawn_blocking(move || checksum(&path));
    }
    let mut order = Vec::new();
    while let Some(outcome) = set.join_next().await {
        // `?` twice: the pool's FutureError (a panic, a cancelled job), then the job's io::Error.
        let (name, hash, len) = outcome??;
        println!(
            "  {:>6.1} ms  {name}  {:>5} KiB  {hash:016x}",
            started.elapsed().as_secs_f64() * 1e3,
            len / 1024
        );
        order.push(name);
    }
    // ORDERING: Relaxed: a flag; awaiting the heartbeat task orders the rest.
    stop.store(true, Ordering::Relaxed);
    let (ticks, worst) = heartbeat.await.expect("the heartbeat task");
    let in_order = order.windows(2).all(|w| w[0] < w[1]);
    println!(
        "  completion order {} the submission order; heartbeat: {ticks} ticks, worst gap {:.1} ms \
         (period {} ms)",
        if in_order { "matched" } else { "differs from" },
        worst.as_secs_f64() * 1e3,
        PERIOD.as_millis()
    );

    // 2. Stop at the first error: cancel the jobs that have not started (tokio's abort_all).
    println!("\n2. a missing file among them; cancel_all at the first error (2-worker pool):");
    let pool = ThreadPoolExecutor::new(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    let missing = dir.join("missing.bin");
    for path in std::iter::once(&missing).chain(&paths) {
        let (path, ran) = (path.clone(), Arc::clone(&ran));
        set.spawn_blocking_on(
            move || {
                // ORDERING: SeqCst: a counter read after the jobs end (any order would do).
                ran.fetch_add(1, Ordering::SeqCst);
                checksum(&path)
            },
            &pool,
        );
    }
    let (mut ok, mut cancelled) = (0, 0);
    while let Some(outcome) = set.join_next().await {
        match outcome {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(err)) => {
                println!("  error: {err}: cancelling the jobs not started yet");
                set.cancel_all();
            }
            Err(err) if err.is_cancelled() => cancelled += 1,
            Err(err) => println!("  the pool could not run a job: {err}"),
        }
    }
    println!(
        "  {ok} finished, {cancelled} cancelled, {} of {} jobs ran",
        ran.load(Ordering::SeqCst), // ORDERING: SeqCst, see the fetch_add
        FILES + 1
    );

    // 3. The set is a Stream: take the first three results, drop the rest (cancelled on drop).
    println!(
        "\n3. the first three to finish, through StreamExt::take; dropping the set cancels the rest:"
    );
    let ran = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for path in &paths {
        let (path, ran) = (path.clone(), Arc::clone(&ran));
        set.spawn_blocking_on(
            move || {
                // ORDERING: SeqCst: a counter read after the jobs end (any order would do).
                ran.fetch_add(1, Ordering::SeqCst);
                checksum(&path)
            },
            &pool,
        );
    }
    let first: Vec<String> = set
        .by_ref()
        .take(3)
        .map(|outcome| outcome.map(|r| r.map(|(name, _, _)| name)))
        .filter_map(|outcome| async move { outcome.ok().and_then(Result::ok) })
        .collect()
        .await;
    drop(set);
    pool.shutdown(true, false); // let the running ones end, to count them
    println!(
        "  first three: {}; {} of {FILES} jobs ran, the rest were cancelled",
        first.join(", "),
        ran.load(Ordering::SeqCst) // ORDERING: SeqCst, see the fetch_add
    );
    Ok(())
}

/// Ticks every `PERIOD` until `stop`; returns the number of ticks and the worst gap.
async fn heartbeat(stop: Arc<AtomicBool>) -> (u32, Duration) {
    let mut interval = tokio::time::interval(PERIOD);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval.tick().await;
    let (mut ticks, mut worst, mut last) = (0, Duration::ZERO, Instant::now());
    // ORDERING: Relaxed: a flag read once per tick; the join of the task orders the rest.
    while !stop.load(Ordering::Relaxed) {
        interval.tick().await;
        let now = Instant::now();
        worst = worst.max(now - last);
        last = now;
        ticks += 1;
    }
    (ticks, worst)
}
