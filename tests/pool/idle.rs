//! An idle pool uses no CPU: once a burst is over, the workers park (after spinning for tens of
//! microseconds at most), and workers blocked in a wait sleep instead of polling. Measured with
//! the per-thread CPU time that Linux reports in `/proc/self/task/*/`.

#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{Gate, HANG, eventually, submit_gated};
use poolbridge::{
    FutureError, PoolFuture, ReturnWhen, ThreadPoolExecutor, as_completed, run_in_executor, wait,
    wrap_future,
};

/// How long the idle pool is watched.
const WINDOW: Duration = Duration::from_secs(1);
/// CPU time the pool's threads may use in `WINDOW`: 5% of it. Generous on purpose: the
/// measurement may fall back to 10 ms ticks, and CI's cores are busy; a thread that polls or
/// spins uses the whole window (a thread that yields in a loop too), 20 times more.
const SLACK: Duration = Duration::from_millis(WINDOW.as_millis() as u64 / 20);

/// CPU time used so far by one thread: the scheduler's nanosecond count if the kernel has it,
/// else utime + stime in clock ticks (assumed 100 Hz).
fn thread_cpu(task_dir: &str) -> Option<Duration> {
    if let Ok(s) = fs::read_to_string(format!("{task_dir}/schedstat")) {
        if let Some(ns) = s.split_whitespace().next().and_then(|n| n.parse().ok()) {
            return Some(Duration::from_nanos(ns));
        }
    }
    let stat = fs::read_to_string(format!("{task_dir}/stat")).ok()?;
    // Fields after the comm (which may contain spaces): state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of every thread of this process whose name starts with `prefix`, by thread id.
fn cpu_by_thread(prefix: &str) -> BTreeMap<String, Duration> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir("/proc/self/task").unwrap().flatten() {
        let dir = entry.path().to_string_lossy().into_owned();
        let Ok(comm) = fs::read_to_string(format!("{dir}/comm")) else {
            continue; // the thread exited meanwhile
        };
        if comm.trim_end().starts_with(prefix) {
            if let Some(cpu) = thread_cpu(&dir) {
                out.insert(entry.file_name().to_string_lossy().into_owned(), cpu);
            }
        }
    }
    out
}

/// The CPU time the threads named `prefix*` use during `WINDOW`. Fails if the set of threads
/// changed meanwhile (a thread that exits would take its CPU time with it).
fn cpu_used_in_window(prefix: &str, expected_threads: usize) -> Duration {
    let before = cpu_by_thread(prefix);
    assert_eq!(
        before.len(),
        expected_threads,
        "threads named {prefix}*: {before:?}"
    );
    thread::sleep(WINDOW);
    let after = cpu_by_thread(prefix);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the pool's threads changed during the measurement"
    );
    before
        .iter()
        .map(|(tid, cpu)| after[tid].saturating_sub(*cpu))
        .sum()
}

#[test]
fn an_idle_pool_uses_no_cpu() {
    const WORKERS: usize = 4;
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(WORKERS)
            .thread_name_prefix("idlecpu")
            .build()
            .unwrap(),
    );
    // Start every worker: hold WORKERS jobs at once.
    let gate = Gate::new();
    let held: Vec<_> = (0..WORKERS)
        .map(|_| submit_gated(&pool, &gate, ()))
        .collect();
    assert!(eventually(|| held.iter().all(|f| f.running())));
    gate.open();
    // A burst of short jobs, some of which submit sub-jobs from inside the pool.
    let burst: Vec<PoolFuture<u64>> = (0..2_000u64)
        .map(|i| {
            let p = Arc::clone(&pool);
            pool.submit(move || {
                if i % 10 == 0 {
                    let subs: Vec<_> = (0..3u64).map(|k| p.submit(move || k)).collect();
                    subs.into_iter().map(|s| s.join().unwrap()).sum::<u64>() + i
                } else {
                    i
                }
            })
        })
        .collect();
    for f in burst {
        assert!(f.wait_timeout(HANG));
    }
    for f in held {
        f.join().unwrap();
    }
    assert_eq!(pool.num_threads(), WORKERS);
    assert!(
        eventually(|| pool.num_idle() == WORKERS),
        "the pool never went idle: {pool:?}"
    );
    thread::sleep(Duration::from_millis(50));

    let used = cpu_used_in_window("idlecpu_", WORKERS);
    assert!(
        used <= SLACK,
        "an idle pool of {WORKERS} workers used {used:?} of CPU in {WINDOW:?}"
    );
    // Still works afterwards.
    assert_eq!(pool.submit(|| 5).join(), Ok(5));
}

#[test]
fn workers_blocked_in_waits_use_no_cpu() {
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(4)
            .thread_name_prefix("blockcpu")
            .build()
            .unwrap(),
    );
    let gate = Gate::new();
    let slow = Arc::new(submit_gated(&pool, &gate, 1u32));
    assert!(eventually(|| slow.running()));
    // Three jobs wait for the held one, each in its own way.
    let waiters: Vec<PoolFuture<u32>> = vec![
        {
            let slow = Arc::clone(&slow);
            pool.submit(move || slow.result().unwrap())
        },
        {
            let slow = Arc::clone(&slow);
            pool.submit(move || {
                let outcome = wait([&*slow], ReturnWhen::AllCompleted);
                outcome.done.len() as u32
            })
        },
        {
            let slow = Arc::clone(&slow);
            pool.submit(move || as_completed([&*slow]).count() as u32)
        },
    ];
    assert!(eventually(|| waiters.iter().all(|f| f.running())));
    thread::sleep(Duration::from_millis(50));

    // A waiting worker may have taken another waiter on top of its own job, so 2 to 4 threads.
    let threads = pool.num_threads();
    assert!(threads >= 2);
    let used = cpu_used_in_window("blockcpu_", threads);
    assert!(
        used <= SLACK,
        "{threads} workers blocked in waits used {used:?} of CPU in {WINDOW:?}"
    );
    gate.open();
    for f in waiters {
        assert_eq!(f.result_timeout(HANG), Ok(1));
    }
}

/// Submits a job held until the end of the check, and returns its future.
type Hold = Box<dyn FnOnce() -> PoolFuture<u32> + Send>;

/// Runs `waiter` on a thread named `name` and checks that it sleeps once it waits on a held job:
/// `waiter` waits on short jobs of the pool it is given, then calls `hold` and waits on the job it
/// submitted. The thread may
/// use at most `SLACK` of CPU over `WINDOW` meanwhile; the job's value, 7, is `waiter`'s result.
fn sleeps_through_a_held_job<W>(name: &str, waiter: W)
where
    W: FnOnce(Arc<ThreadPoolExecutor>, Hold) -> Result<u32, FutureError> + Send + 'static,
{
    let pool = Arc::new(ThreadPoolExecutor::new(2));
    let gate = Gate::new();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let hold: Hold = Box::new({
        let pool = Arc::clone(&pool);
        let gate = gate.clone();
        move || {
            let held = submit_gated(&pool, &gate, 7u32);
            held_tx.send(()).unwrap();
            held
        }
    });
    let thread = thread::Builder::new()
        .name(name.to_owned())
        .spawn({
            let pool = Arc::clone(&pool);
            move || waiter(pool, hold)
        })
        .unwrap();
    held_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(50));
    let used = cpu_used_in_window(name, 1);
    assert!(
        used <= SLACK,
        "thread {name:?}, waiting on a held job, used {used:?} of CPU in {WINDOW:?}"
    );
    gate.open();
    assert_eq!(thread.join().unwrap(), Ok(7));
}

// A blocking wait looks at the future before it parks, for as long as the thread's recent waits
// say (up to 100 µs after short ones). A thread that has just waited on many short jobs, then
// waits on a held one, must still sleep through it: the look is bounded, once per wait.
#[test]
fn a_thread_that_learned_short_waits_sleeps_through_a_long_one() {
    sleeps_through_a_held_job("learnwait", |pool, hold| {
        for i in 0..2_000u32 {
            assert_eq!(pool.submit(move || i).join(), Ok(i));
        }
        hold().join()
    });
}

// An async wait looks too: after a poll finds its job pending, the task wakes itself and is
// polled again at once, for as long as the thread's recent waits say (up to 100 µs after short
// ones). A runtime thread that has just awaited many short jobs, then awaits a held one, must
// still sleep through it: the look is bounded, once per await.
#[test]
fn a_runtime_thread_that_learned_short_awaits_sleeps_through_a_long_one() {
    sleeps_through_a_held_job("learnpoll", |pool, hold| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for i in 0..2_000u32 {
                let f = run_in_executor(Some(&pool), move || i, ());
                assert_eq!(f.await, Ok(i));
            }
            wrap_future(hold()).await
        })
    });
}
