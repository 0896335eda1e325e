//! Stopping a long blocking computation from async code: `tokio::time::timeout` around
//! `run_in_executor`, and a job that checks `poolbridge::cancelled()`.
//!
//! When the timeout runs out it drops the awaitable, which asks the running job to stop. A job
//! that checks `cancelled()` between steps returns at its next check: the example prints how
//! long after the timeout that was, and how soon the pool's only worker ran the next job. A job
//! that never checks runs to its end (`spawn_blocking`'s `abort` cannot stop it either), and the
//! next job waits for it: the example shows that too, side by side. Runs in about a second;
//! run it with `cargo run --release --example cancel`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poolbridge::{ThreadPoolExecutor, run_in_executor};

/// How long the caller is willing to wait for the answer.
const TIMEOUT: Duration = Duration::from_millis(200);
/// How long the computation would take if nobody stopped it.
const FULL_RUN: Duration = Duration::from_millis(800);

/// Where the job says when it stopped, and after how many candidates.
type Stop = Arc<Mutex<Option<(Instant, u64)>>>;

/// Counts primes by trial division for `budget` of CPU time: a stand-in for any long blocking
/// computation (a solver, a compression, a simulation). If `cooperative`, it checks
/// `cancelled()` every 1024 candidates (about a nanosecond per check) and gives up when asked.
fn count_primes(cooperative: bool, budget: Duration, stop: Stop) -> u64 {
    let started = Instant::now();
    let (mut primes, mut n) = (0u64, 2u64);
    loop {
        if n % 1024 == 0 {
            if cooperative && poolbridge::cancelled() {
                *stop.lock().unwrap() = Some((Instant::now(), n));
                return primes; // resolves to Err(Cancelled) anyway: a partial count
            }
            if started.elapsed() >= budget {
                *stop.lock().unwrap() = Some((Instant::now(), n));
                return primes;
            }
        }
        if (2..).take_while(|d| d * d <= n).all(|d| n % d != 0) {
            primes += 1;
        }
        n += 1;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // One worker, so "the worker is free again" is visible: the next job waits for it.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .expect("valid settings");
    println!(
        "counting primes for up to {} ms on a one-worker pool, awaited with a {} ms timeout\n",
        FULL_RUN.as_millis(),
        TIMEOUT.as_millis()
    );
    for cooperative in [true, false] {
        let stop: Stop = Arc::default();
        let job = run_in_executor(
            Some(&pool),
            count_primes,
            (cooperative, FULL_RUN, Arc::clone(&stop)),
        );
        let outcome = tokio::time::timeout(TIMEOUT, job).await;
        let timed_out = Instant::now();
        assert!(outcome.is_err(), "the computation outlasts the timeout");

        // The next job: how soon does the only worker get to it?
        let next = run_in_executor(Some(&pool), Instant::now, ()).await;
        let next_started = next.expect("the next job runs");
        let (stopped, candidates) = stop.lock().unwrap().expect("the job ended before the next");

        let label = if cooperative {
            "checks cancelled()"
        } else {
            "never checks"
        };
        println!("job that {label}:");
        println!(
            "  timeout ran out after {:>4} ms; the job stopped {:>8.3} ms later, after {} candidates",
            TIMEOUT.as_millis(),
            ms(stopped.saturating_duration_since(timed_out)),
            candidates
        );
        println!(
            "  the next job started    {:>8.3} ms after the timeout{}\n",
            ms(next_started.saturating_duration_since(timed_out)),
            if cooperative {
                ""
            } else {
                " (it waited for the whole run)"
            }
        );
        if cooperative {
            assert!(stopped.saturating_duration_since(timed_out) < FULL_RUN - TIMEOUT);
        }
    }
    let m = pool.metrics();
    println!(
        "pool metrics: {} completed, {} cancelled (the job that stopped early counts as cancelled)",
        m.completed, m.cancelled
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
