//! What becomes of the default executor's jobs when a real `main` returns (issue 22).
//!
//! The binary has no test harness: run bare, it starts itself once per mode (an environment
//! variable names the mode) and checks what each child left behind. Each child's `main` submits
//! a job that runs until the parent writes `go` (after that `main` returned, or after the
//! process is gone) and another queued behind it on a one-thread default executor, then
//! returns:
//!
//! * `attribute`, `attribute_tokio` (`#[poolbridge::main]` on a sync `main`, and above
//!   `#[tokio::main]`) and `guard` (`let _exit = exit_guard();`): both jobs finish, no warning;
//! * `plain` (nothing said): both jobs die with the process, and where the main thread's
//!   thread-local destructors run at exit (Linux with glibc), stderr says how many and what to
//!   write;
//! * `opt_out` (`default_executor().shutdown(false, true)` first): they die, without a warning.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use poolbridge::{
    ThreadPoolExecutor, default_executor, exit_guard, set_default_executor, spawn_blocking,
};

const MODE: &str = "POOLBRIDGE_EXIT_TEST_MODE";
const DIR: &str = "POOLBRIDGE_EXIT_TEST_DIR";
/// A generous bound on anything that should happen soon (CI runs on 2 busy cores).
const HANG: Duration = Duration::from_secs(30);

fn wait_for_file(path: &Path) -> bool {
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() > HANG {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// The child's work: one job that runs until `go`, one queued behind it.
fn submit_jobs() {
    set_default_executor(ThreadPoolExecutor::new(1));
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    let d = dir.clone();
    spawn_blocking(move || {
        if wait_for_file(&d.join("go")) {
            std::fs::write(d.join("running-done"), "").unwrap();
        }
    });
    let d = dir.clone();
    spawn_blocking(move || std::fs::write(d.join("queued-done"), "").unwrap());
    std::fs::write(dir.join("main-returned"), "").unwrap();
}

#[poolbridge::main]
fn attribute_main() {
    submit_jobs();
}

#[poolbridge::main]
#[tokio::main]
async fn attribute_tokio_main() {
    tokio::task::yield_now().await;
    submit_jobs();
}

fn main() {
    match std::env::var(MODE).as_deref() {
        Err(_) => parent(),
        Ok("attribute") => attribute_main(),
        Ok("attribute_tokio") => attribute_tokio_main(),
        Ok("guard") => {
            let _exit = exit_guard();
            submit_jobs();
        }
        Ok("plain") => submit_jobs(),
        Ok("opt_out") => {
            submit_jobs();
            default_executor().shutdown(false, true);
        }
        Ok(other) => panic!("unknown mode {other}"),
    }
}

struct Outcome {
    running_done: bool,
    queued_done: bool,
    stderr: String,
}

fn run_child(mode: &str, waits: bool) -> Outcome {
    let dir = std::env::temp_dir().join(format!("poolbridge-exit-{}-{mode}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(MODE, mode)
        .env(DIR, &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        // A child that waits gets `go` once its `main` has returned; one that does not is
        // left to exit first.
        if waits && dir.join("main-returned").exists() && !dir.join("go").exists() {
            std::fs::write(dir.join("go"), "").unwrap();
        }
        if start.elapsed() > HANG {
            child.kill().unwrap();
            panic!("the {mode} child hangs");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the {mode} child failed: {output:?}"
    );
    assert!(dir.join("main-returned").exists(), "{mode}");
    // The process is gone: `go` can no longer help a job that died with it.
    std::fs::write(dir.join("go"), "").unwrap();
    let outcome = Outcome {
        running_done: dir.join("running-done").exists(),
        queued_done: dir.join("queued-done").exists(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    std::fs::remove_dir_all(dir).unwrap();
    outcome
}

/// Linux with glibc runs the main thread's thread-local destructors in `exit`; the warning is
/// only promised there.
const WARNS: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

fn parent() {
    for mode in ["attribute", "attribute_tokio", "guard"] {
        let out = run_child(mode, true);
        assert!(
            out.running_done && out.queued_done,
            "{mode}: a job died at exit"
        );
        assert!(
            !out.stderr.contains("poolbridge:"),
            "{mode}: {}",
            out.stderr
        );
        println!("{mode}: main waited for the running and the queued job");
    }

    let out = run_child("plain", false);
    assert!(
        !out.running_done && !out.queued_done,
        "plain: the jobs outlived the process?"
    );
    if WARNS {
        assert!(
            out.stderr
                .contains("poolbridge: `main` returned while 2 jobs of the default executor"),
            "plain: no warning on stderr: {:?}",
            out.stderr
        );
        assert!(out.stderr.contains("#[poolbridge::main]"), "{}", out.stderr);
        println!(
            "plain: the jobs died, and stderr said so: {}",
            out.stderr.trim()
        );
    }

    let out = run_child("opt_out", false);
    assert!(!out.running_done && !out.queued_done, "opt_out");
    assert!(
        !out.stderr.contains("poolbridge:"),
        "opt_out warned: {}",
        out.stderr
    );
    println!("opt_out: the jobs died, as asked, without a warning");
    println!("test result: ok (tests/exit.rs, 5 modes)");
}
