//! `ThreadPoolExecutor::shutdown_timeout`: a shutdown that waits at most a given time, returns
//! whether everything ended, and leaves the threads still running detached.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{Gate, HANG, OpenOnDrop, ThreadProbe, eventually, submit_held_with};
use poolbridge::{FutureError, ThreadPoolExecutor};

#[test]
fn returns_false_on_time_when_a_job_outlives_the_timeout() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = OpenOnDrop(Gate::new());
    let slow = submit_held_with(&pool, &gate, || "slow");
    let quick = pool.submit(|| "quick");
    let timeout = Duration::from_millis(100);
    let started = Instant::now();
    assert!(!pool.shutdown_timeout(timeout));
    let took = started.elapsed();
    assert!(
        took >= timeout,
        "returned after {took:?}, before its timeout"
    );
    // The held job only ends when the gate opens, which is after this check: the wait was
    // bounded by the timeout, not by the job (generous: a loaded machine may be slow to wake).
    assert!(
        took < timeout + Duration::from_secs(10),
        "returned after {took:?}"
    );
    assert_eq!(quick.result(), Ok("quick"));
    assert!(pool.is_shutdown());
    assert_eq!(pool.submit(|| "late").join(), Err(FutureError::Shutdown));

    // The detached thread finishes its job; dropping the executor does not wait for it.
    let (dropped_tx, dropped) = mpsc::channel();
    thread::spawn(move || {
        drop(pool);
        dropped_tx.send(()).unwrap();
    });
    dropped
        .recv_timeout(HANG)
        .expect("dropping the executor waited for the detached job");
    assert!(!slow.done());
    gate.open();
    assert_eq!(slow.result(), Ok("slow"));
}

#[test]
fn returns_true_when_everything_ends_in_time_and_joins_the_threads() {
    let probe = ThreadProbe::default();
    let pool = probe.pool(3);
    let futures: Vec<_> = (0..10u64)
        .map(|i| {
            pool.submit(move || {
                thread::sleep(Duration::from_millis(5));
                i
            })
        })
        .collect();
    assert!(pool.shutdown_timeout(HANG));
    assert!(
        futures.iter().all(|f| f.done()),
        "queued jobs ran before it returned"
    );
    assert_eq!(pool.num_threads(), 0);
    assert_eq!(probe.exited(), probe.started(), "every thread was joined");
    let sum: u64 = futures.into_iter().map(|f| f.join().unwrap()).sum();
    assert_eq!(sum, 45);
}

#[test]
fn an_idle_or_unused_pool_ends_at_once() {
    assert!(ThreadPoolExecutor::new(2).shutdown_timeout(Duration::from_secs(5)));
    let pool = ThreadPoolExecutor::new(2);
    pool.submit(|| ()).join().unwrap();
    let started = Instant::now();
    assert!(pool.shutdown_timeout(HANG));
    assert!(started.elapsed() < HANG);
    assert!(
        pool.shutdown_timeout(Duration::ZERO),
        "idempotent once everything ended"
    );
}

#[test]
fn from_inside_a_job_it_waits_for_the_other_jobs() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let other_done = Arc::new(AtomicBool::new(false));
    let other = {
        let other_done = Arc::clone(&other_done);
        pool.submit(move || {
            thread::sleep(Duration::from_millis(200));
            other_done.store(true, Ordering::SeqCst);
        })
    };
    let inner = Arc::clone(&pool);
    let seen = Arc::clone(&other_done);
    let caller = pool.submit(move || {
        let ended = inner.shutdown_timeout(HANG);
        (ended, seen.load(Ordering::SeqCst))
    });
    // It returned `true` once the other job ended, while its own job still ran.
    assert_eq!(caller.join(), Ok((true, true)));
    other.join().unwrap();
    assert!(eventually(|| pool.num_threads() == 0));
}

#[test]
fn from_inside_a_job_it_is_bounded_by_its_timeout() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let gate = OpenOnDrop(Gate::new());
    let _held = submit_held_with(&pool, &gate, || ());
    let inner = Arc::clone(&pool);
    let caller = pool.submit(move || {
        let started = Instant::now();
        (
            inner.shutdown_timeout(Duration::from_millis(50)),
            started.elapsed(),
        )
    });
    let (ended, took) = caller.join().unwrap();
    assert!(!ended, "the other job is held");
    assert!(took >= Duration::from_millis(50), "{took:?}");
    gate.open();
}
