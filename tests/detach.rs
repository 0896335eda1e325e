//! Fire-and-forget without footguns (issue 13, items 1 and 13): what tokio's `spawn_blocking(f);`
//! and Python's `executor.map(f, items)` do as statements, and what the cancel-on-drop types do
//! when their value is thrown away.
//!
//! * `to_thread(f).detach()` and `spawn_blocking(f)` (handle dropped) run every job;
//! * `let _ = to_thread(f)` / `let _ = run_in_executor(..)` cancel jobs that have not started
//!   (the documented asyncio semantics), which on a busy pool is every one of them;
//! * `pool.map(f, items).detach()` runs every item without iterating (CPython's
//!   `test_map_submits_without_iteration`), while `let _ = pool.map(..)` cancels the queued ones.
//!
//! Jobs are kept queued deterministically by holding every worker at a gate.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{HANG, busy_pool, eventually, hold_every_worker};
use poolbridge::{
    FutureState, MapOptions, ReturnWhen, ThreadPoolExecutor, run_in_executor, spawn_blocking,
    to_thread, wait, wait_timeout,
};

const JOBS: usize = 20;

fn counting_job(counter: &Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
    let counter = Arc::clone(counter);
    move || {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn detached_to_thread_jobs_all_run() {
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..JOBS {
        to_thread(counting_job(&ran)).detach();
    }
    assert!(
        eventually(|| ran.load(Ordering::SeqCst) == JOBS),
        "{} of {JOBS} detached jobs ran",
        ran.load(Ordering::SeqCst)
    );
}

#[test]
fn dropped_spawn_blocking_handles_detach_as_in_tokio() {
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..JOBS {
        spawn_blocking(counting_job(&ran));
    }
    assert!(
        eventually(|| ran.load(Ordering::SeqCst) == JOBS),
        "{} of {JOBS} spawn_blocking jobs ran",
        ran.load(Ordering::SeqCst)
    );
}

// The contrast, on one busy pool: the documented cancel-on-drop of `let _ = run_in_executor(..)`
// against `.detach()` and a dropped `spawn_blocking` handle.
#[test]
#[allow(clippy::let_underscore_future)] // the footgun under test (clippy warns about it too)
fn let_underscore_cancels_queued_jobs_detach_keeps_them() {
    let (pool, gate) = busy_pool();
    let dropped = Arc::new(AtomicUsize::new(0));
    let detached = Arc::new(AtomicUsize::new(0));
    let handles = Arc::new(AtomicUsize::new(0));
    for _ in 0..JOBS {
        let _ = run_in_executor(Some(&pool), counting_job(&dropped), ());
        run_in_executor(Some(&pool), counting_job(&detached), ()).detach();
        drop(pool.spawn_blocking(counting_job(&handles)));
    }
    gate.open();
    // A last job queued behind all the others: once it ran, every earlier job had its turn.
    let last = pool.submit(|| ());
    assert_eq!(last.result_timeout(HANG), Ok(()));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        0,
        "`let _ = run_in_executor(..)` cancels the job (asyncio semantics, documented)"
    );
    assert_eq!(detached.load(Ordering::SeqCst), JOBS);
    assert_eq!(handles.load(Ordering::SeqCst), JOBS);
}

#[test]
fn a_detached_handle_can_still_be_awaited() {
    let handle = to_thread(|| 6 * 7).detach();
    assert_eq!(futures::executor::block_on(handle), Ok(42));
    // Detaching a future that already completed gives a finished handle, not a panic.
    let mut fut = to_thread(|| 1);
    assert_eq!(futures::executor::block_on(&mut fut), Ok(1));
    let handle = fut.detach();
    assert!(handle.is_finished());
    assert!(handle.into_pool_future().is_none());
}

// CPython's test_map_submits_without_iteration: `executor.map(f, items)` as a statement runs
// every item.
#[test]
fn a_detached_map_runs_every_item_without_iteration() {
    let pool = ThreadPoolExecutor::new(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let futures = pool
        .map(move |_: u32| counter.fetch_add(1, Ordering::SeqCst), 0..10)
        .detach();
    assert_eq!(futures.len(), 10);
    drop(futures); // dropping the plain futures cancels nothing
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 10);
}

#[test]
fn a_dropped_map_cancels_its_queued_items_a_detached_one_does_not() {
    let (pool, gate) = hold_every_worker(ThreadPoolExecutor::new(2));
    let dropped = Arc::new(AtomicUsize::new(0));
    let detached = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&dropped);
    let _ = pool.map(move |_: u32| counter.fetch_add(1, Ordering::SeqCst), 0..10);
    let counter = Arc::clone(&detached);
    let futures = pool
        .map(move |_: u32| counter.fetch_add(1, Ordering::SeqCst), 0..10)
        .detach();
    assert!(futures.iter().all(|f| f.state() == FutureState::Pending));
    gate.open();
    let outcome = wait_timeout(&futures, HANG, ReturnWhen::AllCompleted);
    assert!(outcome.not_done.is_empty());
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    assert_eq!(detached.load(Ordering::SeqCst), 10);
}

#[test]
fn a_detached_buffered_map_runs_only_what_it_submitted() {
    let (pool, gate) = busy_pool();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let futures = pool
        .map_with(
            move |_: u64| counter.fetch_add(1, Ordering::SeqCst),
            0..,
            MapOptions::default().buffersize(3),
        )
        .detach();
    assert_eq!(futures.len(), 3, "an infinite input is not pulled further");
    gate.open();
    wait(&futures, ReturnWhen::AllCompleted);
    assert_eq!(ran.load(Ordering::SeqCst), 3);
}
