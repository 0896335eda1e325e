//! Cooperative cancellation of running jobs: `poolbridge::cancelled()` inside a job,
//! `PoolFuture::request_cancel`, and the requests made by dropping an `ExecutorFuture`
//! (`tokio::time::timeout`, a `select!` branch that lost, a dropped `Map`).
//!
//! A job that checks `cancelled()` stops within one iteration of the request; a job that
//! ignores it finishes normally and its value is dropped exactly once; a request reaches only the
//! job it was made for (not its sub-jobs, not the next job of the same worker).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    DropCounter, Gate, HANG, current_thread_runtime, eventually, submit_held, submit_held_with,
};
use poolbridge::{
    FutureError, FutureState, MapOptions, PoolFuture, Promise, ReturnWhen, ThreadPoolExecutor,
    cancelled, run_in_executor, wait_timeout,
};

/// A job that counts its iterations (published in `iterations`) until it sees `cancelled()`,
/// then reports its count on `stopped` and returns it. Each iteration takes about a millisecond.
fn counting_job(
    iterations: &Arc<AtomicUsize>,
    stopped: mpsc::Sender<usize>,
) -> impl FnOnce() -> usize + Send + 'static {
    let iterations = Arc::clone(iterations);
    move || {
        let mut n = 0;
        loop {
            if cancelled() {
                stopped.send(n).unwrap();
                return n;
            }
            n += 1;
            iterations.store(n, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Waits (asynchronously) until the counting job has run an iteration: it is running.
async fn until_running(iterations: &AtomicUsize) {
    let deadline = Instant::now() + HANG;
    while iterations.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the job never started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn request_cancel_stops_a_looping_job_at_its_next_check() {
    let pool = ThreadPoolExecutor::new(2);
    // Lock-step: the job reports each iteration and waits for permission to go on, so the
    // request lands at a known point: between iteration 3 and the check before iteration 4.
    let (report, reports) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let fut = pool.submit(move || {
        let mut n = 0;
        loop {
            if cancelled() {
                return n;
            }
            n += 1;
            report.send(n).unwrap();
            go_rx.recv().unwrap();
        }
    });
    for expected in 1..=3 {
        assert_eq!(reports.recv_timeout(HANG), Ok(expected));
        if expected < 3 {
            go.send(()).unwrap();
        }
    }
    assert_eq!(fut.state(), FutureState::Running);
    assert!(fut.request_cancel(), "a running job is asked to stop");
    assert!(fut.request_cancel(), "asking again is fine");
    go.send(()).unwrap();
    // It returned 3 at its next check, with no fourth iteration; the value gives way to
    // `Cancelled`, which is not an exception.
    assert_eq!(fut.result(), Err(FutureError::Cancelled));
    assert_eq!(
        reports.recv_timeout(HANG),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    assert_eq!(fut.state(), FutureState::Finished);
    assert!(
        !fut.cancelled(),
        "it ran: cancelled() is for jobs that never started"
    );
    assert!(!fut.request_cancel(), "finished: nothing left to stop");
    assert_eq!(fut.exception(), Some(FutureError::Cancelled));
    assert_eq!(pool.metrics().cancelled, 1);
}

#[test]
fn request_cancel_of_a_pending_job_cancels_it() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, ());
    let drops = DropCounter::new();
    let tracked = drops.track();
    let ran = Arc::new(AtomicBool::new(false));
    let ran2 = Arc::clone(&ran);
    let fut = pool.submit(move || {
        let _tracked = tracked;
        ran2.store(true, Ordering::SeqCst);
    });
    assert!(fut.request_cancel());
    assert_eq!(fut.state(), FutureState::Cancelled);
    assert!(fut.request_cancel(), "already cancelled: still true");
    assert_eq!(drops.dropped(), 1, "the closure was dropped unrun");
    gate.open();
    pool.shutdown(true, false);
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(
        pool.metrics().cancelled,
        1,
        "counted once, when the worker took its entry"
    );
}

#[test]
fn a_timeout_that_drops_the_awaitable_stops_the_job_within_one_iteration() {
    let pool = ThreadPoolExecutor::new(2);
    let iterations = Arc::new(AtomicUsize::new(0));
    let (stopped, stopped_rx) = mpsc::channel();
    let job = counting_job(&iterations, stopped);
    let at_drop = current_thread_runtime().block_on(async {
        let awaitable = run_in_executor(Some(&pool), job, ());
        until_running(&iterations).await;
        let outcome = tokio::time::timeout(Duration::from_millis(20), awaitable).await;
        assert!(outcome.is_err(), "the job only ends when asked to");
        // The `Timeout` (and the awaitable inside it) was dropped at the end of that statement.
        iterations.load(Ordering::SeqCst)
    });
    let last = stopped_rx
        .recv_timeout(HANG)
        .expect("the job never stopped");
    assert!(
        last <= at_drop + 1,
        "stopped after iteration {last}, the request came after {at_drop}"
    );
    assert!(eventually(|| pool.metrics().cancelled == 1));
}

#[test]
fn a_select_branch_that_lost_stops_its_job_within_one_iteration() {
    let pool = ThreadPoolExecutor::new(2);
    let iterations = Arc::new(AtomicUsize::new(0));
    let (stopped, stopped_rx) = mpsc::channel();
    let job = counting_job(&iterations, stopped);
    let at_drop = current_thread_runtime().block_on(async {
        let awaitable = run_in_executor(Some(&pool), job, ());
        until_running(&iterations).await;
        tokio::select! {
            _ = awaitable => panic!("the job only ends when asked to"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        // `select!` dropped the losing branch before it returned.
        iterations.load(Ordering::SeqCst)
    });
    let last = stopped_rx
        .recv_timeout(HANG)
        .expect("the job never stopped");
    assert!(
        last <= at_drop + 1,
        "stopped after iteration {last}, the request came after {at_drop}"
    );
}

#[test]
fn a_job_that_ignores_the_request_finishes_and_its_value_is_dropped_once() {
    let pool = ThreadPoolExecutor::new(1);

    // Its awaitable dropped while it runs: the value nobody will take is dropped on the worker.
    let drops = DropCounter::new();
    let tracked = drops.track();
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let awaitable = {
        let gate = gate.clone();
        let finished = Arc::clone(&finished);
        run_in_executor(
            Some(&pool),
            move || {
                started_tx.send(()).unwrap();
                gate.wait(); // never looks at cancelled()
                finished.store(true, Ordering::SeqCst);
                tracked
            },
            (),
        )
    };
    started.recv_timeout(HANG).unwrap();
    drop(awaitable);
    gate.open();
    drops.wait_all_dropped();
    assert!(finished.load(Ordering::SeqCst), "the job ran to its end");
    assert_eq!((drops.created(), drops.dropped()), (1, 1));

    // Asked through its `PoolFuture`: it never looked, so its value stands.
    let gate = Gate::new();
    let fut = submit_held_with(&pool, &gate, || 7);
    assert!(fut.request_cancel());
    gate.open();
    assert_eq!(
        fut.result(),
        Ok(7),
        "a job that did not see the request keeps its value"
    );
    assert!(eventually(|| pool.metrics().completed == 2));
    assert_eq!(pool.metrics().cancelled, 0);
}

#[test]
fn a_job_that_saw_the_request_resolves_to_cancelled_and_its_value_is_dropped_once() {
    let pool = ThreadPoolExecutor::new(1);
    let drops = DropCounter::new();
    let tracked = drops.track();
    let gate = Gate::new();
    let fut = submit_held_with(&pool, &gate, move || {
        assert!(cancelled());
        assert!(cancelled(), "it stays true");
        Some(tracked) // a partial result, which must not pass for a whole one
    });
    assert!(fut.request_cancel());
    gate.open();
    assert_eq!(fut.join().err(), Some(FutureError::Cancelled));
    assert_eq!((drops.created(), drops.dropped()), (1, 1));
}

#[test]
fn a_job_that_panics_after_seeing_the_request_resolves_to_its_panic() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held_with(&pool, &gate, || -> u32 {
        assert!(cancelled());
        panic!("gave up badly")
    });
    assert!(fut.request_cancel());
    gate.open();
    let err = fut.join().unwrap_err();
    assert_eq!(err.as_panic().map(|p| p.message()), Some("gave up badly"));
    assert_eq!(pool.metrics().panicked, 1);
}

#[test]
fn a_stopped_job_is_not_an_exception_for_first_exception() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let stopping = submit_held_with(&pool, &gate, cancelled);
    let hold = Gate::new();
    let _open = common::OpenOnDrop(hold.clone());
    let running = submit_held(&pool, &hold, false);
    assert!(stopping.request_cancel());
    gate.open();
    stopping.wait();
    let started = Instant::now();
    let waited = Duration::from_millis(50);
    let outcome = wait_timeout([&stopping, &running], waited, ReturnWhen::FirstException);
    // A real exception would have ended the wait at once.
    assert!(
        started.elapsed() >= waited,
        "returned after {:?}",
        started.elapsed()
    );
    assert_eq!(outcome.done, [&stopping]);
    assert_eq!(outcome.not_done, [&running]);
}

#[test]
fn cancelled_is_false_outside_jobs_and_in_callbacks() {
    assert!(!cancelled(), "not inside a job");
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held_with(&pool, &gate, cancelled);
    let (seen_tx, seen) = mpsc::channel();
    fut.add_done_callback(move |_| seen_tx.send(cancelled()).unwrap());
    assert!(fut.request_cancel());
    gate.open();
    assert_eq!(fut.result(), Err(FutureError::Cancelled));
    assert_eq!(
        seen.recv_timeout(HANG),
        Ok(false),
        "a callback is not the job"
    );
    // The worker's next job starts clean.
    assert_eq!(pool.submit(cancelled).join(), Ok(false));
}

#[test]
fn a_sub_job_run_inline_does_not_see_its_parents_request() {
    // One worker: the parent's wait on its sub-job runs the sub-job inline, on the same thread.
    let pool = Arc::new(ThreadPoolExecutor::new(1));
    let (saw_tx, saw) = mpsc::channel();
    let gate = Gate::new();
    let inner_pool = Arc::clone(&pool);
    let parent = submit_held_with(&pool, &gate, move || {
        let child = inner_pool.submit(|| (cancelled(), thread::current().id()));
        let (child_saw, child_thread) = child.join().unwrap();
        assert_eq!(child_thread, thread::current().id(), "the child ran inline");
        // Back in the parent, after the child: its own request is still there.
        saw_tx.send((child_saw, cancelled())).unwrap();
    });
    assert!(parent.request_cancel());
    gate.open();
    assert_eq!(saw.recv_timeout(HANG), Ok((false, true)));
    assert_eq!(parent.result(), Err(FutureError::Cancelled));
}

#[test]
fn a_sub_job_on_another_worker_does_not_see_its_parents_request() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let gate = Gate::new();
    let (child_tx, child_rx) = mpsc::channel();
    let inner_pool = Arc::clone(&pool);
    let parent = submit_held_with(&pool, &gate, move || {
        // The parent does not wait on the child, so another worker steals it from its deque.
        let (done_tx, done) = mpsc::channel();
        let child = inner_pool.submit(move || {
            let saw = cancelled();
            done_tx.send(()).unwrap();
            saw
        });
        done.recv_timeout(HANG).unwrap();
        child_tx.send(child).unwrap();
        cancelled()
    });
    assert!(parent.request_cancel());
    gate.open();
    let child = child_rx.recv_timeout(HANG).unwrap();
    assert_eq!(
        child.result(),
        Ok(false),
        "the child does not inherit the request"
    );
    assert_eq!(parent.result(), Err(FutureError::Cancelled));
    assert!(pool.metrics().stolen >= 1);
}

#[test]
fn a_request_never_reaches_the_next_job_of_the_same_worker() {
    // Stress the window where a job ends while its stop is being requested: the worker's next
    // job reuses the same cancellation cell, and must never see the late request.
    let pool = ThreadPoolExecutor::new(1);
    let spin = |d: Duration| {
        let start = Instant::now();
        while start.elapsed() < d {
            if cancelled() {
                return true;
            }
            std::hint::spin_loop();
        }
        false
    };
    for _ in 0..1_000 {
        // Ends (without looking at the flag) the moment the request is about to be made.
        let go = Arc::new(AtomicBool::new(false));
        let first = {
            let go = Arc::clone(&go);
            pool.submit(move || {
                while !go.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
            })
        };
        // Looks for a while, across the moment a late request for `first` would land.
        let second = pool.submit(move || spin(Duration::from_micros(200)));
        while first.state() == FutureState::Pending {
            std::hint::spin_loop();
        }
        go.store(true, Ordering::SeqCst);
        let _ = first.request_cancel();
        assert_eq!(
            second.result(),
            Ok(false),
            "a request for the first job reached the second"
        );
    }
}

#[test]
fn dropping_a_map_stops_its_running_jobs() {
    let pool = ThreadPoolExecutor::new(2);
    let (stopped_tx, stopped) = mpsc::channel();
    let mut map = pool.map_with(
        move |i: u32| {
            if i == 0 {
                return;
            }
            let deadline = Instant::now() + HANG;
            while !cancelled() {
                assert!(Instant::now() < deadline, "never asked to stop");
                thread::sleep(Duration::from_millis(1));
            }
            stopped_tx.send(()).unwrap();
        },
        0..3,
        MapOptions::default(),
    );
    // Iterated once: only an iterated map stops its jobs when dropped.
    assert_eq!(map.next(), Some(Ok(())));
    assert!(eventually(|| pool.metrics().running == 2));
    drop(map);
    for _ in 0..2 {
        stopped
            .recv_timeout(HANG)
            .expect("a running job of the map never stopped");
    }
}

#[test]
fn a_promise_sees_requests_through_cancel_requested() {
    let (promise, fut) = Promise::<u32>::new();
    assert!(!promise.cancel_requested());
    assert!(promise.set_running_or_notify_cancel());
    assert!(fut.request_cancel());
    assert!(promise.cancel_requested());
    promise.complete(Err(FutureError::Cancelled)).unwrap();
    assert_eq!(fut.result(), Err(FutureError::Cancelled));

    // Pending: the request cancels it, as `cancel()` would.
    let (promise, fut): (Promise<u32>, PoolFuture<u32>) = Promise::new();
    assert!(fut.request_cancel());
    assert!(promise.cancel_requested());
    assert!(!promise.set_running_or_notify_cancel());
}
