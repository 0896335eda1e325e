//! `wait` and `wait_timeout` with `FirstCompleted`, `FirstException` and `AllCompleted`, after
//! CPython's `test_concurrent_futures` `WaitTests`; plus duplicates kept once, the accepted input
//! shapes (`&Vec`, `Vec`, iterators of references, `HashMap` keys) and empty input.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{Gate, HANG, done_futures, submit_gated, submit_gated_with, submit_held};
use poolbridge::{
    DoneAndNotDone, FutureError, PoolFuture, ReturnWhen, ThreadPoolExecutor, wait, wait_timeout,
};

/// How long to give a waiter that must stay blocked; the assertions hold whatever the timing.
const SHORT: Duration = Duration::from_millis(50);

/// Asserts that `result` splits into exactly these futures (as sets, each listed once).
fn assert_split(
    result: &DoneAndNotDone<&PoolFuture<i32>>,
    done: &[&PoolFuture<i32>],
    not_done: &[&PoolFuture<i32>],
) {
    let as_set =
        |fs: &[&PoolFuture<i32>]| fs.iter().map(|f| *f as *const _).collect::<HashSet<_>>();
    assert_eq!(
        as_set(&result.done),
        as_set(done),
        "done: got {:?}, expected {:?}",
        result.done,
        done
    );
    assert_eq!(
        as_set(&result.not_done),
        as_set(not_done),
        "not_done: got {:?}, expected {:?}",
        result.not_done,
        not_done
    );
    assert_eq!(
        result.done.len(),
        done.len(),
        "a future is listed twice in done"
    );
    assert_eq!(
        result.not_done.len(),
        not_done.len(),
        "a future is listed twice in not_done"
    );
}

/// Runs `wait(fs, return_when)` on another thread and reports its split on the channel.
fn spawn_wait<'scope, 'env>(
    scope: &'scope thread::Scope<'scope, 'env>,
    fs: Vec<&'env PoolFuture<i32>>,
    return_when: ReturnWhen,
) -> mpsc::Receiver<DoneAndNotDone<&'env PoolFuture<i32>>> {
    let (tx, rx) = mpsc::channel();
    scope.spawn(move || tx.send(wait(fs, return_when)).unwrap());
    rx
}

// CPython's test_20369: the same future twice is kept once.
#[test]
fn duplicate_futures_are_kept_once() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(|| 2);
    let result = wait([&fut, &fut], ReturnWhen::AllCompleted);
    assert_split(&result, &[&fut], &[]);

    let gate = Gate::new();
    let held = submit_gated(&pool, &gate, 0);
    let result = wait_timeout([&held, &fut, &held], SHORT, ReturnWhen::AllCompleted);
    assert_split(&result, &[&fut], &[&held]);
    gate.open();
}

// CPython's test_first_completed.
#[test]
fn first_completed() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let quick = pool.submit(|| 21 * 2);
    let held = submit_gated(&pool, &gate, 0);

    let result = wait([&quick, &held], ReturnWhen::FirstCompleted);
    assert_split(&result, &[&quick], &[&held]);
    gate.open();
}

// CPython's test_first_completed_some_already_completed.
#[test]
fn first_completed_some_already_completed() {
    let done = done_futures();
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let held = submit_gated(&pool, &gate, 0);

    let result = wait(
        [&done.cancelled, &done.successful, &held],
        ReturnWhen::FirstCompleted,
    );
    assert_split(&result, &[&done.cancelled, &done.successful], &[&held]);
    gate.open();
}

#[test]
fn first_completed_blocks_until_one_completes() {
    let pool = ThreadPoolExecutor::new(2);
    let (gate_a, gate_b) = (Gate::new(), Gate::new());
    let a = submit_gated(&pool, &gate_a, 1);
    let b = submit_gated(&pool, &gate_b, 2);
    thread::scope(|scope| {
        let rx = spawn_wait(scope, vec![&a, &b], ReturnWhen::FirstCompleted);
        thread::sleep(SHORT);
        assert!(
            rx.try_recv().is_err(),
            "wait returned while nothing was done"
        );
        gate_a.open();
        let result = rx.recv_timeout(HANG).expect("wait was not woken");
        assert_split(&result, &[&a], &[&b]);
        gate_b.open();
    });
}

#[test]
fn first_completed_is_woken_by_a_cancellation() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let running = submit_held(&pool, &gate, 1);
    let queued = pool.submit(|| 2);
    thread::scope(|scope| {
        let rx = spawn_wait(scope, vec![&running, &queued], ReturnWhen::FirstCompleted);
        thread::sleep(SHORT);
        assert!(queued.cancel());
        let result = rx.recv_timeout(HANG).expect("wait was not woken by cancel");
        assert_split(&result, &[&queued], &[&running]);
    });
    gate.open();
}

// CPython's test_first_exception: future2 fails only after future1 has finished.
#[test]
fn first_exception() {
    let pool = ThreadPoolExecutor::new(3);
    let (event1, event2) = (Gate::new(), Gate::new());
    let future1 = pool.submit(|| 2 * 21);
    let future2 = submit_gated_with(&pool, &event1, || -> i32 { panic!("wait_and_raise") });
    let future3 = submit_gated(&pool, &event2, 0);

    thread::scope(|scope| {
        scope.spawn(|| {
            future1.result().unwrap();
            event1.open();
        });
        let result = wait([&future1, &future2, &future3], ReturnWhen::FirstException);
        assert_split(&result, &[&future1, &future2], &[&future3]);
    });
    event2.open();
}

// CPython's test_first_exception_some_already_complete: cancellations and values are not
// exceptions, so the wait goes on until the panic.
#[test]
fn first_exception_some_already_complete() {
    let done = done_futures();
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let future1 = pool.submit(|| -> i32 { panic!("divmod(21, 0)") });
    let future2 = submit_gated(&pool, &gate, 0);

    let result = wait(
        [&done.successful, &done.cancelled, &future1, &future2],
        ReturnWhen::FirstException,
    );
    assert_split(
        &result,
        &[&done.successful, &done.cancelled, &future1],
        &[&future2],
    );
    gate.open();
}

// CPython's test_first_exception_one_already_failed.
#[test]
fn first_exception_one_already_failed() {
    let done = done_futures();
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let held = submit_gated(&pool, &gate, 0);

    let result = wait([&done.failed, &held], ReturnWhen::FirstException);
    assert_split(&result, &[&done.failed], &[&held]);
    gate.open();
}

// A cancelled future is done but is not an exception: FirstException must keep waiting.
#[test]
fn first_exception_does_not_count_a_cancellation() {
    let done = done_futures();
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let held = submit_gated(&pool, &gate, 5);
    thread::scope(|scope| {
        let rx = spawn_wait(
            scope,
            vec![&done.cancelled, &done.successful, &held],
            ReturnWhen::FirstException,
        );
        thread::sleep(SHORT);
        assert!(
            rx.try_recv().is_err(),
            "FirstException returned without an exception while a future was pending"
        );
        gate.open();
        let result = rx.recv_timeout(HANG).expect("wait never returned");
        assert_split(&result, &[&done.cancelled, &done.successful, &held], &[]);
    });
}

// CPython's test_all_completed.
#[test]
fn all_completed() {
    let done = done_futures();
    let pool = ThreadPoolExecutor::new(2);
    let future1 = pool.submit(|| -> i32 { panic!("divmod(2, 0)") });
    let future2 = pool.submit(|| 2 * 21);

    let all = [
        &done.successful,
        &done.failed,
        &done.cancelled,
        &future1,
        &future2,
    ];
    let result = wait(all, ReturnWhen::AllCompleted);
    assert_split(&result, &all, &[]);
}

#[test]
fn all_completed_waits_for_the_last_one() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let quick = pool.submit(|| 1);
    let held = submit_gated(&pool, &gate, 2);
    thread::scope(|scope| {
        let rx = spawn_wait(scope, vec![&quick, &held], ReturnWhen::AllCompleted);
        thread::sleep(SHORT);
        assert!(rx.try_recv().is_err(), "AllCompleted returned early");
        gate.open();
        let result = rx.recv_timeout(HANG).expect("wait never returned");
        assert_split(&result, &[&quick, &held], &[]);
    });
}

// CPython's test_timeout; the timed-out job goes on and can still be collected.
#[test]
fn timeout() {
    let done = done_futures();
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let held = submit_gated(&pool, &gate, 7);

    let result = wait_timeout(
        [&done.cancelled, &done.failed, &done.successful, &held],
        SHORT,
        ReturnWhen::AllCompleted,
    );
    assert_split(
        &result,
        &[&done.cancelled, &done.failed, &done.successful],
        &[&held],
    );

    gate.open();
    assert_eq!(held.result_timeout(HANG), Ok(7));
}

#[test]
fn timeout_with_nothing_done_for_every_return_when() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let a = submit_gated(&pool, &gate, 1);
    let b = submit_gated(&pool, &gate, 2);
    for return_when in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        let result = wait_timeout([&a, &b], SHORT, return_when);
        assert_split(&result, &[], &[&a, &b]);
        let result = wait_timeout([&a, &b], Duration::ZERO, return_when);
        assert_split(&result, &[], &[&a, &b]);
    }
    gate.open();
}

#[test]
fn accepts_a_vec_by_reference_and_by_value() {
    let pool = ThreadPoolExecutor::new(2);
    let futures: Vec<PoolFuture<i32>> = (1..=4).map(|n| pool.submit(move || n * 10)).collect();

    let by_ref: DoneAndNotDone<&PoolFuture<i32>> = wait(&futures, ReturnWhen::AllCompleted);
    assert_eq!(by_ref.done.len(), 4);
    assert!(by_ref.not_done.is_empty());

    let by_value: DoneAndNotDone<PoolFuture<i32>> = wait(futures, ReturnWhen::AllCompleted);
    assert!(by_value.not_done.is_empty());
    let mut values: Vec<i32> = by_value
        .done
        .into_iter()
        .map(|f| f.join().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, [10, 20, 30, 40]);
}

#[test]
fn accepts_iterators_of_references_and_map_keys() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let futures: Vec<PoolFuture<i32>> = (0..4).map(|n| pool.submit(move || n)).collect();
    let held = submit_gated(&pool, &gate, -1);

    let filtered = wait(
        futures.iter().filter(|f| **f != futures[0]),
        ReturnWhen::AllCompleted,
    );
    assert_split(&filtered, &[&futures[1], &futures[2], &futures[3]], &[]);

    let chained = wait_timeout(
        futures.iter().chain(std::iter::once(&held)),
        SHORT,
        ReturnWhen::AllCompleted,
    );
    let all_done: Vec<&PoolFuture<i32>> = futures.iter().collect();
    assert_split(&chained, &all_done, &[&held]);

    let mut future_to_input = HashMap::new();
    for n in 0..3 {
        future_to_input.insert(pool.submit(move || n + 100), n);
    }
    let result = wait(future_to_input.keys(), ReturnWhen::AllCompleted);
    assert_eq!(result.done.len(), 3);
    for fut in result.done {
        assert_eq!(fut.result(), Ok(future_to_input[fut] + 100));
    }
    gate.open();
}

#[test]
fn empty_input_returns_at_once() {
    for return_when in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        let result = wait(Vec::<PoolFuture<i32>>::new(), return_when);
        assert!(result.done.is_empty() && result.not_done.is_empty());
        let result = wait_timeout(std::iter::empty::<&PoolFuture<i32>>(), HANG, return_when);
        assert!(result.done.is_empty() && result.not_done.is_empty());
    }
}

#[test]
fn wait_does_not_change_the_outcomes() {
    let done = done_futures();
    let all = [&done.successful, &done.failed, &done.cancelled];
    let result = wait(all, ReturnWhen::FirstException);
    assert_split(&result, &all, &[]);
    assert_eq!(done.successful.result(), Ok(42));
    assert!(done.failed.result().unwrap_err().is_panic());
    assert_eq!(done.cancelled.result(), Err(FutureError::Cancelled));
}
