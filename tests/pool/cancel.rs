//! `PoolFuture::cancel` in every state: a pending job is cancelled (its closure dropped unrun,
//! exactly once), a running or finished one is not, a cancelled one stays cancelled; cancelling
//! wakes every thread blocked on the future; `exception()` of a cancelled future.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{DropCounter, Gate, HANG, submit_held};
use poolbridge::{FutureError, FutureState, PoolFuture, ReturnWhen, ThreadPoolExecutor, wait};

/// A way of blocking on a future; returns whether it saw the cancellation.
type Waiter = Box<dyn Fn(&PoolFuture<i32>) -> bool + Send + Sync>;

/// A job that counts its runs and owns a tracked value, so its closure's drop is counted.
fn counted_job(
    runs: &Arc<AtomicUsize>,
    drops: &DropCounter,
    value: u32,
) -> impl FnOnce() -> u32 + Send + 'static {
    let runs = Arc::clone(runs);
    let tracked = drops.track();
    move || {
        let _tracked = tracked;
        runs.fetch_add(1, Ordering::SeqCst);
        value
    }
}

#[test]
fn cancel_pending_job_drops_it_unrun_exactly_once() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, ());
    let runs = Arc::new(AtomicUsize::new(0));
    let drops = DropCounter::new();

    let fut = pool.submit(counted_job(&runs, &drops, 5));
    assert_eq!(fut.state(), FutureState::Pending);
    assert!(fut.cancel(), "cancel of a pending job must succeed");
    assert_eq!(fut.state(), FutureState::Cancelled);
    assert!(fut.cancelled() && fut.done() && !fut.running());
    assert_eq!(fut.result(), Err(FutureError::Cancelled));
    drops.wait_all_dropped();

    // The stale queue entry reaches the worker after the gate opens: it must not run the job,
    // nor drop its closure a second time (`Tracked` panics on a double drop).
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(drops.created(), 1);
    assert_eq!(drops.dropped(), 1);
    assert_eq!(fut.state(), FutureState::Cancelled);
}

#[test]
fn cancel_running_job_fails_and_job_completes() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, "completed");

    assert!(!fut.cancel(), "a running job cannot be cancelled");
    assert_eq!(fut.state(), FutureState::Running);
    assert!(!fut.cancelled());

    gate.open();
    assert_eq!(fut.result(), Ok("completed"));
    assert_eq!(fut.state(), FutureState::Finished);
}

#[test]
fn cancel_finished_job_fails_and_keeps_the_value() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(|| 11);
    fut.wait();
    assert!(!fut.cancel());
    assert_eq!(fut.state(), FutureState::Finished);
    assert!(!fut.cancelled());
    assert_eq!(fut.result(), Ok(11));
}

#[test]
fn cancel_panicked_job_fails_and_keeps_the_panic() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(|| -> u8 { panic!("cancel test panic") });
    fut.wait();
    assert!(!fut.cancel());
    assert!(fut.result().unwrap_err().is_panic());
}

#[test]
fn cancel_twice_returns_true_both_times() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, ());
    let runs = Arc::new(AtomicUsize::new(0));
    let drops = DropCounter::new();

    let fut = pool.submit(counted_job(&runs, &drops, 1));
    assert!(fut.cancel());
    assert!(fut.cancel(), "cancel of a cancelled future returns true");
    assert_eq!(fut.state(), FutureState::Cancelled);

    gate.open();
    pool.shutdown(true, false);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(drops.dropped(), 1, "the closure was dropped more than once");
}

#[test]
fn exception_of_cancelled_future_is_cancelled() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, ());

    let fut = pool.submit(|| 3);
    assert!(fut.cancel());
    assert_eq!(fut.exception(), Some(FutureError::Cancelled));
    assert_eq!(
        fut.exception_timeout(Duration::ZERO),
        Some(FutureError::Cancelled)
    );
    assert_eq!(
        fut.result_timeout(Duration::ZERO),
        Err(FutureError::Cancelled)
    );
    assert!(fut.wait_timeout(Duration::ZERO));
    assert_eq!(fut.join(), Err(FutureError::Cancelled));
    gate.open();
}

#[test]
fn cancel_wakes_every_blocked_waiter() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, ());
    let fut = pool.submit(|| 9);

    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(&str, bool)>();
        let waiters: [(&str, Waiter); 5] = [
            (
                "result",
                Box::new(|f| f.result() == Err(FutureError::Cancelled)),
            ),
            (
                "result_timeout",
                Box::new(|f| f.result_timeout(HANG) == Err(FutureError::Cancelled)),
            ),
            (
                "wait",
                Box::new(|f| {
                    f.wait();
                    f.cancelled()
                }),
            ),
            (
                "exception",
                Box::new(|f| f.exception() == Some(FutureError::Cancelled)),
            ),
            (
                "wait(AllCompleted)",
                Box::new(|f| wait([f], ReturnWhen::AllCompleted).done.len() == 1),
            ),
        ];
        for (name, waiter) in waiters {
            let tx = tx.clone();
            let fut = &fut;
            scope.spawn(move || tx.send((name, waiter(fut))).unwrap());
        }
        drop(tx);

        // Give the waiters a chance to block; the assertions hold whether or not they did.
        thread::sleep(Duration::from_millis(50));
        assert!(fut.cancel());

        for _ in 0..5 {
            let (name, ok) = rx
                .recv_timeout(HANG)
                .expect("a waiter was not woken by cancel");
            assert!(ok, "{name} did not see the cancellation");
        }
    });
    gate.open();
}

// Racing cancel against the workers: every job either ran (cancel -> false, Ok) or did not
// (cancel -> true, Err(Cancelled)), never both, and each closure is dropped exactly once.
#[test]
fn cancel_racing_with_workers_is_all_or_nothing() {
    const JOBS: usize = 200;
    let pool = ThreadPoolExecutor::new(2);
    let drops = DropCounter::new();
    let runs: Vec<Arc<AtomicUsize>> = (0..JOBS).map(|_| Arc::new(AtomicUsize::new(0))).collect();

    let futures: Vec<PoolFuture<u32>> = runs
        .iter()
        .enumerate()
        .map(|(i, runs)| pool.submit(counted_job(runs, &drops, i as u32)))
        .collect();
    let cancelled: Vec<bool> = futures.iter().map(PoolFuture::cancel).collect();
    pool.shutdown(true, false);

    for (i, fut) in futures.iter().enumerate() {
        let ran = runs[i].load(Ordering::SeqCst);
        if cancelled[i] {
            assert_eq!(ran, 0, "job {i} ran although cancel returned true");
            assert_eq!(fut.result(), Err(FutureError::Cancelled));
            assert_eq!(fut.state(), FutureState::Cancelled);
        } else {
            assert_eq!(ran, 1, "job {i} was not cancelled but ran {ran} times");
            assert_eq!(fut.result(), Ok(i as u32));
            assert_eq!(fut.state(), FutureState::Finished);
        }
    }
    assert_eq!(drops.created(), JOBS);
    assert_eq!(drops.dropped(), JOBS);
}
