//! Blocking waits inside the pool's own workers: waiting on a job of the same pool never
//! deadlocks (the waiter runs the job itself if nobody has started it), whatever the waiting
//! method (`result`, `join`, `wait`, `exception`, `poolbridge::wait`, `as_completed`, `map`);
//! recursive fork-join; deep nesting on one worker; waiting on a job that runs on another worker.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    Gate, HANG, eventually, in_test_child, run_test_in_child, submit_gated, submit_gated_with,
};
use poolbridge::{
    FutureError, MapOptions, PoolFuture, ReturnWhen, ThreadPoolExecutor, as_completed,
    as_completed_timeout, wait, wait_timeout,
};

/// A 1-worker pool and a job on it that submits `inner` to the same pool and waits for it with
/// `how`. The single worker is busy with the outer job, so only a helping wait can finish.
fn on_one_worker<T, W>(how: W) -> T
where
    T: Send + 'static,
    W: FnOnce(&Arc<ThreadPoolExecutor>) -> T + Send + 'static,
{
    let pool = Arc::new(ThreadPoolExecutor::new(1));
    let p = Arc::clone(&pool);
    let outer = pool.submit(move || how(&p));
    assert!(
        outer.wait_timeout(HANG),
        "a wait inside the only worker deadlocked"
    );
    let out = outer.join().unwrap();
    drop(pool);
    out
}

#[test]
fn result_inside_the_only_worker() {
    let got = on_one_worker(|pool| pool.submit(|| 6 * 7).result());
    assert_eq!(got, Ok(42));
}

#[test]
fn join_inside_the_only_worker() {
    let got = on_one_worker(|pool| pool.submit(|| String::from("inner")).join());
    assert_eq!(got, Ok(String::from("inner")));
}

#[test]
fn wait_and_exception_inside_the_only_worker() {
    let got = on_one_worker(|pool| {
        let f = pool.submit(|| 1);
        f.wait();
        let done = f.done();
        let g = pool.submit(|| -> u8 { panic!("inner panic") });
        (done, f.exception(), g.exception())
    });
    assert!(got.0, "wait() returned before the job was done");
    assert_eq!(got.1, None);
    assert!(matches!(got.2, Some(FutureError::Panicked(p)) if p.message() == "inner panic"));
}

// A timed wait never runs the awaited job inline: it returns by its deadline. On a saturated
// pool the job then waits for a free worker, as in Python.
#[test]
fn timed_waits_inside_the_only_worker_return_by_their_deadline() {
    let short = Duration::from_millis(20);
    let got = on_one_worker(move |pool| {
        let a = pool.submit(|| 1);
        let b = pool.submit(|| 2);
        let c = pool.submit(|| 3);
        let timed = (
            a.result_timeout(short),
            b.wait_timeout(short),
            c.exception_timeout(short),
        );
        // Untimed waits still run them inline.
        (timed, (a.result(), b.result(), c.exception()))
    });
    let timed = (Err(FutureError::Timeout), false, Some(FutureError::Timeout));
    assert_eq!(got, (timed, (Ok(1), Ok(2), None)));
}

// The hardening issue's defect 3: `inner.result_timeout(20 ms)` on a worker, where `inner` takes
// 800 ms, returned after 800 ms with `Ok`. Contrast: the untimed wait of the same job on the same
// worker takes the job's whole time.
#[test]
fn a_timed_wait_on_a_worker_ignores_a_slow_pending_job() {
    const JOB: Duration = Duration::from_millis(800);
    let got = on_one_worker(|pool| {
        let inner = pool.submit(|| {
            thread::sleep(JOB);
            7
        });
        let start = Instant::now();
        let timed = inner.result_timeout(Duration::from_millis(20));
        let timed_took = start.elapsed();
        let start = Instant::now();
        let untimed = inner.result();
        (timed, timed_took, untimed, start.elapsed())
    });
    let (timed, timed_took, untimed, untimed_took) = got;
    assert_eq!(timed, Err(FutureError::Timeout));
    assert_eq!(untimed, Ok(7));
    assert!(untimed_took >= JOB, "the untimed wait ran the job inline");
    assert!(
        timed_took < JOB / 2,
        "the timed wait took {timed_took:?}, against {untimed_took:?} for the job itself"
    );
}

#[test]
fn poolbridge_wait_inside_the_only_worker() {
    let got = on_one_worker(|pool| {
        let fs: Vec<PoolFuture<usize>> = (0..5).map(|i| pool.submit(move || i)).collect();
        let all = wait(&fs, ReturnWhen::AllCompleted);
        let all_done = all.done.len() == 5 && all.not_done.is_empty();
        let more: Vec<_> = (0..3).map(|i| pool.submit(move || i)).collect();
        let first = wait(&more, ReturnWhen::FirstCompleted);
        let panicky = vec![pool.submit(|| -> usize { panic!("x") }), pool.submit(|| 1)];
        let exc = wait(&panicky, ReturnWhen::FirstException);
        // A timed wait never runs the job inline: the only worker is this one, so it times out.
        let short = Duration::from_millis(20);
        let timed = wait_timeout(vec![pool.submit(|| 9)], short, ReturnWhen::AllCompleted);
        let sum: usize = fs.iter().map(|f| f.result().unwrap()).sum();
        (
            all_done,
            !first.done.is_empty(),
            !exc.done.is_empty(),
            timed.not_done.len(),
            sum,
        )
    });
    assert_eq!(got, (true, true, true, 1, 10));
}

#[test]
fn as_completed_inside_the_only_worker() {
    let got = on_one_worker(|pool| {
        let fs: Vec<_> = (1..=5u64).map(|i| pool.submit(move || i * i)).collect();
        let sum: u64 = as_completed(&fs).map(|f| f.result().unwrap()).sum();
        // A timed wait never runs the jobs inline: the only worker is this one, so it times out.
        let more: Vec<_> = (1..=3u64).map(|i| pool.submit(move || i)).collect();
        let timed: Vec<_> = as_completed_timeout(&more, Duration::from_millis(20)).collect();
        let timed_out = timed.len() == 1 && timed[0].as_ref().is_err_and(FutureError::is_timeout);
        let untimed: u64 = as_completed(more).map(|f| f.join().unwrap()).sum();
        (sum, timed_out, untimed)
    });
    assert_eq!(got, (55, true, 6));
}

#[test]
fn map_inside_the_only_worker() {
    let got = on_one_worker(|pool| {
        let eager: Vec<u32> = pool
            .map(|x: u32| x + 1, 0..10)
            .map(Result::unwrap)
            .collect();
        let lazy: Vec<u32> = pool
            .map_with(
                |x: u32| x * 2,
                0..10u32,
                MapOptions::default().buffersize(2),
            )
            .map(Result::unwrap)
            .collect();
        (eager, lazy)
    });
    assert_eq!(got.0, (1..=10).collect::<Vec<u32>>());
    assert_eq!(got.1, (0..10).map(|x| x * 2).collect::<Vec<u32>>());
}

// A job waits on a job submitted from outside (queued in the shared injector, not in the
// worker's own deque).
#[test]
fn waiting_on_a_job_queued_from_outside() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let (tx, rx) = mpsc::channel::<PoolFuture<u32>>();
    let outer = submit_gated_with(&pool, &gate, move || rx.recv().unwrap().join());
    assert!(eventually(|| outer.running()));
    tx.send(pool.submit(|| 11)).unwrap();
    gate.open();
    assert_eq!(outer.result_timeout(HANG), Ok(Ok(11)));
}

fn depth_join(pool: &Arc<ThreadPoolExecutor>, depth: u32) -> u32 {
    if depth == 0 {
        return 0;
    }
    let p = Arc::clone(pool);
    pool.submit(move || depth_join(&p, depth - 1))
        .join()
        .unwrap()
        + 1
}

fn depth_result(pool: &Arc<ThreadPoolExecutor>, depth: u32) -> u32 {
    if depth == 0 {
        return 0;
    }
    let p = Arc::clone(pool);
    let f = pool.submit(move || depth_result(&p, depth - 1));
    let _ = wait([&f], ReturnWhen::AllCompleted);
    f.result().unwrap() + 1
}

#[test]
fn nested_sixteen_deep_on_one_worker() {
    assert_eq!(on_one_worker(|pool| depth_join(pool, 16)), 16);
    assert_eq!(on_one_worker(|pool| depth_result(pool, 16)), 16);
}

fn fib(pool: &Arc<ThreadPoolExecutor>, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let p = Arc::clone(pool);
    let left = pool.submit(move || fib(&p, n - 1));
    let right = fib(pool, n - 2);
    left.join().unwrap() + right
}

fn sum(pool: &Arc<ThreadPoolExecutor>, lo: u64, hi: u64) -> u64 {
    if hi - lo <= 1_000 {
        return (lo..hi).sum();
    }
    let mid = lo + (hi - lo) / 2;
    let p = Arc::clone(pool);
    let left = pool.submit(move || sum(&p, lo, mid));
    let right = sum(pool, mid, hi);
    left.result().unwrap() + right
}

#[test]
fn recursive_fork_join_on_two_workers() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let p = Arc::clone(&pool);
    let f = pool.submit(move || fib(&p, 18));
    assert!(f.wait_timeout(HANG), "fork-join fib deadlocked");
    assert_eq!(f.join(), Ok(2584));

    let p = Arc::clone(&pool);
    let f = pool.submit(move || sum(&p, 0, 1_000_000));
    assert!(f.wait_timeout(HANG), "fork-join sum deadlocked");
    assert_eq!(f.join(), Ok(499_999_500_000));
    // Also from outside the pool, and on a 1-worker pool.
    assert_eq!(sum(&pool, 0, 100_000), 4_999_950_000);
    let one = Arc::new(ThreadPoolExecutor::new(1));
    let p = Arc::clone(&one);
    assert_eq!(one.submit(move || fib(&p, 12)).join(), Ok(144));
}

// Every worker of a saturated pool waits on children queued behind it.
#[test]
fn a_saturated_pool_whose_jobs_all_wait_on_children() {
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let outers: Vec<_> = (0..20u64)
        .map(|i| {
            let p = Arc::clone(&pool);
            pool.submit(move || {
                let children: Vec<_> = (0..10u64)
                    .map(|k| {
                        let q = Arc::clone(&p);
                        p.submit(move || {
                            let grand: Vec<_> = (0..3u64).map(|g| q.submit(move || g)).collect();
                            k + grand.into_iter().map(|g| g.join().unwrap()).sum::<u64>()
                        })
                    })
                    .collect();
                i + as_completed(&children)
                    .map(|c| c.result().unwrap())
                    .sum::<u64>()
            })
        })
        .collect();
    for (i, f) in outers.into_iter().enumerate() {
        assert!(f.wait_timeout(HANG), "outer job {i} deadlocked");
        assert_eq!(f.join(), Ok(i as u64 + 45 + 30));
    }
}

// A job waits on a job that is running on the other worker: it must simply wait for it and get
// its value.
#[test]
fn waiting_on_a_job_running_on_another_worker() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let slow = Arc::new(submit_gated(&pool, &gate, String::from("slow value")));
    assert!(eventually(|| slow.running()));
    let waiting = Arc::new(AtomicBool::new(false));
    let waiter = {
        let slow = Arc::clone(&slow);
        let waiting = Arc::clone(&waiting);
        pool.submit(move || {
            waiting.store(true, Ordering::SeqCst);
            let value = slow.result();
            (value, slow.done())
        })
    };
    assert!(eventually(|| waiting.load(Ordering::SeqCst)));
    thread::sleep(Duration::from_millis(20));
    assert!(
        !waiter.done(),
        "the waiter returned while the awaited job still ran"
    );
    gate.open();
    assert_eq!(
        waiter.result_timeout(HANG),
        Ok((Ok(String::from("slow value")), true))
    );
}

// While A (on one worker) waits for B (running on the other), the pool may let A's thread help
// with queued jobs. That must not make a job D that waits on A run *on top of A*: D would then
// wait for A, which cannot resume until D returns. Python's pool (no helping) finishes this
// program: H ends, its worker takes A, A waits for B, B ends, A ends, D runs.
#[test]
fn helping_never_deadlocks_a_job_waiting_on_the_helper() {
    let pool = ThreadPoolExecutor::new(2);
    let gate_h = Gate::new();
    let gate_b = Gate::new();
    let fh = submit_gated(&pool, &gate_h, ());
    let fb = submit_gated(&pool, &gate_b, 2u32);
    assert!(eventually(|| fh.running() && fb.running()));
    let fa = pool.submit(move || fb.result().unwrap() + 1);
    let fd = pool.submit(move || fa.result().unwrap() * 10);
    gate_h.open();
    // Give A time to start waiting on B (D starting here means A's thread took D on top of A).
    let until = Instant::now() + Duration::from_millis(500);
    while !fd.running() && Instant::now() < until {
        thread::sleep(Duration::from_millis(1));
    }
    gate_b.open();
    let outcome = fd.result_timeout(HANG);
    if outcome != Ok(30) {
        // A worker is stuck for good; dropping the pool would wait for it forever.
        std::mem::forget(pool);
        panic!("D ran on top of A (which it waits for) and deadlocked: {outcome:?}");
    }
    assert_eq!(fh.result(), Ok(()));
}

// Thousands of jobs all wait on one job that runs on the other worker (many requests waiting for
// one cache fill). Helping waits must not pile them up on one thread's stack until it overflows
// (which aborts the whole process, so the scenario runs in a child process).
#[test]
fn many_jobs_waiting_on_one_running_job_do_not_overflow_the_stack() {
    if !in_test_child() {
        let (ok, output) = run_test_in_child(
            "many_jobs_waiting_on_one_running_job_do_not_overflow_the_stack",
            None,
        );
        let tail: String = output.lines().rev().take(15).collect::<Vec<_>>().join("\n");
        assert!(ok, "the scenario failed or crashed the process:\n{tail}");
        return;
    }
    const WAITERS: usize = 10_000;
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let fill = Arc::new(submit_gated(&pool, &gate, 7u32));
    assert!(eventually(|| fill.running()));
    let started = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let fill = Arc::clone(&fill);
            let started = Arc::clone(&started);
            pool.submit(move || {
                started.fetch_add(1, Ordering::SeqCst);
                fill.result().unwrap()
            })
        })
        .collect();
    // Let the waiting worker help as much as it wants (bounded poll, not a speed check).
    let until = Instant::now() + Duration::from_secs(1);
    while started.load(Ordering::SeqCst) < WAITERS && Instant::now() < until {
        thread::sleep(Duration::from_millis(5));
    }
    gate.open();
    for f in waiters {
        assert_eq!(f.result_timeout(HANG), Ok(7));
    }
}
