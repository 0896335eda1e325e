//! Shutdown: refusing jobs after `shutdown`, `wait = true/false`, `cancel_futures`,
//! idempotence, shutting down (or dropping the executor) from inside one of its own jobs, `Drop`,
//! and `SubmitError`.

mod common;

use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use common::{
    DropCounter, Gate, HANG, ThreadProbe, eventually, hold_workers, submit_gated, submit_gated_with,
};
use poolbridge::{FutureError, FutureState, PoolFuture, SubmitError, ThreadPoolExecutor};

#[test]
fn submit_after_shutdown_is_refused_and_the_closure_dropped_unrun() {
    let pool = ThreadPoolExecutor::new(2);
    // Used once before, so threads exist; and never used: both must refuse.
    assert_eq!(pool.submit(|| 1).result(), Ok(1));
    pool.shutdown(true, false);
    assert!(pool.is_shutdown());

    let drops = DropCounter::new();
    let ran = Arc::new(AtomicBool::new(false));
    let tracked = drops.track();
    let ran2 = Arc::clone(&ran);
    let fut = pool.submit(move || {
        let _keep = &tracked;
        ran2.store(true, Ordering::SeqCst);
        7
    });
    // Already done, without waiting.
    assert!(fut.done());
    assert_eq!(fut.state(), FutureState::Finished);
    assert_eq!(
        drops.dropped(),
        1,
        "the refused closure must be dropped at once"
    );
    assert_eq!(fut.result(), Err(FutureError::Shutdown));
    assert_eq!(fut.exception(), Some(FutureError::Shutdown));
    assert!(!fut.cancelled());
    assert_eq!(fut.join(), Err(FutureError::Shutdown));
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(drops.dropped(), drops.created());

    let never_used = ThreadPoolExecutor::new(1);
    never_used.shutdown(false, false);
    let tracked = drops.track();
    let fut = never_used.submit(move || drop(tracked));
    assert_eq!(fut.result_timeout(HANG), Err(FutureError::Shutdown));
    drops.wait_all_dropped();
    assert_eq!(never_used.num_threads(), 0);
}

#[test]
fn try_submit_after_shutdown_gives_the_closure_back() {
    let pool = ThreadPoolExecutor::new(2);
    assert!(pool.try_submit(|| 1).unwrap().join() == Ok(1));
    pool.shutdown(true, false);

    let drops = DropCounter::new();
    let tracked = drops.track();
    let err = match pool.try_submit(move || {
        let _keep = tracked;
        41 + 1
    }) {
        Ok(_) => panic!("try_submit after shutdown must be refused"),
        Err(err) => err,
    };
    assert!(err.is_shutdown());
    assert!(!err.is_broken_pool());
    assert!(matches!(err, SubmitError::Shutdown(_)), "{err:?}");
    assert_eq!(
        drops.dropped(),
        0,
        "the refused closure must be handed back, not dropped"
    );
    let f = err.into_inner();
    assert_eq!(f(), 42);
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn shutdown_wait_true_returns_after_jobs_and_threads_are_done() {
    let probe = ThreadProbe::default();
    let pool = Arc::new(probe.pool(3));
    let gate = Gate::new();
    let held = hold_workers(&pool, &gate, 3, 0);
    let done = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..20u32)
        .map(|i| {
            let done = Arc::clone(&done);
            pool.submit(move || {
                done.fetch_add(1, Ordering::SeqCst);
                i
            })
        })
        .collect();

    let returned = Arc::new(AtomicBool::new(false));
    let shutter = {
        let pool = Arc::clone(&pool);
        let returned = Arc::clone(&returned);
        thread::spawn(move || {
            pool.shutdown(true, false);
            returned.store(true, Ordering::SeqCst);
        })
    };
    // While jobs are held, shutdown(wait = true) must not return (a window, not a speed check).
    thread::sleep(Duration::from_millis(100));
    assert!(
        !returned.load(Ordering::SeqCst),
        "shutdown(wait = true) returned early"
    );
    assert!(pool.is_shutdown());
    gate.open();
    shutter.join().unwrap();

    // Everything below must already hold when shutdown returns: no waiting here.
    assert_eq!(
        done.load(Ordering::SeqCst),
        20,
        "queued jobs must run before shutdown returns"
    );
    assert!(held.iter().all(|f| f.done()));
    assert!(queued.iter().all(|f| f.done()));
    assert_eq!(pool.num_threads(), 0);
    assert_eq!(probe.started(), 3);
    assert_eq!(probe.exited(), 3, "every worker thread must have exited");
    for (i, f) in queued.into_iter().enumerate() {
        assert_eq!(f.join(), Ok(i as u32));
    }
    for f in held {
        assert_eq!(f.join(), Ok(0));
    }
}

#[test]
fn shutdown_wait_false_returns_at_once_and_jobs_still_finish() {
    let probe = ThreadProbe::default();
    let pool = probe.pool(2);
    let gate = Gate::new();
    let held = hold_workers(&pool, &gate, 2, 5);
    let queued: Vec<_> = (0..10u32).map(|i| submit_gated(&pool, &gate, i)).collect();

    // Returns while every job is still held at the gate (it would hang otherwise: Gate panics).
    pool.shutdown(false, false);
    assert!(pool.is_shutdown());
    assert!(held.iter().all(|f| f.running()));
    assert!(queued.iter().all(|f| f.state() == FutureState::Pending));
    assert!(pool.submit(|| 0).result() == Err(FutureError::Shutdown));

    gate.open();
    for f in held {
        assert_eq!(f.result_timeout(HANG), Ok(5));
    }
    for (i, f) in queued.iter().enumerate() {
        assert_eq!(f.result_timeout(HANG), Ok(i as u32));
    }
    // The threads go away by themselves.
    assert!(eventually(|| pool.num_threads() == 0));
    assert!(eventually(|| probe.exited() == 2));
}

#[test]
fn cancel_futures_cancels_every_unstarted_job() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let held = hold_workers(&pool, &gate, 2, 9);
    let drops = DropCounter::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let callbacks = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..50)
        .map(|_| {
            let tracked = drops.track();
            let ran = Arc::clone(&ran);
            let f = pool.submit(move || {
                let _keep = tracked;
                ran.fetch_add(1, Ordering::SeqCst);
            });
            let callbacks = Arc::clone(&callbacks);
            f.add_done_callback(move |f| {
                assert!(f.cancelled());
                callbacks.fetch_add(1, Ordering::SeqCst);
            });
            f
        })
        .collect();

    pool.shutdown(false, true);
    for f in &queued {
        assert_eq!(f.state(), FutureState::Cancelled);
        assert_eq!(f.result(), Err(FutureError::Cancelled));
    }
    assert_eq!(callbacks.load(Ordering::SeqCst), 50);
    assert_eq!(
        drops.dropped(),
        50,
        "cancelled closures are dropped unrun at once"
    );
    // The running jobs are not interrupted.
    assert!(held.iter().all(|f| f.running()));
    gate.open();
    for f in held {
        assert_eq!(f.join(), Ok(9));
    }
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(pool.num_threads(), 0);
}

#[test]
fn cancel_futures_with_wait_cancels_queued_and_waits_for_running() {
    let pool = Arc::new(ThreadPoolExecutor::new(1));
    let gate = Gate::new();
    let held = hold_workers(&pool, &gate, 1, 3);
    let queued: Vec<_> = (0..10).map(|i| pool.submit(move || i)).collect();
    let shutter = {
        let pool = Arc::clone(&pool);
        thread::spawn(move || pool.shutdown(true, true))
    };
    // The queued jobs get cancelled while the running one is still held.
    assert!(eventually(|| queued.iter().all(|f| f.cancelled())));
    assert!(held[0].running());
    gate.open();
    shutter.join().unwrap();
    assert!(held[0].done());
    assert_eq!(pool.num_threads(), 0);
    assert_eq!(held.into_iter().next().unwrap().join(), Ok(3));
}

#[test]
fn shutdown_is_idempotent() {
    let probe = ThreadProbe::default();
    let pool = probe.pool(2);
    let gate = Gate::new();
    let held = hold_workers(&pool, &gate, 2, 1);
    let queued = pool.submit(|| 2);
    pool.shutdown(false, false);
    pool.shutdown(false, false);
    // A later cancel_futures still cancels what has not started.
    pool.shutdown(false, true);
    assert!(queued.cancelled());
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(probe.exited(), 2);
    pool.shutdown(true, true);
    pool.shutdown(false, false);
    pool.shutdown(true, false);
    assert!(pool.is_shutdown());
    assert_eq!(pool.num_threads(), 0);
    for f in held {
        assert_eq!(f.join(), Ok(1));
    }
    assert_eq!(pool.submit(|| 3).join(), Err(FutureError::Shutdown));
    drop(pool); // Drop after shutdown: one more, must not hang.
    assert_eq!(probe.started(), 2);
}

#[test]
fn concurrent_shutdowns_from_many_threads() {
    let probe = ThreadProbe::default();
    let pool = Arc::new(probe.pool(2));
    let gate = Gate::new();
    let held = hold_workers(&pool, &gate, 2, 1);
    let barrier = Arc::new(Barrier::new(6));
    let shutters: Vec<_> = (0..6)
        .map(|i| {
            let pool = Arc::clone(&pool);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                pool.shutdown(i % 2 == 0, i % 3 == 0);
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    gate.open();
    for t in shutters {
        t.join().unwrap();
    }
    for f in held {
        assert_eq!(f.join(), Ok(1));
    }
    pool.shutdown(true, false);
    assert_eq!(probe.exited(), probe.started());
}

// A 1-worker pool whose only job calls shutdown(wait = true): it must not wait for itself.
#[test]
fn shutdown_wait_from_inside_a_job_does_not_deadlock() {
    let probe = ThreadProbe::default();
    let pool = Arc::new(probe.pool(1));
    let gate = Gate::new();
    let inner = {
        let p = Arc::clone(&pool);
        submit_gated_with(&pool, &gate, move || {
            p.shutdown(true, false);
            assert!(p.is_shutdown());
            // Again, from the same job: still must not wait for itself.
            p.shutdown(true, false);
            p.submit(|| 0).join()
        })
    };
    // Queued behind the job that shuts down: accepted before shutdown, so it still runs.
    let queued = pool.submit(|| 5);
    gate.open();
    assert_eq!(inner.result_timeout(HANG), Ok(Err(FutureError::Shutdown)));
    assert_eq!(queued.result_timeout(HANG), Ok(5));
    pool.shutdown(true, false);
    assert_eq!(pool.num_threads(), 0);
    assert_eq!(probe.exited(), 1);
}

// Both workers of a 2-worker pool call shutdown(wait = true) at the same time from their jobs.
#[test]
fn two_jobs_shutting_down_at_once_do_not_deadlock() {
    let probe = ThreadProbe::default();
    let pool = Arc::new(probe.pool(2));
    let barrier = Arc::new(Barrier::new(2));
    let jobs: Vec<_> = (0..2u32)
        .map(|i| {
            let p = Arc::clone(&pool);
            let barrier = Arc::clone(&barrier);
            pool.submit(move || {
                barrier.wait();
                p.shutdown(true, i == 1);
                i
            })
        })
        .collect();
    for (i, f) in jobs.iter().enumerate() {
        assert_eq!(f.result_timeout(HANG), Ok(i as u32));
    }
    pool.shutdown(true, false);
    assert_eq!(pool.num_threads(), 0);
    assert_eq!(probe.exited(), 2);
}

// From inside a job, shutdown(wait = true) cannot wait (another job may be waiting on the caller,
// see the next test): it returns while the other worker is still busy, the busy job still
// finishes, and a shutdown(wait = true) from outside then waits for everything.
#[test]
fn shutdown_wait_from_inside_returns_and_the_jobs_still_finish() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let gate = Gate::new();
    let other_done = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(false));
    let other = {
        let gate = gate.clone();
        let other_done = Arc::clone(&other_done);
        let r = Arc::clone(&running);
        pool.submit(move || {
            r.store(true, Ordering::SeqCst);
            gate.wait();
            other_done.store(true, Ordering::SeqCst);
        })
    };
    assert!(eventually(|| running.load(Ordering::SeqCst)));
    let shutter = {
        let p = Arc::clone(&pool);
        pool.submit(move || p.shutdown(true, false))
    };
    // Returns although the other job is held at the gate.
    assert_eq!(shutter.result_timeout(HANG), Ok(()));
    assert!(!other_done.load(Ordering::SeqCst));
    gate.open();
    pool.shutdown(true, false);
    assert!(other_done.load(Ordering::SeqCst), "outside shutdown waited");
    assert_eq!(other.result_timeout(HANG), Ok(()));
    assert_eq!(pool.num_threads(), 0);
}

// Job A calls shutdown(wait = true) while job B, on the other worker, waits for A's result. A
// waiting for B's worker to exit while B waits for A is a deadlock that only the shutdown call
// creates (Python raises "cannot join current thread" here instead of hanging).
#[test]
fn shutdown_wait_from_a_job_that_another_job_waits_on_does_not_deadlock() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let gate = Gate::new();
    let fa = {
        let p = Arc::clone(&pool);
        Arc::new(submit_gated_with(&pool, &gate, move || {
            p.shutdown(true, false);
            1u32
        }))
    };
    assert!(eventually(|| fa.running()));
    let fb = {
        let fa = Arc::clone(&fa);
        pool.submit(move || fa.result())
    };
    assert!(eventually(|| fb.running()));
    gate.open();
    let outcome = fb.result_timeout(HANG);
    if matches!(outcome, Err(FutureError::Timeout)) {
        // Both workers are stuck for good; dropping the pool would hang too.
        std::mem::forget(pool);
        panic!("shutdown(wait = true) in job A waits for job B, which waits for A: deadlock");
    }
    assert!(fa.done());
}

#[test]
fn drop_waits_for_queued_jobs_and_threads() {
    let probe = ThreadProbe::default();
    let pool = probe.pool(2);
    let gate = Gate::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let futures: Vec<_> = (0..10)
        .map(|_| {
            let ran = Arc::clone(&ran);
            submit_gated_with(&pool, &gate, move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let (tx, rx) = mpsc::channel();
    let dropper = thread::spawn(move || {
        drop(pool);
        tx.send(()).unwrap();
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "drop returned while jobs were held"
    );
    gate.open();
    rx.recv_timeout(HANG).expect("drop hangs");
    // When drop returned, every job had run and every thread had exited.
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    assert_eq!(probe.exited(), probe.started());
    assert!(futures.iter().all(|f| f.done()));
    dropper.join().unwrap();
}

// The executor moves into its own job (behind an Arc) and its last reference dies there, so its
// Drop (= shutdown(wait = true)) runs on one of its own workers.
#[test]
fn dropping_the_executor_inside_its_own_job_does_not_deadlock() {
    for workers in [1, 2] {
        let probe = ThreadProbe::default();
        let pool = Arc::new(probe.pool(workers));
        let gate = Gate::new();
        let (tx, rx) = mpsc::channel();
        let queued = {
            let p = Arc::clone(&pool);
            let fut = submit_gated_with(&pool, &gate, move || {
                drop(p); // the last reference: runs ThreadPoolExecutor::drop here
                tx.send(thread::current().name().map(str::to_owned))
                    .unwrap();
                1
            });
            let other = pool.submit(|| 2);
            (fut, other)
        };
        drop(pool);
        gate.open();
        let name = rx.recv_timeout(HANG).expect("drop inside a job hangs");
        assert!(name.is_some());
        assert_eq!(queued.0.result_timeout(HANG), Ok(1));
        assert_eq!(queued.1.result_timeout(HANG), Ok(2));
        assert!(eventually(|| probe.exited() == probe.started()));
    }
}

// Same, but the last reference is dropped by a done callback that runs on the worker.
#[test]
fn dropping_the_executor_in_a_done_callback_on_a_worker_does_not_deadlock() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let gate = Gate::new();
    let (tx, rx) = mpsc::channel();
    let fut = submit_gated(&pool, &gate, ());
    let p = Arc::clone(&pool);
    fut.add_done_callback(move |_| {
        drop(p);
        tx.send(()).unwrap();
    });
    drop(pool);
    gate.open();
    rx.recv_timeout(HANG).expect("drop in a callback hangs");
    assert_eq!(fut.result_timeout(HANG), Ok(()));
}

#[test]
fn submit_error_display_debug_and_error() {
    let pool = ThreadPoolExecutor::new(1);
    pool.shutdown(true, false);
    let err = pool.try_submit(|| 1u8).unwrap_err();
    let display = err.to_string();
    assert!(display.contains("shutdown"), "{display}");
    let debug = format!("{err:?}");
    assert!(debug.contains("SubmitError"), "{debug}");
    assert!(debug.contains("Shutdown"), "{debug}");
    let boxed: Box<dyn Error + Send + Sync> = Box::new(err);
    assert_eq!(boxed.to_string(), display);
    assert!(!boxed.to_string().is_empty());
}

#[test]
fn a_pool_that_was_never_used_never_started_a_thread() {
    let probe = ThreadProbe::default();
    let pool = probe.pool(4);
    assert_eq!(pool.num_threads(), 0);
    pool.shutdown(true, false);
    drop(pool);
    let pool = probe.pool(4);
    drop(pool);
    assert_eq!(
        probe.started(),
        0,
        "an unused pool ran an initializer, so it started a thread"
    );
}

// submit() racing with shutdown() from another thread: every future ends (ran, or refused with
// Shutdown), nothing is lost, nothing runs twice, every closure and value is dropped exactly once.
#[test]
fn submit_racing_with_shutdown() {
    for round in 0..20 {
        let pool = Arc::new(ThreadPoolExecutor::new(2));
        let drops = DropCounter::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(3));
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                let drops = drops.clone();
                let ran = Arc::clone(&ran);
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    (0..500)
                        .map(|_| {
                            let tracked = drops.track();
                            let value = drops.track();
                            let ran = Arc::clone(&ran);
                            pool.submit(move || {
                                let _keep = tracked;
                                ran.fetch_add(1, Ordering::SeqCst);
                                value
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        barrier.wait();
        thread::sleep(Duration::from_micros(200 * round));
        pool.shutdown(true, round % 2 == 0);
        let mut ok = 0;
        for t in submitters {
            for f in t.join().unwrap() {
                assert!(f.wait_timeout(HANG), "a future never ended");
                match f.join().map(drop) {
                    Ok(()) => ok += 1,
                    Err(FutureError::Shutdown) | Err(FutureError::Cancelled) => {}
                    Err(e) => panic!("unexpected outcome {e:?}"),
                }
            }
        }
        assert_eq!(ok, ran.load(Ordering::SeqCst));
        drop(pool);
        drops.wait_all_dropped();
    }
}

// CPython's test_cancel_futures (issue 13, item 14): 50 jobs, then shutdown(cancel_futures) at
// once. CPython also expects at least one job to have started, because its submit starts a
// worker thread that often takes a job before the next line runs. Here a submit never waits for
// a worker to take its job, so every job may still be queued and be cancelled: decided and
// documented (`ThreadPoolExecutor::shutdown`, the guide). What must hold: > 20 cancelled, every
// other job finished normally, nothing left pending, and exactly the non-cancelled jobs ran. A
// caller that needs a job to have started waits for it first, as the second half does.
#[test]
fn cancel_futures_right_after_a_burst_cancels_what_no_worker_took() {
    let pool = ThreadPoolExecutor::new(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let fs: Vec<_> = (0..50)
        .map(|_| {
            let ran = Arc::clone(&ran);
            pool.submit(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(100));
            })
        })
        .collect();
    pool.shutdown(true, true);
    let cancelled = fs.iter().filter(|f| f.cancelled()).count();
    assert!(cancelled > 20, "only {cancelled} of 50 cancelled");
    for f in fs.iter().filter(|f| !f.cancelled()) {
        assert!(f.done(), "{f:?} left pending");
        assert_eq!(f.exception(), None);
    }
    assert_eq!(ran.load(Ordering::SeqCst), 50 - cancelled);

    let pool = ThreadPoolExecutor::new(2);
    let fs: Vec<_> = (0..50)
        .map(|_| pool.submit(|| thread::sleep(Duration::from_millis(10))))
        .collect();
    assert!(eventually(|| fs[0].running() || fs[0].done()));
    pool.shutdown(true, true);
    assert!(!fs[0].cancelled(), "the job waited for had started");
    assert!(fs.iter().all(PoolFuture::done));
}
