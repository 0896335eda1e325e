//! Reading an outcome: `result`, `result_timeout`, `join`, `exception`, `exception_timeout`,
//! `wait` and `wait_timeout` — values and errors, timeouts that leave the job running (a later
//! wait still gets the value), repeated reads, and `join` for values that are not `Clone`.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{DropCounter, Gate, HANG, submit_held};
use poolbridge::{FutureError, FutureState, ThreadPoolExecutor};

/// A short timeout for waits that must time out: the job is held by a gate, so they always do.
const SHORT: Duration = Duration::from_millis(20);

/// A value that is neither `Clone` nor `Debug`.
struct NotClone(u32);

#[test]
fn result_returns_the_value_repeatedly() {
    let pool = ThreadPoolExecutor::new(2);
    let fut = pool.submit(|| String::from("forty-two"));
    for _ in 0..3 {
        assert_eq!(fut.result(), Ok(String::from("forty-two")));
    }
    assert_eq!(fut.state(), FutureState::Finished);
}

#[test]
fn result_blocks_until_the_job_ends() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, 8);
    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let fut = &fut;
        scope.spawn(move || tx.send(fut.result()).unwrap());
        // The job is held, so the reader cannot have returned, however slow this thread is.
        thread::sleep(SHORT);
        assert!(
            rx.try_recv().is_err(),
            "result() returned before the job ended"
        );
        gate.open();
        assert_eq!(rx.recv_timeout(HANG).unwrap(), Ok(8));
    });
}

#[test]
fn result_from_many_threads_sees_the_same_value() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, vec![1u8, 2, 3]);
    thread::scope(|scope| {
        let readers: Vec<_> = (0..4).map(|_| scope.spawn(|| fut.result())).collect();
        gate.open();
        for reader in readers {
            assert_eq!(reader.join().unwrap(), Ok(vec![1, 2, 3]));
        }
    });
}

#[test]
fn result_timeout_times_out_while_the_job_goes_on() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, 99);

    assert_eq!(fut.result_timeout(SHORT), Err(FutureError::Timeout));
    assert_eq!(
        fut.result_timeout(Duration::ZERO),
        Err(FutureError::Timeout)
    );
    assert_eq!(
        fut.state(),
        FutureState::Running,
        "a timeout must not stop the job"
    );

    gate.open();
    assert_eq!(fut.result(), Ok(99));
    assert_eq!(fut.result_timeout(Duration::ZERO), Ok(99));
}

#[test]
fn result_timeout_on_a_pending_job_leaves_it_queued() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, ());
    let fut = pool.submit(|| 'x');

    assert_eq!(fut.result_timeout(SHORT), Err(FutureError::Timeout));
    assert_eq!(fut.state(), FutureState::Pending);

    gate.open();
    assert_eq!(fut.result_timeout(HANG), Ok('x'));
}

#[test]
fn result_of_a_panicked_job_is_the_panic_every_time() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(|| -> i32 { panic!("result test panic") });
    for _ in 0..2 {
        let err = fut.result().unwrap_err();
        assert_eq!(err.as_panic().unwrap().message(), "result test panic");
    }
    assert!(fut.result_timeout(HANG).unwrap_err().is_panic());
}

#[test]
fn join_hands_over_a_value_that_is_not_clone() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(|| NotClone(17));
    match fut.join() {
        Ok(NotClone(n)) => assert_eq!(n, 17),
        Err(err) => panic!("join failed: {err}"),
    }
}

#[test]
fn join_blocks_until_a_held_job_ends() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, NotClone(3));
    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        scope.spawn(move || tx.send(fut.join().map(|NotClone(n)| n)).unwrap());
        thread::sleep(SHORT);
        assert!(rx.try_recv().is_err(), "join returned before the job ended");
        gate.open();
        assert_eq!(rx.recv_timeout(HANG).unwrap(), Ok(3));
    });
}

#[test]
fn join_of_a_panicked_job_is_the_panic() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(|| -> NotClone { panic!("join test panic") });
    let err = fut
        .join()
        .err()
        .expect("join of a panicked job returned a value");
    assert_eq!(err.as_panic().unwrap().message(), "join test panic");
}

#[test]
fn joined_value_is_moved_out_and_dropped_once() {
    let pool = ThreadPoolExecutor::new(1);
    let drops = DropCounter::new();
    let value = drops.track();
    let fut = pool.submit(move || value);

    let value = fut.join().unwrap();
    assert_eq!(
        drops.dropped(),
        0,
        "join handed over a value that was dropped"
    );
    drop(value);
    drop(pool);
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn exception_is_none_for_a_value_and_the_error_for_a_panic() {
    let pool = ThreadPoolExecutor::new(2);
    let ok = pool.submit(|| 1);
    let failed = pool.submit(|| -> i32 { panic!("exception test panic") });

    assert_eq!(ok.exception(), None);
    assert_eq!(ok.exception_timeout(HANG), None);
    let err = failed
        .exception()
        .expect("exception() of a panicked job is None");
    assert_eq!(err.as_panic().unwrap().message(), "exception test panic");
    assert_eq!(failed.exception_timeout(HANG), Some(err));
}

#[test]
fn exception_timeout_times_out_while_the_job_goes_on() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, 4);

    assert_eq!(fut.exception_timeout(SHORT), Some(FutureError::Timeout));
    assert!(fut.running());

    gate.open();
    assert_eq!(fut.exception(), None);
    assert_eq!(fut.result(), Ok(4));
}

#[test]
fn exception_blocks_until_the_job_ends() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, 0);
    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let fut = &fut;
        scope.spawn(move || tx.send(fut.exception()).unwrap());
        thread::sleep(SHORT);
        assert!(
            rx.try_recv().is_err(),
            "exception() returned before the job ended"
        );
        gate.open();
        assert_eq!(rx.recv_timeout(HANG).unwrap(), None);
    });
}

#[test]
fn wait_and_wait_timeout() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, 6);

    assert!(!fut.wait_timeout(SHORT));
    assert!(!fut.wait_timeout(Duration::ZERO));
    assert!(!fut.done());

    gate.open();
    fut.wait();
    assert!(fut.done());
    assert!(fut.wait_timeout(Duration::ZERO));
    assert!(fut.wait_timeout(HANG));
    assert_eq!(fut.result(), Ok(6));
}

#[test]
fn wait_blocks_until_the_job_ends() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, ());
    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let fut = &fut;
        scope.spawn(move || {
            fut.wait();
            tx.send(fut.done()).unwrap();
        });
        thread::sleep(SHORT);
        assert!(
            rx.try_recv().is_err(),
            "wait() returned before the job ended"
        );
        gate.open();
        assert_eq!(rx.recv_timeout(HANG), Ok(true));
    });
}

// `Instant::now() + Duration::MAX` overflows: a huge timeout must mean "wait as long as needed".
#[test]
fn huge_timeouts_do_not_overflow() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, 2);
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(SHORT);
            gate.open();
        });
        assert_eq!(fut.result_timeout(Duration::MAX), Ok(2));
    });
    assert!(fut.wait_timeout(Duration::MAX));
    assert_eq!(fut.exception_timeout(Duration::MAX), None);
}
