//! The first thing to try: ten jobs on five workers, Python's classic `ThreadPoolExecutor`
//! demo. Each job sleeps one second, standing in for a blocking call. Every future is printed
//! right after its `submit`, in Python's repr style: the first five run at once, the other
//! five wait (`state=pending`) for a free worker. Then the results come back in submission order
//! after two waves of one second each. The second round shows that the five threads, started
//! lazily by the first round, are reused. Run it with `cargo run --release --example quickstart`.

use std::thread;
use std::time::{Duration, Instant};

use poolbridge::{FutureState, PoolFuture, ThreadPoolExecutor};

const JOBS: u64 = 10;
const WORKERS: usize = 5;
const JOB_TIME: Duration = Duration::from_secs(1);

/// The blocking call: sleeps, then says what it computed and on which thread.
fn loiter(n: u64) -> (u64, String) {
    thread::sleep(JOB_TIME);
    let thread = thread::current().name().unwrap_or("?").to_owned();
    (n * 10, thread)
}

fn main() {
    let pool = ThreadPoolExecutor::new(WORKERS);
    for round in 1..=2 {
        println!(
            "round {round}: {JOBS} jobs of {} s on {WORKERS} workers ({} threads alive before)",
            JOB_TIME.as_secs(),
            pool.num_threads(),
        );
        let started = Instant::now();
        let futures: Vec<PoolFuture<(u64, String)>> = (0..JOBS)
            .map(|n| {
                let future = pool.submit(move || loiter(n));
                settle(&future);
                println!("  submitted job {n}: {future:?}");
                future
            })
            .collect();

        println!("  results, in submission order:");
        for (n, future) in futures.iter().enumerate() {
            // `result()` blocks until the job is done; it needs `T: Clone` and can be called
            // again. `join()` would move the value out instead.
            match future.result() {
                Ok((value, thread)) => println!(
                    "    job {n} -> {value:>2}  ready at {:.2} s  on {thread}",
                    started.elapsed().as_secs_f64()
                ),
                Err(err) => println!("    job {n} failed: {err}"),
            }
        }
        println!(
            "  elapsed {:.2} s: {JOBS} jobs / {WORKERS} workers = 2 waves ({} threads alive after)\n",
            started.elapsed().as_secs_f64(),
            pool.num_threads(),
        );
    }
    // Dropping the pool is Python's `with` exit: `shutdown(wait = true)`.
}

/// Gives a worker up to 50 ms to pick up a job that has one free, so the printed state says
/// whether the job got a worker (`running`) or waits for one (`pending`), not whether the
/// worker thread had been scheduled yet. (Python's demo gets the same effect from the GIL
/// switching to the new thread.)
fn settle<T>(future: &PoolFuture<T>) {
    let deadline = Instant::now() + Duration::from_millis(50);
    while future.state() == FutureState::Pending && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}
