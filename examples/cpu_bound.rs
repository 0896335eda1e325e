//! CPU-bound work on threads: with no GIL, a thread pool speeds up computation too, not only
//! waiting. Counts the primes below 3,000,000 by trial division, split into 16 ranges, once on
//! this thread and then with `ThreadPoolExecutor::map` on one worker per core and on the
//! default number of workers (sized for I/O: more threads than cores, which does not help
//! CPU-bound work). Prints each time, the speedup and the prime count (the same every way). In
//! CPython the threaded versions would take as long as the sequential one. Run it with
//! `cargo run --release --example cpu_bound`.

use std::ops::Range;
use std::time::{Duration, Instant};

use poolbridge::{ThreadPoolExecutor, default_max_workers};

const LIMIT: u64 = 8_000_000;
const RANGES: u64 = 16;

/// Counts the primes in `range` by trial division: deliberately plain CPU work.
fn count_primes(range: Range<u64>) -> usize {
    range.filter(|&n| is_prime(n)).count()
}

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

fn ranges() -> impl Iterator<Item = Range<u64>> {
    let step = LIMIT.div_ceil(RANGES);
    (0..RANGES).map(move |i| i * step..((i + 1) * step).min(LIMIT))
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "counting the primes below {LIMIT} by trial division, in {RANGES} ranges; {cores} cores\n"
    );
    println!("  {:<32} {:>7}  {:>7}  primes", "", "time", "speedup");

    let started = Instant::now();
    let primes: usize = ranges().map(count_primes).sum();
    let sequential = started.elapsed();
    row("sequential (this thread)", sequential, sequential, primes);

    let mut best = sequential;
    for (workers, label) in [
        (cores, "one per core"),
        (default_max_workers(), "the default"),
    ] {
        let pool = ThreadPoolExecutor::new(workers);
        let started = Instant::now();
        // `executor.map(count_primes, ranges)`: results in input order.
        let primes: usize = pool
            .map(count_primes, ranges())
            .map(|count| count.expect("count_primes does not panic"))
            .sum();
        let took = started.elapsed();
        best = best.min(took);
        row(
            &format!("map, {workers} workers ({label})"),
            took,
            sequential,
            primes,
        );
    }
    if cores > 1 && best.as_secs_f64() > 0.75 * sequential.as_secs_f64() {
        println!("\n  little speedup: are other programs keeping the cores busy? (see `top`)");
    }
}

fn row(how: &str, took: Duration, sequential: Duration, primes: usize) {
    println!(
        "  {how:<32} {:>5.2} s  {:>6.1}x  {primes}",
        took.as_secs_f64(),
        sequential.as_secs_f64() / took.as_secs_f64()
    );
}
