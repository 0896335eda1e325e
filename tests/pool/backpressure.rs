//! Back-pressure: `ThreadPoolBuilder::max_queued`. `submit` blocks while the queue is full,
//! `try_submit` hands the closure back, `submit_async` awaits room without blocking the runtime,
//! first come first served, and a waiter that gives up leaves no reservation behind.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    DropCounter, Gate, HANG, OpenOnDrop, current_thread_runtime, eventually, multi_thread_runtime,
    run_with_watchdog, submit_held,
};
use poolbridge::{FutureError, MapOptions, SubmitError, ThreadPoolExecutor};

fn bounded(max_workers: usize, max_queued: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(max_workers)
        .max_queued(max_queued)
        .build()
        .unwrap()
}

/// Holds the only worker of `pool` and fills its queue with `n` jobs waiting behind it.
fn hold_and_fill(pool: &ThreadPoolExecutor, n: usize) -> OpenOnDrop {
    let gate = OpenOnDrop(Gate::new());
    let _held = submit_held(pool, &gate, ());
    for _ in 0..n {
        pool.try_submit(|| ()).expect("the queue has room");
    }
    gate
}

/// Spins for about `d` (a job that keeps the worker busy without sleeping).
fn busy_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn submit_async_from_50_tasks_never_queues_more_than_the_bound() {
    const TASKS: usize = 50;
    const PER_TASK: usize = 20;
    const MAX_QUEUED: usize = 4;
    let pool = Arc::new(bounded(1, MAX_QUEUED));
    let runs: Arc<Vec<AtomicUsize>> =
        Arc::new((0..TASKS * PER_TASK).map(|_| AtomicUsize::new(0)).collect());
    // Extra submits that give up while they wait: their jobs must never run, and their
    // closures must be dropped.
    let abandoned_runs = Arc::new(AtomicUsize::new(0));
    let abandoned = Arc::new(AtomicUsize::new(0));
    let drops = DropCounter::new();

    // Sample the queue while the producers run.
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (pool, done) = (Arc::clone(&pool), Arc::clone(&done));
        thread::spawn(move || {
            let (mut max_queued, mut max_waiting, mut samples) = (0, 0, 0u64);
            while !done.load(Ordering::SeqCst) {
                let m = pool.metrics();
                max_queued = max_queued.max(m.queued);
                max_waiting = max_waiting.max(m.waiting_submits);
                samples += 1;
                thread::yield_now();
            }
            (max_queued, max_waiting, samples)
        })
    };

    multi_thread_runtime(2).block_on(async {
        let producers: Vec<_> = (0..TASKS)
            .map(|task| {
                let (pool, runs) = (Arc::clone(&pool), Arc::clone(&runs));
                let (abandoned_runs, abandoned) =
                    (Arc::clone(&abandoned_runs), Arc::clone(&abandoned));
                let drops = drops.clone();
                tokio::spawn(async move {
                    let mut futures = Vec::new();
                    for i in 0..PER_TASK {
                        let id = task * PER_TASK + i;
                        let runs = Arc::clone(&runs);
                        let tracked = drops.track();
                        let fut = pool
                            .submit_async(move || {
                                let _tracked = tracked;
                                runs[id].fetch_add(1, Ordering::SeqCst);
                                busy_for(Duration::from_micros(20));
                                id
                            })
                            .await;
                        futures.push(fut);
                        if i % 5 == 0 {
                            // A submit that gives up after a moment: it either got room in
                            // time (its job runs) or was dropped while waiting.
                            let abandoned_runs = Arc::clone(&abandoned_runs);
                            let tracked = drops.track();
                            let attempt = pool.submit_async(move || {
                                let _tracked = tracked;
                                abandoned_runs.fetch_add(1, Ordering::SeqCst);
                            });
                            match tokio::time::timeout(Duration::from_micros(50), attempt).await {
                                Ok(fut) => fut.await.unwrap(),
                                Err(_) => {
                                    abandoned.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                        }
                    }
                    for (i, fut) in futures.into_iter().enumerate() {
                        assert_eq!(fut.await, Ok(task * PER_TASK + i));
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.await.unwrap();
        }
    });
    done.store(true, Ordering::SeqCst);
    let (max_queued, max_waiting, samples) = sampler.join().unwrap();

    for (id, runs) in runs.iter().enumerate() {
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "job {id} ran a wrong number of times"
        );
    }
    let gave_up = abandoned.load(Ordering::SeqCst);
    assert_eq!(
        abandoned_runs.load(Ordering::SeqCst) + gave_up,
        TASKS * PER_TASK / 5,
        "a job whose submit gave up ran anyway"
    );
    drops.wait_all_dropped();
    assert!(samples > 10, "the sampler barely ran ({samples} samples)");
    assert!(
        max_queued <= MAX_QUEUED,
        "{max_queued} jobs queued with max_queued({MAX_QUEUED})"
    );
    assert!(
        max_waiting > 0,
        "the producers never had to wait: the test proves nothing"
    );
    assert!(
        gave_up > 0,
        "no submit gave up while waiting: the test proves nothing"
    );

    // No reservation was left behind by the submits that gave up: with the worker held,
    // exactly MAX_QUEUED jobs fit.
    let m = pool.metrics();
    assert_eq!((m.queued, m.waiting_submits), (0, 0), "{m:?}");
    let _gate = hold_and_fill(&pool, MAX_QUEUED);
    let refused = pool.try_submit(|| ()).unwrap_err();
    assert!(refused.is_queue_full());
}

#[test]
fn submit_from_a_plain_thread_blocks_while_the_queue_is_full_and_resumes() {
    let pool = Arc::new(bounded(1, 2));
    let gate = hold_and_fill(&pool, 2);
    let (returned_tx, returned) = mpsc::channel();
    let submitter = {
        let pool = Arc::clone(&pool);
        thread::spawn(move || {
            let fut = pool.submit(|| "third");
            returned_tx.send(()).unwrap();
            fut.join()
        })
    };
    assert!(eventually(|| pool.metrics().waiting_submits == 1));
    assert_eq!(
        returned.recv_timeout(Duration::from_millis(100)),
        Err(mpsc::RecvTimeoutError::Timeout),
        "submit returned although the queue was full"
    );
    assert_eq!(pool.metrics().queued, 2);
    gate.open();
    returned.recv_timeout(HANG).expect("submit never resumed");
    assert_eq!(submitter.join().unwrap(), Ok("third"));
}

#[test]
fn try_submit_refuses_a_full_queue_and_gives_the_closure_back() {
    let pool = bounded(1, 1);
    let gate = hold_and_fill(&pool, 1);
    let err = pool.try_submit(|| 5).unwrap_err();
    assert!(err.is_queue_full());
    assert!(!err.is_shutdown() && !err.is_broken_pool());
    assert!(err.to_string().contains("queue is full"), "{err}");
    assert_eq!(format!("{err:?}"), "SubmitError::Full(..)");
    assert_eq!(err.into_inner()(), 5);
    gate.open();
    // Room again once the worker takes the queued job.
    assert!(eventually(|| pool.metrics().queued == 0));
    assert_eq!(pool.try_submit(|| 6).unwrap().join(), Ok(6));
}

// `SubmitError` is an enum: a full queue is `Full`, a pool shut down meanwhile `Shutdown`; each
// hands the closure back.
#[test]
fn try_submit_says_full_then_shutdown_by_variant() {
    let pool = bounded(1, 1);
    let gate = hold_and_fill(&pool, 1);
    match pool.try_submit(|| 7) {
        Err(SubmitError::Full(job)) => assert_eq!(job(), 7),
        Err(other) => panic!("expected Full, got {other:?}"),
        Ok(_) => panic!("the queue is full"),
    }
    pool.shutdown(false, false);
    match pool.try_submit(|| 8) {
        Err(err @ SubmitError::Shutdown(_)) => {
            assert!(err.is_shutdown() && !err.is_queue_full() && !err.is_broken_pool());
            assert!(err.broken_reason().is_none());
            assert_eq!(err.to_string(), "cannot schedule new jobs after shutdown");
            assert_eq!(format!("{err:?}"), "SubmitError::Shutdown(..)");
            assert_eq!(err.into_inner()(), 8);
        }
        Err(other) => panic!("expected Shutdown, got {other:?}"),
        Ok(_) => panic!("the pool is shut down"),
    }
    gate.open();
}

#[test]
fn a_cancelled_queued_job_frees_its_place_at_once() {
    let pool = bounded(1, 2);
    let _gate = hold_and_fill(&pool, 1);
    let queued = pool.try_submit(|| ()).unwrap();
    assert!(pool.try_submit(|| ()).unwrap_err().is_queue_full());
    assert!(queued.cancel());
    // The worker is still held: the place came back with the cancellation, not with a worker.
    pool.try_submit(|| ())
        .expect("the cancelled job's place is free");
}

#[test]
fn a_submit_from_inside_the_pool_never_waits() {
    run_with_watchdog(
        HANG,
        "a job submitting to its own full pool deadlocked",
        || {
            let pool = Arc::new(bounded(1, 1));
            let inner = Arc::clone(&pool);
            let parent = pool.submit(move || {
                // Five sub-jobs into a queue of one, from the pool's only worker: waiting for room
                // would deadlock; they go past the bound instead.
                let children: Vec<_> = (0..5u32).map(|i| inner.submit(move || i)).collect();
                children.into_iter().map(|c| c.join().unwrap()).sum::<u32>()
            });
            assert_eq!(parent.join(), Ok(10));
        },
    );
}

#[test]
fn waiting_submitters_get_room_first_come_first_served() {
    const WAITERS: usize = 6;
    let pool = Arc::new(bounded(1, 1));
    let gate = hold_and_fill(&pool, 1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let rt = current_thread_runtime();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..WAITERS {
            let (waiter_pool, order) = (Arc::clone(&pool), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                waiter_pool
                    .submit_async(move || order.lock().unwrap().push(i))
                    .await
                    .await
                    .unwrap();
            }));
            // Let task `i` queue itself before task `i + 1` is spawned.
            while pool.metrics().waiting_submits < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        gate.open();
        for task in tasks {
            task.await.unwrap();
        }
    });
    assert_eq!(*order.lock().unwrap(), (0..WAITERS).collect::<Vec<_>>());
}

#[test]
fn shutdown_refuses_the_submitters_waiting_for_room() {
    let pool = Arc::new(bounded(1, 1));
    let gate = hold_and_fill(&pool, 1);
    let blocked = {
        let pool = Arc::clone(&pool);
        thread::spawn(move || pool.submit(|| 1).join())
    };
    let rt = current_thread_runtime();
    let waiting = {
        let pool = Arc::clone(&pool);
        rt.spawn(async move { pool.submit_async(|| 2).await.await })
    };
    rt.block_on(async {
        while pool.metrics().waiting_submits < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    pool.shutdown(false, false);
    assert_eq!(blocked.join().unwrap(), Err(FutureError::Shutdown));
    assert_eq!(rt.block_on(waiting).unwrap(), Err(FutureError::Shutdown));
    assert_eq!(pool.metrics().waiting_submits, 0);
    gate.open();
}

#[test]
fn submit_async_without_a_bound_is_submit() {
    let pool = ThreadPoolExecutor::new(2);
    let fut = futures::executor::block_on(pool.submit_async(|| 41 + 1));
    assert_eq!(fut.join(), Ok(42));
    // The future can cross threads (it is `Send`), like the closure it carries.
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let fut = assert_send(pool.submit_async(|| 1));
    assert_eq!(
        futures::executor::block_on(fut).join(),
        Ok(1),
        "submitted at the first poll"
    );
    pool.shutdown(true, false);
    let refused = futures::executor::block_on(pool.submit_async(|| 3));
    assert_eq!(refused.join(), Err(FutureError::Shutdown));
}

#[test]
fn map_with_buffersize_works_on_a_bounded_pool() {
    let pool = bounded(2, 2);
    let squares: Vec<u64> = pool
        .map_with(|n: u64| n * n, 0..100, MapOptions::default().buffersize(8))
        .map(Result::unwrap)
        .collect();
    assert_eq!(squares, (0..100).map(|n| n * n).collect::<Vec<_>>());
    // An eager map of more items than the bound blocks its caller until they fit, then runs
    // them all.
    let total: u64 = pool.map(|n: u64| n, 0..50).map(Result::unwrap).sum();
    assert_eq!(total, 1225);
}

#[test]
fn max_queued_zero_is_refused() {
    let err = ThreadPoolExecutor::builder()
        .max_queued(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_queued"), "{err}");
}
