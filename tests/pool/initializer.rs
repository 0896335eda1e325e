//! The worker initializer: it runs once at the start of every worker thread, and one that panics
//! breaks the pool (CPython's `FailingInitializerMixin`): pending and later jobs resolve to
//! `BrokenPool`, `try_submit` refuses, nothing hangs.

mod common;

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use common::{
    BadDrop, DropCounter, Gate, HANG, drop_without_hanging, eventually, submit_gated,
    submit_gated_with,
};
use poolbridge::{BrokenReason, FutureError, PoolFuture, ThreadPoolExecutor};

thread_local! {
    /// Set by the initializer; 0 on threads it did not run on.
    static INIT_MARK: Cell<usize> = const { Cell::new(0) };
}

fn expect_broken<T: std::fmt::Debug>(outcome: Result<T, FutureError>, what: &str) -> String {
    match outcome {
        Err(FutureError::BrokenPool(reason)) => reason.to_string(),
        other => panic!("{what}: expected BrokenPool, got {other:?}"),
    }
}

#[test]
fn initializer_runs_once_at_the_start_of_every_worker_thread() {
    let calls = Arc::new(AtomicUsize::new(0));
    let initialized: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
    let pool = {
        let calls = Arc::clone(&calls);
        let initialized = Arc::clone(&initialized);
        ThreadPoolExecutor::builder()
            .max_workers(3)
            .keep_alive(Some(Duration::from_millis(50)))
            .initializer(move || {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                INIT_MARK.with(|m| m.set(n));
                initialized.lock().unwrap().push(thread::current().id());
            })
            .build()
            .unwrap()
    };
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no thread, no initializer");
    let job = || (INIT_MARK.with(Cell::get), thread::current().id());

    // Three jobs held together run on three threads, each initialized before its job.
    let gate = Gate::new();
    let held: Vec<_> = (0..3)
        .map(|_| submit_gated_with(&pool, &gate, job))
        .collect();
    assert!(eventually(|| held.iter().all(|f| f.running())));
    gate.open();
    let mut marks: Vec<usize> = held.into_iter().map(|f| f.join().unwrap().0).collect();
    marks.sort();
    assert_eq!(
        marks,
        [1, 2, 3],
        "each job sees its own thread's initializer state"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Many more jobs (threads may retire and start meanwhile): each ran on a thread whose
    // initializer ran, and no thread ran it twice.
    let mut futures: Vec<_> = (0..200).map(|_| pool.submit(job)).collect();
    // Threads retired by the keep-alive and started again run the initializer again.
    assert!(eventually(|| pool.num_threads() == 0));
    let before = calls.load(Ordering::SeqCst);
    futures.push(pool.submit(job));
    for f in futures {
        let (mark, id) = f.join().unwrap();
        assert!(
            mark > 0,
            "a job ran on a thread whose initializer did not run"
        );
        assert!(initialized.lock().unwrap().contains(&id));
    }
    assert_eq!(calls.load(Ordering::SeqCst), before + 1);
    let ids = initialized.lock().unwrap().clone();
    let distinct: HashSet<ThreadId> = ids.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "the initializer ran twice on one thread"
    );
    assert_eq!(ids.len(), calls.load(Ordering::SeqCst));

    // The submitting thread itself is never initialized.
    assert_eq!(INIT_MARK.with(Cell::get), 0);
}

#[test]
fn initializer_runs_before_the_first_job_of_its_thread() {
    let initialized = Arc::new(AtomicBool::new(false));
    let pool = {
        let initialized = Arc::clone(&initialized);
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .initializer(move || {
                thread::sleep(Duration::from_millis(20));
                initialized.store(true, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    };
    let i = Arc::clone(&initialized);
    assert_eq!(
        pool.submit(move || i.load(Ordering::SeqCst)).join(),
        Ok(true)
    );
}

#[test]
fn a_panicking_initializer_breaks_the_pool() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| panic!("error in initializer"))
        .build()
        .unwrap();
    let drops = DropCounter::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let submit = |pool: &ThreadPoolExecutor| {
        let tracked = drops.track();
        let ran = Arc::clone(&ran);
        pool.submit(move || {
            let _keep = tracked;
            ran.fetch_add(1, Ordering::SeqCst);
            1
        })
    };
    let pending: Vec<PoolFuture<i32>> = (0..20).map(|_| submit(&pool)).collect();
    for f in &pending {
        let reason = expect_broken(f.result_timeout(HANG), "a pending job");
        assert!(reason.contains("error in initializer"), "{reason}");
    }
    // The pool is now known to be broken: every later submit fails at once.
    assert!(eventually(|| pool.is_shutdown()));
    for _ in 0..5 {
        let f = submit(&pool);
        assert!(
            f.done(),
            "a submit to a broken pool must be refused at once"
        );
        let reason = expect_broken(f.result(), "a later submit");
        assert!(reason.contains("error in initializer"), "{reason}");
        let shown = f.exception().unwrap().to_string();
        assert!(shown.contains("error in initializer"), "{shown}");
    }
    let err = pool.try_submit(|| 2).unwrap_err();
    assert!(err.is_broken_pool(), "{err:?}");
    assert!(!err.is_shutdown());
    assert_eq!(err.into_inner()(), 2);

    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "no job may run on a broken pool"
    );
    drops.wait_all_dropped();
    assert!(eventually(|| pool.num_threads() == 0));
    drop_without_hanging(pool);
}

// The first thread starts fine and runs a held job; the second thread's initializer panics.
// The running job still finishes; the queued and later ones are BrokenPool.
#[test]
fn a_panicking_initializer_on_a_later_thread_leaves_running_jobs_alone() {
    let starts = Arc::new(AtomicUsize::new(0));
    let pool = {
        let starts = Arc::clone(&starts);
        ThreadPoolExecutor::builder()
            .max_workers(2)
            .initializer(move || {
                if starts.fetch_add(1, Ordering::SeqCst) == 1 {
                    panic!("second initializer fails");
                }
            })
            .build()
            .unwrap()
    };
    let gate = Gate::new();
    let running = submit_gated(&pool, &gate, "finished");
    assert!(eventually(|| running.running()));
    // Needs a second thread, whose initializer panics.
    let queued: Vec<_> = (0..5).map(|i| pool.submit(move || i)).collect();
    for f in &queued {
        expect_broken(f.result_timeout(HANG), "a job queued when the pool broke");
    }
    expect_broken(pool.submit(|| 0).result(), "a later submit");
    assert!(running.running(), "the running job must not be disturbed");
    gate.open();
    assert_eq!(running.result_timeout(HANG), Ok("finished"));
    assert!(eventually(|| pool.num_threads() == 0));
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    drop_without_hanging(pool);
}

// Many threads submitting while the initializer panics on every worker: every future resolves
// to BrokenPool (none hangs, none runs) and every closure is dropped exactly once.
#[test]
fn submits_racing_with_the_pool_breaking_all_resolve() {
    for _ in 0..10 {
        let pool = Arc::new(
            ThreadPoolExecutor::builder()
                .max_workers(4)
                .initializer(|| {
                    thread::yield_now();
                    panic!("boom");
                })
                .build()
                .unwrap(),
        );
        let drops = DropCounter::new();
        let barrier = Arc::new(Barrier::new(3));
        let submitters: Vec<_> = (0..3)
            .map(|_| {
                let pool = Arc::clone(&pool);
                let drops = drops.clone();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    (0..300)
                        .map(|_| {
                            let tracked = drops.track();
                            pool.submit(move || drop(tracked))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for t in submitters {
            for f in t.join().unwrap() {
                expect_broken(f.result_timeout(HANG), "a job submitted while breaking");
            }
        }
        drops.wait_all_dropped();
        let pool = Arc::try_unwrap(pool).ok().unwrap();
        drop_without_hanging(pool);
    }
}

// The hardening issue's defect 2 in an initializer: a panic payload whose own `Drop` panics used
// to kill the thread while it still counted as searching: its job stayed pending for good and
// dropping the pool hung.
#[test]
fn an_initializer_panicking_with_a_bad_payload_breaks_the_pool_cleanly() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| std::panic::panic_any(BadDrop))
        .build()
        .unwrap();
    let fut = pool.submit(|| 1);
    let reason = expect_broken(fut.result_timeout(HANG), "a job on a broken pool");
    assert!(reason.contains("initializer panicked"), "{reason}");
    assert!(pool.is_shutdown());
    drop_without_hanging(pool);
}

// The reason is structured: `InitializerPanicked`, with the panic itself (its message, and its
// payload for whoever takes it first), the same in every job's error and in `try_submit`'s.
#[test]
fn an_initializer_panic_is_an_initializer_panicked_reason() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(|| std::panic::panic_any(String::from("no model file")))
        .build()
        .unwrap();
    let err = pool.submit(|| 1).result_timeout(HANG).unwrap_err();
    let reason = err
        .broken_reason()
        .cloned()
        .unwrap_or_else(|| panic!("{err:?}"));
    match &reason {
        BrokenReason::InitializerPanicked {
            initializer, panic, ..
        } => {
            assert_eq!(initializer, "a worker thread's initializer");
            assert_eq!(panic.message(), "no model file");
        }
        other => panic!("expected InitializerPanicked, got {other:?}"),
    }
    assert_eq!(
        reason.to_string(),
        "a worker thread's initializer panicked (no model file)"
    );
    assert_eq!(
        err.to_string(),
        "the pool cannot run jobs: a worker thread's initializer panicked (no model file)"
    );
    let payload = reason.as_panic().unwrap().take_payload().unwrap();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "no model file");
    let refused = pool.try_submit(|| 2).unwrap_err();
    assert!(matches!(refused, poolbridge::SubmitError::Broken(_, _)));
    assert_eq!(refused.broken_reason(), Some(&reason));
    assert_eq!(refused.into_inner()(), 2);
}

// The hardening issue's defect 4: 4 jobs of 300 ms on a 4-worker pool whose initializer sleeps
// 300 ms took 1.2 s (Python: 0.6 s): a thread still in its initializer counted as searching, so
// the other submits started no thread and the threads started one after another. Contrast in
// the same test: all four initializers must start before the first one ends.
#[test]
fn a_slow_initializer_does_not_serialize_thread_starts() {
    const INIT: Duration = Duration::from_millis(300);
    let started = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&started);
    let origin = std::time::Instant::now();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .initializer(move || {
            s.lock().unwrap().push(origin.elapsed());
            thread::sleep(INIT);
        })
        .build()
        .unwrap();
    let jobs: Vec<PoolFuture<()>> = (0..4)
        .map(|_| pool.submit(|| thread::sleep(INIT)))
        .collect();
    for job in &jobs {
        assert_eq!(job.result_timeout(HANG), Ok(()));
    }
    let elapsed = origin.elapsed();
    let starts = started.lock().unwrap().clone();
    assert_eq!(starts.len(), 4, "one thread per job: {starts:?}");
    let last = starts.iter().max().unwrap();
    assert!(
        *last < INIT,
        "the last initializer started {last:?} after the pool was built, after the first one \
         had finished ({INIT:?}): thread starts waited for initializers ({starts:?}; all jobs \
         took {elapsed:?})"
    );
}
