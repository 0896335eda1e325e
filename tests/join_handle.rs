//! `spawn_blocking` and its `JoinHandle` (issue 13, items 2 and 8): tokio's shape and drop
//! semantics, and a non-panicking `is_finished` on both awaitables.
//!
//! * dropping a `JoinHandle` detaches: the job runs and its value is dropped once;
//! * `cancel` (tokio's `abort`) cancels a queued job, and awaiting then gives `Cancelled`; it
//!   cannot stop a running job, whose outcome the handle still gives;
//! * `is_finished` follows the job and never panics, also after a `select!` on `&mut handle` took
//!   the outcome (where `ExecutorFuture::pool_future` panics, as documented);
//! * it needs no runtime: usable from plain threads.

mod common;

use std::sync::mpsc;

use common::{DropCounter, Gate, HANG, busy_pool, current_thread_runtime, eventually};
use poolbridge::{
    ExecutorFuture, FutureError, FutureState, JoinHandle, ThreadPoolExecutor, spawn_blocking,
    to_thread,
};

const fn assert_send_unpin<T: Send + Unpin>() {}
const _: () = assert_send_unpin::<JoinHandle<u8>>();
const _: () = assert_send_unpin::<JoinHandle<std::cell::Cell<u8>>>();

#[test]
fn a_dropped_handle_detaches_and_the_value_is_dropped_once() {
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let tracked = counter.track();
    let (ran_tx, ran_rx) = mpsc::channel();
    let handle = pool.spawn_blocking(move || {
        ran_tx.send(()).unwrap();
        tracked
    });
    assert_eq!(
        handle.into_pool_future().unwrap().state(),
        FutureState::Pending
    );
    // (into_pool_future consumed that one; do it again with a plain drop.)
    let tracked = counter.track();
    let handle = pool.spawn_blocking(move || tracked);
    drop(handle);
    gate.open();
    ran_rx
        .recv_timeout(HANG)
        .expect("the detached job did not run");
    counter.wait_all_dropped();
    assert_eq!(counter.created(), 2);
}

#[test]
fn cancel_is_tokios_abort_for_a_queued_job() {
    let rt = current_thread_runtime();
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let tracked = counter.track();
    let handle = pool.spawn_blocking(move || drop(tracked));
    assert!(!handle.is_finished());
    assert!(handle.cancel());
    assert!(handle.is_finished(), "a cancelled job is finished");
    assert_eq!(
        counter.dropped(),
        1,
        "the closure is dropped unrun at cancel"
    );
    let outcome = rt.block_on(handle);
    assert!(outcome.as_ref().unwrap_err().is_cancelled(), "{outcome:?}");
    drop(gate);
}

#[test]
fn cancel_cannot_stop_a_running_job() {
    let rt = current_thread_runtime();
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let (started_tx, started_rx) = mpsc::channel();
    let job_gate = gate.clone();
    let handle = pool.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        job_gate.wait();
        "finished anyway"
    });
    started_rx.recv_timeout(HANG).unwrap();
    assert!(!handle.cancel(), "a running job cannot be cancelled");
    gate.open();
    assert_eq!(rt.block_on(handle), Ok("finished anyway"));
}

#[test]
fn is_finished_never_panics_after_select_took_the_outcome() {
    let rt = current_thread_runtime();
    rt.block_on(async {
        let mut handle = spawn_blocking(|| 1);
        let mut fut = to_thread(|| 2);
        tokio::select! {
            v = &mut handle => assert_eq!(v, Ok(1)),
            () = std::future::pending() => unreachable!(),
        }
        tokio::select! {
            v = &mut fut => assert_eq!(v, Ok(2)),
            () = std::future::pending() => unreachable!(),
        }
        // Both completed inside `select!`, which took their outcomes.
        assert!(handle.is_finished());
        assert!(fut.is_finished());
        assert!(handle.into_pool_future().is_none(), "the outcome was taken");
        // `pool_future` on a completed ExecutorFuture is the documented panic.
        let taken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = fut.pool_future();
        }));
        assert!(taken.is_err());
    });
}

#[test]
fn is_finished_follows_the_job() {
    let (pool, gate) = busy_pool();
    let fut: ExecutorFuture<u8> = poolbridge::run_in_executor(Some(&pool), || 3, ());
    let handle = pool.spawn_blocking(|| 4);
    assert!(!fut.is_finished());
    assert!(!handle.is_finished());
    gate.open();
    assert!(eventually(|| fut.is_finished() && handle.is_finished()));
    let rt = current_thread_runtime();
    assert_eq!(rt.block_on(fut), Ok(3));
    assert_eq!(rt.block_on(handle), Ok(4));
}

#[test]
fn spawn_blocking_needs_no_runtime() {
    let handle = spawn_blocking(|| std::thread::current().name().map(str::to_owned));
    let name = handle.into_pool_future().unwrap().join().unwrap().unwrap();
    assert!(
        name.starts_with(poolbridge::thread::DEFAULT_THREAD_NAME_PREFIX),
        "{name}"
    );
    // And a panic comes back as the error, with its payload.
    let handle = spawn_blocking(|| -> u8 { panic!("from the job") });
    let err = futures::executor::block_on(handle).unwrap_err();
    assert!(err.is_panic());
    assert_eq!(
        err.into_panic().downcast_ref::<&str>(),
        Some(&"from the job")
    );
}

#[test]
fn a_shut_down_pool_gives_shutdown() {
    let pool = ThreadPoolExecutor::new(1);
    pool.shutdown(true, false);
    let handle = pool.spawn_blocking(|| 1);
    assert!(handle.is_finished());
    assert_eq!(
        futures::executor::block_on(handle),
        Err(FutureError::Shutdown)
    );
}
