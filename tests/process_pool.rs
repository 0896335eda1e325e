//! ProcessPoolExecutor: results, panics, options, futures mixed with the thread pool, shutdown,
//! registration and the handshake. Real child processes: this binary is its own worker program.

mod process_support;

use std::collections::HashSet;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use poolbridge::process::Job;
use poolbridge::process::{self, JobFn};
use poolbridge::{
    BrokenReason, CodecSide, FutureError, FutureState, MapOptions, ProcessPoolExecutor, ReturnWhen,
    ThreadPoolExecutor, as_completed, wait,
};
use process_support::{HANG, children, eventually, is_gone};
use serde::{Deserialize, Serialize};

#[poolbridge::job]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[poolbridge::job]
fn pid() -> u32 {
    std::process::id()
}

#[poolbridge::job]
fn nap_then(ms: u64, value: u64) -> u64 {
    thread::sleep(Duration::from_millis(ms));
    value
}

/// Sleeps `ms`, then returns its worker's pid.
#[poolbridge::job]
fn nap_then_pid(ms: u64) -> u32 {
    thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

#[poolbridge::job]
fn boom(msg: String) -> u64 {
    panic!("{msg}")
}

/// A record with the usual serde shapes, to show they cross intact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    name: String,
    sizes: Vec<u32>,
    parent: Option<Box<Report>>,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Kind {
    Leaf,
    Node { depth: u8 },
}

#[poolbridge::job]
fn enrich(mut report: Report, extra: Vec<u32>) -> Result<Report, String> {
    if extra.is_empty() {
        return Err("nothing to add".into());
    }
    report.sizes.extend(extra);
    report.kind = Kind::Node { depth: 1 };
    Ok(report)
}

static INITIALIZED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[poolbridge::job]
fn set_marker() {
    // ORDERING: Relaxed: read by later jobs on this same (main) thread of the worker.
    INITIALIZED.store(4242, std::sync::atomic::Ordering::Relaxed);
}

#[poolbridge::job]
fn read_marker() -> u64 {
    // ORDERING: Relaxed: written by the initializer on this same thread.
    INITIALIZED.load(std::sync::atomic::Ordering::Relaxed)
}

#[poolbridge::job]
fn panicking_initializer() {
    panic!("cannot open the model file");
}

/// Serialize always fails.
#[derive(Debug, Deserialize)]
struct Unsendable;

impl Serialize for Unsendable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "this value refuses to be serialized",
        ))
    }
}

#[poolbridge::job]
fn take_unsendable(_value: Unsendable) -> u8 {
    1
}

/// Deserialize always fails: the worker can send it, the parent cannot read it.
#[derive(Debug, Serialize)]
struct Unreadable(u8);

impl<'de> Deserialize<'de> for Unreadable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("this value refuses to be read"))
    }
}

#[poolbridge::job]
fn give_unreadable() -> Unreadable {
    Unreadable(7)
}

/// The parent can send these arguments; the worker cannot read them.
#[poolbridge::job]
fn take_unreadable(_value: Unreadable) -> u8 {
    1
}

/// The worker cannot serialize this output.
#[poolbridge::job]
fn give_unsendable() -> Unsendable {
    Unsendable
}

/// Registered by hand in `main`, before `init()`.
const TRIPLE: JobFn<(u64,), u64> = JobFn::new("process_pool::manual_triple", |(n,)| n * 3);
/// Never registered.
const STRAY: JobFn<(), ()> = JobFn::new("process_pool::stray", |()| ());

fn main() {
    process::register(TRIPLE);
    if std::env::var_os("PB_TEST_EXTRA_JOB").is_some() {
        // A worker built "from other code": one more job than its parent.
        process::register(JobFn::new("process_pool::only_in_worker", |(): ()| ()));
    }
    process::init();
    if std::env::var_os("PB_TEST_PRINTING_PARENT").is_some() {
        let pool = ProcessPoolExecutor::new(1);
        println!("result: {}", pool.submit(chatty, (21,)).join().unwrap());
        return;
    }
    process_support::run(crate::tests![
        results_cross_the_boundary,
        a_panic_fails_its_job_and_the_worker_survives,
        workers_start_lazily_up_to_max_workers,
        map_keeps_input_order,
        cancel_works_on_queued_jobs_only,
        mixing_with_thread_pool_futures_in_wait_and_as_completed,
        await_from_tokio,
        a_blocking_callback_never_stalls_the_pool,
        callbacks_may_panic_or_drop_the_pool,
        a_jobs_prints_reach_the_parents_stdout,
        max_tasks_per_child_replaces_workers,
        the_initializer_runs_in_each_worker,
        a_panicking_initializer_breaks_the_pool,
        serialize_and_deserialize_failures_are_codec_errors,
        manual_registration_and_unregistered_jobs,
        a_registry_mismatch_is_a_clear_broken_pool,
        shutdown_cancel_futures_leaves_no_process,
        submit_after_shutdown_and_drop_waits,
        build_errors_name_the_setting,
        shutdown_wait_runs_the_queue_while_workers_retire,
        shutdown_without_wait_replaces_a_retired_worker_for_the_queue,
        dropping_the_pool_runs_the_queue_while_workers_retire,
    ]);
}

fn results_cross_the_boundary() {
    let pool = ProcessPoolExecutor::new(2);
    assert_eq!(pool.submit(add, (2, 40)).join(), Ok(42));
    let report = Report {
        name: "r".into(),
        sizes: vec![1, 2],
        parent: Some(Box::new(Report {
            name: "p".into(),
            sizes: vec![],
            parent: None,
            kind: Kind::Leaf,
        })),
        kind: Kind::Leaf,
    };
    let mut expected = report.clone();
    expected.sizes.extend([3, 4]);
    expected.kind = Kind::Node { depth: 1 };
    let fut = pool.submit(enrich, (report.clone(), vec![3, 4]));
    assert_eq!(fut.result(), Ok(Ok(expected)));
    assert_eq!(fut.state(), FutureState::Finished);
    assert_eq!(
        pool.submit(enrich, (report, vec![])).join(),
        Ok(Err("nothing to add".to_owned())),
        "the job's own Err is a value, not a pool error"
    );
    let worker = pool.submit(pid, ()).join().unwrap();
    assert_ne!(worker, std::process::id(), "the job ran in another process");
}

fn a_panic_fails_its_job_and_the_worker_survives() {
    let pool = ProcessPoolExecutor::new(1);
    let before = pool.submit(pid, ()).join().unwrap();
    let err = pool
        .submit(boom, ("disk on fire".into(),))
        .join()
        .unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert_eq!(err.as_panic().unwrap().message(), "disk on fire");
    assert_eq!(err.to_string(), "the job panicked: disk on fire");
    assert_eq!(
        pool.submit(pid, ()).join(),
        Ok(before),
        "same worker after the panic"
    );
}

fn workers_start_lazily_up_to_max_workers() {
    let pool = ProcessPoolExecutor::new(3);
    assert!(
        pool.worker_pids().is_empty(),
        "no process before the first job"
    );
    assert_eq!(pool.submit(add, (1, 1)).join(), Ok(2));
    assert_eq!(pool.worker_pids().len(), 1, "one job, one worker");
    let futures: Vec<_> = (0..12).map(|i| pool.submit(nap_then, (30, i))).collect();
    let pids: HashSet<u32> = pool.worker_pids().into_iter().collect();
    assert!(pids.len() <= 3, "{pids:?}");
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(f.join(), Ok(i as u64));
    }
    assert_eq!(
        pool.worker_pids().len(),
        3,
        "a queue of 12 jobs grew the pool to max_workers"
    );
}

fn map_keeps_input_order() {
    let pool = ProcessPoolExecutor::new(3);
    let out: Vec<u64> = pool
        .map(nap_then, (0..9).map(|i| ((9 - i) * 5, i)))
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, (0..9).collect::<Vec<_>>());
    // With a buffersize, an infinite input works.
    let first: Vec<u64> = pool
        .map_with(
            add,
            (0..).map(|i| (i, i)),
            MapOptions::default().buffersize(2),
        )
        .take(4)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, [0, 2, 4, 6]);
    // A failing item yields its error; the others their values.
    let mixed: Vec<_> = pool
        .map(
            enrich,
            [
                (
                    Report {
                        name: "a".into(),
                        sizes: vec![],
                        parent: None,
                        kind: Kind::Leaf,
                    },
                    vec![1],
                ),
                (
                    Report {
                        name: "b".into(),
                        sizes: vec![],
                        parent: None,
                        kind: Kind::Leaf,
                    },
                    vec![],
                ),
            ],
        )
        .collect();
    assert!(matches!(mixed[0], Ok(Ok(_))));
    assert_eq!(mixed[1], Ok(Err("nothing to add".to_owned())));
}

fn cancel_works_on_queued_jobs_only() {
    let pool = ProcessPoolExecutor::new(1);
    let running = pool.submit(nap_then, (300, 1));
    let queued: Vec<_> = (0..4).map(|i| pool.submit(nap_then, (1, i))).collect();
    assert!(
        eventually(HANG, || running.running()),
        "the first job starts"
    );
    assert!(!running.cancel(), "a running job is not interrupted");
    assert!(queued[3].cancel(), "a queued job is cancelled");
    assert!(queued[3].cancel(), "again: already cancelled");
    assert_eq!(queued[3].state(), FutureState::Cancelled);
    assert_eq!(running.join(), Ok(1));
    for (i, f) in queued.into_iter().enumerate().take(3) {
        assert_eq!(f.join(), Ok(i as u64));
    }
}

fn mixing_with_thread_pool_futures_in_wait_and_as_completed() {
    let processes = ProcessPoolExecutor::new(2);
    let threads = ThreadPoolExecutor::new(2);
    let futures = vec![
        processes.submit(nap_then, (150, 1)),
        threads.submit(|| {
            thread::sleep(Duration::from_millis(10));
            2u64
        }),
        processes.submit(nap_then, (50, 3)),
    ];
    let first = wait(&futures, ReturnWhen::FirstCompleted);
    assert!(
        first.done.iter().any(|f| f.result() == Ok(2)),
        "the thread job ends first"
    );
    let order: Vec<u64> = as_completed(&futures)
        .map(|f| f.result().unwrap())
        .collect();
    assert_eq!(order, [2, 3, 1], "completion order across both executors");
    let all = wait(&futures, ReturnWhen::AllCompleted);
    assert_eq!(all.done.len(), 3);
    assert!(all.not_done.is_empty());
}

fn await_from_tokio() {
    let pool = ProcessPoolExecutor::new(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(pool.submit(add, (20, 22)).await, Ok(42));
        assert_eq!(
            poolbridge::wrap_future(pool.submit(add, (1, 2))).await,
            Ok(3)
        );
        // A tokio timeout drops the awaitable: a queued job is cancelled.
        let busy = pool.submit(nap_then, (200, 0));
        let queued = pool.submit(nap_then, (0, 9));
        let (tx, rx) = mpsc::channel();
        queued.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
        let timed_out = tokio::time::timeout(Duration::from_millis(20), queued).await;
        assert!(timed_out.is_err());
        assert_eq!(
            rx.recv_timeout(HANG),
            Ok(true),
            "dropping the awaitable cancelled the queued job"
        );
        assert_eq!(busy.await, Ok(0));
    });
}

fn a_blocking_callback_never_stalls_the_pool() {
    // One worker. A done callback of the first job waits for a job submitted *later* to the
    // same pool: the thread that completed the first job hands the worker to another thread
    // before running the callback, so the later job runs and the callback returns.
    let pool = Arc::new(ProcessPoolExecutor::new(1));
    let first = pool.submit(nap_then, (100, 1));
    let (tx, rx) = mpsc::channel();
    let inner = Arc::clone(&pool);
    first.add_done_callback(move |f| {
        let later = inner.submit(add, (f.result().unwrap(), 1)).join();
        tx.send(later).unwrap();
    });
    assert_eq!(rx.recv_timeout(HANG), Ok(Ok(2)));
    // And while a callback blocks the thread that completed its job, other jobs go on. (The job
    // takes 100 ms so that the callback is registered before it ends and runs on a pool thread.)
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (entered_tx, entered_rx) = mpsc::channel();
    let blocked = pool.submit(nap_then, (100, 0));
    blocked.add_done_callback(move |_| {
        entered_tx
            .send(thread::current().name().map(str::to_owned))
            .unwrap();
        let _ = release_rx.recv_timeout(HANG);
    });
    let thread_name = entered_rx.recv_timeout(HANG).unwrap();
    assert_eq!(thread_name.as_deref(), Some("poolbridge-process"));
    let results: Vec<_> = (0..5).map(|i| pool.submit(add, (i, 0))).collect();
    for (i, f) in results.into_iter().enumerate() {
        assert_eq!(f.result_timeout(HANG), Ok(i as u64));
    }
    release_tx.send(()).unwrap();
}

fn callbacks_may_panic_or_drop_the_pool() {
    let pool = Arc::new(ProcessPoolExecutor::new(1));
    let first = pool.submit(nap_then, (50, 1));
    first.add_done_callback(|_| panic!("a careless callback"));
    let (tx, rx) = mpsc::channel();
    first.add_done_callback(move |f| tx.send(f.result()).unwrap());
    assert_eq!(
        rx.recv_timeout(HANG),
        Ok(Ok(1)),
        "the next callback still ran"
    );
    assert_eq!(
        pool.submit(add, (1, 1)).join(),
        Ok(2),
        "and the pool goes on"
    );
    // A callback holding the last handle to the pool drops it: `shutdown(wait = true)` on one
    // of the pool's own threads must not wait for itself.
    let last = pool.submit(nap_then, (50, 3));
    let (tx, rx) = mpsc::channel();
    let owner = Arc::clone(&pool);
    drop(pool);
    last.add_done_callback(move |f| {
        let workers = owner.worker_pids();
        drop(owner);
        tx.send((f.result(), workers)).unwrap();
    });
    let (result, workers) = rx.recv_timeout(HANG).unwrap();
    assert_eq!(result, Ok(3));
    assert!(eventually(HANG, || workers.iter().all(|&p| is_gone(p))));
}

fn a_jobs_prints_reach_the_parents_stdout() {
    // The worker talks to the pool over its own socket: the job's stdout and stderr are the
    // parent's. Run this binary as a parent whose output is captured.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("PB_TEST_PRINTING_PARENT", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("printed by the job in worker "), "{stdout}");
    assert!(stderr.contains("written to stderr by the job"), "{stderr}");
    assert!(stdout.contains("result: 42"), "{stdout}");
}

#[poolbridge::job]
fn chatty(n: u64) -> u64 {
    println!("printed by the job in worker {}", std::process::id());
    eprintln!("written to stderr by the job");
    n * 2
}

fn max_tasks_per_child_replaces_workers() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .max_tasks_per_child(2)
        .build()
        .unwrap();
    let pids: Vec<u32> = (0..10)
        .map(|_| pool.submit(pid, ()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|f| f.join().unwrap())
        .collect();
    let distinct: HashSet<u32> = pids.iter().copied().collect();
    assert!(distinct.len() >= 5, "10 jobs, 2 per worker: {pids:?}");
    let per_worker = distinct
        .iter()
        .map(|p| pids.iter().filter(|q| *q == p).count())
        .max()
        .unwrap();
    assert!(per_worker <= 2, "no worker ran more than 2 jobs: {pids:?}");
}

fn the_initializer_runs_in_each_worker() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(set_marker)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..6).map(|_| pool.submit(read_marker, ())).collect();
    for f in futures {
        assert_eq!(f.join(), Ok(4242));
    }
    assert_eq!(
        read_marker.call(()),
        0,
        "the initializer ran in the workers, not here"
    );
}

fn a_panicking_initializer_breaks_the_pool() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(panicking_initializer)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..3).map(|i| pool.submit(add, (i, i))).collect();
    for f in futures {
        match f.result_timeout(HANG) {
            Err(FutureError::BrokenPool(reason)) => {
                let msg = reason.to_string();
                assert!(msg.contains("cannot open the model file"), "{msg}");
                assert!(msg.contains("panicking_initializer"), "{msg}");
                match reason {
                    BrokenReason::InitializerPanicked {
                        initializer, panic, ..
                    } => {
                        assert_eq!(panic.message(), "cannot open the model file");
                        assert!(
                            initializer.contains("panicking_initializer"),
                            "{initializer}"
                        );
                    }
                    other => panic!("expected InitializerPanicked, got {other:?}"),
                }
            }
            other => panic!("expected BrokenPool, got {other:?}"),
        }
    }
    assert!(
        pool.submit(add, (1, 1))
            .join()
            .unwrap_err()
            .is_broken_pool()
    );
}

fn serialize_and_deserialize_failures_are_codec_errors() {
    let pool = ProcessPoolExecutor::new(1);
    // Arguments that fail to serialize, here.
    let err = pool
        .submit(take_unsendable, (Unsendable,))
        .result_timeout(HANG)
        .unwrap_err();
    let codec = err
        .as_codec()
        .unwrap_or_else(|| panic!("expected Codec, got {err:?}"));
    assert!(err.is_codec() && !err.is_ipc());
    assert_eq!(codec.side(), CodecSide::Arguments);
    assert!(codec.job().ends_with("take_unsendable"), "{}", codec.job());
    // postcard reports serde's custom errors by kind, without their text.
    assert!(
        codec.message().contains("Serialization"),
        "{}",
        codec.message()
    );
    let msg = err.to_string();
    assert!(msg.contains("could not serialize the arguments"), "{msg}");
    assert!(msg.contains("take_unsendable"), "names the job: {msg}");
    // An output that fails to deserialize, here.
    let err = match pool.submit(give_unreadable, ()).join() {
        Err(err) => err,
        Ok(value) => panic!("expected Codec, got Ok({})", value.0),
    };
    let Some(codec) = err.as_codec() else {
        panic!("expected Codec, got {err:?}");
    };
    assert_eq!(codec.side(), CodecSide::Output);
    assert!(codec.job().ends_with("give_unreadable"), "{}", codec.job());
    assert!(
        codec.message().contains("Deserialization"),
        "{}",
        codec.message()
    );
    let msg = err.to_string();
    assert!(msg.contains("could not deserialize the output"), "{msg}");
    assert!(msg.contains("give_unreadable"), "{msg}");
    // Arguments the worker cannot deserialize, and an output it cannot serialize: the same
    // variant, from the worker.
    let err = pool
        .submit(take_unreadable, (Unreadable(1),))
        .result_timeout(HANG)
        .unwrap_err();
    match &err {
        FutureError::Codec(codec) => {
            assert_eq!(codec.side(), CodecSide::Arguments);
            assert!(codec.job().ends_with("take_unreadable"), "{}", codec.job());
            assert!(
                codec.message().contains("Deserialization"),
                "{}",
                codec.message()
            );
            assert!(
                err.to_string()
                    .contains("the worker could not deserialize the arguments"),
                "{err}"
            );
        }
        other => panic!("expected Codec, got {other:?}"),
    }
    let err = pool
        .submit(give_unsendable, ())
        .join()
        .map(drop)
        .unwrap_err();
    match &err {
        FutureError::Codec(codec) => {
            assert_eq!(codec.side(), CodecSide::Output);
            assert!(codec.job().ends_with("give_unsendable"), "{}", codec.job());
            // postcard reports serde's custom errors by kind, without their text.
            assert!(
                codec.message().contains("Serialization"),
                "{}",
                codec.message()
            );
            assert!(
                err.to_string()
                    .contains("the worker could not serialize the output"),
                "{err}"
            );
        }
        other => panic!("expected Codec, got {other:?}"),
    }
    assert_eq!(pool.submit(add, (1, 2)).join(), Ok(3), "the worker is fine");
}

fn manual_registration_and_unregistered_jobs() {
    let pool = ProcessPoolExecutor::new(1);
    assert_eq!(pool.submit(TRIPLE, (14,)).join(), Ok(42));
    let err = pool.submit(STRAY, ()).join().unwrap_err();
    assert!(err.is_not_registered() && !err.is_ipc(), "{err:?}");
    assert_eq!(
        err,
        FutureError::NotRegistered {
            job: "process_pool::stray".to_owned()
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("process_pool::stray"), "{msg}");
    assert!(msg.contains("not registered"), "{msg}");
    assert!(
        msg.contains("#[poolbridge::job]"),
        "says how to fix it: {msg}"
    );
}

fn a_registry_mismatch_is_a_clear_broken_pool() {
    use std::os::unix::fs::PermissionsExt;
    // A worker program that registers one more job than this one: this binary, started by a
    // script that sets the variable `main` looks at.
    let dir = process_support::temp_dir("mismatch");
    let script = dir.join("worker.sh");
    let exe = std::env::current_exe().unwrap();
    std::fs::write(
        &script,
        format!("#!/bin/sh\nPB_TEST_EXTRA_JOB=1 exec '{}'\n", exe.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .program(&script)
        .build()
        .unwrap();
    match pool.submit(add, (1, 1)).result_timeout(HANG) {
        Err(FutureError::BrokenPool(reason)) => {
            assert!(matches!(reason, BrokenReason::WorkerStart(_)), "{reason:?}");
            let msg = reason.to_string();
            assert!(msg.contains("registers other jobs"), "{msg}");
            assert!(
                msg.contains("process_pool::only_in_worker"),
                "names the job: {msg}"
            );
        }
        other => panic!("expected BrokenPool, got {other:?}"),
    }
    drop(pool);
    let _ = std::fs::remove_dir_all(dir);
}

fn shutdown_cancel_futures_leaves_no_process() {
    // Two workers, each running a job with one more sent ahead (marked running, as in CPython),
    // and 100 queued in the parent.
    let pool = ProcessPoolExecutor::new(2);
    let futures: Vec<_> = (0..104).map(|i| pool.submit(nap_then, (100, i))).collect();
    assert!(eventually(HANG, || {
        futures.iter().filter(|f| f.running()).count() == 4
    }));
    let workers = pool.worker_pids();
    assert_eq!(workers.len(), 2);
    let t = Instant::now();
    pool.shutdown(false, true);
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "wait = false returns at once"
    );
    let cancelled = futures.iter().filter(|f| f.cancelled()).count();
    assert_eq!(cancelled, 100, "the 100 queued jobs are cancelled");
    for f in futures.iter().filter(|f| !f.cancelled()) {
        assert!(
            f.result_timeout(HANG).is_ok(),
            "the two running jobs finish"
        );
    }
    assert!(
        eventually(HANG, || workers.iter().all(|&p| is_gone(p))
            && children().is_empty()),
        "no worker process is left: {:?}",
        children()
    );
    assert!(pool.worker_pids().is_empty());
}

fn submit_after_shutdown_and_drop_waits() {
    let pool = ProcessPoolExecutor::new(2);
    let slow = pool.submit(nap_then, (150, 5));
    let queued = pool.submit(nap_then, (0, 6));
    let workers = {
        assert!(eventually(HANG, || slow.running()));
        pool.worker_pids()
    };
    pool.shutdown(true, false);
    assert_eq!(
        slow.result(),
        Ok(5),
        "shutdown(wait) waited for the running job"
    );
    assert_eq!(queued.result(), Ok(6), "and for the queued one");
    assert!(
        workers.iter().all(|&p| is_gone(p)),
        "every worker was reaped"
    );
    assert_eq!(pool.submit(add, (1, 1)).join(), Err(FutureError::Shutdown));
    pool.shutdown(true, true); // idempotent
    // Dropping a pool waits for its jobs too.
    let pool = ProcessPoolExecutor::new(1);
    let fut = pool.submit(nap_then, (100, 7));
    drop(pool);
    assert!(fut.done(), "drop = shutdown(wait = true)");
    assert_eq!(fut.join(), Ok(7));
    assert!(children().is_empty(), "{:?}", children());
}

fn build_errors_name_the_setting() {
    let err = ProcessPoolExecutor::builder()
        .max_workers(0)
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("max_workers must be greater than 0")
    );
    let err = ProcessPoolExecutor::builder()
        .max_tasks_per_child(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("max_tasks_per_child"));
    let err = ProcessPoolExecutor::builder()
        .initializer(STRAY)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("process_pool::stray"), "{err}");
    let panic = std::panic::catch_unwind(|| ProcessPoolExecutor::new(0)).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(msg.contains("max_workers must be greater than 0"), "{msg}");
}

/// Runs `f` on another thread; `true` if it returned within [`HANG`].
fn returns_in_time(f: impl FnOnce() + Send + 'static) -> bool {
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        f();
        let _ = done_tx.send(());
    });
    done_rx.recv_timeout(HANG).is_ok()
}

/// Checks that each of `futures` ran in a worker of its own (`max_tasks_per_child(1)`).
fn one_job_per_worker(futures: Vec<poolbridge::PoolFuture<u32>>) {
    let pids: Vec<u32> = futures
        .into_iter()
        .map(|f| f.result_timeout(HANG).expect("every queued job ran"))
        .collect();
    let distinct: HashSet<u32> = pids.iter().copied().collect();
    assert_eq!(distinct.len(), pids.len(), "one job per worker: {pids:?}");
}

/// Issue 17, item 8 (CPython's test_process_pool / test_deadlock): queued work still runs after
/// shutdown begins, although every worker retires after one job.
fn shutdown_wait_runs_the_queue_while_workers_retire() {
    let pool = Arc::new(
        ProcessPoolExecutor::builder()
            .max_workers(3)
            .max_tasks_per_child(1)
            .build()
            .unwrap(),
    );
    let futures: Vec<_> = (0..6).map(|_| pool.submit(nap_then_pid, (20,))).collect();
    let closer = Arc::clone(&pool);
    assert!(
        returns_in_time(move || closer.shutdown(true, false)),
        "shutdown(wait = true) returns"
    );
    assert!(futures.iter().all(|f| f.done()), "after running every job");
    one_job_per_worker(futures);
    assert!(pool.worker_pids().is_empty());
    assert!(children().is_empty(), "{:?}", children());
}

/// Issue 17, item 8 (CPython gh-119592): one worker, one job per worker, shut down without
/// waiting while the first job runs: the retired worker is replaced for the jobs still queued.
fn shutdown_without_wait_replaces_a_retired_worker_for_the_queue() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..3).map(|_| pool.submit(nap_then_pid, (100,))).collect();
    assert!(eventually(HANG, || futures[0].running()));
    pool.shutdown(false, false);
    one_job_per_worker(futures);
    assert!(returns_in_time(move || drop(pool)), "dropping it returns");
    assert!(children().is_empty(), "{:?}", children());
}

/// Issue 17, item 8: dropping the pool is `shutdown(true, false)`: the queue runs to the end,
/// with workers retiring after each job (no "Promise ... dropped" for the queued jobs).
fn dropping_the_pool_runs_the_queue_while_workers_retire() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .max_tasks_per_child(1)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..5).map(|_| pool.submit(nap_then_pid, (20,))).collect();
    assert!(returns_in_time(move || drop(pool)), "dropping it returns");
    assert!(futures.iter().all(|f| f.done()), "after running every job");
    one_job_per_worker(futures);
    assert!(children().is_empty(), "{:?}", children());
}
