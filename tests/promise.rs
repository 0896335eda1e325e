//! `Promise`: a `PoolFuture` completed by hand (CPython's bare `Future()` with `set_result`):
//! the same states, waits, callbacks and `.await` as a pool's futures, mixable with them.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{HANG, current_thread_runtime};
use poolbridge::{
    FutureError, FutureState, Promise, ReturnWhen, ThreadPoolExecutor, as_completed, wait,
    wait_timeout,
};

#[test]
fn set_result_wakes_waiters_and_runs_callbacks() {
    let (promise, fut) = Promise::new();
    assert_eq!(fut.state(), FutureState::Pending);
    let (tx, rx) = mpsc::channel();
    fut.add_done_callback(move |f| tx.send(f.result()).unwrap());
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        assert!(promise.set_running_or_notify_cancel());
        promise.set_result(String::from("set")).unwrap();
    });
    assert_eq!(fut.result_timeout(HANG), Ok(String::from("set")));
    assert_eq!(rx.recv_timeout(HANG), Ok(Ok(String::from("set"))));
    setter.join().unwrap();
    assert_eq!(fut.state(), FutureState::Finished);
    assert_eq!(fut.join(), Ok(String::from("set")));
}

#[test]
fn set_error_is_the_outcome_and_counts_as_an_exception() {
    let (promise, fut) = Promise::<u8>::new();
    promise
        .set_error(FutureError::BrokenPool("remote side hung up".into()))
        .unwrap();
    assert_eq!(
        fut.exception(),
        Some(FutureError::BrokenPool("remote side hung up".into()))
    );
    let outcome = wait([&fut], ReturnWhen::FirstException);
    assert_eq!(outcome.done.len(), 1);
}

#[test]
fn a_cancelled_promise_hands_the_value_back() {
    let (promise, fut) = Promise::new();
    assert!(fut.cancel());
    assert!(promise.is_cancelled());
    assert!(!promise.set_running_or_notify_cancel());
    assert_eq!(promise.set_result(5), Err(5));
    assert_eq!(fut.join(), Err(FutureError::Cancelled));
}

#[test]
fn a_running_promise_cannot_be_cancelled() {
    let (promise, fut) = Promise::new();
    assert!(promise.set_running_or_notify_cancel());
    assert!(
        promise.set_running_or_notify_cancel(),
        "again on a running future"
    );
    assert_eq!(fut.state(), FutureState::Running);
    assert!(!fut.cancel());
    promise.set_result(1).unwrap();
    assert_eq!(fut.join(), Ok(1));
}

#[test]
fn completing_with_cancelled_cancels_a_pending_future() {
    let (promise, fut) = Promise::<u8>::new();
    promise.complete(Err(FutureError::Cancelled)).unwrap();
    assert_eq!(fut.state(), FutureState::Cancelled);
    // Running, it finishes with that error instead: not a failure for FirstException.
    let (promise, fut) = Promise::<u8>::new();
    assert!(promise.set_running_or_notify_cancel());
    promise.complete(Err(FutureError::Cancelled)).unwrap();
    assert_eq!(fut.state(), FutureState::Finished);
    assert_eq!(fut.exception(), Some(FutureError::Cancelled));
    let (_promise, other) = Promise::<u8>::new();
    let short = Duration::from_millis(20);
    let outcome = wait_timeout([&fut, &other], short, ReturnWhen::FirstException);
    assert_eq!(
        outcome.done,
        [&fut],
        "a cancellation is not an exception: the wait goes on"
    );
    assert_eq!(outcome.not_done, [&other]);
}

#[test]
fn a_dropped_promise_ends_its_future_instead_of_hanging_it() {
    let (promise, fut) = Promise::<u8>::new();
    drop(promise);
    match fut.result_timeout(HANG) {
        Err(FutureError::BrokenPool(msg)) => assert!(msg.contains("Promise"), "{msg}"),
        other => panic!("expected BrokenPool, got {other:?}"),
    }
}

#[test]
fn promises_mix_with_pool_futures_in_wait_and_as_completed() {
    let pool = ThreadPoolExecutor::new(2);
    let (promise, manual) = Promise::new();
    let pooled = pool.submit(|| 2);
    let futures = [manual, pooled];
    assert_eq!(as_completed(&futures).next().unwrap().result(), Ok(2));
    promise.set_result(1).unwrap();
    let all = wait(&futures, ReturnWhen::AllCompleted);
    assert_eq!(all.done.len(), 2);
    let sum: i32 = as_completed(futures).map(|f| f.join().unwrap()).sum();
    assert_eq!(sum, 3);
}

#[test]
fn a_promise_can_be_awaited() {
    let rt = current_thread_runtime();
    let (promise, fut) = Promise::new();
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        promise.set_result("awaited").unwrap();
    });
    assert_eq!(rt.block_on(async { fut.await }), Ok("awaited"));
    setter.join().unwrap();
    // Dropping the awaitable of a pending promise cancels it, as for a queued job.
    let (promise, fut) = Promise::<u8>::new();
    drop(poolbridge::wrap_future(fut));
    assert!(promise.is_cancelled());
}
