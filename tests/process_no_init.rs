//! A worker that never reaches `poolbridge::process::init()`: the documented `BrokenPool`
//! message, never a hang. This binary forgets `init()` on purpose: when a pool re-runs it as a
//! worker, it runs `main` again instead of serving jobs.

mod process_support;

use std::time::{Duration, Instant};

use poolbridge::{BrokenReason, FutureError, ProcessPoolExecutor};
use process_support::{HANG, children};

#[poolbridge::job]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

fn main() {
    // No `poolbridge::process::init()` here: that is the bug under test.
    process_support::run(crate::tests![
        a_forgotten_init_is_a_clear_broken_pool,
        a_program_that_never_introduces_itself_is_killed,
        a_program_that_exits_at_once,
        a_missing_program,
        a_program_that_is_not_a_worker,
        a_worker_of_another_protocol,
    ]);
}

fn broken_pool_message(pool: &ProcessPoolExecutor) -> String {
    let futures: Vec<_> = (0..3).map(|i| pool.submit(add, (i, i))).collect();
    let mut messages = Vec::new();
    for f in futures {
        match f.result_timeout(HANG) {
            Err(FutureError::BrokenPool(msg)) => messages.push(msg),
            other => panic!("expected BrokenPool, got {other:?}"),
        }
    }
    assert!(
        messages.windows(2).all(|w| w[0] == w[1]),
        "one reason: {messages:?}"
    );
    // Later jobs are refused at once with the same reason.
    let later = pool.submit(add, (1, 1)).join();
    assert_eq!(later, Err(FutureError::BrokenPool(messages[0].clone())));
    // A worker that cannot start, or never reaches `init()`: the reason says so by its variant.
    let reason = messages.swap_remove(0);
    assert!(matches!(reason, BrokenReason::WorkerStart(_)), "{reason:?}");
    reason.to_string()
}

fn a_forgotten_init_is_a_clear_broken_pool() {
    let pool = ProcessPoolExecutor::new(2);
    let msg = broken_pool_message(&pool);
    if std::env::var_os("POOLBRIDGE_WORKER").is_some() {
        // This is the forgetful worker itself: its own pool refuses to start workers (else each
        // worker would start workers of its own, without end).
        assert!(msg.contains("runs main instead of serving jobs"), "{msg}");
        return;
    }
    assert!(
        msg.contains("before reaching poolbridge::process::init()"),
        "{msg}"
    );
    assert!(
        msg.contains("call poolbridge::process::init() as the first line of main"),
        "says how to fix it: {msg}"
    );
    assert!(msg.contains("ProcessPoolBuilder::program"), "{msg}");
    drop(pool);
    assert!(children().is_empty(), "{:?}", children());
}

fn a_program_that_never_introduces_itself_is_killed() {
    if std::env::var_os("POOLBRIDGE_WORKER").is_some() {
        return;
    }
    // `cat` reads the pool's socket (its standard input) forever and never says hello.
    let limit = Duration::from_millis(300);
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .program("/bin/cat")
        .start_timeout(limit)
        .build()
        .unwrap();
    let started = Instant::now();
    let msg = broken_pool_message(&pool);
    assert!(started.elapsed() >= limit);
    assert!(
        msg.contains("did not reach poolbridge::process::init() within 300ms"),
        "{msg}"
    );
    assert!(msg.contains("/bin/cat"), "{msg}");
    assert!(msg.contains("start_timeout"), "{msg}");
    drop(pool);
    assert!(
        children().is_empty(),
        "the silent worker was killed and reaped"
    );
}

fn a_program_that_exits_at_once() {
    if std::env::var_os("POOLBRIDGE_WORKER").is_some() {
        return;
    }
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .program("/bin/false")
        .build()
        .unwrap();
    let msg = broken_pool_message(&pool);
    assert!(msg.contains("exited with code 1 before reaching"), "{msg}");
    assert!(msg.contains("/bin/false"), "{msg}");
}

fn a_missing_program() {
    if std::env::var_os("POOLBRIDGE_WORKER").is_some() {
        return;
    }
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .program("/nonexistent/worker")
        .build()
        .unwrap();
    let msg = broken_pool_message(&pool);
    assert!(
        msg.contains("could not start the worker program `/nonexistent/worker`"),
        "{msg}"
    );
}

/// A shell script as the worker program: it writes `bytes` (printf escapes) to the pool's socket
/// (its standard input) and waits.
fn fake_worker(name: &str, bytes: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = process_support::temp_dir(name);
    let script = dir.join("worker.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '{bytes}' >&0\nsleep 5\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn a_program_that_is_not_a_worker() {
    if std::env::var_os("POOLBRIDGE_WORKER").is_some() {
        return;
    }
    let script = fake_worker("not-a-worker", "hello, pool");
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .program(&script)
        .build()
        .unwrap();
    let msg = broken_pool_message(&pool);
    assert!(msg.contains("is not a poolbridge worker"), "{msg}");
    assert!(msg.contains("worker.sh"), "{msg}");
    drop(pool);
    assert!(
        children().is_empty(),
        "the fake worker was killed and reaped"
    );
}

fn a_worker_of_another_protocol() {
    if std::env::var_os("POOLBRIDGE_WORKER").is_some() {
        return;
    }
    // The right magic bytes, then protocol 9 (this build speaks another).
    let script = fake_worker("protocol", "PLBRDG\\000\\001\\011\\000\\000\\000");
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .program(&script)
        .build()
        .unwrap();
    let msg = broken_pool_message(&pool);
    assert!(msg.contains("speaks poolbridge protocol 9"), "{msg}");
    assert!(msg.contains("same poolbridge version"), "{msg}");
}
