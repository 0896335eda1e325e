//! Loom models of the future state machine (`src/future/`): every interleaving of a job's run
//! against `cancel`, callback registration, blocked waiters and group waits.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom_future` (see `.ci/run`).

#![cfg(loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use loom::thread;
use poolbridge::__loom::task;
use poolbridge::{FutureError, FutureState, ReturnWhen};

/// Counts drops of the value it guards, to prove a closure is dropped exactly once.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Cancel racing job start. Catches: both the runner and `cancel` claiming the job (the closure
/// run *and* the future cancelled, or the closure dropped twice), or neither (a lost job).
#[test]
fn cancel_races_start() {
    loom::model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = Counted(drops.clone());
        let ran2 = ran.clone();
        let (job, fut) = task(move || {
            let _guard = guard;
            ran2.fetch_add(1, Ordering::SeqCst);
            7
        });
        let worker = thread::spawn(move || job.run());
        let cancelled = fut.cancel();
        worker.join().unwrap();

        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "closure dropped exactly once"
        );
        if cancelled {
            assert_eq!(ran.load(Ordering::SeqCst), 0);
            assert_eq!(fut.state(), FutureState::Cancelled);
            assert_eq!(fut.result(), Err(FutureError::Cancelled));
        } else {
            assert_eq!(ran.load(Ordering::SeqCst), 1);
            assert_eq!(fut.state(), FutureState::Finished);
            assert_eq!(fut.result(), Ok(7));
        }
    });
}

/// Completion racing callback registration and a blocked waiter. Catches: a callback registered
/// while the completer drains the list that never runs (or runs twice), a waiter that blocks
/// after the completer's notify and sleeps forever (loom reports the deadlock), and a callback
/// that finds no outcome.
#[test]
fn completion_races_callback_and_waiter() {
    loom::model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (job, fut) = task(|| 5u32);
        let fut = Arc::new(fut);

        let worker = thread::spawn(move || job.run());
        let waiter = {
            let fut = fut.clone();
            thread::spawn(move || {
                fut.wait();
                assert!(fut.done());
                fut.result()
            })
        };
        let calls2 = calls.clone();
        fut.add_done_callback(move |f| {
            assert!(f.done());
            assert_eq!(f.result(), Ok(5));
            calls2.fetch_add(1, Ordering::SeqCst);
        });

        worker.join().unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(5));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "callback ran exactly once");
    });
}

/// `join` racing a callback that reads the value. Catches: `join` moving the value out while a
/// callback registered before completion still has to read it.
#[test]
fn join_waits_for_callbacks() {
    loom::model(|| {
        let (job, fut) = task(|| String::from("value"));
        fut.add_done_callback(|f| assert_eq!(f.result().as_deref(), Ok("value")));
        let worker = thread::spawn(move || job.run());
        assert_eq!(fut.join().as_deref(), Ok("value"));
        worker.join().unwrap();
    });
}

/// A waiter blocked on a job that gets cancelled. Catches: cancel not waking blocked threads.
#[test]
fn cancel_wakes_waiter() {
    loom::model(|| {
        let (job, fut) = task(|| 1u8);
        let fut = Arc::new(fut);
        let waiter = {
            let fut = fut.clone();
            thread::spawn(move || fut.result())
        };
        let cancelled = fut.cancel();
        assert!(cancelled);
        assert_eq!(waiter.join().unwrap(), Err(FutureError::Cancelled));
        drop(job); // the stale queue entry is a no-op
    });
}

/// Group wait racing two completions. Catches: a completion between `wait`'s first look and its
/// registration being missed (the waiter would sleep forever; loom reports the deadlock).
#[test]
fn group_wait_races_completions() {
    loom::model(|| {
        let (job_a, fut_a) = task(|| 1u8);
        let (job_b, fut_b) = task(|| 2u8);
        let a = thread::spawn(move || job_a.run());
        let b = thread::spawn(move || job_b.run());
        let outcome = poolbridge::wait([&fut_a, &fut_b], ReturnWhen::AllCompleted);
        assert_eq!(outcome.done.len(), 2);
        assert!(outcome.not_done.is_empty());
        a.join().unwrap();
        b.join().unwrap();
    });
}

/// `as_completed` racing a completion: the future is yielded exactly once.
#[test]
fn as_completed_races_completion() {
    loom::model(|| {
        let (job, fut) = task(|| 3u8);
        let worker = thread::spawn(move || job.run());
        let yielded: Vec<_> = poolbridge::as_completed([&fut]).collect();
        assert_eq!(yielded.len(), 1);
        assert_eq!(yielded[0].result(), Ok(3));
        worker.join().unwrap();
    });
}

/// A stop requested for a job that ends while the request is made, with the same worker then
/// running its next job (which reuses the worker's cancellation cell). Catches a late request
/// landing on the next job (`request_stop` must set the cell under the job's lock, after seeing
/// it `RUNNING` there), and a cell not cleared for the next job.
#[test]
fn a_stop_request_reaches_only_its_own_job() {
    loom::model(|| {
        let (first, first_fut) = task(poolbridge::cancelled);
        let (second, second_fut) = task(poolbridge::cancelled);
        let worker = thread::spawn(move || {
            first.run();
            second.run();
        });
        let requested = first_fut.request_cancel();
        worker.join().unwrap();

        assert_eq!(
            second_fut.result(),
            Ok(false),
            "the request reached the next job"
        );
        match first_fut.result() {
            // Ran to its end before the request, or checked before it arrived.
            Ok(saw) => assert!(!saw),
            // Cancelled while pending, or saw the request while running.
            Err(err) => {
                assert_eq!(err, FutureError::Cancelled);
                assert!(requested);
            }
        }
        if !requested {
            assert_eq!(first_fut.state(), FutureState::Finished);
        }
    });
}

/// A stop requested while the job starts, against the job claiming it. Catches a request lost
/// on the way: the runner clearing its cell after publishing the cell's index (the claim), so
/// that a request made in between is wiped out and the job runs forever (loom reports the
/// endless loop). The job ends only by seeing the request, or by being cancelled unstarted.
#[test]
fn a_stop_request_for_a_starting_job_is_seen() {
    loom::model(|| {
        let (job, fut) = task(move || {
            while !poolbridge::cancelled() {
                thread::yield_now();
            }
        });
        let worker = thread::spawn(move || job.run());
        assert!(
            fut.request_cancel(),
            "pending or running: the request takes effect"
        );
        worker.join().unwrap();
        assert_eq!(fut.result(), Err(FutureError::Cancelled));
    });
}
