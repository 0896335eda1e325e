//! `Promise`: a `PoolFuture` completed by hand (CPython's bare `Future()` with `set_result`):
//! the same states, waits, callbacks and `.await` as a pool's futures, mixable with them.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{HANG, current_thread_runtime};
use poolbridge::{
    BrokenReason, FutureError, FutureState, Promise, ReturnWhen, ThreadPoolExecutor, as_completed,
    as_completed_timeout, wait, wait_timeout,
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
        .set_error(FutureError::BrokenPool(BrokenReason::Disconnected(
            "remote side hung up".into(),
        )))
        .unwrap();
    assert_eq!(
        fut.exception(),
        Some(FutureError::BrokenPool(BrokenReason::Disconnected(
            "remote side hung up".into()
        )))
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
        Err(FutureError::BrokenPool(reason)) => {
            assert!(matches!(reason, BrokenReason::Abandoned(_)), "{reason:?}");
            assert!(reason.to_string().contains("Promise"), "{reason}");
        }
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
    // Dropping the awaitable of a pending promise after a poll (a timeout) cancels it, as for a
    // queued job; dropping one never polled does not.
    let (promise, fut) = Promise::<u8>::new();
    let timed_out =
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(1), fut).await });
    assert!(timed_out.is_err());
    assert!(promise.is_cancelled());
    let (promise, fut) = Promise::<u8>::new();
    drop(poolbridge::wrap_future(fut));
    assert!(!promise.is_cancelled());
}

const fn assert_send_sync<T: Send + Sync>() {}
const _: () = assert_send_sync::<Promise<std::cell::Cell<u8>>>();

// A blocking wait on a worker runs pending jobs of its own pool inline; a promise's future has no
// job and no pool, so the worker must simply wait for whoever sets it.
#[test]
fn a_pool_worker_waits_for_a_promise_without_running_anything() {
    let pool = ThreadPoolExecutor::new(1);
    let (promise, fut) = Promise::new();
    let waiter = pool.submit(move || {
        let outcome = fut.result();
        let all = wait([&fut], ReturnWhen::AllCompleted);
        (outcome, all.done.len())
    });
    thread::sleep(Duration::from_millis(20));
    assert!(!waiter.done());
    promise.set_result(9).unwrap();
    assert_eq!(waiter.result_timeout(HANG), Ok((Ok(9), 1)));
}

#[test]
fn a_runtime_inside_a_pool_job_can_await_a_promise() {
    let pool = ThreadPoolExecutor::new(1);
    let (promise, fut) = Promise::new();
    let waiter = pool.submit(move || current_thread_runtime().block_on(async { fut.await }));
    thread::sleep(Duration::from_millis(10));
    promise.set_result("from outside").unwrap();
    assert_eq!(waiter.result_timeout(HANG), Ok(Ok("from outside")));
}

// Callbacks run on the thread that completes the future, as in CPython.
#[test]
fn callbacks_run_on_the_setting_thread() {
    let (promise, fut) = Promise::new();
    let (tx, rx) = mpsc::channel();
    fut.add_done_callback(move |f| {
        tx.send((thread::current().name().map(str::to_owned), f.result()))
            .unwrap()
    });
    thread::Builder::new()
        .name("setter".into())
        .spawn(move || promise.set_result(3).unwrap())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(rx.recv_timeout(HANG), Ok((Some("setter".into()), Ok(3))));
}

// Chaining: a done callback of a pool job completes a promise (how a continuation is built).
#[test]
fn a_done_callback_can_complete_a_promise() {
    let pool = ThreadPoolExecutor::new(2);
    let (promise, doubled) = Promise::new();
    let source = pool.submit(|| 21);
    let promise = std::sync::Mutex::new(Some(promise));
    source.add_done_callback(move |f| {
        if let Some(promise) = promise.lock().unwrap().take() {
            let _ = promise.complete(f.result().map(|v| v * 2));
        }
    });
    assert_eq!(doubled.result_timeout(HANG), Ok(42));
}

#[test]
fn an_unset_promise_times_out_like_any_future() {
    let (_promise, fut) = Promise::<u8>::new();
    assert_eq!(
        fut.result_timeout(Duration::from_millis(10)),
        Err(FutureError::Timeout)
    );
    let mut items = as_completed_timeout([&fut], Duration::from_millis(10));
    assert!(matches!(items.next(), Some(Err(FutureError::Timeout))));
    assert!(items.next().is_none());
    assert!(!fut.done(), "a timed wait does not end the future");
}
