//! `ThreadPoolExecutor::execute`: fire and forget, with no future behind the job. Every closure
//! runs exactly once or comes back to its submitter or is dropped unrun by a cancelling
//! shutdown — never lost, never twice (drop counters); a panic kills no worker and is counted;
//! the bound of `max_queued` holds; `shutdown(wait)` waits for detached jobs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use common::{DropCounter, Gate, HANG, OpenOnDrop, eventually};
use poolbridge::ThreadPoolExecutor;

#[test]
fn every_job_runs_exactly_once_from_outside_and_inside_the_pool() {
    let pool = Arc::new(ThreadPoolExecutor::new(4));
    let runs = Arc::new(AtomicUsize::new(0));
    let drops = DropCounter::new();
    for _ in 0..2_000 {
        let runs = Arc::clone(&runs);
        let inner_pool = Arc::clone(&pool);
        let tracked = drops.track();
        let inner_tracked = drops.track();
        pool.execute(move || {
            let _tracked = tracked;
            runs.fetch_add(1, Ordering::SeqCst);
            // From a worker: onto its own deque.
            let runs = Arc::clone(&runs);
            inner_pool
                .execute(move || {
                    let _tracked = inner_tracked;
                    runs.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
        })
        .unwrap();
    }
    assert!(eventually(|| runs.load(Ordering::SeqCst) == 4_000));
    drops.wait_all_dropped();
    assert_eq!(drops.created(), 4_000);
    let m = pool.metrics();
    assert!(
        eventually(|| pool.metrics().completed == 4_000),
        "completed: {}",
        m.completed
    );
}

#[test]
fn a_pool_that_is_shut_down_hands_the_closure_back() {
    let pool = ThreadPoolExecutor::new(2);
    pool.shutdown(true, false);
    let drops = DropCounter::new();
    let tracked = drops.track();
    let refused = pool
        .execute(move || {
            let _tracked = tracked;
        })
        .unwrap_err();
    assert!(refused.is_shutdown(), "{refused}");
    assert_eq!(drops.dropped(), 0, "the closure came back unrun and alive");
    let job = refused.into_inner();
    job();
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn shutdown_waits_for_detached_jobs() {
    let pool = ThreadPoolExecutor::new(2);
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..8 {
        let runs = Arc::clone(&runs);
        pool.execute(move || {
            thread::sleep(std::time::Duration::from_millis(20));
            runs.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    pool.shutdown(true, false);
    assert_eq!(runs.load(Ordering::SeqCst), 8);
}

#[test]
fn a_cancelling_shutdown_drops_queued_closures_unrun_once() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = OpenOnDrop(Gate::new());
    let (started, running) = mpsc::channel();
    let held = gate.0.clone();
    pool.execute(move || {
        started.send(()).unwrap();
        held.wait();
    })
    .unwrap();
    running.recv_timeout(HANG).unwrap();
    let drops = DropCounter::new();
    let runs = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let tracked = drops.track();
        let runs = Arc::clone(&runs);
        pool.execute(move || {
            let _tracked = tracked;
            runs.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    pool.shutdown(false, true);
    assert_eq!(drops.dropped(), 100, "every queued closure dropped at once");
    gate.0.open();
    pool.shutdown(true, false);
    assert_eq!(runs.load(Ordering::SeqCst), 0, "no cancelled job ran");
    assert_eq!(drops.dropped(), 100);
    assert_eq!(pool.metrics().cancelled, 100);
}

#[test]
fn a_panicking_job_kills_no_worker_and_is_counted() {
    let pool = ThreadPoolExecutor::new(1);
    pool.execute(|| panic!("detached job failed")).unwrap();
    pool.execute(|| std::panic::panic_any(common::BadDrop))
        .unwrap();
    let (tx, rx) = mpsc::channel();
    pool.execute(move || tx.send(thread::current().id()).unwrap())
        .unwrap();
    rx.recv_timeout(HANG).unwrap();
    assert!(eventually(|| pool.metrics().panicked == 2));
    assert_eq!(pool.metrics().threads, 1, "the worker survived both panics");
}

#[test]
fn execute_waits_for_room_in_a_bounded_queue() {
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .max_queued(2)
            .build()
            .unwrap(),
    );
    let gate = OpenOnDrop(Gate::new());
    let (started, running) = mpsc::channel();
    let held = gate.0.clone();
    pool.execute(move || {
        started.send(()).unwrap();
        held.wait();
    })
    .unwrap();
    running.recv_timeout(HANG).unwrap();
    pool.execute(|| ()).unwrap();
    pool.execute(|| ()).unwrap();
    // The queue is full: a third waits for room on its own thread.
    let (done_tx, done) = mpsc::channel();
    let submitter = {
        let pool = Arc::clone(&pool);
        thread::spawn(move || {
            pool.execute(|| ()).unwrap();
            done_tx.send(()).unwrap();
        })
    };
    assert!(eventually(|| pool.metrics().waiting_submits == 1));
    assert!(done.try_recv().is_err(), "execute went past the bound");
    gate.0.open();
    done.recv_timeout(HANG).unwrap();
    submitter.join().unwrap();
    pool.shutdown(true, false);
    assert_eq!(pool.metrics().completed, 4);
}

/// Submitters race a shutdown: each closure either ran, or came back in the error, or was
/// dropped unrun by the cancelling shutdown — exactly one of these, and dropped exactly once.
#[test]
fn racing_a_shutdown_loses_nothing_and_doubles_nothing() {
    for round in 0..20 {
        let pool = Arc::new(ThreadPoolExecutor::new(2));
        let drops = DropCounter::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let returned = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..3)
            .map(|_| {
                let pool = Arc::clone(&pool);
                let drops = drops.clone();
                let runs = Arc::clone(&runs);
                let returned = Arc::clone(&returned);
                thread::spawn(move || {
                    for _ in 0..500 {
                        let tracked = drops.track();
                        let runs = Arc::clone(&runs);
                        if let Err(err) = pool.execute(move || {
                            let _tracked = tracked;
                            runs.fetch_add(1, Ordering::SeqCst);
                        }) {
                            returned.fetch_add(1, Ordering::SeqCst);
                            drop(err.into_inner());
                        }
                    }
                })
            })
            .collect();
        thread::yield_now();
        pool.shutdown(false, round % 2 == 0);
        for s in submitters {
            s.join().unwrap();
        }
        pool.shutdown(true, false);
        drops.wait_all_dropped();
        let m = pool.metrics();
        let ran = runs.load(Ordering::SeqCst);
        let back = returned.load(Ordering::SeqCst);
        assert_eq!(
            ran + back + m.cancelled as usize,
            1_500,
            "round {round}: ran {ran}, returned {back}, cancelled {}",
            m.cancelled
        );
        assert_eq!(m.completed as usize, ran);
    }
}
