//! `ThreadPoolExecutor::metrics`: gauges (threads, idle, queued, running, waiting submits) and
//! counters (completed, panicked, cancelled, stolen, threads spawned and retired).

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use common::{Gate, HANG, OpenOnDrop, eventually, hold_workers, submit_held_with};
use poolbridge::{PoolMetrics, ThreadPoolExecutor};

#[test]
fn a_new_pool_reports_nothing() {
    let pool = ThreadPoolExecutor::new(4);
    assert_eq!(pool.metrics(), PoolMetrics::default());
}

#[test]
fn gauges_follow_running_and_queued_jobs() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = OpenOnDrop(Gate::new());
    let held = hold_workers(&pool, &gate, 2, ());
    let queued: Vec<_> = (0..3).map(|i| pool.submit(move || i)).collect();
    let m = pool.metrics();
    assert_eq!(
        (m.threads, m.idle, m.running, m.queued),
        (2, 0, 2, 3),
        "{m:?}"
    );
    assert_eq!(m.spawned, 2);

    gate.open();
    held.iter().for_each(|f| f.wait());
    queued.iter().for_each(|f| f.wait());
    assert!(eventually(|| {
        let m = pool.metrics();
        m.running == 0 && m.queued == 0 && m.idle == 2
    }));
    assert_eq!(pool.metrics().completed, 5);
}

#[test]
fn counters_tell_how_jobs_ended() {
    let pool = ThreadPoolExecutor::new(1);
    pool.submit(|| 1).join().unwrap();
    pool.submit(|| -> u32 { panic!("counted") }).wait();
    // A job's own `Err` is a value: completed.
    let _ = pool.submit(|| Err::<u32, String>("no".into())).join();

    // Cancelled before it started: counted when the worker drops its entry.
    let gate = Gate::new();
    let blocker = submit_held_with(&pool, &gate, || ());
    let cancelled = pool.submit(|| ());
    assert!(cancelled.cancel());
    // Stopped while running, after seeing the request.
    let gate2 = Gate::new();
    gate.open();
    blocker.wait();
    let stopping = submit_held_with(&pool, &gate2, poolbridge::cancelled);
    assert!(stopping.request_cancel());
    gate2.open();
    stopping.wait();

    assert!(eventually(|| pool.metrics().cancelled == 2));
    let m = pool.metrics();
    assert_eq!((m.completed, m.panicked, m.cancelled), (3, 1, 2), "{m:?}");
}

#[test]
fn shutdown_with_cancel_futures_counts_the_cancelled_jobs() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = OpenOnDrop(Gate::new());
    let _held = hold_workers(&pool, &gate, 1, ());
    let queued: Vec<_> = (0..4).map(|_| pool.submit(|| ())).collect();
    pool.shutdown(false, true);
    assert!(queued.iter().all(|f| f.cancelled()));
    gate.open();
    pool.shutdown(true, false);
    let m = pool.metrics();
    assert_eq!((m.cancelled, m.completed), (4, 1), "{m:?}");
}

#[test]
fn stolen_jobs_are_counted() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let gate = OpenOnDrop(Gate::new());
    // Start both workers, then free them.
    let _warm = hold_workers(&pool, &gate, 2, ());
    gate.open();
    assert!(eventually(|| pool.metrics().idle == 2));

    let inner = Arc::clone(&pool);
    let (ran_tx, ran) = mpsc::channel();
    let parent = pool.submit(move || {
        // Pushed to this worker's own deque; this worker waits without running it, so only
        // the other worker can take it, by stealing.
        let _child = inner.submit(move || ran_tx.send(()).unwrap());
        ran.recv_timeout(HANG).expect("nobody stole the sub-job");
    });
    parent.join().unwrap();
    assert!(pool.metrics().stolen >= 1);
}

#[test]
fn threads_spawned_and_retired_are_counted() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .keep_alive(Some(Duration::from_millis(10)))
        .build()
        .unwrap();
    let gate = OpenOnDrop(Gate::new());
    let _held = hold_workers(&pool, &gate, 2, ());
    gate.open();
    assert!(eventually(|| pool.metrics().threads == 0));
    let m = pool.metrics();
    assert_eq!((m.spawned, m.retired), (2, 2), "{m:?}");
    pool.submit(|| ()).join().unwrap();
    assert_eq!(pool.metrics().spawned, 3);
}

#[test]
fn metrics_are_debug_and_clone() {
    let pool = ThreadPoolExecutor::new(1);
    pool.submit(|| ()).join().unwrap();
    let m = pool.metrics();
    let copy = m.clone();
    assert_eq!(m, copy);
    let shown = format!("{m:?}");
    for field in [
        "threads",
        "idle",
        "queued",
        "running",
        "completed",
        "panicked",
        "cancelled",
    ] {
        assert!(shown.contains(field), "{shown}");
    }
}
