//! ProcessPoolExecutor: a worker that dies fails only its own job, with the right detail, while
//! the jobs around it succeed; timeouts kill the job's whole process group; no worker outlives a
//! parent that panics or is killed.

mod process_support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use poolbridge::{FutureError, PoolFuture, ProcessPoolExecutor, SubmitOptions, WorkerExit};
use process_support::{HANG, children, eventually, is_gone};

#[poolbridge::job]
fn nap_then(ms: u64, value: u64) -> u64 {
    thread::sleep(Duration::from_millis(ms));
    value
}

#[poolbridge::job]
fn worker_pid() -> u32 {
    std::process::id()
}

#[poolbridge::job]
fn abort_now() -> u64 {
    std::process::abort()
}

#[poolbridge::job]
fn segfault() -> u64 {
    // SAFETY: none: this writes to an unmapped address on purpose, as a buggy native library
    // would. Address 16 is below every mapping (Linux refuses to map the first page).
    unsafe { std::ptr::write_volatile(16 as *mut u64, 42) };
    unreachable!("the write above kills the process")
}

#[poolbridge::job]
fn exit_3() -> u64 {
    std::process::exit(3)
}

/// Writes its pid to `path`, then sleeps until killed from outside.
#[poolbridge::job]
fn wait_to_be_killed(path: PathBuf) -> u64 {
    std::fs::write(&path, std::process::id().to_string()).unwrap();
    thread::sleep(Duration::from_secs(60));
    0
}

/// Allocates 4 GiB: more than the address-space limit its worker's initializer set.
#[poolbridge::job]
fn hog_memory() -> u64 {
    let v = vec![1u8; 4 << 30];
    v.iter().map(|&b| u64::from(b)).sum()
}

const ADDRESS_SPACE_LIMIT: u64 = 2 << 30;

#[poolbridge::job]
fn limit_address_space() {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let limit = Rlimit {
        current: Some(ADDRESS_SPACE_LIMIT),
        maximum: Some(ADDRESS_SPACE_LIMIT),
    };
    setrlimit(Resource::As, limit).expect("setrlimit(RLIMIT_AS)");
}

/// Starts `sleep 100` (a grandchild of the pool), writes its pid to `path`, and loops forever.
#[poolbridge::job]
#[allow(clippy::zombie_processes)] // killed with the process group, reaped by init
fn spawn_grandchild_and_hang(path: PathBuf) -> u64 {
    let child = Command::new("sleep").arg("100").spawn().unwrap();
    std::fs::write(&path, child.id().to_string()).unwrap();
    loop {
        thread::sleep(Duration::from_millis(10));
    }
}

fn main() {
    poolbridge::process::init();
    if let Ok(role) = std::env::var("PB_TEST_PARENT_ROLE") {
        parent_role(&role);
    }
    process_support::run(crate::tests![
        abort_fails_only_its_job,
        segfault_fails_only_its_job,
        exit_3_fails_only_its_job,
        sigkill_from_outside_fails_only_its_job,
        rlimit_as_blowup_fails_only_its_job,
        several_crashes_at_once,
        a_timeout_kills_the_job_and_its_grandchild,
        the_builder_timeout_applies_to_every_job,
        a_job_sent_ahead_starts_its_clock_when_it_runs,
        an_idle_worker_killed_from_outside_costs_no_job,
        a_panicking_parent_leaves_no_worker,
        a_killed_parent_leaves_no_worker,
    ]);
}

/// Submits 10 ordinary jobs, `crash`, then 10 more, on 4 workers. Checks the 20 succeed and
/// returns the crash's error.
fn crash_among_twenty(
    pool: &ProcessPoolExecutor,
    crash: impl FnOnce(&ProcessPoolExecutor) -> PoolFuture<u64>,
) -> FutureError {
    let before: Vec<_> = (0..10).map(|i| pool.submit(nap_then, (20, i))).collect();
    let crashed = crash(pool);
    let after: Vec<_> = (10..20).map(|i| pool.submit(nap_then, (20, i))).collect();
    for (i, f) in before.into_iter().chain(after).enumerate() {
        assert_eq!(
            f.result_timeout(HANG),
            Ok(i as u64),
            "job {i} is not affected"
        );
    }
    let err = crashed.result_timeout(HANG).unwrap_err();
    // The pool goes on with a replacement worker.
    assert_eq!(pool.submit(nap_then, (0, 99)).result_timeout(HANG), Ok(99));
    err
}

fn worker_exit(err: &FutureError) -> &WorkerExit {
    match err {
        FutureError::WorkerDied(exit) => exit,
        other => panic!("expected WorkerDied, got {other:?}"),
    }
}

fn abort_fails_only_its_job() {
    let pool = ProcessPoolExecutor::new(4);
    let err = crash_among_twenty(&pool, |p| p.submit(abort_now, ()));
    let exit = worker_exit(&err);
    assert_eq!(exit.signal(), Some(libc::SIGABRT));
    assert_eq!(exit.signal_name(), Some("SIGABRT"));
    assert_eq!(exit.code(), None);
    assert!(exit.job().unwrap().ends_with("::abort_now"), "{exit:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("worker process {}", exit.pid())),
        "{text}"
    );
    assert!(
        text.contains("SIGABRT") && text.contains("abort_now"),
        "{text}"
    );
}

fn segfault_fails_only_its_job() {
    let pool = ProcessPoolExecutor::new(4);
    let err = crash_among_twenty(&pool, |p| p.submit(segfault, ()));
    let exit = worker_exit(&err);
    assert_eq!(exit.signal(), Some(libc::SIGSEGV), "{err}");
    assert_eq!(exit.signal_name(), Some("SIGSEGV"));
    assert!(exit.job().unwrap().ends_with("::segfault"));
}

fn exit_3_fails_only_its_job() {
    let pool = ProcessPoolExecutor::new(4);
    let err = crash_among_twenty(&pool, |p| p.submit(exit_3, ()));
    let exit = worker_exit(&err);
    assert_eq!(exit.code(), Some(3), "{err}");
    assert_eq!(exit.signal(), None);
    assert!(err.to_string().contains("exited with code 3"), "{err}");
}

fn sigkill_from_outside_fails_only_its_job() {
    let dir = process_support::temp_dir("sigkill");
    let pid_file = dir.join("pid");
    let pool = ProcessPoolExecutor::new(4);
    let err = crash_among_twenty(&pool, |p| {
        let fut = p.submit(wait_to_be_killed, (pid_file.clone(),));
        assert!(eventually(HANG, || std::fs::read_to_string(&pid_file)
            .is_ok_and(|s| !s.is_empty())));
        let victim: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
        let killed = Command::new("kill")
            .args(["-KILL", &victim.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        fut
    });
    let exit = worker_exit(&err);
    assert_eq!(exit.signal(), Some(libc::SIGKILL), "{err}");
    assert_eq!(exit.signal_name(), Some("SIGKILL"));
    let _ = std::fs::remove_dir_all(dir);
}

fn rlimit_as_blowup_fails_only_its_job() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(4)
        .initializer(limit_address_space)
        .build()
        .unwrap();
    let err = crash_among_twenty(&pool, |p| p.submit(hog_memory, ()));
    let exit = worker_exit(&err);
    // Rust's allocation-failure handler prints "memory allocation of 4294967296 bytes failed"
    // and aborts.
    assert_eq!(exit.signal_name(), Some("SIGABRT"), "{err}");
    assert!(exit.job().unwrap().ends_with("::hog_memory"));
}

fn several_crashes_at_once() {
    // Every kind of death in one batch, interleaved with ordinary jobs: each is charged to its
    // own job only.
    let pool = ProcessPoolExecutor::new(4);
    let mut ok = Vec::new();
    let mut crashes = Vec::new();
    for round in 0..3u64 {
        ok.push(pool.submit(nap_then, (10, round)));
        crashes.push((libc::SIGABRT, pool.submit(abort_now, ())));
        ok.push(pool.submit(nap_then, (10, round + 10)));
        crashes.push((libc::SIGSEGV, pool.submit(segfault, ())));
        ok.push(pool.submit(nap_then, (10, round + 20)));
        crashes.push((0, pool.submit(exit_3, ())));
    }
    for f in &ok {
        assert!(
            f.result_timeout(HANG).is_ok(),
            "{:?}",
            f.result_timeout(HANG)
        );
    }
    for (signal, f) in crashes {
        let err = f.result_timeout(HANG).unwrap_err();
        let exit = worker_exit(&err);
        if signal == 0 {
            assert_eq!(exit.code(), Some(3), "{err}");
        } else {
            assert_eq!(exit.signal(), Some(signal), "{err}");
        }
    }
}

fn a_timeout_kills_the_job_and_its_grandchild() {
    let dir = process_support::temp_dir("timeout");
    let pid_file = dir.join("grandchild");
    let pool = ProcessPoolExecutor::new(2);
    let limit = Duration::from_millis(300);
    let started = Instant::now();
    let hung = pool.submit_with(
        spawn_grandchild_and_hang,
        (pid_file.clone(),),
        SubmitOptions::default().timeout(limit),
    );
    let others: Vec<_> = (0..6).map(|i| pool.submit(nap_then, (20, i))).collect();
    assert_eq!(
        hung.result_timeout(HANG),
        Err(FutureError::JobTimeout(limit))
    );
    assert!(started.elapsed() >= limit, "not before its limit");
    let grandchild: u32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(
        eventually(Duration::from_secs(5), || is_gone(grandchild)),
        "the job's grandchild `sleep 100` ({grandchild}) was killed with the process group"
    );
    for (i, f) in others.into_iter().enumerate() {
        assert_eq!(f.result_timeout(HANG), Ok(i as u64));
    }
    assert_eq!(
        pool.submit(nap_then, (0, 7)).result_timeout(HANG),
        Ok(7),
        "replaced"
    );
    let text = FutureError::JobTimeout(limit).to_string();
    assert!(text.contains("300ms") && text.contains("killed"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

fn the_builder_timeout_applies_to_every_job() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .job_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let slow = pool.submit(nap_then, (10_000, 1));
    let quick = pool.submit(nap_then, (10, 2));
    let overridden = pool.submit_with(
        nap_then,
        (400, 3),
        SubmitOptions::default().timeout(Duration::from_secs(20)),
    );
    assert_eq!(
        slow.result_timeout(HANG),
        Err(FutureError::JobTimeout(Duration::from_millis(200)))
    );
    assert_eq!(quick.result_timeout(HANG), Ok(2));
    assert_eq!(
        overridden.result_timeout(HANG),
        Ok(3),
        "SubmitOptions overrides the default"
    );
}

fn a_job_sent_ahead_starts_its_clock_when_it_runs() {
    // One worker: B is written to it while A runs, but B's 250 ms limit counts from when the
    // worker reaches it, so B (100 ms of work) succeeds after A's 400 ms.
    let pool = ProcessPoolExecutor::new(1);
    let a = pool.submit(nap_then, (400, 1));
    let b = pool.submit_with(
        nap_then,
        (100, 2),
        SubmitOptions::default().timeout(Duration::from_millis(250)),
    );
    assert!(
        eventually(HANG, || b.running()),
        "B was sent ahead (marked running)"
    );
    assert_eq!(a.result_timeout(HANG), Ok(1));
    assert_eq!(b.result_timeout(HANG), Ok(2));
}

fn an_idle_worker_killed_from_outside_costs_no_job() {
    let pool = ProcessPoolExecutor::new(1);
    let victim = pool.submit(worker_pid, ()).result_timeout(HANG).unwrap();
    let killed = Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Its reader sees the hang-up and reaps it at once, charging nobody.
    assert!(eventually(HANG, || pool.worker_pids().is_empty() && is_gone(victim)));
    let next = pool.submit(worker_pid, ()).result_timeout(HANG);
    assert!(matches!(next, Ok(pid) if pid != victim), "{next:?}");
}

/// Runs this binary as a parent that starts two workers busy with long jobs, prints their pids,
/// then dies as `role` says. Returns the worker pids and the parent's exit status.
fn run_parent(role: &str) -> (Vec<u32>, std::process::ExitStatus) {
    let mut parent = Command::new(std::env::current_exe().unwrap())
        .env("PB_TEST_PARENT_ROLE", role)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pids: Vec<u32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "the parent reports its workers: {line:?}");
    if role == "killed" {
        parent.kill().unwrap();
    }
    let status = parent.wait().unwrap();
    (pids, status)
}

/// The other side of `run_parent`.
fn parent_role(role: &str) -> ! {
    let pool = ProcessPoolExecutor::new(2);
    let futures: Vec<_> = (0..4).map(|i| pool.submit(nap_then, (60_000, i))).collect();
    assert!(eventually(HANG, || {
        pool.worker_pids().len() == 2 && futures.iter().filter(|f| f.running()).count() >= 2
    }));
    let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
    println!("{}", pids.join(" "));
    match role {
        "panics" => panic!("the parent panics while its workers run"),
        "killed" => {
            thread::sleep(Duration::from_secs(60));
            std::process::exit(0)
        }
        _ => unreachable!("unknown role {role}"),
    }
}

fn a_panicking_parent_leaves_no_worker() {
    let started = Instant::now();
    let (workers, status) = run_parent("panics");
    assert_eq!(status.code(), Some(101), "the parent panicked");
    assert!(
        workers.iter().all(|&p| is_gone(p)),
        "its pool's drop killed and reaped the workers before the parent exited"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "without waiting for the 60 s jobs"
    );
}

fn a_killed_parent_leaves_no_worker() {
    let (workers, status) = run_parent("killed");
    assert_eq!(status.signal_value(), Some(libc::SIGKILL));
    assert!(
        eventually(Duration::from_secs(5), || workers
            .iter()
            .all(|&p| is_gone(p))),
        "workers notice the parent is gone and exit"
    );
    assert!(children().is_empty());
}

trait SignalValue {
    fn signal_value(&self) -> Option<i32>;
}

impl SignalValue for std::process::ExitStatus {
    fn signal_value(&self) -> Option<i32> {
        std::os::unix::process::ExitStatusExt::signal(self)
    }
}
