//! An async runtime driven inside a pool job (issue 13, item 11): `block_on` in a `to_thread` job
//! that awaits more jobs of the same pool.
//!
//! An awaited job that has not started runs inline on the polling worker only when no other
//! worker could take it (none idle and the pool at `max_workers`): then nothing else could run
//! it, and running it inline is what keeps a saturated pool from deadlocking. With workers to
//! spare, the job goes to them and the runtime on the polling worker keeps running its other
//! tasks: the bug was a ticker stalled for the whole job (220 ms) although idle workers existed.
//!
//! Each test checks where the awaited job ran (by thread name: deterministic), and the ticker's
//! worst gap against the contrast measured in the same test (the saturated pool, where the job
//! must run inline and the ticker stalls for the job's length).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{HANG, current_thread_runtime, thread_name};
use poolbridge::{JoinSet, ThreadPoolExecutor, run_in_executor};

/// How long the awaited job blocks.
const JOB: Duration = Duration::from_millis(300);
const TICK: Duration = Duration::from_millis(2);

/// What a runtime driven inside a job of `pool` saw while awaiting `awaited` jobs of that pool.
#[derive(Clone)]
struct Seen {
    /// The thread of the outer job (the one driving the runtime).
    outer: String,
    /// The threads the awaited jobs ran on.
    inner: Vec<String>,
    /// The worst gap of a ticker task on that runtime.
    worst_gap: Duration,
}

/// Submits a job to `pool` that drives a current-thread runtime: a ticker task, and `awaited`
/// jobs of `pool` (each blocking for `JOB`) awaited through `run_in_executor` or a `JoinSet`.
fn runtime_in_a_job(pool: &Arc<ThreadPoolExecutor>, awaited: usize, with_join_set: bool) -> Seen {
    let inner_pool = Arc::clone(pool);
    let fut = pool.submit(move || {
        let rt = current_thread_runtime();
        let outer = thread_name();
        let (inner, worst_gap) = rt.block_on(async move {
            let stop = Arc::new(AtomicBool::new(false));
            let ticker = {
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    let mut worst = Duration::ZERO;
                    while !stop.load(Ordering::SeqCst) {
                        let before = Instant::now();
                        tokio::time::sleep(TICK).await;
                        worst = worst.max(before.elapsed());
                    }
                    worst
                })
            };
            // Let the ticker take its first tick, so a stall shows in its gaps.
            tokio::time::sleep(TICK * 5).await;
            let job = || {
                std::thread::sleep(JOB);
                thread_name()
            };
            let inner: Vec<String> = if with_join_set {
                let mut set = JoinSet::new();
                for _ in 0..awaited {
                    set.spawn_blocking_on(job, &inner_pool);
                }
                set.join_all().await
            } else {
                let mut names = Vec::new();
                for _ in 0..awaited {
                    names.push(run_in_executor(Some(&inner_pool), job, ()).await.unwrap());
                }
                names
            };
            stop.store(true, Ordering::SeqCst);
            (inner, ticker.await.unwrap())
        });
        Seen {
            outer,
            inner,
            worst_gap,
        }
    });
    fut.result_timeout(HANG)
        .map_err(|e| e.to_string())
        .expect("the job driving a runtime hung or failed")
}

fn check(with_join_set: bool) {
    // The contrast: one worker, which drives the runtime. No one else can run the awaited job,
    // so it runs inline (no deadlock), and the ticker stalls for the job's length.
    let saturated = Arc::new(ThreadPoolExecutor::new(1));
    let stalled = runtime_in_a_job(&saturated, 1, with_join_set);
    assert!(
        stalled.inner == std::slice::from_ref(&stalled.outer),
        "on a saturated pool the awaited job runs inline: {:?} (outer {})",
        stalled.inner,
        stalled.outer
    );
    assert!(
        stalled.worst_gap >= JOB,
        "running the job inline blocks the runtime: {:?}",
        stalled.worst_gap
    );

    // With workers to spare, the awaited jobs go to them and the ticker keeps ticking.
    let roomy = Arc::new(ThreadPoolExecutor::new(4));
    let free = runtime_in_a_job(&roomy, 2, with_join_set);
    assert!(
        free.inner.len() == 2 && free.inner.iter().all(|name| *name != free.outer),
        "a job ran inline on {} although workers were free: {:?}",
        free.outer,
        free.inner
    );
    assert!(
        free.worst_gap * 2 < stalled.worst_gap,
        "the runtime stalled while idle workers could run the job: worst gap {:?} (inline: {:?})",
        free.worst_gap,
        stalled.worst_gap
    );
}

#[test]
fn awaited_run_in_executor_goes_to_idle_workers() {
    check(false);
}

#[test]
fn a_join_set_polled_in_a_job_hands_its_jobs_to_idle_workers() {
    check(true);
}

// A pool that is busy but not saturated: the awaited job waits for the spare worker rather than
// running inline, and once every worker is busy the next awaited job runs inline again.
#[test]
fn inline_only_when_every_other_worker_is_busy() {
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(2)
            .keep_alive(None)
            .build()
            .unwrap(),
    );
    let inner_pool = Arc::clone(&pool);
    let (outer, spare, busy) = pool
        .submit(move || {
            let rt = current_thread_runtime();
            let outer = thread_name();
            rt.block_on(async {
                // The other worker exists and is idle (or may start): the job goes to it.
                let spare = run_in_executor(Some(&inner_pool), thread_name, ())
                    .await
                    .unwrap();
                // Now hold the other worker: the pool is saturated, so the job runs here.
                let (started_tx, started_rx) = std::sync::mpsc::channel();
                let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
                let holder = inner_pool.submit(move || {
                    started_tx.send(()).unwrap();
                    release_rx.recv_timeout(HANG).unwrap();
                });
                started_rx.recv_timeout(HANG).unwrap();
                let busy = run_in_executor(Some(&inner_pool), thread_name, ())
                    .await
                    .unwrap();
                release_tx.send(()).unwrap();
                holder.wait();
                (outer, spare, busy)
            })
        })
        .result_timeout(HANG)
        .map_err(|e| e.to_string())
        .unwrap();
    assert_ne!(
        spare, outer,
        "a spare worker existed: the job should have gone to it"
    );
    assert_eq!(
        busy, outer,
        "every other worker was busy: the job runs inline"
    );
}
