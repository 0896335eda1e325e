//! The point of the library: blocking work sent through `run_in_executor` does not stall the async
//! runtime. A ticker (a `tokio::time::interval` of 5 ms) on a current-thread tokio runtime keeps
//! ticking while hundreds of blocking jobs (sleeps and CPU spins) run through the bridge; the worst
//! gap between ticks stays far below the time the jobs take. A contrast test runs the same kind
//! of work inline on the runtime thread and shows the ticker stalling for the whole job time, the
//! failure mode the bridge prevents.
//!
//! Bounds are relative, never absolute (CI runs on 2 busy cores, and other tests load them): the
//! worst gap must stay below half the wall time the work took in the same test, which is what a
//! bridge that blocked the runtime thread would have shown as one gap; the work is sized so that
//! its wall time is at least 500 ms by construction (sleeps per worker).

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::current_thread_runtime;
use poolbridge::{ThreadPoolExecutor, default_max_workers, run_in_executor};
use tokio::time::MissedTickBehavior;

const TICK: Duration = Duration::from_millis(5);

/// The worst gap allowed while the bridge ran work that took `elapsed`: half of it. A bridge that
/// blocked the runtime thread would have stalled the ticker for (nearly) all of it.
fn max_gap(elapsed: Duration) -> Duration {
    elapsed / 2
}

/// One blocking job.
#[derive(Clone, Copy, Debug)]
enum Job {
    Sleep(Duration),
    Spin(Duration),
}

impl Job {
    /// Does the blocking work and returns a checksum of its identity.
    fn run(self, id: u64) -> u64 {
        match self {
            Job::Sleep(d) => std::thread::sleep(d),
            Job::Spin(d) => {
                let start = Instant::now();
                let mut x = id;
                while start.elapsed() < d {
                    for _ in 0..1000 {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                }
                std::hint::black_box(x);
            }
        }
        id * 3
    }
}

/// `sleeps` jobs of `sleep` each, and `spins` CPU-bound jobs of `spin` each.
fn workload(sleeps: usize, sleep: Duration, spins: usize, spin: Duration) -> Vec<Job> {
    let mut jobs = vec![Job::Sleep(sleep); sleeps];
    // Spread the spins among the sleeps.
    for i in 0..spins {
        jobs.insert(i * sleeps / spins.max(1), Job::Spin(spin));
    }
    jobs
}

fn total_work(jobs: &[Job]) -> Duration {
    jobs.iter()
        .map(|j| match j {
            Job::Sleep(d) | Job::Spin(d) => *d,
        })
        .sum()
}

/// What the ticker saw while `work` ran.
#[derive(Debug)]
struct Ticks {
    count: usize,
    worst_gap: Duration,
    elapsed: Duration,
}

/// Runs `work` concurrently with a 5 ms ticker on the current task and reports the worst gap
/// between ticks, counting the gaps from the start to the first tick and from the last tick to the
/// end of the work.
async fn with_ticker<W: Future>(work: W) -> (W::Output, Ticks) {
    let mut ticks = Vec::new();
    let start = Instant::now();
    let out = {
        let ticker = async {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                ticks.push(Instant::now());
            }
        };
        tokio::select! {
            out = work => out,
            never = ticker => never,
        }
    };
    let end = Instant::now();
    let mut points = vec![start];
    points.extend(&ticks);
    points.push(end);
    let worst_gap = points
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let ticks = Ticks {
        count: ticks.len(),
        worst_gap,
        elapsed: end - start,
    };
    (out, ticks)
}

/// Runs `jobs` through the bridge on `pool` (or the default executor) under the ticker, checks the
/// results, and returns what the ticker saw.
fn through_the_bridge(pool: Option<&ThreadPoolExecutor>, jobs: &[Job]) -> Ticks {
    current_thread_runtime().block_on(async {
        let futs = jobs
            .iter()
            .enumerate()
            .map(|(i, &job)| run_in_executor(pool, Job::run, (job, i as u64)));
        let (results, ticks) = with_ticker(futures::future::join_all(futs)).await;
        let expected: Vec<_> = (0..jobs.len() as u64).map(|i| Ok(i * 3)).collect();
        assert_eq!(results, expected);
        ticks
    })
}

#[test]
fn ticker_keeps_its_period_while_blocking_jobs_run_on_a_pool() {
    // 2 workers: 200 sleeps of 5 ms take at least 500 ms of wall time whatever the machine, plus
    // 10 spins of 10 ms; 1.1 s of blocking work in all.
    const WORKERS: usize = 2;
    let jobs = workload(200, Duration::from_millis(5), 10, Duration::from_millis(10));
    let pool = ThreadPoolExecutor::new(WORKERS);
    let ticks = through_the_bridge(Some(&pool), &jobs);
    println!(
        "{} jobs, {:?} of blocking work: {ticks:?}",
        jobs.len(),
        total_work(&jobs)
    );

    // The work itself could not have taken less (each worker sleeps one job at a time), so a
    // bridge that blocked the runtime thread would have shown a gap this long.
    assert!(ticks.elapsed >= Duration::from_millis(500), "{ticks:?}");
    assert!(
        ticks.worst_gap < max_gap(ticks.elapsed),
        "the runtime stalled for {:?} while the bridge ran {:?} of blocking work: {ticks:?}",
        ticks.worst_gap,
        total_work(&jobs)
    );
    assert!(ticks.count >= 3, "{ticks:?}");
}

#[test]
fn ticker_keeps_its_period_while_blocking_jobs_run_on_the_default_executor() {
    // Size the sleeps to the default executor, so the wall time is at least 500 ms however many
    // workers it has (6 on 2 cores).
    let workers = default_max_workers();
    let sleep = Duration::from_millis(10);
    let sleeps = workers * 50; // 50 sleeps of 10 ms per worker: >= 500 ms of wall time
    let jobs = workload(sleeps, sleep, 10, Duration::from_millis(10));
    let ticks = through_the_bridge(None, &jobs);
    println!(
        "{} jobs on {workers} default workers, {:?} of blocking work: {ticks:?}",
        jobs.len(),
        total_work(&jobs)
    );

    assert!(ticks.elapsed >= Duration::from_millis(500), "{ticks:?}");
    assert!(
        ticks.worst_gap < max_gap(ticks.elapsed),
        "the runtime stalled for {:?} while the bridge ran {:?} of blocking work: {ticks:?}",
        ticks.worst_gap,
        total_work(&jobs)
    );
}

#[test]
fn contrast_the_same_work_inline_stalls_the_ticker() {
    // The failure mode the bridge prevents: the same kind of jobs run inline on the runtime thread
    // (a plain call inside async code) hold the ticker off for the whole job time. This proves
    // that the ticker measurement above can see a stall.
    let jobs = workload(60, Duration::from_millis(5), 2, Duration::from_millis(10));
    let work_time = total_work(&jobs); // 320 ms
    let ticks = current_thread_runtime().block_on(with_ticker(async {
        for (i, job) in jobs.iter().enumerate() {
            assert_eq!(job.run(i as u64), i as u64 * 3);
        }
    }));
    println!("inline, {work_time:?} of blocking work: {:?}", ticks.1);
    assert!(
        ticks.1.worst_gap >= work_time,
        "inline blocking work of {work_time:?} should stall the ticker that long: {:?}",
        ticks.1
    );
    assert!(
        ticks.1.worst_gap >= max_gap(ticks.1.elapsed),
        "the bound used above could not see this stall: {:?}",
        ticks.1
    );
}
