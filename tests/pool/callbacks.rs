//! Done callbacks (`add_done_callback`): they run in the order they were added, once the future
//! is done, and see its outcome; a callback added to a done future runs at once on the caller's
//! thread; a panicking callback is contained; a cancelled future runs its callbacks; `join`
//! returns only after the callbacks have run.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{BadDrop, Gate, HANG, eventually, submit_gated, submit_held, thread_name};
use poolbridge::{FutureError, ThreadPoolExecutor};

const PREFIX: &str = "callbacks";

/// A one-worker pool whose thread is named `callbacks_0` and never retires while idle.
fn one_worker_pool() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix(PREFIX)
        .keep_alive(None)
        .build()
        .unwrap()
}

#[test]
fn callbacks_run_in_order_after_completion_on_the_worker() {
    let pool = one_worker_pool();
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, 42);
    let log = Arc::new(Mutex::new(Vec::new()));

    for i in 0..5 {
        let log = Arc::clone(&log);
        fut.add_done_callback(move |_| log.lock().unwrap().push((i, thread_name())));
    }
    // Give a wrong implementation the chance to run them early; holds regardless of timing.
    thread::sleep(Duration::from_millis(20));
    assert!(
        log.lock().unwrap().is_empty(),
        "a callback ran before the job ended"
    );

    gate.open();
    assert!(eventually(|| log.lock().unwrap().len() == 5));
    let log = log.lock().unwrap();
    let order: Vec<i32> = log.iter().map(|(i, _)| *i).collect();
    assert_eq!(order, [0, 1, 2, 3, 4]);
    for (_, name) in log.iter() {
        assert!(
            name.starts_with(PREFIX),
            "a callback ran on {name:?}, not on the worker that completed the job"
        );
    }
}

#[test]
fn callback_sees_done_and_the_result() {
    let pool = one_worker_pool();
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, String::from("outcome"));
    let (tx, rx) = mpsc::channel();
    fut.add_done_callback(move |f| {
        tx.send((f.done(), f.state(), f.result_timeout(Duration::ZERO)))
            .unwrap();
    });

    gate.open();
    let (done, state, result) = rx.recv_timeout(HANG).expect("the callback never ran");
    assert!(done);
    assert_eq!(state, poolbridge::FutureState::Finished);
    assert_eq!(result, Ok(String::from("outcome")));
}

#[test]
fn callback_sees_the_panic_of_a_failed_job() {
    let pool = one_worker_pool();
    let fut = pool.submit(|| -> u8 { panic!("callback test panic") });
    let (tx, rx) = mpsc::channel();
    fut.add_done_callback(move |f| tx.send(f.exception()).unwrap());

    let err = rx
        .recv_timeout(HANG)
        .expect("the callback never ran")
        .expect("the callback saw no error");
    assert_eq!(err.as_panic().unwrap().message(), "callback test panic");
}

#[test]
fn callback_added_after_completion_runs_at_once_on_the_caller() {
    let pool = one_worker_pool();
    let fut = pool.submit(|| 5);
    fut.wait();
    let ran_on = Arc::new(Mutex::new(None));

    let slot = Arc::clone(&ran_on);
    fut.add_done_callback(move |f| {
        *slot.lock().unwrap() = Some((thread::current().id(), f.result()));
    });

    let ran_on = ran_on.lock().unwrap().take();
    assert_eq!(
        ran_on,
        Some((thread::current().id(), Ok(5))),
        "the callback did not run synchronously on the calling thread"
    );
}

// The worker must survive a panicking callback: the same thread runs the next job.
#[test]
fn panicking_callback_is_contained() {
    let pool = one_worker_pool();
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, ());
    let log = Arc::new(Mutex::new(Vec::new()));

    let first = Arc::clone(&log);
    fut.add_done_callback(move |_| first.lock().unwrap().push("first"));
    fut.add_done_callback(|_| panic!("callback panics on purpose"));
    let last = Arc::clone(&log);
    fut.add_done_callback(move |_| last.lock().unwrap().push("last"));
    let worker_id = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&worker_id);
    fut.add_done_callback(move |_| *slot.lock().unwrap() = Some(thread::current().id()));

    gate.open();
    assert!(eventually(|| log.lock().unwrap().len() == 2));
    assert_eq!(*log.lock().unwrap(), ["first", "last"]);
    assert_eq!(fut.result_timeout(HANG), Ok(()));

    let worker_id = worker_id
        .lock()
        .unwrap()
        .expect("the last callback never ran");
    let next = pool.submit(|| thread::current().id());
    assert_eq!(
        next.result_timeout(HANG),
        Ok(worker_id),
        "the next job did not run on the worker that ran the panicking callback"
    );
}

#[test]
fn panicking_callback_on_a_done_future_does_not_unwind_into_the_caller() {
    let pool = one_worker_pool();
    let fut = pool.submit(|| 1);
    fut.wait();
    let after = Arc::new(AtomicBool::new(false));

    fut.add_done_callback(|_| panic!("immediate callback panics on purpose"));
    let flag = Arc::clone(&after);
    fut.add_done_callback(move |_| flag.store(true, Ordering::SeqCst));

    assert!(after.load(Ordering::SeqCst));
    assert_eq!(fut.result(), Ok(1));
}

#[test]
fn callback_of_a_cancelled_future_runs_on_the_cancelling_thread() {
    let pool = one_worker_pool();
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, ());
    let fut = pool.submit(|| 3);
    let seen = Arc::new(Mutex::new(None));

    let slot = Arc::clone(&seen);
    fut.add_done_callback(move |f| {
        *slot.lock().unwrap() = Some((thread::current().id(), f.cancelled(), f.result()));
    });
    assert!(seen.lock().unwrap().is_none());
    assert!(fut.cancel());

    let seen = seen.lock().unwrap().take();
    assert_eq!(
        seen,
        Some((thread::current().id(), true, Err(FutureError::Cancelled)))
    );
    gate.open();
}

#[test]
fn callback_runs_once() {
    let pool = one_worker_pool();
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, 0);
    let calls = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&calls);
    fut.add_done_callback(move |_| *counter.lock().unwrap() += 1);

    gate.open();
    fut.wait();
    assert!(!fut.cancel());
    // Later waits and another (immediate) callback must not re-run the first one.
    let (tx, rx) = mpsc::channel();
    fut.add_done_callback(move |_| tx.send(()).unwrap());
    rx.recv_timeout(HANG).unwrap();
    assert!(eventually(|| *calls.lock().unwrap() >= 1));
    pool.shutdown(true, false);
    assert_eq!(*calls.lock().unwrap(), 1);
}

#[test]
fn join_returns_after_the_callbacks_have_run() {
    let pool = one_worker_pool();
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, vec![1, 2, 3]);
    let finished = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(None));

    let slot = Arc::clone(&seen);
    fut.add_done_callback(move |f| *slot.lock().unwrap() = Some(f.result()));
    let flag = Arc::clone(&finished);
    fut.add_done_callback(move |_| {
        // A slow callback widens the window in which a wrong `join` would return early.
        thread::sleep(Duration::from_millis(50));
        flag.store(true, Ordering::SeqCst);
    });

    gate.open();
    assert_eq!(fut.join(), Ok(vec![1, 2, 3]));
    assert!(
        finished.load(Ordering::SeqCst),
        "join returned before the callbacks ran"
    );
    assert_eq!(*seen.lock().unwrap(), Some(Ok(vec![1, 2, 3])));
}

/// Threads blocked in `result()` are woken before the callbacks run (as in CPython), so a callback
/// that waits for such a reader cannot deadlock, and a slow callback never delays the readers.
#[test]
fn blocked_readers_wake_before_callbacks_run() {
    let pool = ThreadPoolExecutor::new(1);
    let start = Gate::new();
    let reader_done = Gate::new();
    let fut = Arc::new(submit_gated(&pool, &start, 9));
    let waiting = reader_done.clone();
    fut.add_done_callback(move |_| waiting.wait());
    let reader = {
        let fut = fut.clone();
        let reader_done = reader_done.clone();
        std::thread::spawn(move || {
            let value = fut.result();
            reader_done.open();
            value
        })
    };
    start.open();
    assert_eq!(reader.join().unwrap(), Ok(9));
}

// The hardening issue's defect 1: a pool of 4; job A's done callback waits on a channel that job
// B, submitted after A finished, feeds. The worker running the callback used to stay counted as
// idle ("searching"), so B's submit woke nobody and started no thread: B waited until the
// callback gave up, and without a timeout the pool hung for good. Python frees the worker's slot
// only after the callbacks; so must we.
#[test]
fn a_callback_that_blocks_on_a_later_job_does_not_stall_the_pool() {
    let pool = ThreadPoolExecutor::new(4);
    let gate = Gate::new();
    let a = submit_gated(&pool, &gate, 1);
    let (feed_tx, feed_rx) = mpsc::channel::<()>();
    let (fed_tx, fed_rx) = mpsc::channel();
    a.add_done_callback(move |_| {
        let fed = feed_rx.recv_timeout(HANG).is_ok();
        fed_tx.send(fed).unwrap();
    });
    gate.open();
    a.wait(); // returns before the callbacks run (CPython's order), so A's worker is in it now
    let b = pool.submit(move || feed_tx.send(()).unwrap());
    assert_eq!(
        b.result_timeout(HANG),
        Ok(()),
        "B never started while A's callback waited for it"
    );
    assert_eq!(
        fed_rx.recv_timeout(HANG),
        Ok(true),
        "A's callback gave up before B ran: B waited for the callback's worker"
    );
}

// Defect 2 in a callback: a callback panicking with a payload whose own `Drop` panics. The later
// callbacks still run and `join` returns (it used to hang), whether the future is completed by
// a worker or cancelled from the user's thread (where the panic used to escape `cancel()`).
#[test]
fn a_callback_panicking_with_a_bad_payload_does_not_stop_the_others() {
    let pool = one_worker_pool();
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, 0);
    for cancel in [true, false] {
        let fut = pool.submit(|| 5);
        let later = Arc::new(AtomicBool::new(false));
        fut.add_done_callback(|_| std::panic::panic_any(BadDrop));
        let l = Arc::clone(&later);
        fut.add_done_callback(move |_| l.store(true, Ordering::SeqCst));
        if cancel {
            assert!(fut.cancel(), "cancel() of a queued job");
            assert!(later.load(Ordering::SeqCst), "a later callback was skipped");
            assert_eq!(fut.join(), Err(FutureError::Cancelled));
        } else {
            gate.open();
            assert!(fut.wait_timeout(HANG));
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || tx.send(fut.join()).unwrap());
            assert_eq!(
                rx.recv_timeout(HANG),
                Ok(Ok(5)),
                "join hung after the callbacks"
            );
            assert!(later.load(Ordering::SeqCst), "a later callback was skipped");
        }
    }
    // The worker survived.
    assert_eq!(
        pool.submit(thread_name).result_timeout(HANG),
        Ok(format!("{PREFIX}_0"))
    );
}
