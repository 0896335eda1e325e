//! Worker threads: lazy start, reuse of idle threads, the `max_workers` bound, thread names,
//! stack size, keep-alive, the builder's validation, and a thread that cannot be spawned.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    DropCounter, Gate, HANG, ThreadProbe, drop_without_hanging, eventually, in_test_child,
    run_test_in_child, submit_gated, thread_name,
};
use poolbridge::{BrokenReason, FutureError, PoolFuture, ThreadPoolExecutor};

/// Submits `n` jobs that count themselves in `running`, wait at `gate`, and return their
/// thread's name.
fn hold(
    pool: &ThreadPoolExecutor,
    gate: &Gate,
    running: &Arc<AtomicUsize>,
    n: usize,
) -> Vec<PoolFuture<String>> {
    (0..n)
        .map(|_| {
            let gate = gate.clone();
            let running = Arc::clone(running);
            pool.submit(move || {
                running.fetch_add(1, Ordering::SeqCst);
                gate.wait();
                thread_name()
            })
        })
        .collect()
}

#[test]
fn a_pool_that_was_never_used_owns_no_threads() {
    let probe = ThreadProbe::default();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(8)
        .initializer(probe.initializer())
        .build()
        .unwrap();
    assert_eq!(pool.num_threads(), 0);
    assert_eq!(ThreadPoolExecutor::new(3).num_threads(), 0);
    assert_eq!(ThreadPoolExecutor::default().num_threads(), 0);
    drop(pool);
    assert_eq!(probe.started(), 0);
}

// CPython's test_idle_thread_reuse: one job at a time, each waited for before the next is
// submitted, needs one thread, not max_workers of them. Several fresh pools, since a pool that
// starts a needless thread tends to do it at its first jobs.
#[test]
fn one_job_at_a_time_reuses_one_thread() {
    for trial in 0..20 {
        let pool = ThreadPoolExecutor::new(8);
        let mut names = BTreeSet::new();
        for i in 0..50u64 {
            let (value, name) = pool
                .submit(move || (i * 2, thread::current().name().unwrap().to_owned()))
                .join()
                .unwrap();
            assert_eq!(value, i * 2);
            names.insert(name);
        }
        assert_eq!(
            pool.num_threads(),
            1,
            "trial {trial}: sequential jobs started {} threads; jobs ran on {names:?}",
            pool.num_threads()
        );
        assert_eq!(names.len(), 1, "{names:?}");
    }
}

// The lazy-start rule itself: once the only worker is idle (searching or parked), a submit
// hands it the job instead of starting a thread.
#[test]
fn an_idle_worker_takes_the_next_job_instead_of_a_new_thread() {
    let pool = ThreadPoolExecutor::new(8);
    for i in 0..20u64 {
        assert_eq!(pool.submit(move || i).join(), Ok(i));
        assert!(
            eventually(|| pool.num_idle() == pool.num_threads()),
            "the pool never went idle: {pool:?}"
        );
        assert_eq!(pool.num_threads(), 1, "round {i}: {pool:?}");
    }
}

#[test]
fn a_burst_of_blocked_jobs_starts_exactly_the_threads_it_needs_up_to_max_workers() {
    let pool = Arc::new(ThreadPoolExecutor::new(4));
    let stop = Arc::new(AtomicBool::new(false));
    // Samples num_threads() the whole time: it must never exceed max_workers.
    let monitor = {
        let pool = Arc::clone(&pool);
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut max = 0;
            while !stop.load(Ordering::SeqCst) {
                max = max.max(pool.num_threads());
                thread::yield_now();
            }
            max
        })
    };
    let gate = Gate::new();
    let running = Arc::new(AtomicUsize::new(0));

    let mut futures = hold(&pool, &gate, &running, 2);
    assert!(eventually(|| running.load(Ordering::SeqCst) == 2));
    assert_eq!(
        pool.num_threads(),
        2,
        "2 blocked jobs need exactly 2 threads"
    );

    futures.extend(hold(&pool, &gate, &running, 6));
    assert!(eventually(|| running.load(Ordering::SeqCst) == 4));
    assert_eq!(pool.num_threads(), 4);
    // A window to catch a fifth thread or a fifth running job (not a speed check).
    thread::sleep(Duration::from_millis(100));
    assert_eq!(running.load(Ordering::SeqCst), 4);
    assert_eq!(pool.num_threads(), 4);

    gate.open();
    let names: HashSet<String> = futures
        .into_iter()
        .map(|f| {
            assert!(f.wait_timeout(HANG));
            f.join().unwrap()
        })
        .collect();
    assert!(names.len() <= 4, "{names:?}");
    stop.store(true, Ordering::SeqCst);
    assert!(monitor.join().unwrap() <= 4);
}

// Lost-wakeup detector: rounds of max_workers jobs that each wait until all of them run. If a
// submit ever fails to get a worker for its job, a round stalls and its jobs time out.
#[test]
fn every_job_of_a_burst_gets_a_worker_round_after_round() {
    const WORKERS: usize = 4;
    let pool = ThreadPoolExecutor::new(WORKERS);
    let arrived = Arc::new((Mutex::new(0usize), Condvar::new()));
    for round in 1..=500usize {
        let target = round * WORKERS;
        let futures: Vec<_> = (0..WORKERS)
            .map(|_| {
                let arrived = Arc::clone(&arrived);
                pool.submit(move || {
                    let (lock, cond) = &*arrived;
                    let mut n = lock.lock().unwrap();
                    *n += 1;
                    cond.notify_all();
                    let deadline = Instant::now() + HANG;
                    while *n < target {
                        let now = Instant::now();
                        assert!(now < deadline, "round {round}: only {} jobs ever ran", *n);
                        n = cond.wait_timeout(n, deadline - now).unwrap().0;
                    }
                })
            })
            .collect();
        for f in futures {
            assert_eq!(f.join(), Ok(()), "round {round}");
        }
        if round % 3 == 0 {
            // Let the workers park now and then, so the wake-up path is exercised too.
            thread::sleep(Duration::from_millis(2));
        }
    }
    assert!(pool.num_threads() <= WORKERS);
}

#[test]
fn thread_names_are_prefix_and_index() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .thread_name_prefix("namecheck")
        .build()
        .unwrap();
    let gate = Gate::new();
    let running = Arc::new(AtomicUsize::new(0));
    let futures = hold(&pool, &gate, &running, 3);
    assert!(eventually(|| running.load(Ordering::SeqCst) == 3));
    gate.open();
    let names: BTreeSet<String> = futures.into_iter().map(|f| f.join().unwrap()).collect();
    let expected: BTreeSet<String> = (0..3).map(|i| format!("namecheck_{i}")).collect();
    assert_eq!(names, expected);
}

#[test]
fn default_thread_names_look_like_python() {
    let parse = |name: &str| -> (usize, usize) {
        let rest = name
            .strip_prefix("ThreadPoolExecutor-")
            .unwrap_or_else(|| panic!("unexpected default name {name:?}"));
        let (n, i) = rest
            .split_once('_')
            .unwrap_or_else(|| panic!("unexpected default name {name:?}"));
        (n.parse().unwrap(), i.parse().unwrap())
    };
    let name_of = |pool: &ThreadPoolExecutor| {
        pool.submit(|| thread::current().name().unwrap().to_owned())
            .join()
            .unwrap()
    };
    let a = ThreadPoolExecutor::new(2);
    let b = ThreadPoolExecutor::new(2);
    let (na, ia) = parse(&name_of(&a));
    let (nb, ib) = parse(&name_of(&b));
    assert!(ia < 2 && ib < 2);
    assert_ne!(na, nb, "two pools got the same default prefix");
}

/// Size of the memory mapping that contains `addr`, from /proc/self/maps.
#[cfg(target_os = "linux")]
fn mapping_size(addr: usize) -> Option<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let (lo, hi) = line.split_whitespace().next()?.split_once('-')?;
        let lo = usize::from_str_radix(lo, 16).ok()?;
        let hi = usize::from_str_radix(hi, 16).ok()?;
        (lo <= addr && addr < hi).then_some(hi - lo)
    })
}

#[test]
fn stack_size_is_applied() {
    const STACK: usize = 16 << 20;
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .stack_size(STACK)
        .build()
        .unwrap();
    #[cfg(target_os = "linux")]
    {
        let size = pool
            .submit(|| {
                let local = 0u8;
                mapping_size(std::hint::black_box(&local) as *const u8 as usize)
            })
            .join()
            .unwrap()
            .expect("the worker's stack is not in /proc/self/maps");
        assert!(
            size >= STACK - (1 << 20),
            "worker stack mapping is {size} bytes"
        );
    }
    // 6 MiB on the stack: overflows the 2 MiB default (a crash), fits in 16 MiB.
    let sum = pool
        .submit(|| {
            let mut big = [1u8; 6 << 20];
            std::hint::black_box(&mut big);
            big.iter().map(|&b| b as usize).sum::<usize>()
        })
        .join();
    assert_eq!(sum, Ok(6 << 20));
}

#[test]
fn keep_alive_retires_idle_threads_and_a_later_submit_starts_one_again() {
    let probe = ThreadProbe::default();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .thread_name_prefix("retiring")
        .keep_alive(Some(Duration::from_millis(50)))
        .initializer(probe.initializer())
        .build()
        .unwrap();
    let gate = Gate::new();
    let running = Arc::new(AtomicUsize::new(0));
    let futures = hold(&pool, &gate, &running, 3);
    assert!(eventually(|| running.load(Ordering::SeqCst) == 3));
    assert_eq!(pool.num_threads(), 3);
    gate.open();
    for f in futures {
        f.join().unwrap();
    }
    assert!(
        eventually(|| pool.num_threads() == 0),
        "idle threads never retired: {pool:?}"
    );
    // Really gone, not just uncounted.
    assert!(eventually(|| probe.exited() == 3));

    let name = pool
        .submit(|| thread::current().name().unwrap().to_owned())
        .join()
        .unwrap();
    assert_eq!(probe.started(), 4, "a fresh thread serves the new job");
    // A restarted thread reuses a free index.
    assert!(
        ["retiring_0", "retiring_1", "retiring_2"].contains(&name.as_str()),
        "{name}"
    );
    // And again, with a burst this time.
    assert!(eventually(|| pool.num_threads() == 0));
    let futures: Vec<_> = (0..50u32).map(|i| pool.submit(move || i)).collect();
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(f.join(), Ok(i as u32));
    }
    assert!(eventually(|| pool.num_threads() == 0));
    assert!(eventually(|| probe.exited() == probe.started()));
}

// Retiring threads racing with new submits: jobs submitted right around the keep-alive must
// still all run.
#[test]
fn submits_racing_with_keep_alive_retirement_are_not_lost() {
    for keep_alive in [Duration::ZERO, Duration::from_millis(1)] {
        submit_around_retirements(keep_alive);
    }
}

fn submit_around_retirements(keep_alive: Duration) {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .keep_alive(Some(keep_alive))
        .build()
        .unwrap();
    for i in 0..200u64 {
        let futures: Vec<_> = (0..3).map(|k| pool.submit(move || i + k)).collect();
        for (k, f) in futures.into_iter().enumerate() {
            assert!(f.wait_timeout(HANG), "round {i}: a job was lost: {pool:?}");
            assert_eq!(f.join(), Ok(i + k as u64));
        }
        thread::sleep(Duration::from_micros(500 + (i % 7) * 200));
    }
}

#[test]
fn keep_alive_none_keeps_idle_threads() {
    let probe = ThreadProbe::default();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .keep_alive(None)
        .initializer(probe.initializer())
        .build()
        .unwrap();
    let gate = Gate::new();
    let running = Arc::new(AtomicUsize::new(0));
    let futures = hold(&pool, &gate, &running, 3);
    assert!(eventually(|| running.load(Ordering::SeqCst) == 3));
    gate.open();
    for f in futures {
        f.join().unwrap();
    }
    // A window in which a 50 ms keep-alive would have retired them (not a speed check).
    thread::sleep(Duration::from_millis(300));
    assert_eq!(pool.num_threads(), 3);
    assert_eq!(probe.exited(), 0);
    drop(pool);
    assert_eq!(probe.exited(), 3);
}

#[test]
fn max_workers_is_what_was_given() {
    for n in [1, 2, 7, 64] {
        assert_eq!(ThreadPoolExecutor::new(n).max_workers(), n);
        let built = ThreadPoolExecutor::builder()
            .max_workers(n)
            .build()
            .unwrap();
        assert_eq!(built.max_workers(), n);
    }
}

#[test]
fn default_max_workers_is_pythons() {
    let cpus = thread::available_parallelism().unwrap().get();
    let expected = (cpus + 4).min(32);
    assert_eq!(ThreadPoolExecutor::default().max_workers(), expected);
    assert_eq!(
        ThreadPoolExecutor::builder().build().unwrap().max_workers(),
        expected
    );
    assert_eq!(poolbridge::default_max_workers(), expected);
}

#[test]
fn builder_refuses_zero_workers() {
    let err = ThreadPoolExecutor::builder()
        .max_workers(0)
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("max_workers must be greater than 0"),
        "{err}"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(err.clone());
    assert_eq!(boxed.to_string(), err.to_string());
    assert!(format!("{err:?}").contains("max_workers must be greater than 0"));
    // The other bound.
    let too_many = poolbridge::thread::MAX_WORKERS + 1;
    assert!(
        ThreadPoolExecutor::builder()
            .max_workers(too_many)
            .build()
            .is_err()
    );
    let max = ThreadPoolExecutor::builder()
        .max_workers(poolbridge::thread::MAX_WORKERS)
        .build()
        .unwrap();
    assert_eq!(max.num_threads(), 0);
}

#[test]
#[should_panic(expected = "max_workers must be greater than 0")]
fn new_with_zero_workers_panics() {
    let _ = ThreadPoolExecutor::new(0);
}

// A thread that the OS refuses to start: a valid stack size, in a child process whose address
// space is limited below it (`ulimit -v`), so mapping the stack fails.
#[test]
fn a_thread_that_cannot_be_spawned_gives_a_broken_pool_error() {
    const STACK: usize = 768 << 20;
    if !in_test_child() {
        let (passed, output) = run_test_in_child(
            "a_thread_that_cannot_be_spawned_gives_a_broken_pool_error",
            Some("ulimit -v 600000"),
        );
        assert!(passed, "the child failed:\n{output}");
        return;
    }
    assert!(
        thread::Builder::new()
            .stack_size(STACK)
            .spawn(|| ())
            .is_err(),
        "this test needs a stack size that the OS refuses"
    );
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .stack_size(STACK)
        .build()
        .unwrap();
    let drops = DropCounter::new();
    let ran = Arc::new(AtomicBool::new(false));
    for _ in 0..3 {
        let tracked = drops.track();
        let ran = Arc::clone(&ran);
        let fut = pool.submit(move || {
            let _keep = tracked;
            ran.store(true, Ordering::SeqCst);
            1
        });
        match fut.result_timeout(HANG) {
            Err(FutureError::BrokenPool(reason)) => {
                assert!(matches!(reason, BrokenReason::ThreadStart(_)), "{reason:?}");
                let msg = reason.to_string();
                assert!(msg.contains("could not start a worker thread"), "{msg}");
            }
            other => panic!("expected BrokenPool, got {other:?}"),
        }
        let shown = fut.exception().unwrap().to_string();
        assert!(shown.contains("could not start a worker thread"), "{shown}");
    }
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(pool.num_threads(), 0);
    drops.wait_all_dropped();
    // Dropping the pool does not hang either.
    drop_without_hanging(pool);
}

// std's thread::Builder::spawn panics (rather than erring) on a name with an interior NUL. Such a
// prefix must be refused by build(), or surface like any other spawn failure: never a panic out
// of submit, never a phantom thread that leaves later jobs waiting forever.
#[test]
fn a_thread_name_prefix_that_std_cannot_use_is_refused_or_reported() {
    let pool = match ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("bad\0name")
        .build()
    {
        Err(err) => {
            assert!(!err.to_string().is_empty());
            return;
        }
        Ok(pool) => pool,
    };
    let mut outcomes = Vec::new();
    for i in 0..3 {
        let submitted =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.submit(move || i)));
        outcomes.push(match submitted {
            Err(_) => format!("submit {i} panicked"),
            Ok(fut) => format!("submit {i}: {:?}", fut.result_timeout(HANG)),
        });
    }
    assert!(
        outcomes.iter().all(|o| o.contains("BrokenPool")),
        "{outcomes:#?}; {pool:?}"
    );
    assert_eq!(pool.num_threads(), 0, "{pool:?}");
}

/// Waits (up to `HANG`) until `count` jobs are inside it at the same time.
fn rendezvous(inside: &AtomicUsize, count: usize) -> bool {
    inside.fetch_add(1, Ordering::SeqCst);
    eventually(|| inside.load(Ordering::SeqCst) >= count)
}

// A burst submitted while one worker is already idle (searching or parked) must still get one
// worker per job at once: each job here waits until all of them run together, which a pool that
// queues jobs behind that one idle worker never achieves. And no more threads than jobs start
// (Python: a submit starts a thread only when no idle worker can take the job).
#[test]
fn a_burst_gets_one_worker_per_job_even_with_an_idle_worker() {
    const JOBS: usize = 9;
    for warm in 1..=3 {
        let pool = ThreadPoolExecutor::new(16);
        let warmup: Vec<_> = (0..warm).map(|_| pool.submit(|| ())).collect();
        warmup.into_iter().for_each(|f| f.join().unwrap());
        assert!(eventually(|| pool.num_idle() == pool.num_threads()));
        let inside = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..JOBS)
            .map(|_| {
                let inside = Arc::clone(&inside);
                pool.submit(move || rendezvous(&inside, JOBS))
            })
            .collect();
        for job in jobs {
            assert_eq!(
                job.join(),
                Ok(true),
                "{warm} warm: the jobs never ran together"
            );
        }
        assert!(
            pool.num_threads() <= JOBS.max(warm),
            "{warm} warm: {} threads for {JOBS} jobs",
            pool.num_threads()
        );
    }
}

// The hardening issue's defect 1, for a value: a job whose handle was dropped returns a value
// whose `Drop` waits for a job submitted after it. The worker that drops the value must not stay
// counted as idle meanwhile, or that later job starts no thread and waits for the drop to give up.
#[test]
fn a_value_whose_drop_waits_for_a_later_job_does_not_stall_the_pool() {
    struct WaitsOnDrop {
        dropping: mpsc::Sender<()>,
        feed: mpsc::Receiver<()>,
        fed: mpsc::Sender<bool>,
    }
    impl Drop for WaitsOnDrop {
        fn drop(&mut self) {
            let _ = self.dropping.send(());
            let _ = self.fed.send(self.feed.recv_timeout(HANG).is_ok());
        }
    }
    let pool = ThreadPoolExecutor::new(4);
    let (dropping_tx, dropping_rx) = mpsc::channel();
    let (feed_tx, feed_rx) = mpsc::channel();
    let (fed_tx, fed_rx) = mpsc::channel();
    let gate = Gate::new();
    let value = WaitsOnDrop {
        dropping: dropping_tx,
        feed: feed_rx,
        fed: fed_tx,
    };
    // Nobody keeps the handle, so the worker holds the last reference and drops the value.
    drop(submit_gated(&pool, &gate, value));
    gate.open();
    dropping_rx
        .recv_timeout(HANG)
        .expect("the value was never dropped");
    let b = pool.submit(move || feed_tx.send(()).unwrap());
    assert_eq!(
        b.result_timeout(HANG),
        Ok(()),
        "the later job never started"
    );
    assert_eq!(
        fed_rx.recv_timeout(HANG),
        Ok(true),
        "the drop gave up before the later job ran"
    );
}

// The hardening issue's defect 6: absurd stack sizes used to pass `build()`: 0 or 4096 bytes were
// rounded up by std and a panicking job then overflowed the stack and aborted the process;
// usize::MAX built, then every job failed with a `BrokenPool` while `is_shutdown()` was false.
#[test]
fn absurd_stack_sizes_are_refused_by_build() {
    use poolbridge::thread::{MAX_STACK_SIZE, MIN_STACK_SIZE};
    for bytes in [0, 4096, MIN_STACK_SIZE - 1, MAX_STACK_SIZE + 1, usize::MAX] {
        let err = ThreadPoolExecutor::builder()
            .stack_size(bytes)
            .build()
            .expect_err("an absurd stack size was accepted");
        let msg = err.to_string();
        assert!(msg.contains("stack_size"), "{msg}");
        assert!(msg.contains(&bytes.to_string()), "{msg}");
    }
    // The smallest accepted stack survives a panicking job (std's panic machinery runs on it).
    let pool = ThreadPoolExecutor::builder()
        .stack_size(MIN_STACK_SIZE)
        .build()
        .unwrap();
    let err = pool
        .submit(|| -> u8 { panic!("on a small stack: {}", "formatted") })
        .result_timeout(HANG)
        .unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(pool.submit(|| 2).result_timeout(HANG), Ok(2));
}
