//! ProcessPoolExecutor controls (issue 12): `max_queued` with `submit`, `try_submit` and
//! `submit_async`; `shutdown_timeout`; `metrics`. Real child processes: this binary is its own
//! worker program.

mod process_support;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use poolbridge::{FutureError, ProcessPoolExecutor, SubmitOptions};
use process_support::{HANG, children, eventually, is_gone};

#[poolbridge::job]
fn nap_then(ms: u64, value: u64) -> u64 {
    thread::sleep(Duration::from_millis(ms));
    value
}

/// Appends `id` to the file `log` (one short line in one `write` to an `O_APPEND` file: lines
/// of concurrent runs never mix), naps `ms`, returns `id`.
#[poolbridge::job]
fn log_run(log: PathBuf, id: u64, ms: u64) -> u64 {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    file.write_all(format!("{id}\n").as_bytes()).unwrap();
    thread::sleep(Duration::from_millis(ms));
    id
}

/// Holds its worker until the file `gate` exists.
#[poolbridge::job]
fn wait_for(gate: PathBuf) -> u64 {
    while !gate.exists() {
        thread::sleep(Duration::from_millis(2));
    }
    0
}

#[poolbridge::job]
fn boom() -> u64 {
    panic!("boom")
}

#[poolbridge::job]
fn exit_3() -> u64 {
    std::process::exit(3)
}

fn main() {
    poolbridge::process::init();
    process_support::run(crate::tests![
        max_queued_2_never_queues_more_and_runs_every_job_once,
        submit_blocks_while_the_queue_is_full_and_resumes,
        submit_async_awaits_room_and_a_dropped_waiter_leaves_no_reservation,
        a_cancelled_queued_job_gives_its_place_back_at_once,
        a_job_sent_ahead_to_a_worker_has_left_the_queue,
        shutdown_refuses_the_submits_waiting_for_room,
        shutdown_timeout_returns_false_on_time_and_the_job_goes_on,
        shutdown_timeout_returns_true_when_everything_ends_in_time,
        metrics_count_jobs_and_worker_processes,
        metrics_count_crashed_and_timed_out_jobs,
        metrics_time_queue_wait_and_run_time,
    ]);
}

fn bounded(max_workers: usize, max_queued: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder()
        .max_workers(max_workers)
        .max_queued(max_queued)
        .build()
        .unwrap()
}

/// A gate for [`wait_for`] jobs: opened by creating its file (also when dropped, so a failing
/// test does not leave a worker waiting).
struct Gate(PathBuf);

impl Gate {
    fn new(dir: &Path) -> Gate {
        Gate(dir.join(format!("gate-{}", rand::random::<u64>())))
    }

    fn open(&self) {
        std::fs::write(&self.0, b"").unwrap();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, b"");
    }
}

/// Holds the only worker of `pool` with a [`wait_for`] job and fills the queue with `fill`
/// jobs behind it (`try_submit`: fails if there is no room). Returns the held job's future.
fn hold_and_fill(
    pool: &ProcessPoolExecutor,
    gate: &Gate,
    fill: impl IntoIterator<Item = (PathBuf, u64, u64)>,
) -> (
    poolbridge::PoolFuture<u64>,
    Vec<poolbridge::PoolFuture<u64>>,
) {
    let held = pool.submit(wait_for, (gate.0.clone(),));
    // Running = written to the worker. The worker is then busy, and nothing is sent ahead to it
    // before it answers: what is submitted next stays queued.
    assert!(eventually(HANG, || held.running()));
    let queued = fill
        .into_iter()
        .map(|args| pool.try_submit(log_run, args).expect("the queue has room"))
        .collect();
    (held, queued)
}

/// How many times each id appears in the run log.
fn runs(log: &Path) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        *counts.entry(line.parse::<u64>().unwrap()).or_default() += 1;
    }
    counts
}

fn max_queued_2_never_queues_more_and_runs_every_job_once() {
    const MAX_QUEUED: usize = 2;
    const THREADS: u64 = 2;
    const TASKS: u64 = 4;
    const PER_PRODUCER: u64 = 10;
    let dir = process_support::temp_dir("bound");
    let log = dir.join("runs");
    let pool = Arc::new(bounded(1, MAX_QUEUED));

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (pool, done) = (Arc::clone(&pool), Arc::clone(&done));
        thread::spawn(move || {
            let (mut max_queued, mut max_waiting, mut samples) = (0, 0, 0u64);
            // ORDERING: SeqCst: a test flag.
            while !done.load(Ordering::SeqCst) {
                let m = pool.metrics();
                max_queued = max_queued.max(m.queued);
                max_waiting = max_waiting.max(m.waiting_submits);
                samples += 1;
                thread::sleep(Duration::from_micros(200));
            }
            (max_queued, max_waiting, samples)
        })
    };

    // Plain threads submit with `submit` (blocking), tokio tasks with `submit_async`; every
    // third async submit gives up after a moment, and its job must then never run.
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (pool, log) = (Arc::clone(&pool), log.clone());
            thread::spawn(move || {
                let futures: Vec<_> = (0..PER_PRODUCER)
                    .map(|i| pool.submit(log_run, (log.clone(), t * 100 + i, 1)))
                    .collect();
                futures
                    .into_iter()
                    .map(|f| f.join().unwrap())
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut ran, abandoned): (Vec<u64>, Vec<u64>) = rt.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let (pool, log) = (Arc::clone(&pool), log.clone());
                tokio::spawn(async move {
                    let (mut futures, mut abandoned) = (Vec::new(), Vec::new());
                    for i in 0..PER_PRODUCER {
                        let id = 1000 + task * 100 + i;
                        let submit = pool.submit_async(log_run, (log.clone(), id, 1));
                        if i % 3 == 2 {
                            match tokio::time::timeout(Duration::from_millis(1), submit).await {
                                Ok(fut) => futures.push(fut),
                                Err(_) => abandoned.push(id),
                            }
                        } else {
                            futures.push(submit.await);
                        }
                    }
                    let mut ran = Vec::new();
                    for fut in futures {
                        ran.push(fut.await.unwrap());
                    }
                    (ran, abandoned)
                })
            })
            .collect();
        let (mut ran, mut abandoned) = (Vec::new(), Vec::new());
        for task in tasks {
            let (r, a) = task.await.unwrap();
            ran.extend(r);
            abandoned.extend(a);
        }
        (ran, abandoned)
    });
    for producer in producers {
        ran.extend(producer.join().unwrap());
    }
    // ORDERING: SeqCst: a test flag.
    done.store(true, Ordering::SeqCst);
    let (max_queued, max_waiting, samples) = sampler.join().unwrap();

    let counts = runs(&log);
    ran.sort_unstable();
    for id in &ran {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "job {id} ran {:?} times",
            counts.get(id)
        );
    }
    for id in &abandoned {
        assert_eq!(
            counts.get(id),
            None,
            "job {id} ran although its submit gave up"
        );
    }
    assert_eq!(counts.len(), ran.len(), "a job ran that nobody submitted");
    let submitted = (THREADS + TASKS) * PER_PRODUCER;
    assert_eq!(ran.len() + abandoned.len(), submitted as usize);
    assert!(samples > 10, "the sampler barely ran ({samples} samples)");
    assert!(
        max_queued <= MAX_QUEUED,
        "{max_queued} jobs queued with max_queued({MAX_QUEUED})"
    );
    assert!(
        max_waiting > 0,
        "no submit ever waited for room: the test proves nothing"
    );
    assert!(
        !abandoned.is_empty(),
        "no async submit gave up while waiting: the test proves nothing"
    );
    let m = pool.metrics();
    assert_eq!((m.queued, m.waiting_submits), (0, 0), "{m:?}");
    let _ = std::fs::remove_dir_all(dir);
}

fn submit_blocks_while_the_queue_is_full_and_resumes() {
    let dir = process_support::temp_dir("blocks");
    let log = dir.join("runs");
    let pool = Arc::new(bounded(1, 2));
    let gate = Gate::new(&dir);
    let (held, queued) = hold_and_fill(&pool, &gate, [(log.clone(), 1, 0), (log.clone(), 2, 0)]);
    assert_eq!(pool.metrics().queued, 2);

    let refused = pool.try_submit(log_run, (log.clone(), 3, 0)).unwrap_err();
    assert!(refused.is_queue_full() && !refused.is_shutdown());
    assert!(refused.to_string().contains("queue is full"), "{refused}");
    assert_eq!(
        refused.into_inner(),
        (log.clone(), 3, 0),
        "the arguments come back"
    );

    let (returned_tx, returned) = mpsc::channel();
    let submitter = {
        let (pool, log) = (Arc::clone(&pool), log.clone());
        thread::spawn(move || {
            let fut = pool.submit(log_run, (log, 4, 0));
            returned_tx.send(Instant::now()).unwrap();
            fut.join()
        })
    };
    assert!(eventually(HANG, || pool.metrics().waiting_submits == 1));
    assert_eq!(
        returned.recv_timeout(Duration::from_millis(100)),
        Err(mpsc::RecvTimeoutError::Timeout),
        "submit returned although the queue was full"
    );
    let opened = Instant::now();
    gate.open();
    let resumed = returned.recv_timeout(HANG).expect("submit never resumed");
    assert!(resumed >= opened);
    assert_eq!(submitter.join().unwrap(), Ok(4));
    assert_eq!(held.join(), Ok(0));
    let results: Vec<_> = queued.into_iter().map(|f| f.join()).collect();
    assert_eq!(results, [Ok(1), Ok(2)]);
    let counts = runs(&log);
    assert_eq!(counts, HashMap::from([(1, 1), (2, 1), (4, 1)]));
    let _ = std::fs::remove_dir_all(dir);
}

fn submit_async_awaits_room_and_a_dropped_waiter_leaves_no_reservation() {
    let dir = process_support::temp_dir("async");
    let log = dir.join("runs");
    let pool = Arc::new(bounded(1, 2));
    let gate = Gate::new(&dir);
    let (held, queued) = hold_and_fill(&pool, &gate, [(log.clone(), 1, 0), (log.clone(), 2, 0)]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // A waiter that gives up: its job never runs, and it leaves no reservation.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(30),
            pool.submit_async(log_run, (log.clone(), 99, 0)),
        )
        .await;
        assert!(gave_up.is_err(), "room although the queue was full");
        assert_eq!(pool.metrics().waiting_submits, 0);

        // A waiter that waits: the runtime's only thread keeps running other tasks meanwhile.
        let waiter = {
            let (pool, log) = (Arc::clone(&pool), log.clone());
            tokio::spawn(async move { pool.submit_async(log_run, (log, 3, 0)).await.await })
        };
        let mut ticks = 0;
        while pool.metrics().waiting_submits == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            ticks += 1;
            assert!(ticks < 10_000, "the waiter never queued");
        }
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(!waiter.is_finished(), "room although the queue was full");
        gate.open();
        assert_eq!(waiter.await.unwrap(), Ok(3));
    });
    assert_eq!(held.join(), Ok(0));
    for f in queued {
        f.join().unwrap();
    }
    assert_eq!(runs(&log), HashMap::from([(1, 1), (2, 1), (3, 1)]));

    // Exactly 2 places, none lost to the waiter that gave up: with the worker held again, two
    // jobs fit and a third does not.
    let gate = Gate::new(&dir);
    let (_held, _queued) = hold_and_fill(&pool, &gate, [(log.clone(), 4, 0), (log.clone(), 5, 0)]);
    assert!(
        pool.try_submit(log_run, (log.clone(), 6, 0))
            .unwrap_err()
            .is_queue_full()
    );
    gate.open();
    drop(pool);
    assert!(!runs(&log).contains_key(&99));
    let _ = std::fs::remove_dir_all(dir);
}

fn a_cancelled_queued_job_gives_its_place_back_at_once() {
    let dir = process_support::temp_dir("cancel");
    let log = dir.join("runs");
    let pool = bounded(1, 2);
    let gate = Gate::new(&dir);
    let (held, queued) = hold_and_fill(&pool, &gate, [(log.clone(), 1, 0), (log.clone(), 2, 0)]);
    assert!(queued[0].cancel());
    // The worker is still held: the place came back with the cancel, not with the queue moving.
    let third = pool
        .try_submit(log_run, (log.clone(), 3, 0))
        .expect("the cancelled job's place is free");
    // The full queue dropped the cancelled entry (and its arguments) to make way.
    let m = pool.metrics();
    assert_eq!((m.queued, m.cancelled), (2, 1), "{m:?}");
    gate.open();
    assert_eq!(held.join(), Ok(0));
    assert_eq!(queued[0].result(), Err(FutureError::Cancelled));
    assert_eq!(queued[1].result(), Ok(2));
    assert_eq!(third.join(), Ok(3));
    assert_eq!(runs(&log), HashMap::from([(2, 1), (3, 1)]));
    let _ = std::fs::remove_dir_all(dir);
}

fn a_job_sent_ahead_to_a_worker_has_left_the_queue() {
    let dir = process_support::temp_dir("ahead");
    let log = dir.join("runs");
    let pool = bounded(1, 2);
    let first = Gate::new(&dir);
    let (held, _) = hold_and_fill(&pool, &first, []);
    // Two jobs queued behind the held one: when it answers, the worker gets the next one to run
    // (held by a second gate) and the one after it sent ahead.
    let second = Gate::new(&dir);
    let next = pool.try_submit(wait_for, (second.0.clone(),)).unwrap();
    let ahead = pool.try_submit(log_run, (log.clone(), 1, 0)).unwrap();
    assert_eq!(pool.metrics().queued, 2);
    first.open();
    assert_eq!(held.join(), Ok(0));
    assert!(
        eventually(HANG, || ahead.running()),
        "sent ahead: marked running"
    );
    let m = pool.metrics();
    assert_eq!((m.queued, m.running), (0, 2), "{m:?}");
    // Both places are free although neither job has ended.
    let more: Vec<_> = (2..4)
        .map(|id| {
            pool.try_submit(log_run, (log.clone(), id, 0))
                .expect("the jobs given to the worker left the queue")
        })
        .collect();
    assert!(!next.done() && !ahead.done());
    second.open();
    assert_eq!(next.join(), Ok(0));
    assert_eq!(ahead.join(), Ok(1));
    for (f, id) in more.into_iter().zip(2..) {
        assert_eq!(f.join(), Ok(id));
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn shutdown_refuses_the_submits_waiting_for_room() {
    let dir = process_support::temp_dir("refuse");
    let log = dir.join("runs");
    let pool = Arc::new(bounded(1, 1));
    let gate = Gate::new(&dir);
    let (held, _queued) = hold_and_fill(&pool, &gate, [(log.clone(), 1, 0)]);
    let submitter = {
        let (pool, log) = (Arc::clone(&pool), log.clone());
        thread::spawn(move || pool.submit(log_run, (log, 2, 0)).join())
    };
    assert!(eventually(HANG, || pool.metrics().waiting_submits == 1));
    pool.shutdown(false, true);
    assert_eq!(submitter.join().unwrap(), Err(FutureError::Shutdown));
    let refused = pool.try_submit(log_run, (log.clone(), 3, 0)).unwrap_err();
    assert!(refused.is_shutdown() && !refused.is_queue_full());
    gate.open();
    assert_eq!(held.join(), Ok(0));
    drop(pool);
    assert!(!runs(&log).contains_key(&2));
    let _ = std::fs::remove_dir_all(dir);
}

fn shutdown_timeout_returns_false_on_time_and_the_job_goes_on() {
    const SLOW_MS: u64 = 600;
    let timeout = Duration::from_millis(100);
    let pool = ProcessPoolExecutor::new(2);
    let slow = pool.submit(nap_then, (SLOW_MS, 1));
    let quick = pool.submit(nap_then, (0, 2));
    let (ended_tx, ended) = mpsc::channel();
    slow.add_done_callback(move |_| ended_tx.send(Instant::now()).unwrap());
    assert!(eventually(HANG, || slow.running()));
    let workers = pool.worker_pids();

    let started = Instant::now();
    assert!(!pool.shutdown_timeout(timeout));
    let returned = Instant::now();
    assert!(returned - started >= timeout, "returned before its timeout");
    assert_eq!(quick.result(), Ok(2));
    assert!(pool.is_shutdown());
    assert_eq!(
        pool.submit(nap_then, (0, 3)).join(),
        Err(FutureError::Shutdown)
    );
    drop(pool); // does not wait for the job left running
    let dropped = Instant::now();

    let slow_ended = ended.recv_timeout(HANG).expect("the slow job never ended");
    assert_eq!(slow.result(), Ok(1), "the job left running finished");
    // Bounded by the timeout, not by the job: it returned (and the drop too) before the job
    // ended, which took SLOW_MS from the moment its worker got it.
    assert!(
        returned < slow_ended && dropped < slow_ended,
        "shutdown_timeout took {:?}, the drop {:?}, the job ended {:?} after the call",
        returned - started,
        dropped - returned,
        slow_ended - started
    );
    // Its worker exits once its job ends, and is reaped.
    assert!(
        eventually(HANG, || workers.iter().all(|&p| is_gone(p))
            && children().is_empty()),
        "a worker is left: {:?}",
        children()
    );
}

fn shutdown_timeout_returns_true_when_everything_ends_in_time() {
    assert!(
        ProcessPoolExecutor::new(2).shutdown_timeout(Duration::ZERO),
        "an unused pool"
    );
    let pool = ProcessPoolExecutor::new(2);
    let futures: Vec<_> = (0..6).map(|i| pool.submit(nap_then, (20, i))).collect();
    let started = Instant::now();
    assert!(pool.shutdown_timeout(HANG));
    assert!(started.elapsed() < HANG);
    assert!(futures.iter().all(|f| f.done()), "queued jobs ran first");
    assert!(pool.worker_pids().is_empty());
    assert!(
        children().is_empty(),
        "every worker was reaped: {:?}",
        children()
    );
    let sum: u64 = futures.into_iter().map(|f| f.join().unwrap()).sum();
    assert_eq!(sum, 15);
    assert!(pool.shutdown_timeout(Duration::ZERO), "again: nothing left");
    // A bound too large for `Instant` waits as long as needed (issue 17, item 4).
    let pool = ProcessPoolExecutor::new(1);
    let fut = pool.submit(nap_then, (20, 3));
    assert!(pool.shutdown_timeout(Duration::MAX));
    assert_eq!(fut.join(), Ok(3));
}

fn metrics_count_jobs_and_worker_processes() {
    let err = ProcessPoolExecutor::builder()
        .max_queued(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_queued"), "{err}");

    let dir = process_support::temp_dir("metrics");
    let log = dir.join("runs");
    let pool = ProcessPoolExecutor::new(1);
    let m = pool.metrics();
    assert_eq!((m.threads, m.spawned, m.completed), (0, 0, 0), "{m:?}");

    assert_eq!(pool.submit(nap_then, (0, 1)).join(), Ok(1));
    assert!(pool.submit(boom, ()).join().unwrap_err().is_panic());
    let m = pool.metrics();
    assert_eq!((m.completed, m.panicked, m.cancelled), (1, 1, 0), "{m:?}");
    assert_eq!(
        (m.threads, m.idle, m.spawned, m.retired),
        (1, 1, 1, 0),
        "{m:?}"
    );
    assert_eq!((m.queued, m.running, m.stolen), (0, 0, 0), "{m:?}");

    // One job running, two queued; both queued jobs cancelled.
    let gate = Gate::new(&dir);
    let (held, queued) = hold_and_fill(&pool, &gate, [(log.clone(), 1, 0), (log.clone(), 2, 0)]);
    let m = pool.metrics();
    assert_eq!(
        (m.threads, m.idle, m.running, m.queued),
        (1, 0, 1, 2),
        "{m:?}"
    );
    assert!(queued.iter().all(|f| f.cancel()));
    gate.open();
    assert_eq!(held.join(), Ok(0));
    // Counted when the worker's next turn drops them from the queue.
    assert!(
        eventually(HANG, || pool.metrics().cancelled == 2),
        "{:?}",
        pool.metrics()
    );

    // A crash: the worker ends and a replacement starts.
    let crashed = pool.worker_pids();
    assert!(matches!(
        pool.submit(exit_3, ()).join(),
        Err(FutureError::WorkerDied(_))
    ));
    assert_eq!(pool.submit(nap_then, (0, 5)).join(), Ok(5));
    assert_ne!(pool.worker_pids(), crashed);
    let m = pool.metrics();
    assert_eq!((m.spawned, m.retired, m.threads), (2, 1, 1), "{m:?}");
    assert_eq!((m.completed, m.panicked, m.cancelled), (3, 1, 2), "{m:?}");

    pool.shutdown(true, false);
    let m = pool.metrics();
    assert_eq!(
        (m.spawned, m.retired, m.threads, m.idle),
        (2, 2, 0, 0),
        "{m:?}"
    );
    assert!(runs(&log).is_empty(), "a cancelled job ran");
    let _ = std::fs::remove_dir_all(dir);
}

/// Issue 22: 9 jobs, one crashing its worker and one past its time limit, are 7 completed, 1
/// `worker_died` and 1 `timed_out`; the thread pool's counters stay 0.
fn metrics_count_crashed_and_timed_out_jobs() {
    let pool = ProcessPoolExecutor::new(2);
    let limit = Duration::from_millis(200);
    let mut ok: Vec<_> = (0..4).map(|i| pool.submit(nap_then, (10, i))).collect();
    let crashed = pool.submit(exit_3, ());
    let late = pool.submit_with(
        nap_then,
        (20_000, 9),
        SubmitOptions::default().timeout(limit),
    );
    ok.extend((4..7).map(|i| pool.submit(nap_then, (10, i))));
    for (i, f) in ok.into_iter().enumerate() {
        assert_eq!(f.result_timeout(HANG), Ok(i as u64));
    }
    assert!(matches!(
        crashed.result_timeout(HANG),
        Err(FutureError::WorkerDied(_))
    ));
    assert_eq!(
        late.result_timeout(HANG),
        Err(FutureError::JobTimeout(limit))
    );
    let m = pool.metrics();
    assert_eq!(
        (
            m.completed,
            m.worker_died,
            m.timed_out,
            m.panicked,
            m.cancelled
        ),
        (7, 1, 1, 0, 0),
        "{m:?}"
    );
    assert!(m.retired >= 2, "both killed workers were reaped: {m:?}");

    let threads = poolbridge::ThreadPoolExecutor::new(1);
    assert_eq!(threads.submit(|| 1).join(), Ok(1));
    let m = threads.metrics();
    assert_eq!((m.worker_died, m.timed_out), (0, 0), "{m:?}");
}

/// Queue wait and run time (issue 20): every process job is timed. Ten 30 ms jobs queued at once
/// on one worker: each runs ~30 ms, and the k-th waits ~k × 30 ms for its turn.
fn metrics_time_queue_wait_and_run_time() {
    let pool = ProcessPoolExecutor::new(1);
    let m = pool.metrics();
    assert_eq!((m.queue_wait, m.run_time), (None, None), "nothing ran yet");

    let futures: Vec<_> = (0..10).map(|i| pool.submit(nap_then, (30, i))).collect();
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(f.join(), Ok(i as u64));
    }
    let m = pool.metrics();
    let run = m.run_time.expect("run times");
    let wait = m.queue_wait.expect("queue waits");
    assert_eq!((run.samples, wait.samples), (10, 10), "{m:?}");
    assert!(
        run.p50 >= Duration::from_millis(25) && run.p50 <= Duration::from_secs(1),
        "run time of 30 ms jobs: {run:?}"
    );
    // The last job waited for the nine before it: at least 9 × 30 ms.
    assert!(wait.max >= Duration::from_millis(250), "{wait:?}");
    assert!(wait.p50 >= Duration::from_millis(60), "{wait:?}");
    assert!(wait.p50 <= wait.p90 && wait.p90 <= wait.max, "{wait:?}");
}
