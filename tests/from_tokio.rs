//! Converting tokio code (issue 13, "Done when"): a ~50-line program written for tokio's
//! `spawn_blocking`, `JoinSet`, `JoinHandle::abort` and `?` on `io::Result` runs unchanged on
//! poolbridge. The program is written once, in the `program!` macro; the two versions differ
//! only in their `use` line and in the name of the method that cancels a queued job (tokio's
//! `abort`, poolbridge's `cancel`), and both must produce the same report.
//!
//! Both blocking pools are limited to two threads so that a third job queues and its `abort` /
//! `cancel` lands before it starts. The default executor is global state: this binary holds this
//! one test, and the exit case below, which runs in child processes.
//!
//! The exit case (issue 22): a converted program whose `main` ends while a detached job still
//! runs and another waits in the queue. tokio's runtime waits for its blocking tasks when it
//! shuts down; with `#[poolbridge::main]` above `#[tokio::main]`, the converted program waits
//! too, and without it the jobs die with the process. Each child runs the program's `main` and
//! then ends the process at once, as the return of a real `main` does.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{HANG, current_thread_runtime};
use poolbridge::{ThreadPoolExecutor, set_default_executor};

/// The tokio program, with `$cancel` the method that cancels a queued job.
macro_rules! program {
    ($cancel:ident) => {
        use std::io;
        use std::path::{Path, PathBuf};
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::sync::{Arc, Condvar, Mutex};
        use std::time::Duration;

        type Gate = Arc<(Mutex<bool>, Condvar)>;

        fn checksum(path: &Path) -> io::Result<u64> {
            let bytes = std::fs::read(path)?;
            Ok(bytes
                .iter()
                .fold(17, |h: u64, &b| h.wrapping_mul(31) + u64::from(b)))
        }

        fn wait_at(gate: &Gate) {
            let (open, cond) = &**gate;
            let _open = cond
                .wait_while(open.lock().unwrap(), |open| !*open)
                .unwrap();
        }

        pub async fn run(dir: PathBuf, files: usize) -> io::Result<Vec<String>> {
            let mut report = Vec::new();
            let d = dir.clone();
            spawn_blocking(move || -> io::Result<()> {
                for i in 0..files {
                    std::fs::write(
                        d.join(format!("{i}.txt")),
                        format!("file {i};").repeat(i + 1),
                    )?;
                }
                Ok(())
            })
            .await??;
            let mut set = JoinSet::new();
            for i in 0..files {
                let path = dir.join(format!("{i}.txt"));
                set.spawn_blocking(move || checksum(&path).map(|sum| (i, sum)));
            }
            let mut sums = Vec::new();
            while let Some(res) = set.join_next().await {
                sums.push(res??);
            }
            sums.sort();
            report.push(format!("checksums {sums:?}"));
            let missing = dir.join("missing.txt");
            let err = spawn_blocking(move || checksum(&missing))
                .await?
                .unwrap_err();
            report.push(format!("missing file: {:?}", err.kind()));

            let gate: Gate = Arc::default();
            let holders: Vec<JoinHandle<()>> = (0..2)
                .map(|_| {
                    let gate = gate.clone();
                    spawn_blocking(move || wait_at(&gate))
                })
                .collect();
            let queued = spawn_blocking(|| "ran");
            queued.$cancel();
            *gate.0.lock().unwrap() = true;
            gate.1.notify_all();
            for holder in holders {
                holder.await?;
            }
            match queued.await {
                Err(err) if err.is_cancelled() => report.push("queued job cancelled".into()),
                other => report.push(format!("queued job: {other:?}")),
            }

            let ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..20 {
                let ran = ran.clone();
                spawn_blocking(move || ran.fetch_add(1, SeqCst));
            }
            while ran.load(SeqCst) < 20 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            report.push(format!("fire and forget: {} of 20 ran", ran.load(SeqCst)));

            let err = spawn_blocking(|| -> u64 { panic!("bad input") })
                .await
                .unwrap_err();
            let payload = err.into_panic();
            report.push(format!(
                "panic payload: {:?}",
                payload.downcast_ref::<&str>()
            ));
            let failed: io::Result<u64> = async { Ok(spawn_blocking(|| 1).await? + 1) }.await;
            report.push(format!("io result: {:?}", failed.map_err(|e| e.kind())));
            Ok(report)
        }
    };
}

mod on_tokio {
    use tokio::task::{JoinHandle, JoinSet, spawn_blocking};
    program!(abort);
}

mod on_poolbridge {
    use poolbridge::{JoinHandle, JoinSet, spawn_blocking};
    program!(cancel);
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "poolbridge-from-tokio-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_tokio_program_runs_unchanged_on_poolbridge() {
    const FILES: usize = 8;
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
        .unwrap();
    let dir = fresh_dir("tokio");
    let expected = tokio_rt
        .block_on(on_tokio::run(dir.clone(), FILES))
        .unwrap();
    drop(tokio_rt);
    std::fs::remove_dir_all(dir).unwrap();

    set_default_executor(ThreadPoolExecutor::new(2));
    let rt = current_thread_runtime();
    let dir = fresh_dir("poolbridge");
    let got = rt.block_on(on_poolbridge::run(dir.clone(), FILES)).unwrap();
    std::fs::remove_dir_all(dir).unwrap();

    assert_eq!(got, expected);
    // And the report says what the program checks: not an empty agreement.
    assert_eq!(got.len(), 6, "{got:#?}");
    assert!(got[0].starts_with("checksums [(0, "), "{got:#?}");
    assert_eq!(got[1], "missing file: NotFound");
    assert_eq!(got[2], "queued job cancelled");
    assert_eq!(got[3], "fire and forget: 20 of 20 ran");
    assert_eq!(got[4], "panic payload: Some(\"bad input\")");
    assert_eq!(got[5], "io result: Ok(2)");
}

/// The child's mode ("attribute" or "none") and its directory of marker files.
const EXIT_MODE: &str = "POOLBRIDGE_FROM_TOKIO_EXIT_MODE";
const EXIT_DIR: &str = "POOLBRIDGE_FROM_TOKIO_EXIT_DIR";

/// Waits (in a child's job) for `path` to exist; gives up after `HANG`.
fn wait_for_file(path: &Path) -> bool {
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() > HANG {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}

/// The converted program's `main` body: a detached job that runs until the parent says `go`
/// (after this body has ended), and one queued behind it on the one-thread default executor.
async fn exit_program() {
    use poolbridge::spawn_blocking; // was: use tokio::task::spawn_blocking;

    let dir = PathBuf::from(std::env::var(EXIT_DIR).unwrap());
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
#[tokio::main(flavor = "current_thread")]
async fn main_with_attribute() {
    exit_program().await;
}

#[tokio::main(flavor = "current_thread")]
async fn main_without_attribute() {
    exit_program().await;
}

/// The child: runs one `main`, then ends the process as returning from a real `main` does.
#[test]
#[ignore = "a child process of `a_job_still_running_when_main_ends`"]
fn exit_child() {
    set_default_executor(ThreadPoolExecutor::new(1));
    match std::env::var(EXIT_MODE).as_deref() {
        Ok("attribute") => main_with_attribute(),
        Ok("none") => main_without_attribute(),
        other => panic!("unknown mode {other:?}"),
    }
    std::process::exit(0);
}

/// Runs the child in `mode`; returns whether each of its two jobs finished.
fn run_exit_child(mode: &str) -> (bool, bool) {
    let dir = fresh_dir(&format!("exit-{mode}"));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "exit_child", "--nocapture"])
        .env(EXIT_MODE, mode)
        .env(EXIT_DIR, &dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        // Once `main` has returned: a process that waits lets its job go on. (One that does not
        // has already exited, or exits without looking at `go`.)
        if dir.join("main-returned").exists() && !dir.join("go").exists() && mode != "none" {
            std::fs::write(dir.join("go"), "").unwrap();
        }
        if start.elapsed() > HANG {
            child.kill().unwrap();
            panic!("the {mode} child hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(status.success(), "the {mode} child failed: {status}");
    assert!(dir.join("main-returned").exists());
    // After the process is gone, `go` can no longer help a job that died with it.
    std::fs::write(dir.join("go"), "").unwrap();
    let done = (
        dir.join("running-done").exists(),
        dir.join("queued-done").exists(),
    );
    std::fs::remove_dir_all(dir).unwrap();
    done
}

#[test]
fn a_job_still_running_when_main_ends() {
    assert_eq!(
        run_exit_child("attribute"),
        (true, true),
        "#[poolbridge::main] waits for the running and the queued job"
    );
    assert_eq!(
        run_exit_child("none"),
        (false, false),
        "without it both jobs die with the process (the contrast that makes the above mean something)"
    );
}
