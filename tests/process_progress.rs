//! `poolbridge::progress()` inside a process job: the worker sends `PROGRESS` frames, coalesced,
//! and the parent's future sees them (issue 20). This binary is its pools' worker program.

mod process_support;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use futures::executor::block_on_stream;
use poolbridge::{FutureState, ProcessPoolExecutor};
use process_support::HANG;

/// Reports `i` of `n` for each `i`, pausing `pause_us` microseconds every 100 reports.
#[poolbridge::job]
fn count_up(n: u64, pause_us: u64) -> u64 {
    for i in 1..=n {
        poolbridge::progress(i, n);
        if pause_us > 0 && i % 100 == 0 {
            thread::sleep(Duration::from_micros(pause_us));
        }
    }
    n
}

/// Reports once, then sleeps `ms`, then returns.
#[poolbridge::job]
fn report_then_sleep(ms: u64) -> u64 {
    poolbridge::progress(1, 2);
    thread::sleep(Duration::from_millis(ms));
    2
}

#[poolbridge::job]
fn quiet(n: u64) -> u64 {
    n
}

fn main() {
    poolbridge::process::init();
    process_support::run(crate::tests![
        ten_thousand_reports_arrive_coalesced_in_order_with_the_last_one,
        the_last_value_is_always_delivered_before_the_outcome,
        progress_is_visible_while_the_process_job_runs,
        a_process_job_that_never_reports_has_no_progress,
        the_pool_metrics_list_the_running_jobs_progress,
    ]);
}

fn pool(workers: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder()
        .max_workers(workers)
        .build()
        .unwrap()
}

fn ten_thousand_reports_arrive_coalesced_in_order_with_the_last_one() {
    let pool = pool(1);
    const N: u64 = 10_000;
    // About 100 pauses of 1 ms: the job runs for 100 ms or more, so several frames go out.
    let fut = pool.submit(count_up, (N, 1_000));
    let (tx, rx) = mpsc::channel();
    let updates = fut.progress_updates();
    thread::spawn(move || {
        let seen: Vec<(u64, u64)> = block_on_stream(updates).collect();
        let _ = tx.send(seen);
    });
    let seen = rx.recv_timeout(HANG).expect("the stream ends with the job");
    assert!(fut.done(), "the stream ended with the job");
    assert_eq!(fut.result(), Ok(N));
    assert_eq!(
        seen.last(),
        Some(&(N, N)),
        "the last value is always delivered"
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "in order: {seen:?}"
    );
    assert!(
        seen.len() >= 2,
        "values arrive while the job runs, not only at its end: {seen:?}"
    );
    assert!(
        seen.len() < 1_000,
        "coalesced: {} updates for {N} reports",
        seen.len()
    );
    assert_eq!(fut.progress(), Some((N, N)));
}

fn the_last_value_is_always_delivered_before_the_outcome() {
    let pool = pool(2);
    // Fast jobs (well under the 10 ms between frames): only the final frame carries the end.
    let futs: Vec<_> = (0..20)
        .map(|_| pool.submit(count_up, (10_000, 0)))
        .collect();
    for fut in futs {
        fut.wait();
        assert_eq!(fut.progress(), Some((10_000, 10_000)));
        assert_eq!(fut.result(), Ok(10_000));
    }
}

fn progress_is_visible_while_the_process_job_runs() {
    let pool = pool(1);
    let fut = pool.submit(report_then_sleep, (800,));
    let start = Instant::now();
    while fut.progress() != Some((1, 2)) {
        assert!(
            start.elapsed() < Duration::from_millis(600),
            "the report was not seen while the job ran"
        );
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(fut.state(), FutureState::Running);
    assert_eq!(fut.result(), Ok(2));
    assert_eq!(fut.progress(), Some((1, 2)));
}

fn a_process_job_that_never_reports_has_no_progress() {
    let pool = pool(1);
    let fut = pool.submit(quiet, (3,));
    assert_eq!(fut.result(), Ok(3));
    assert_eq!(fut.progress(), None);
    assert_eq!(block_on_stream(fut.progress_updates()).count(), 0);
}

fn the_pool_metrics_list_the_running_jobs_progress() {
    let pool = pool(2);
    let futs: Vec<_> = (0..2)
        .map(|_| pool.submit(report_then_sleep, (3_000,)))
        .collect();
    let start = Instant::now();
    while futs.iter().any(|f| f.progress().is_none()) {
        assert!(start.elapsed() < Duration::from_secs(20), "no report came");
        thread::sleep(Duration::from_millis(2));
    }
    let m = pool.metrics();
    // Read while both still ran (a 3 s sleep after the report; a machine that slow says so).
    assert!(
        futs.iter().all(|f| f.state() == FutureState::Running),
        "the jobs ended before the metrics were read"
    );
    assert_eq!(m.progress, [(1, 2), (1, 2)]);
    assert_eq!(m.running, 2);
    for f in &futs {
        assert_eq!(f.result(), Ok(2));
    }
    assert!(pool.metrics().progress.is_empty());
}
