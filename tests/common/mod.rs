//! Shared test support: drop counters, a gate to hold jobs (and helpers that submit such jobs),
//! already-done futures, a thread probe, tokio runtimes, and generous hang guards.
//!
//! Timing in these tests only catches hangs and lost concurrency; it never measures speed.

#![allow(dead_code)]

use std::cell::RefCell;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use poolbridge::{PoolFuture, ThreadPoolExecutor};

/// How long a test waits for something that should happen "soon" before calling it a hang.
/// Generous on purpose: CI runs on 2 busy cores.
pub const HANG: Duration = Duration::from_secs(30);

/// Counts how many `Tracked` values were created and dropped.
#[derive(Clone, Default)]
pub struct DropCounter {
    created: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl DropCounter {
    pub fn new() -> DropCounter {
        DropCounter::default()
    }

    /// A new value whose drop is counted.
    pub fn track(&self) -> Tracked {
        self.created.fetch_add(1, Ordering::SeqCst);
        Tracked {
            dropped: Arc::clone(&self.dropped),
            alive: true,
        }
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Waits (up to `HANG`) until every tracked value was dropped.
    pub fn wait_all_dropped(&self) {
        assert!(
            eventually(|| self.dropped() == self.created()),
            "created {} but dropped {}",
            self.created(),
            self.dropped()
        );
    }
}

/// A value that reports its drop to its [`DropCounter`], and panics if dropped twice.
pub struct Tracked {
    dropped: Arc<AtomicUsize>,
    alive: bool,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(self.alive, "a Tracked value was dropped twice");
        self.alive = false;
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A panic payload whose own `Drop` panics: `std::panic::panic_any(BadDrop)`. Whatever catches
/// such a panic must drop the payload under a guard of its own, or the second panic escapes.
pub struct BadDrop;

impl Drop for BadDrop {
    fn drop(&mut self) {
        panic!("BadDrop: a panic payload's own drop panics");
    }
}

/// A gate that jobs wait at until the test opens it.
#[derive(Clone, Default)]
pub struct Gate {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Blocks until `open` is called (panics after `HANG`, so a bug cannot hang the suite).
    pub fn wait(&self) {
        let (lock, cond) = &*self.inner;
        let mut open = lock.lock().unwrap();
        let deadline = Instant::now() + HANG;
        while !*open {
            let now = Instant::now();
            assert!(now < deadline, "Gate::wait: the gate was never opened");
            open = cond.wait_timeout(open, deadline - now).unwrap().0;
        }
    }

    pub fn open(&self) {
        let (lock, cond) = &*self.inner;
        *lock.lock().unwrap() = true;
        cond.notify_all();
    }
}

/// Polls `cond` every millisecond until it holds (`true`) or `HANG` passes (`false`).
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + HANG;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// Opens its gate when dropped, so a failed assertion cannot leave a job held (and the pool's
/// drop waiting for it until the gate gives up). Derefs to the gate.
pub struct OpenOnDrop(pub Gate);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        // Never panic here while a failed test unwinds (a gate poisoned by a timed-out waiter).
        let gate = &self.0;
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| gate.open()));
    }
}

impl Deref for OpenOnDrop {
    type Target = Gate;

    fn deref(&self) -> &Gate {
        &self.0
    }
}

/// Submits a job that waits for `gate`, then returns `value`. Returns at once: the job may still
/// be queued.
pub fn submit_gated<T: Send + 'static>(
    pool: &ThreadPoolExecutor,
    gate: &Gate,
    value: T,
) -> PoolFuture<T> {
    submit_gated_with(pool, gate, move || value)
}

/// Like [`submit_gated`], but the job runs `job` once the gate opens and returns what it returns.
pub fn submit_gated_with<T, F>(pool: &ThreadPoolExecutor, gate: &Gate, job: F) -> PoolFuture<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let gate = gate.clone();
    pool.submit(move || {
        gate.wait();
        job()
    })
}

/// Submits a job that holds its worker until `gate` opens, then returns `value`; returns once
/// the job runs (so later jobs of a one-worker pool queue behind it).
pub fn submit_held<T: Send + 'static>(
    pool: &ThreadPoolExecutor,
    gate: &Gate,
    value: T,
) -> PoolFuture<T> {
    submit_held_with(pool, gate, move || value)
}

/// Like [`submit_held`], but the job runs `job` once the gate opens and returns what it returns.
pub fn submit_held_with<T, F>(pool: &ThreadPoolExecutor, gate: &Gate, job: F) -> PoolFuture<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (started_tx, started_rx) = mpsc::channel();
    let fut = submit_signalling(pool, gate, started_tx, job);
    started_rx
        .recv_timeout(HANG)
        .expect("the job never started");
    fut
}

/// Submits `n` jobs that each hold a worker until `gate` opens, then return `value`; returns once
/// all `n` of them run.
pub fn hold_workers<T: Clone + Send + 'static>(
    pool: &ThreadPoolExecutor,
    gate: &Gate,
    n: usize,
    value: T,
) -> Vec<PoolFuture<T>> {
    let (started_tx, started_rx) = mpsc::channel();
    let futures = (0..n)
        .map(|_| {
            let value = value.clone();
            submit_signalling(pool, gate, started_tx.clone(), move || value)
        })
        .collect();
    for _ in 0..n {
        started_rx
            .recv_timeout(HANG)
            .expect("a held job never started");
    }
    futures
}

/// Submits a job that reports on `started` that it runs, waits for `gate`, then runs `job`.
fn submit_signalling<T, F>(
    pool: &ThreadPoolExecutor,
    gate: &Gate,
    started: mpsc::Sender<()>,
    job: F,
) -> PoolFuture<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let gate = gate.clone();
    pool.submit(move || {
        started.send(()).unwrap();
        gate.wait();
        job()
    })
}

/// `pool` with every one of its workers held by a job waiting at the returned gate. Returns once
/// those jobs run, so every job submitted afterwards stays `Pending` until the gate opens.
/// (Dropping a `PoolFuture` does not cancel its job, so the holding jobs need no handles.)
pub fn hold_every_worker(pool: ThreadPoolExecutor) -> (ThreadPoolExecutor, OpenOnDrop) {
    let gate = Gate::new();
    let _blockers = hold_workers(&pool, &gate, pool.max_workers(), ());
    (pool, OpenOnDrop(gate))
}

/// A one-worker pool held busy by a job waiting at the returned gate (see [`hold_every_worker`]).
pub fn busy_pool() -> (ThreadPoolExecutor, OpenOnDrop) {
    hold_every_worker(ThreadPoolExecutor::new(1))
}

/// Already-done futures, like CPython's `SUCCESSFUL_FUTURE`, `EXCEPTION_FUTURE` and
/// `CANCELLED_AND_NOTIFIED_FUTURE`.
pub struct DoneFutures {
    pub successful: PoolFuture<i32>,
    pub failed: PoolFuture<i32>,
    pub cancelled: PoolFuture<i32>,
}

impl DoneFutures {
    /// `[cancelled, failed, successful]`.
    pub fn into_array(self) -> [PoolFuture<i32>; 3] {
        [self.cancelled, self.failed, self.successful]
    }
}

/// A cancelled future, one whose job panicked, and one whose job returned 42.
pub fn done_futures() -> DoneFutures {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, 0);
    let cancelled = pool.submit(|| 0);
    assert!(cancelled.cancel());
    gate.open();

    let successful = pool.submit(|| 42);
    let failed = pool.submit(|| -> i32 { panic!("fixture failure") });
    successful.wait();
    failed.wait();
    DoneFutures {
        successful,
        failed,
        cancelled,
    }
}

/// Counts the worker threads that started (initializer) and that really exited (a thread-local
/// whose destructor runs when the thread ends, before `join` on it returns).
#[derive(Clone, Default)]
pub struct ThreadProbe {
    started: Arc<AtomicUsize>,
    exited: Arc<AtomicUsize>,
}

struct ExitGuard(Arc<AtomicUsize>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

thread_local! {
    static EXIT_GUARD: RefCell<Option<ExitGuard>> = const { RefCell::new(None) };
}

impl ThreadProbe {
    /// The worker initializer that counts a start and arms the exit count of its thread.
    pub fn initializer(&self) -> impl Fn() + Send + Sync + 'static {
        let probe = self.clone();
        move || {
            probe.started.fetch_add(1, Ordering::SeqCst);
            let guard = ExitGuard(Arc::clone(&probe.exited));
            EXIT_GUARD.with(|g| *g.borrow_mut() = Some(guard));
        }
    }

    /// A pool of `max_workers` whose threads this probe counts.
    pub fn pool(&self, max_workers: usize) -> ThreadPoolExecutor {
        ThreadPoolExecutor::builder()
            .max_workers(max_workers)
            .initializer(self.initializer())
            .build()
            .unwrap()
    }

    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    pub fn exited(&self) -> usize {
        self.exited.load(Ordering::SeqCst)
    }
}

/// The name of the current thread.
pub fn thread_name() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_owned()
}

/// Drops `pool` on another thread and fails if that hangs.
pub fn drop_without_hanging(pool: ThreadPoolExecutor) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        drop(pool);
        tx.send(()).unwrap();
    });
    rx.recv_timeout(HANG).expect("dropping the pool hangs");
}

/// Runs `f` on a fresh thread and panics with `on_timeout` if it does not return within `limit`
/// (so a hang fails the test instead of hanging the suite). A panic inside `f` is re-raised here.
pub fn run_with_watchdog(limit: Duration, on_timeout: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => handle.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(handle.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{on_timeout}"),
    }
}

/// Marks a test process started by [`run_test_in_child`].
const CHILD_ENV: &str = "POOLBRIDGE_TEST_CHILD";

/// `true` in a process started by [`run_test_in_child`].
pub fn in_test_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Runs test `name` of this test binary in a child process (for scenarios that may abort the
/// process, or that need limits of their own) and returns whether it passed, with its output.
/// `shell_prefix`, if given, is a `sh` command run in the child before the test binary is
/// exec'd, such as `ulimit -v 1000000`. The child is killed after `2 × HANG`.
pub fn run_test_in_child(name: &str, shell_prefix: Option<&str>) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    let name = full_test_name(&exe, name);
    let args = ["--exact", name.as_str(), "--test-threads=1", "--nocapture"];
    let mut command = match shell_prefix {
        None => {
            let mut c = std::process::Command::new(&exe);
            c.args(args);
            c
        }
        Some(prefix) => {
            let mut c = std::process::Command::new("sh");
            c.arg("-c")
                .arg(format!("{prefix} && exec \"$0\" \"$@\""))
                .arg(&exe)
                .args(args);
            c
        }
    };
    let mut child = command
        .env(CHILD_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + HANG * 2;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The name libtest knows test `name` of the binary `exe` by: `name` itself, or `module::name`
/// where one binary holds several test files as modules (tests/pool). Exactly one test must
/// match, so that the child can never run nothing and pass.
fn full_test_name(exe: &std::path::Path, name: &str) -> String {
    let out = std::process::Command::new(exe)
        .args(["--list", "--format", "terse"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    let suffix = format!("::{name}");
    let found: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .filter(|test| *test == name || test.ends_with(&suffix))
        .collect();
    match found[..] {
        [test] => test.to_owned(),
        _ => panic!("run_test_in_child({name:?}): {found:?} in this binary's tests, not one"),
    }
}

/// Drains `iter`, checking before every `next` (and once after the end) that `size_hint`
/// brackets the number of items still to come.
pub fn drain_checking_size_hint<I: Iterator>(mut iter: I) -> Vec<I::Item> {
    let mut hints = Vec::new();
    let mut items = Vec::new();
    loop {
        hints.push(iter.size_hint());
        match iter.next() {
            Some(item) => items.push(item),
            None => break,
        }
    }
    hints.push(iter.size_hint());
    for (step, (lower, upper)) in hints.into_iter().enumerate() {
        let remaining = items.len().saturating_sub(step);
        assert!(
            lower <= remaining && upper.is_none_or(|upper| remaining <= upper),
            "before item {step}, size_hint was ({lower}, {upper:?}) but {remaining} items followed"
        );
    }
    items
}

/// A current-thread tokio runtime with IO and time enabled.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A multi-thread tokio runtime of `worker_threads` threads with IO and time enabled.
pub fn multi_thread_runtime(worker_threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .enable_all()
        .build()
        .unwrap()
}
