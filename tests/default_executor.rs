//! The process-wide default executor behind `run_in_executor(None, ..)` and `to_thread`.
//!
//! The default is global state, so this binary holds a single test that walks through its life
//! in order:
//! 1. built on first use: `None` jobs run on threads named `DEFAULT_THREAD_NAME_PREFIX_{i}`, and
//!    `default_max_workers()` of them can run at once;
//! 2. `set_default_executor` replaces it: later `None` jobs (and `to_thread`) run on the new pool
//!    (checked by thread name and by its worker limit), while a job of the old default finishes;
//! 3. `shutdown_default_executor()` waits for the default's jobs, running and queued;
//! 4. afterwards `run_in_executor(None, ..)` and `to_thread` resolve to
//!    `Err(FutureError::Shutdown)` without running (the closure is dropped unrun), and a second
//!    shutdown is a no-op;
//! 5. `set_default_executor` after a shutdown installs a working default again (documented);
//! 6. `shutdown_default_executor` from one of its own jobs returns at once;
//! 7. `default_executor()` hands sync code a handle that does not own the default: dropping it
//!    or installing it again shuts nothing down, and a replaced or shut-down default refuses jobs.
//!
//! The whole walk runs under a watchdog, so a shutdown that never returns fails instead of
//! hanging.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, Gate, HANG, run_with_watchdog, thread_name};
use futures::executor::block_on;
use poolbridge::thread::DEFAULT_THREAD_NAME_PREFIX;
use poolbridge::{
    FutureError, ThreadPoolExecutor, default_executor, default_max_workers, run_in_executor,
    set_default_executor, shutdown_default_executor, spawn_blocking, to_thread,
};

/// Runs `n` jobs on the default executor that each wait until all `n` have started; returns the
/// names of their threads. Fails (after `HANG`) if fewer than `n` can run at once.
fn all_at_once(n: usize) -> Vec<String> {
    let arrived = Arc::new(AtomicUsize::new(0));
    let futs: Vec<_> = (0..n)
        .map(|_| {
            let arrived = Arc::clone(&arrived);
            run_in_executor(
                None,
                move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let deadline = Instant::now() + HANG;
                    while arrived.load(Ordering::SeqCst) < n {
                        assert!(
                            Instant::now() < deadline,
                            "only {} of {n} default jobs ran at once",
                            arrived.load(Ordering::SeqCst)
                        );
                        thread::sleep(Duration::from_millis(1));
                    }
                    thread_name()
                },
                (),
            )
        })
        .collect();
    block_on(futures::future::join_all(futs))
        .into_iter()
        .map(|r| r.expect("a default job failed"))
        .collect()
}

/// Runs `n` jobs of `hold` each on the default executor; returns the most that ran at once and
/// the names of their threads.
fn max_concurrency(n: usize, hold: Duration) -> (usize, HashSet<String>) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let futs: Vec<_> = (0..n)
        .map(|_| {
            let (in_flight, max) = (Arc::clone(&in_flight), Arc::clone(&max));
            run_in_executor(
                None,
                move |hold: Duration| {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(hold);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    thread_name()
                },
                (hold,),
            )
        })
        .collect();
    let names = block_on(futures::future::join_all(futs))
        .into_iter()
        .map(|r| r.expect("a default job failed"))
        .collect();
    (max.load(Ordering::SeqCst), names)
}

#[test]
fn default_executor_lifecycle() {
    run_with_watchdog(4 * HANG, "the default executor walk hung", lifecycle);
}

fn lifecycle() {
    // 1. Built on first use, with named threads and default_max_workers() of them.
    let default_prefix = format!("{DEFAULT_THREAD_NAME_PREFIX}_");
    let name = block_on(run_in_executor(None, thread_name, ())).unwrap();
    assert!(
        name.starts_with(&default_prefix),
        "a None job ran on {name:?}"
    );
    let name = block_on(to_thread(thread_name)).unwrap();
    assert!(
        name.starts_with(&default_prefix),
        "a to_thread job ran on {name:?}"
    );

    let workers = default_max_workers();
    let expected_workers = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_add(4)
        .min(32);
    assert_eq!(
        workers, expected_workers,
        "min(32, available_parallelism + 4)"
    );
    let names = all_at_once(workers);
    let distinct: HashSet<_> = names.iter().collect();
    assert_eq!(distinct.len(), workers, "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with(&default_prefix)),
        "{names:?}"
    );

    // 2. set_default_executor: later None jobs run on the new pool; a job of the old default
    //    still finishes.
    let gate = Gate::new();
    let (started_tx, started_rx) = mpsc::channel();
    let old_gate = gate.clone();
    let old_job = run_in_executor(
        None,
        move || {
            started_tx.send(()).unwrap();
            old_gate.wait();
            thread_name()
        },
        (),
    );
    started_rx.recv_timeout(HANG).unwrap();

    let custom = ThreadPoolExecutor::builder()
        .thread_name_prefix("custom")
        .max_workers(3)
        .build()
        .unwrap();
    set_default_executor(custom);

    let name = block_on(run_in_executor(None, thread_name, ())).unwrap();
    assert!(
        name.starts_with("custom_"),
        "a None job after set_default_executor ran on {name:?}"
    );
    let name = block_on(to_thread(thread_name)).unwrap();
    assert!(
        name.starts_with("custom_"),
        "a to_thread job after set_default_executor ran on {name:?}"
    );
    let (max, names) = max_concurrency(9, Duration::from_millis(20));
    assert!(max <= 3, "{max} jobs ran at once on a default of 3 workers");
    assert!(names.iter().all(|n| n.starts_with("custom_")), "{names:?}");

    gate.open();
    let name = block_on(old_job).expect("the old default's job was not run to completion");
    assert!(name.starts_with(&default_prefix), "{name:?}");

    // 3. shutdown_default_executor waits for the default's jobs: three running, two queued.
    let finished = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel();
    let jobs: Vec<_> = (0..5)
        .map(|i| {
            let (finished, started_tx) = (Arc::clone(&finished), started_tx.clone());
            run_in_executor(
                None,
                move |i: usize| {
                    let _ = started_tx.send(());
                    thread::sleep(Duration::from_millis(100));
                    finished.fetch_add(1, Ordering::SeqCst);
                    i
                },
                (i,),
            )
        })
        .collect();
    for _ in 0..3 {
        started_rx.recv_timeout(HANG).unwrap();
    }
    shutdown_default_executor();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        5,
        "shutdown_default_executor returned before the default's jobs finished"
    );
    let results = block_on(futures::future::join_all(jobs));
    assert_eq!(results, (0..5).map(Ok).collect::<Vec<_>>());

    // 4. Afterwards None jobs and to_thread are refused, unrun.
    let counter = DropCounter::new();
    let tracked = counter.track();
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = Arc::clone(&ran);
    let refused = run_in_executor(
        None,
        move |t: common::Tracked| {
            drop(t);
            ran2.fetch_add(1, Ordering::SeqCst);
        },
        (tracked,),
    );
    assert_eq!(block_on(refused), Err(FutureError::Shutdown));
    assert_eq!(
        counter.dropped(),
        1,
        "the refused job's argument was not dropped"
    );
    assert_eq!(block_on(to_thread(|| 1)), Err(FutureError::Shutdown));
    assert!(matches!(
        block_on(run_in_executor(
            None,
            std::fs::read_to_string,
            ("Cargo.toml",)
        )),
        Err(FutureError::Shutdown)
    ));
    shutdown_default_executor(); // idempotent
    assert_eq!(block_on(to_thread(|| 2)), Err(FutureError::Shutdown));
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "a job ran on a shut-down default"
    );

    // 5. set_default_executor after a shutdown installs a working default again.
    set_default_executor(
        ThreadPoolExecutor::builder()
            .thread_name_prefix("again")
            .max_workers(1)
            .build()
            .unwrap(),
    );
    let name = block_on(to_thread(thread_name)).unwrap();
    assert!(name.starts_with("again_"), "{name:?}");
    shutdown_default_executor();
    assert_eq!(block_on(to_thread(|| 3)), Err(FutureError::Shutdown));

    // 6. Called from one of the default executor's own jobs, shutdown_default_executor cannot
    //    wait (another job may be waiting on the caller's): it returns at once, as its doc says,
    //    and the other default jobs still finish.
    set_default_executor(
        ThreadPoolExecutor::builder()
            .thread_name_prefix("inner")
            .max_workers(2)
            .build()
            .unwrap(),
    );
    let gate = Gate::new();
    let (started_tx, started_rx) = mpsc::channel();
    let slow_gate = gate.clone();
    let slow = run_in_executor(
        None,
        move || {
            started_tx.send(()).unwrap();
            slow_gate.wait();
            "slow"
        },
        (),
    );
    started_rx.recv_timeout(HANG).unwrap();
    let shutter = to_thread(|| {
        shutdown_default_executor();
        "returned"
    });
    assert_eq!(
        block_on(shutter),
        Ok("returned"),
        "shutdown_default_executor from a default job waited for the other job"
    );
    assert_eq!(block_on(to_thread(|| 4)), Err(FutureError::Shutdown));
    gate.open();
    assert_eq!(
        block_on(slow),
        Ok("slow"),
        "the other default job did not finish"
    );

    // 7. default_executor(): a handle for sync code (issue 13, item 7). On a shut-down default
    //    it refuses, like the default does.
    let handle = default_executor();
    assert!(handle.is_shutdown());
    assert_eq!(handle.submit(|| 1).join(), Err(FutureError::Shutdown));
    assert_eq!(block_on(spawn_blocking(|| 1)), Err(FutureError::Shutdown));
    set_default_executor(
        ThreadPoolExecutor::builder()
            .thread_name_prefix("handle")
            .max_workers(2)
            .build()
            .unwrap(),
    );
    let handle = default_executor();
    let fut = handle.submit(thread_name); // a PoolFuture, from sync code
    assert!(fut.join().unwrap().starts_with("handle_"));
    drop(handle);
    let name = block_on(to_thread(thread_name)).unwrap();
    assert!(
        name.starts_with("handle_"),
        "dropping the handle shut the default down: {name:?}"
    );
    set_default_executor(default_executor()); // the current default again: changes nothing
    let name = block_on(spawn_blocking(thread_name)).unwrap();
    assert!(name.starts_with("handle_"), "{name:?}");
    let old = default_executor();
    set_default_executor(
        ThreadPoolExecutor::builder()
            .thread_name_prefix("next")
            .build()
            .unwrap(),
    );
    assert!(old.is_shutdown(), "a replaced default is shut down");
    assert_eq!(old.submit(|| 1).join(), Err(FutureError::Shutdown));
    let name = block_on(spawn_blocking(thread_name)).unwrap();
    assert!(name.starts_with("next_"), "{name:?}");
    shutdown_default_executor();
}
