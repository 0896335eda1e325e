//! Deadlines on the thread pool: `ThreadPoolExecutor::submit_with` with
//! `SubmitOptions::deadline`, `poolbridge::deadline()`, inheritance by sub-jobs, and
//! `FutureError::DeadlineExceeded { started }`.
//!
//! A job not started by its deadline never runs (and its future resolves at the deadline even
//! while it is still queued); a running job is asked to stop (`cancelled()` turns `true`) and
//! resolves to `DeadlineExceeded { started: true }` if it looked; one that did not look keeps its
//! value. The races at the end check that no outcome is lost or doubled.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, Gate, HANG, OpenOnDrop, eventually, submit_held};
use poolbridge::{FutureError, PoolFuture, SubmitOptions, ThreadPoolExecutor, cancelled, deadline};

const NOT_STARTED: FutureError = FutureError::DeadlineExceeded { started: false };
const STOPPED: FutureError = FutureError::DeadlineExceeded { started: true };

fn within(d: Duration) -> SubmitOptions {
    SubmitOptions::default().deadline(d)
}

fn at(at: Instant) -> SubmitOptions {
    SubmitOptions::default().deadline_at(at)
}

/// Waits until `fut`'s job runs.
fn until_running<T>(fut: &PoolFuture<T>) {
    assert!(eventually(|| fut.running()), "the job never started");
}

#[test]
fn late_queued_jobs_never_run_and_the_counts_add_up() {
    const JOBS: usize = 1_000;
    let pool = ThreadPoolExecutor::new(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let closures = DropCounter::new();
    // One deadline for all, from before the first submit (a deadline of `within(100 ms)` would
    // count from each submit, and a slow burst would let more jobs in).
    let options = at(Instant::now() + Duration::from_millis(100));
    let futures: Vec<PoolFuture<usize>> = (0..JOBS)
        .map(|i| {
            let ran = Arc::clone(&ran);
            let tracked = closures.track();
            pool.submit_with(
                move || {
                    let _tracked = tracked;
                    ran.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(1));
                    i
                },
                options.clone(),
            )
        })
        .collect();
    let (mut values, mut late) = (0, 0);
    for (i, fut) in futures.iter().enumerate() {
        match fut.result() {
            Ok(value) => {
                assert_eq!(value, i);
                values += 1;
            }
            Err(err) => {
                assert_eq!(err, NOT_STARTED, "job {i}");
                late += 1;
            }
        }
    }
    let ran = ran.load(Ordering::SeqCst);
    assert_eq!(values + late, JOBS);
    assert_eq!(
        ran, values,
        "a job resolved DeadlineExceeded yet ran, or ran without a value"
    );
    // Each job sleeps at least 1 ms on the only thread, so at most 100 of them start before the
    // deadline (one that started just before it finishes after, with its value).
    assert!(ran <= 101, "{ran} jobs ran: the late ones must not");
    assert!(late >= JOBS - 101);
    closures.wait_all_dropped();
    assert!(eventually(
        || pool.metrics().deadline_exceeded == late as u64
    ));
    let m = pool.metrics();
    assert_eq!((m.completed, m.cancelled), (values as u64, 0));
}

#[test]
fn a_queued_job_resolves_at_its_deadline_while_the_worker_is_busy() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = OpenOnDrop(Gate::new());
    let busy = submit_held(&pool, &gate, ());
    let closures = DropCounter::new();
    let tracked = closures.track();
    let start = Instant::now();
    let fut = pool.submit_with(move || drop(tracked), within(Duration::from_millis(50)));
    // The only worker is held for the whole wait: only the deadline can end the job.
    assert_eq!(fut.result(), Err(NOT_STARTED));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(50),
        "resolved early: {waited:?}"
    );
    assert!(
        waited < HANG,
        "resolved only when a worker took it: {waited:?}"
    );
    closures.wait_all_dropped();
    assert!(!busy.done(), "the worker is still held");
    gate.open();
    assert_eq!(busy.result(), Ok(()));
    assert_eq!(pool.metrics().deadline_exceeded, 1);
}

#[test]
fn a_running_job_that_checks_cancelled_stops_and_frees_its_thread() {
    let pool = ThreadPoolExecutor::new(1);
    let start = Instant::now();
    let looping = pool.submit_with(
        || {
            let mut rounds = 0u64;
            while !cancelled() {
                rounds += 1;
                thread::sleep(Duration::from_millis(1));
            }
            rounds
        },
        within(Duration::from_millis(200)),
    );
    let next = pool.submit(|| "next");
    assert_eq!(looping.result(), Err(STOPPED));
    assert!(start.elapsed() >= Duration::from_millis(200));
    // The only thread is free again: the next job runs.
    assert_eq!(next.result_timeout(HANG), Ok("next"));
    let m = pool.metrics();
    assert_eq!((m.deadline_exceeded, m.cancelled), (1, 0));
}

#[test]
fn a_running_job_that_does_not_look_keeps_its_value() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit_with(
        || {
            thread::sleep(Duration::from_millis(300));
            7
        },
        within(Duration::from_millis(100)),
    );
    assert_eq!(fut.result(), Ok(7));
    assert_eq!(pool.metrics().deadline_exceeded, 0);
}

#[test]
fn the_first_request_decides_cancelled_or_deadline_exceeded() {
    let pool = ThreadPoolExecutor::new(2);
    // Asked by `request_cancel` first, then the deadline passes: `Cancelled`.
    let deadline_at = Instant::now() + Duration::from_millis(500);
    let cancelled_first = pool.submit_with(
        move || {
            while !cancelled() {
                thread::sleep(Duration::from_millis(1));
            }
            while Instant::now() < deadline_at + Duration::from_millis(50) {
                thread::sleep(Duration::from_millis(1));
            }
        },
        at(deadline_at),
    );
    until_running(&cancelled_first);
    assert!(cancelled_first.request_cancel());
    assert_eq!(cancelled_first.result(), Err(FutureError::Cancelled));

    // The deadline first, then `request_cancel`: `DeadlineExceeded`.
    let (seen, saw) = mpsc::channel();
    let deadline_first = pool.submit_with(
        move || {
            while !cancelled() {
                thread::sleep(Duration::from_millis(1));
            }
            seen.send(()).unwrap();
            thread::sleep(Duration::from_millis(50));
        },
        within(Duration::from_millis(200)),
    );
    saw.recv_timeout(HANG).unwrap();
    assert!(deadline_first.request_cancel());
    assert_eq!(deadline_first.result(), Err(STOPPED));
}

#[test]
fn deadline_is_some_inside_a_job_with_one_and_none_elsewhere() {
    assert_eq!(deadline(), None);
    let pool = ThreadPoolExecutor::new(1);
    let when = Instant::now() + Duration::from_secs(60);
    assert_eq!(
        pool.submit_with(deadline, at(when)).result(),
        Ok(Some(when))
    );
    // The same (only) worker, next job: no deadline left behind.
    assert_eq!(pool.submit(deadline).result(), Ok(None));
    assert_eq!(
        pool.submit_with(deadline, SubmitOptions::default())
            .result(),
        Ok(None)
    );
    assert_eq!(deadline(), None);
}

#[test]
fn sub_jobs_inherit_the_earliest_deadline_through_two_levels() {
    let pool = Arc::new(ThreadPoolExecutor::new(3));
    let soon = Instant::now() + Duration::from_secs(60);
    let late = soon + Duration::from_secs(60);
    for (parent, child) in [(soon, late), (late, soon)] {
        let p = Arc::clone(&pool);
        let fut = pool.submit_with(
            move || {
                let q = Arc::clone(&p);
                let child = p.submit_with(
                    move || {
                        // A plain submit inherits too.
                        let grandchild = q.submit(deadline);
                        (deadline(), grandchild.join().unwrap())
                    },
                    at(child),
                );
                (deadline(), child.join().unwrap())
            },
            at(parent),
        );
        let (seen_by_parent, (seen_by_child, seen_by_grandchild)) = fut.join().unwrap();
        assert_eq!(seen_by_parent, Some(parent));
        assert_eq!(
            seen_by_child,
            Some(soon),
            "the earlier of its own and its parent's"
        );
        assert_eq!(seen_by_grandchild, Some(soon));
    }
}

#[test]
fn submit_call_and_try_submit_inherit_and_execute_does_not() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let when = Instant::now() + Duration::from_secs(60);
    let p = Arc::clone(&pool);
    let fut = pool.submit_with(
        move || {
            let call = p.submit_call(deadline, ()).join().unwrap();
            let tried = p.try_submit(deadline).unwrap().join().unwrap();
            let (tx, rx) = mpsc::channel();
            p.execute(move || tx.send(deadline()).unwrap()).unwrap();
            (call, tried, rx.recv_timeout(HANG).unwrap())
        },
        at(when),
    );
    assert_eq!(fut.join(), Ok((Some(when), Some(when), None)));
}

#[test]
fn inherit_deadline_false_opts_out() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let parent = Instant::now() + Duration::from_secs(60);
    let own = parent + Duration::from_secs(60);
    let p = Arc::clone(&pool);
    let fut = pool.submit_with(
        move || {
            let free = SubmitOptions::default().inherit_deadline(false);
            let none = p.submit_with(deadline, free.clone()).join().unwrap();
            let later = p
                .submit_with(deadline, free.deadline_at(own))
                .join()
                .unwrap();
            (none, later)
        },
        at(parent),
    );
    assert_eq!(fut.join(), Ok((None, Some(own))));
}

#[test]
fn a_job_run_inline_by_a_wait_in_a_job_with_a_deadline_keeps_its_own() {
    let pool = ThreadPoolExecutor::new(1);
    let (send, receive) = mpsc::channel::<PoolFuture<(Option<Instant>, String)>>();
    let when = Instant::now() + Duration::from_secs(60);
    let outer = pool.submit_with(
        move || {
            let inner = receive.recv_timeout(HANG).unwrap();
            // The only worker is this one: the wait runs the queued job here.
            let seen = inner.join().unwrap();
            (
                deadline(),
                seen,
                thread::current().name().map(str::to_owned),
            )
        },
        at(when),
    );
    until_running(&outer);
    // Submitted from outside, without a deadline: queued behind the outer job.
    let inner = pool.submit(|| (deadline(), common::thread_name()));
    send.send(inner).unwrap();
    let (outer_deadline, (inner_deadline, inner_thread), outer_thread) = outer.join().unwrap();
    assert_eq!(outer_deadline, Some(when));
    assert_eq!(
        Some(inner_thread),
        outer_thread,
        "run inline by the outer job's wait"
    );
    assert_eq!(inner_deadline, None);
}

#[test]
fn an_inline_runner_does_not_start_a_job_past_its_deadline() {
    let pool = ThreadPoolExecutor::new(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let (send, receive) = mpsc::channel::<PoolFuture<()>>();
    let outer = pool.submit(move || {
        let late = receive.recv_timeout(HANG).unwrap();
        // Past the late job's deadline: whoever gets there first, the deadline timer or this
        // wait (which would run the job inline if it still could), the job never runs.
        thread::sleep(Duration::from_millis(20));
        late.result()
    });
    until_running(&outer);
    let counter = Arc::clone(&ran);
    let late = pool.submit_with(
        move || {
            counter.fetch_add(1, Ordering::SeqCst);
        },
        within(Duration::from_millis(5)),
    );
    send.send(late).unwrap();
    assert_eq!(outer.join(), Ok(Err(NOT_STARTED)));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_submit_past_the_deadline_is_refused_at_once() {
    let pool = ThreadPoolExecutor::new(1);
    let closures = DropCounter::new();
    let tracked = closures.track();
    let fut = pool.submit_with(
        move || drop(tracked),
        SubmitOptions::default().deadline(Duration::ZERO),
    );
    assert!(fut.done(), "no need to queue it");
    assert_eq!(fut.result(), Err(NOT_STARTED));
    assert_eq!(closures.dropped(), 1);
    assert_eq!(pool.metrics().deadline_exceeded, 1);
}

#[test]
fn a_bounded_submit_that_waits_past_the_deadline_never_runs() {
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .max_queued(1)
            .build()
            .unwrap(),
    );
    let gate = OpenOnDrop(Gate::new());
    let busy = submit_held(&pool, &gate, ());
    let queued = pool.submit(|| 1);
    let p = Arc::clone(&pool);
    let waiting = thread::spawn(move || p.submit_with(|| 2, within(Duration::from_millis(30))));
    assert!(eventually(|| pool.metrics().waiting_submits == 1));
    thread::sleep(Duration::from_millis(60));
    gate.open();
    let late = waiting.join().unwrap();
    assert_eq!(late.result(), Err(NOT_STARTED));
    assert_eq!((busy.result(), queued.result()), (Ok(()), Ok(1)));
}

/// Each future resolves once (one callback call), to its value or `Cancelled`; every closure
/// and every value is dropped exactly once (`Tracked` panics on a second drop).
#[test]
fn request_cancel_racing_completion_loses_or_doubles_nothing() {
    const JOBS: usize = 10_000;
    let pool = ThreadPoolExecutor::new(2);
    let drops = DropCounter::new();
    let callbacks = Arc::new(AtomicUsize::new(0));
    let (send, receive) = mpsc::channel::<Arc<PoolFuture<common::Tracked>>>();
    let canceller = thread::spawn(move || {
        for fut in receive {
            fut.request_cancel();
        }
    });
    let futures: Vec<_> = (0..JOBS)
        .map(|i| {
            let in_closure = drops.track();
            let value = drops.track();
            let fut = pool.submit(move || {
                drop(in_closure);
                if i % 2 == 0 {
                    // Half look at the request, so a stop while running is raced too.
                    let _ = cancelled();
                }
                value
            });
            let calls = Arc::clone(&callbacks);
            fut.add_done_callback(move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
            });
            let fut = Arc::new(fut);
            send.send(Arc::clone(&fut)).unwrap();
            fut
        })
        .collect();
    drop(send);
    canceller.join().unwrap();
    let (mut values, mut cancelled_jobs) = (0, 0);
    for fut in futures {
        let fut = Arc::into_inner(fut).expect("the canceller has let go");
        match fut.join() {
            Ok(value) => {
                drop(value);
                values += 1;
            }
            Err(FutureError::Cancelled) => cancelled_jobs += 1,
            Err(other) => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(values + cancelled_jobs, JOBS);
    assert_eq!(
        callbacks.load(Ordering::SeqCst),
        JOBS,
        "each future ends once"
    );
    assert_eq!(drops.created(), 2 * JOBS);
    drops.wait_all_dropped();
    let m = pool.metrics();
    assert_eq!(m.deadline_exceeded, 0);
}

/// The deadline timer racing the workers and `request_cancel`: every future resolves once, to
/// its value, `Cancelled` or `DeadlineExceeded`, the counts agree with the metrics, and every
/// closure and value is dropped exactly once.
#[test]
fn deadlines_racing_completion_and_cancel_lose_or_double_nothing() {
    const JOBS: usize = 10_000;
    let pool = ThreadPoolExecutor::new(2);
    let drops = DropCounter::new();
    let callbacks = Arc::new(AtomicUsize::new(0));
    let (send, receive) = mpsc::channel::<Arc<PoolFuture<common::Tracked>>>();
    let canceller = thread::spawn(move || {
        for (i, fut) in receive.into_iter().enumerate() {
            if i % 3 == 0 {
                fut.request_cancel();
            }
        }
    });
    let start = Instant::now();
    let futures: Vec<_> = (0..JOBS)
        .map(|i| {
            let in_closure = drops.track();
            let value = drops.track();
            // Deadlines spread over the first few milliseconds of the burst.
            let when = start + Duration::from_micros((i as u64 * 7) % 3_000);
            let fut = pool.submit_with(
                move || {
                    drop(in_closure);
                    if i % 2 == 0 {
                        let _ = cancelled();
                    }
                    value
                },
                at(when),
            );
            let calls = Arc::clone(&callbacks);
            fut.add_done_callback(move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
            });
            let fut = Arc::new(fut);
            send.send(Arc::clone(&fut)).unwrap();
            fut
        })
        .collect();
    drop(send);
    canceller.join().unwrap();
    let (mut values, mut cancelled_jobs, mut exceeded) = (0, 0, 0);
    for fut in futures {
        let fut = Arc::into_inner(fut).expect("the canceller has let go");
        match fut.join() {
            Ok(value) => {
                drop(value);
                values += 1;
            }
            Err(FutureError::Cancelled) => cancelled_jobs += 1,
            Err(FutureError::DeadlineExceeded { .. }) => exceeded += 1,
            Err(other) => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(values + cancelled_jobs + exceeded, JOBS);
    assert!(
        eventually(|| callbacks.load(Ordering::SeqCst) == JOBS),
        "each future ends once: {} callbacks",
        callbacks.load(Ordering::SeqCst)
    );
    drops.wait_all_dropped();
    assert_eq!(pool.metrics().deadline_exceeded, exceeded as u64);
}
