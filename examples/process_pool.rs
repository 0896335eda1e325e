//! Jobs in child processes: what `ProcessPoolExecutor` is for in Rust. Threads already run
//! CPU-bound code in parallel (part 1 shows both pools side by side on the seeds' prime-counting
//! demo), so processes are for *isolation*: part 2 runs a batch where one job crashes the way a
//! buggy native library would (an invalid memory access: SIGSEGV) and one loops forever (killed
//! by its time limit). Each fails alone, with what happened and which worker; every other job
//! returns its result, and the pool still runs. CPython's `ProcessPoolExecutor` would have
//! broken the whole pool (`BrokenProcessPool`) at the crash and hung on the loop.
//!
//! Run it with `cargo run --release --example process_pool`. The program is its own worker:
//! `main` calls `poolbridge::process::init()` first.

use std::time::{Duration, Instant};

use poolbridge::{FutureError, ProcessPoolExecutor, SubmitOptions, ThreadPoolExecutor};

/// Large numbers: trial division up to √n is real work for each.
const START: u64 = 1_000_000_000_000;
const SPAN: u64 = 40_000;
const CHUNKS: u64 = 8;

fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n % 2 == 0 {
        return false;
    }
    let mut d = 3;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

fn primes_in(lo: u64, hi: u64) -> u64 {
    (lo..hi).filter(|&n| is_prime(n)).count() as u64
}

/// The same function, registered as a job: it can run in a worker process.
#[poolbridge::job]
fn count_primes(lo: u64, hi: u64) -> u64 {
    primes_in(lo, hi)
}

/// A job that calls into "native code" that writes through a wild pointer.
#[poolbridge::job]
fn buggy_native_decode(input: String) -> u64 {
    if input.contains("corrupt") {
        // SAFETY: none, on purpose: this is the bug being demonstrated. Address 16 is never
        // mapped, so the write raises SIGSEGV, as a C library's out-of-bounds write would.
        unsafe { std::ptr::write_volatile(16 as *mut u64, 0xdead) };
    }
    input.len() as u64
}

/// A job that never returns (a regex from hell, a deadlock in a driver).
#[poolbridge::job]
fn runaway(seed: u64) -> u64 {
    let mut x = seed;
    loop {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        std::hint::black_box(x);
    }
}

#[poolbridge::job]
fn worker_pid() -> u32 {
    std::process::id()
}

fn main() {
    poolbridge::process::init();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ranges: Vec<(u64, u64)> = (0..CHUNKS)
        .map(|i| (START + i * SPAN / CHUNKS, START + (i + 1) * SPAN / CHUNKS))
        .collect();

    println!(
        "1. CPU-bound: the primes in [{START}, {}) on {cores} cores\n",
        START + SPAN
    );
    let t = Instant::now();
    let sequential: u64 = ranges.iter().map(|&(a, b)| primes_in(a, b)).sum();
    let one = t.elapsed();

    let threads = ThreadPoolExecutor::new(cores);
    let t = Instant::now();
    let on_threads: u64 = threads
        .map(|(a, b)| primes_in(a, b), ranges.clone())
        .map(Result::unwrap)
        .sum();
    let thread_time = t.elapsed();

    let processes = ProcessPoolExecutor::new(cores);
    let t = Instant::now();
    let on_processes: u64 = processes
        .map(count_primes, ranges.clone())
        .map(Result::unwrap)
        .sum();
    let process_time = t.elapsed();
    assert!(sequential == on_threads && on_threads == on_processes);

    println!("  {:<34} {:>9}  {:>7}  primes", "", "time", "speedup");
    for (label, time) in [
        ("sequential (this thread)", one),
        ("ThreadPoolExecutor", thread_time),
        ("ProcessPoolExecutor (incl. start)", process_time),
    ] {
        println!(
            "  {label:<34} {:>9.1?}  {:>6.2}x  {sequential}",
            time,
            one.as_secs_f64() / time.as_secs_f64()
        );
    }
    println!(
        "\n  Both pools use every core: in Rust, processes are not needed for speed. They are\n  \
         for what threads cannot survive:\n"
    );
    drop(processes);

    println!("2. Isolation: a batch with a crashing job and a runaway job\n");
    let pool = ProcessPoolExecutor::builder()
        .max_workers(cores.max(2))
        .build()
        .expect("a valid pool");
    let limit = Duration::from_millis(500);
    let inputs = [
        "alpha",
        "beta",
        "corrupt-frame",
        "gamma",
        "delta",
        "epsilon",
    ];
    let t = Instant::now();
    let mut jobs: Vec<(String, _)> = inputs
        .iter()
        .map(|input| {
            (
                format!("decode({input:?})"),
                pool.submit(buggy_native_decode, (input.to_string(),)),
            )
        })
        .collect();
    jobs.insert(
        3,
        (
            format!("runaway(7), limit {limit:?}"),
            pool.submit_with(runaway, (7,), SubmitOptions::default().timeout(limit)),
        ),
    );

    println!("  {:<28} outcome", "job");
    for (label, fut) in jobs {
        let outcome = match fut.join() {
            Ok(len) => format!("ok: {len}"),
            Err(FutureError::WorkerDied(exit)) => format!(
                "worker {} died: {} ({})",
                exit.pid(),
                exit.signal_name().unwrap_or("?"),
                if exit.core_dumped() {
                    "core dumped"
                } else {
                    "no core"
                },
            ),
            Err(FutureError::JobTimeout(d)) => {
                format!("killed after its {d:?} limit (with its process group)")
            }
            Err(other) => format!("error: {other}"),
        };
        println!("  {label:<28} {outcome}");
    }
    let batch = t.elapsed();
    let still = pool.submit(count_primes, (START, START + 1_000)).join();
    let pids = pool.submit(worker_pid, ()).join();
    println!(
        "\n  batch done in {batch:.0?}; the pool still runs: count_primes on a replacement worker \
         (pid {}) -> {}",
        pids.map_or_else(|e| e.to_string(), |p| p.to_string()),
        still.map_or_else(|e| e.to_string(), |n| format!("{n} primes")),
    );
    println!("  workers alive now: {:?}", pool.worker_pids());
    drop(pool);
    println!("  after drop: every worker exited and was reaped");
}
