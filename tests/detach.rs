//! Fire-and-forget without footguns (issue 13, items 1 and 13; issue 22, item 2): what tokio's
//! `spawn_blocking(f);` and Python's `executor.map(f, items)` do as statements, and what every
//! handle does when its value is thrown away.
//!
//! * `let _ = ...` on every handle type runs its job: `PoolFuture`, `JoinHandle`, and an
//!   `ExecutorFuture` or a `Map` that was never polled / iterated (asyncio and tokio run such
//!   work too);
//! * only a polled `ExecutorFuture` (under `timeout`, `select!`) or an iterated `Map` cancels
//!   its queued jobs when dropped; `.detach()` keeps them;
//! * `pool.map(f, items).detach()` runs every item without iterating (CPython's
//!   `test_map_submits_without_iteration`); with a `buffersize`, only the first buffer runs.
//!
//! Jobs are kept queued deterministically by holding every worker at a gate.

mod common;

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};

use common::{Gate, HANG, OpenOnDrop, busy_pool, eventually};
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

// `let _ =` on every handle type of a busy pool: every job runs once the pool is free.
#[test]
#[allow(clippy::let_underscore_future)] // what rustc's own help for an unused future suggests
fn let_underscore_runs_the_job_of_every_handle_type() {
    let (pool, gate) = busy_pool();
    let executor_futures = Arc::new(AtomicUsize::new(0));
    let into_futures = Arc::new(AtomicUsize::new(0));
    let pool_futures = Arc::new(AtomicUsize::new(0));
    let handles = Arc::new(AtomicUsize::new(0));
    let detached = Arc::new(AtomicUsize::new(0));
    let mapped = Arc::new(AtomicUsize::new(0));
    for _ in 0..JOBS {
        let _ = run_in_executor(Some(&pool), counting_job(&executor_futures), ());
        let _ = pool.submit(counting_job(&into_futures)).into_future();
        let _ = pool.submit(counting_job(&pool_futures));
        let _ = pool.spawn_blocking(counting_job(&handles));
        run_in_executor(Some(&pool), counting_job(&detached), ()).detach();
    }
    let counter = Arc::clone(&mapped);
    let _ = pool.map(
        move |_: usize| counter.fetch_add(1, Ordering::SeqCst),
        0..100,
    );
    gate.open();
    // A last job queued behind all the others: once it ran, every earlier job had its turn.
    let last = pool.submit(|| ());
    assert_eq!(last.result_timeout(HANG), Ok(()));
    for (what, ran) in [
        ("let _ = run_in_executor(..)", &executor_futures),
        ("let _ = pool.submit(..).into_future()", &into_futures),
        ("let _ = pool.submit(..)", &pool_futures),
        ("let _ = pool.spawn_blocking(..)", &handles),
        ("run_in_executor(..).detach()", &detached),
    ] {
        assert_eq!(ran.load(Ordering::SeqCst), JOBS, "{what}");
    }
    assert_eq!(mapped.load(Ordering::SeqCst), 100, "let _ = pool.map(..)");
}

// The program: 40 `let _ = to_thread(f)` on the default executor ran 0 of 40.
#[test]
#[allow(clippy::let_underscore_future)]
fn let_underscore_to_thread_runs_all_40_jobs() {
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..40 {
        let _ = to_thread(counting_job(&ran));
    }
    assert!(
        eventually(|| ran.load(Ordering::SeqCst) == 40),
        "{} of 40 `let _ = to_thread(f)` jobs ran",
        ran.load(Ordering::SeqCst)
    );
}

// The other side of the rule: a future that was polled, then dropped, cancels its queued job.
#[test]
fn a_polled_then_dropped_future_cancels_its_queued_job() {
    let (pool, gate) = busy_pool();
    let ran = Arc::new(AtomicUsize::new(0));
    let mut fut = run_in_executor(Some(&pool), counting_job(&ran), ());
    let state = {
        let (tx, rx) = std::sync::mpsc::channel();
        fut.pool_future()
            .add_done_callback(move |f| tx.send(f.state()).unwrap());
        rx
    };
    let poll = Pin::new(&mut fut).poll(&mut Context::from_waker(Waker::noop()));
    assert!(poll.is_pending());
    drop(fut);
    assert_eq!(state.try_recv(), Ok(FutureState::Cancelled));
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

// "Polled" belongs to the handle that was polled: a job that moves on to a new handle, after a
// poll of the old one, is not cancelled by the new handle's drop unless the new one is polled.
#[test]
fn a_polled_future_that_hands_its_job_on_does_not_cancel_it() {
    let (pool, gate) = busy_pool();
    let ran = Arc::new(AtomicUsize::new(0));
    let noop = &mut Context::from_waker(Waker::noop());
    // Polled, then detached: the `JoinHandle`'s drop lets the job run.
    let mut fut = run_in_executor(Some(&pool), counting_job(&ran), ());
    assert!(Pin::new(&mut fut).poll(noop).is_pending());
    drop(fut.detach());
    // Polled, then handed back as a `PoolFuture` and wrapped again, never polled: runs.
    let mut fut = run_in_executor(Some(&pool), counting_job(&ran), ());
    assert!(Pin::new(&mut fut).poll(noop).is_pending());
    drop(fut.into_pool_future().into_future());
    // Polled, handed back, wrapped again and polled: cancelled.
    let mut fut = run_in_executor(Some(&pool), counting_job(&ran), ());
    assert!(Pin::new(&mut fut).poll(noop).is_pending());
    let mut again = fut.into_pool_future().into_future();
    assert!(Pin::new(&mut again).poll(noop).is_pending());
    let (tx, state) = std::sync::mpsc::channel();
    again
        .pool_future()
        .add_done_callback(move |f| tx.send(f.state()).unwrap());
    drop(again);
    assert_eq!(state.try_recv(), Ok(FutureState::Cancelled));
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 2);
}

// One word per handle: a burst keeps an `ExecutorFuture` per queued job.
#[test]
fn an_executor_future_is_two_words() {
    assert_eq!(
        std::mem::size_of::<poolbridge::ExecutorFuture<u64>>(),
        2 * std::mem::size_of::<usize>()
    );
    assert_eq!(
        std::mem::size_of::<poolbridge::JoinHandle<u64>>(),
        2 * std::mem::size_of::<usize>()
    );
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
fn an_iterated_map_cancels_its_queued_items_when_dropped_a_detached_one_does_not() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = OpenOnDrop(Gate::new());
    let dropped = Arc::new(AtomicUsize::new(0));
    let detached = Arc::new(AtomicUsize::new(0));
    let (counter, held) = (Arc::clone(&dropped), gate.clone());
    let mut map = pool.map(
        move |i: u32| {
            if i > 0 {
                held.wait(); // item 1 holds the only worker: items 2.. stay queued
            }
            counter.fetch_add(1, Ordering::SeqCst)
        },
        0..10,
    );
    assert_eq!(map.next(), Some(Ok(0))); // iterated
    drop(map);
    gate.open();
    let counter = Arc::clone(&detached);
    let futures = pool
        .map(move |_: u32| counter.fetch_add(1, Ordering::SeqCst), 0..10)
        .detach();
    let outcome = wait_timeout(&futures, HANG, ReturnWhen::AllCompleted);
    assert!(outcome.not_done.is_empty());
    pool.shutdown(true, false);
    let ran = dropped.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&ran),
        "an iterated, dropped map ran {ran} items: its queued ones were not cancelled"
    );
    assert_eq!(detached.load(Ordering::SeqCst), 10);
}

#[test]
#[allow(clippy::let_underscore_future)]
fn a_buffered_map_never_iterated_runs_its_first_buffer_only() {
    let (pool, gate) = busy_pool();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let _ = pool.map_with(
        move |_: u64| counter.fetch_add(1, Ordering::SeqCst),
        0..,
        MapOptions::default().buffersize(3),
    );
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        3,
        "documented: the first buffer"
    );
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
