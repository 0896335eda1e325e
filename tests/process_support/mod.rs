//! A tiny test runner for the process-pool tests. They are `harness = false` targets: a test
//! binary is also the worker program of its pools, so `main` must call
//! `poolbridge::process::init()` before anything else, which libtest's `main` cannot do.
//!
//! `cargo test --test process_pool -- NAME` runs the tests whose name contains NAME. Tests run
//! one after another (the checks on child processes count this process's children), each under
//! a watchdog: a test that hangs fails the run instead of hanging CI.

#![allow(dead_code)]

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longer than any test may take: past it, the run fails with the test's name.
/// `POOLBRIDGE_TEST_LIMIT_S` raises it for a soak run by hand (a bigger `POOLBRIDGE_SOAK_JOBS`).
fn test_limit() -> Duration {
    std::env::var("POOLBRIDGE_TEST_LIMIT_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_secs)
}

/// A bound for waits that should end quickly; only reached when something is broken.
pub const HANG: Duration = Duration::from_secs(20);

pub type Test = (&'static str, fn());

/// `tests![a, b]`: the list of test functions for [`run`], each named after its function. A
/// test may carry `#[cfg(...)]` (a test that needs a feature).
#[macro_export]
macro_rules! tests {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        &[$($(#[$attr])* (stringify!($name), $name as fn())),*]
    };
}

/// Runs the tests selected by the command line, prints one line each and a summary, and exits
/// with a failure status if any failed.
pub fn run(tests: &[Test]) -> ! {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let started = Instant::now();
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, test) in selected {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let watchdog_name = *name;
        let limit = test_limit();
        std::thread::spawn(move || {
            if done_rx.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
                eprintln!("test {watchdog_name} ... HUNG (over {limit:?}); aborting the run");
                std::process::exit(101);
            }
        });
        let t = Instant::now();
        let outcome = panic::catch_unwind(AssertUnwindSafe(test));
        let _ = done_tx.send(());
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({:.0?})", t.elapsed());
            }
            Err(_) => {
                failed.push(*name);
                println!("test {name} ... FAILED ({:.0?})", t.elapsed());
            }
        }
    }
    let status = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {status}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(101);
    }
    std::process::exit(0);
}

/// The pids of this process's children, read from `/proc` (Linux).
pub fn children() -> HashSet<u32> {
    let me = std::process::id();
    let mut kids = HashSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return kids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((ppid, _)) = stat(pid) {
            if ppid == me {
                kids.insert(pid);
            }
        }
    }
    kids
}

/// `(parent pid, state letter)` of process `pid`, if it exists.
pub fn stat(pid: u32) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may contain spaces, so split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// `true` if process `pid` is gone (or a zombie: dead, waiting for a reaper that is not us).
pub fn is_gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists() || matches!(stat(pid), None | Some((_, 'Z' | 'X')))
}

/// Waits up to `limit` for `cond`; returns whether it held.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("poolbridge-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
