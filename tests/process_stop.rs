//! Stopping process jobs (issue 19): `request_cancel` on a running job (cooperative through
//! `cancelled()` in the worker, then a kill after the grace period), on a job sent ahead, from a
//! dropped awaitable; deadlines (queued jobs that never run, running jobs stopped,
//! `poolbridge::deadline()` in the worker); a race of requests against completions. Real child
//! processes: this binary is its own worker program.

mod process_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use poolbridge::{FutureError, PoolFuture, ProcessPoolExecutor, SubmitOptions};
use process_support::{HANG, eventually, is_gone, temp_dir};

/// Marks its start (the file `started`), then spins forever without looking at `cancelled()`.
#[poolbridge::job]
fn spin_forever(started: PathBuf) -> u64 {
    std::fs::write(&started, b"").unwrap();
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

/// Marks its start, then polls `cancelled()` every millisecond; writes `seen` when it saw it.
#[poolbridge::job]
fn poll_cancelled(started: PathBuf, seen: PathBuf) -> u64 {
    std::fs::write(&started, b"").unwrap();
    let mut rounds = 0;
    while !poolbridge::cancelled() {
        rounds += 1;
        thread::sleep(Duration::from_millis(1));
    }
    std::fs::write(&seen, b"").unwrap();
    rounds
}

/// Holds its worker until the file `gate` exists.
#[poolbridge::job]
fn wait_for(gate: PathBuf) -> u32 {
    while !gate.exists() {
        thread::sleep(Duration::from_millis(2));
    }
    std::process::id()
}

/// Appends `id` to the file `log` (one `write` to an `O_APPEND` file), naps `ms`, returns `id`.
#[poolbridge::job]
fn log_run(log: PathBuf, id: u64, ms: u64) -> u64 {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    file.write_all(format!("{id}\n").as_bytes()).unwrap();
    thread::sleep(Duration::from_millis(ms));
    id
}

#[poolbridge::job]
fn pid() -> u32 {
    std::process::id()
}

#[poolbridge::job]
fn echo(n: u64) -> u64 {
    n
}

/// The time left before this job's deadline, in milliseconds, if it has one.
#[poolbridge::job]
fn time_left_ms() -> Option<u64> {
    poolbridge::deadline().map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64)
}

fn main() {
    poolbridge::process::init();
    process_support::run(crate::tests![
        request_cancel_kills_a_job_that_never_checks_after_the_grace,
        a_job_that_checks_cancelled_stops_and_keeps_its_worker,
        a_job_sent_ahead_to_a_busy_worker_is_cancelled_and_never_runs,
        dropping_a_polled_awaitable_stops_the_process_job,
        late_queued_jobs_never_run_and_resolve_deadline_exceeded,
        a_running_job_past_its_deadline_is_stopped,
        deadline_inside_a_process_job_is_about_right,
        request_cancel_racing_completion_resolves_every_future_once,
    ]);
}

fn pool(workers: usize, grace: Duration) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder()
        .max_workers(workers)
        .cancel_grace(grace)
        .build()
        .unwrap()
}

/// Waits until the file `path` exists (a job reached its first line in its worker).
fn wait_file(path: &Path) {
    assert!(
        eventually(HANG, || path.exists()),
        "{} never appeared",
        path.display()
    );
}

fn request_cancel_kills_a_job_that_never_checks_after_the_grace() {
    let grace = Duration::from_millis(300);
    let pool = pool(1, grace);
    let dir = temp_dir("stop-kill");
    let started = dir.join("started");
    let fut = pool.submit(spin_forever, (started.clone(),));
    wait_file(&started);
    let worker = pool.worker_pids()[0];
    let asked = Instant::now();
    assert!(fut.request_cancel(), "running: asked to stop");
    assert!(fut.wait_timeout(HANG), "a job asked to stop must end");
    let took = asked.elapsed();
    assert_eq!(fut.result(), Err(FutureError::Cancelled));
    assert!(
        took >= grace && took < grace + Duration::from_secs(3),
        "killed after the grace period of {grace:?}, not after {took:?}"
    );
    assert!(
        eventually(HANG, || is_gone(worker)),
        "the worker {worker} must be killed"
    );
    let next = pool.submit(pid, ()).join().unwrap();
    assert_ne!(next, worker, "the next job runs on a fresh worker");
    let m = pool.metrics();
    assert_eq!((m.killed, m.stopped, m.worker_died), (1, 0, 0), "{m:?}");
}

fn a_job_that_checks_cancelled_stops_and_keeps_its_worker() {
    // A long grace: a kill would take longer than the test allows for the stop.
    let pool = pool(1, Duration::from_secs(30));
    let dir = temp_dir("stop-poll");
    let (started, seen) = (dir.join("started"), dir.join("seen"));
    let fut = pool.submit(poll_cancelled, (started.clone(), seen.clone()));
    wait_file(&started);
    let worker = pool.worker_pids()[0];
    let asked = Instant::now();
    assert!(fut.request_cancel());
    assert_eq!(
        fut.result_timeout(Duration::from_secs(5)),
        Err(FutureError::Cancelled)
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "a polling job stops at once, took {:?}",
        asked.elapsed()
    );
    assert!(seen.exists(), "the job saw cancelled() in its worker");
    assert_eq!(fut.state(), poolbridge::FutureState::Finished);
    assert_eq!(
        pool.submit(pid, ()).join(),
        Ok(worker),
        "the worker is kept"
    );
    let m = pool.metrics();
    assert_eq!((m.stopped, m.killed), (1, 0), "{m:?}");
}

fn a_job_sent_ahead_to_a_busy_worker_is_cancelled_and_never_runs() {
    let pool = pool(1, Duration::from_secs(30));
    let dir = temp_dir("stop-ahead");
    let (gate, log) = (dir.join("gate"), dir.join("log"));
    let busy = pool.submit(wait_for, (gate.clone(),));
    let ahead = pool.submit(log_run, (log.clone(), 2, 0));
    assert!(
        eventually(HANG, || {
            let m = pool.metrics();
            (m.queued, m.running) == (0, 2)
        }),
        "the second job is sent ahead to the busy worker: {:?}",
        pool.metrics()
    );
    assert!(ahead.request_cancel());
    // Resolved at once, while the worker still runs the first job.
    assert_eq!(
        ahead.result_timeout(Duration::from_secs(5)),
        Err(FutureError::Cancelled)
    );
    assert!(!busy.done());
    std::fs::write(&gate, b"").unwrap();
    let worker = busy.join().unwrap();
    // The worker skipped it: the next job runs on the same worker, and the log stays empty.
    assert_eq!(pool.submit(pid, ()).join(), Ok(worker));
    assert!(!log.exists(), "the cancelled job sent ahead must never run");
    let m = pool.metrics();
    assert_eq!((m.cancelled, m.killed, m.stopped), (1, 0, 0), "{m:?}");
}

fn dropping_a_polled_awaitable_stops_the_process_job() {
    let pool = pool(1, Duration::from_secs(30));
    let dir = temp_dir("stop-await");
    let (started, seen) = (dir.join("started"), dir.join("seen"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let worker = pool.submit(pid, ()).join().unwrap();
    let fut = pool.submit(poll_cancelled, (started.clone(), seen.clone()));
    let outcome = rt.block_on(async {
        let awaiting = tokio::time::timeout(Duration::from_secs(60), async {
            // Give up on it once it runs in its worker: the awaitable is dropped polled.
            let wait_started = async {
                while !started.exists() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            };
            // Biased: the awaitable is polled first (one never polled is not cancelled on drop,
            // and the job may have started before the first poll).
            tokio::select! {
                biased;
                out = fut => Some(out),
                () = wait_started => None,
            }
        });
        awaiting.await.unwrap()
    });
    assert!(outcome.is_none(), "the job never returns on its own");
    wait_file(&seen);
    assert!(
        eventually(HANG, || pool.metrics().stopped == 1),
        "{:?}",
        pool.metrics()
    );
    assert_eq!(
        pool.submit(pid, ()).join(),
        Ok(worker),
        "the worker is kept"
    );
}

fn late_queued_jobs_never_run_and_resolve_deadline_exceeded() {
    let pool = pool(1, Duration::from_millis(200));
    let dir = temp_dir("stop-deadline");
    let log = dir.join("log");
    // Warm: the worker is up, so the deadline measures the drain, not the start.
    let worker = pool.submit(pid, ()).join().unwrap();
    let options = SubmitOptions::default().deadline(Duration::from_millis(350));
    let futures: Vec<PoolFuture<u64>> = (0..12)
        .map(|i| pool.submit_with(log_run, (log.clone(), i, 100), options.clone()))
        .collect();
    let submitted = Instant::now();
    for fut in &futures {
        assert!(fut.wait_timeout(HANG), "every job resolves");
    }
    assert!(submitted.elapsed() < Duration::from_secs(5));
    let ran: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let (mut done, mut stopped, mut never) = (0, 0, 0);
    for (i, fut) in futures.iter().enumerate() {
        let i = i as u64;
        match fut.result() {
            Ok(n) => {
                assert_eq!(n, i);
                assert!(ran.contains(&i));
                done += 1;
            }
            Err(FutureError::DeadlineExceeded { started: true }) => {
                assert!(ran.contains(&i), "job {i} started");
                stopped += 1;
            }
            Err(FutureError::DeadlineExceeded { started: false }) => {
                assert!(!ran.contains(&i), "job {i} must never run: ran {ran:?}");
                never += 1;
            }
            other => panic!("job {i}: {other:?}"),
        }
    }
    assert!((1..=5).contains(&done), "done {done}, ran {ran:?}");
    assert!(stopped <= 1);
    assert!(never >= 6, "never started: {never}, ran {ran:?}");
    assert_eq!(ran.len(), done + stopped, "{ran:?}");
    let m = pool.metrics();
    assert_eq!(m.deadline_exceeded, (stopped + never) as u64, "{m:?}");
    if stopped == 0 {
        assert_eq!(pool.worker_pids(), [worker]);
    }
}

fn a_running_job_past_its_deadline_is_stopped() {
    let pool = pool(1, Duration::from_millis(200));
    let dir = temp_dir("stop-deadline-run");
    // One that never checks: killed after the grace.
    let started = dir.join("started");
    let options = SubmitOptions::default().deadline(Duration::from_millis(300));
    let fut = pool.submit_with(spin_forever, (started.clone(),), options.clone());
    assert_eq!(
        fut.result_timeout(HANG),
        Err(FutureError::DeadlineExceeded { started: true })
    );
    assert!(started.exists());
    // One that checks: stopped, its worker kept.
    let worker = pool.submit(pid, ()).join().unwrap();
    let (started, seen) = (dir.join("started2"), dir.join("seen2"));
    let t = Instant::now();
    let fut = pool.submit_with(poll_cancelled, (started, seen.clone()), options);
    assert_eq!(
        fut.result_timeout(HANG),
        Err(FutureError::DeadlineExceeded { started: true })
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(seen.exists());
    assert_eq!(pool.submit(pid, ()).join(), Ok(worker));
    let m = pool.metrics();
    assert_eq!(
        (m.killed, m.stopped, m.deadline_exceeded),
        (1, 1, 2),
        "{m:?}"
    );
}

fn deadline_inside_a_process_job_is_about_right() {
    let pool = pool(1, Duration::from_millis(500));
    assert_eq!(pool.submit(time_left_ms, ()).join(), Ok(None));
    let options = SubmitOptions::default().deadline(Duration::from_secs(5));
    let left = pool
        .submit_with(time_left_ms, (), options)
        .join()
        .unwrap()
        .expect("a job with a deadline sees it");
    assert!(left > 3_000 && left <= 5_000, "{left} ms left");
}

fn request_cancel_racing_completion_resolves_every_future_once() {
    const JOBS: u64 = 10_000;
    let pool = pool(2, Duration::from_secs(5));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut futures = Vec::with_capacity(JOBS as usize);
    let mut n = 0;
    while n < JOBS {
        let batch: Vec<(u64, PoolFuture<u64>)> = (n..(n + 50).min(JOBS))
            .map(|i| (i, pool.submit(echo, (i,))))
            .collect();
        n += batch.len() as u64;
        for (_, fut) in batch.iter().rev() {
            // xorshift: cancel about half of them, some at once, some after a yield.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if rng % 4 == 0 {
                thread::yield_now();
            }
            if rng % 2 == 0 {
                fut.request_cancel();
            }
        }
        futures.extend(batch);
    }
    let (mut values, mut cancelled) = (0u64, 0u64);
    for (i, fut) in &futures {
        assert!(fut.wait_timeout(HANG), "job {i} hangs");
        match fut.result() {
            Ok(v) => {
                assert_eq!(v, *i);
                values += 1;
            }
            Err(FutureError::Cancelled) => cancelled += 1,
            other => panic!("job {i}: {other:?}"),
        }
    }
    assert_eq!(values + cancelled, JOBS);
    assert!(
        values > 0 && cancelled > 0,
        "{values} values, {cancelled} cancelled"
    );
    assert_eq!(
        pool.submit(echo, (7,)).join(),
        Ok(7),
        "the pool still works"
    );
    pool.shutdown(true, false);
    let m = pool.metrics();
    assert_eq!(
        m.completed + m.cancelled + m.stopped + m.killed,
        JOBS + 1,
        "every job counted once: {m:?}"
    );
    assert_eq!(m.worker_died, 0, "{m:?}");
}
