//! The libraries under comparison, each behind the same small interface, so every workload is one
//! generic function monomorphised per library (no boxing, no enum dispatch: a handle is exactly
//! the type a user of that library would hold).
//!
//! Every job returns a `u64`; each handle type is a thin `Future<Output = u64>` newtype over what
//! the library returns.

use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Unwraps a `Result` outcome into the bare `u64` (a failed job is a harness bug).
pub struct Unwrap<F>(F);

impl<F, E> Future for Unwrap<F>
where
    F: Future<Output = Result<u64, E>> + Unpin,
    E: std::fmt::Debug,
{
    type Output = u64;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.expect("job failed"))
    }
}

/// For channels that carry a caught panic: `Result<thread::Result<u64>, RecvError>`.
pub struct Unwrap2<F>(F);

impl<F, E> Future for Unwrap2<F>
where
    F: Future<Output = Result<std::thread::Result<u64>, E>> + Unpin,
    E: std::fmt::Debug,
{
    type Output = u64;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        Pin::new(&mut self.0).poll(cx).map(|r| match r {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => panic!("job panicked"),
            Err(e) => panic!("channel closed: {e:?}"),
        })
    }
}

/// How a library is driven: async workloads (`spawn` from the tasks of a tokio runtime: a
/// current-thread one, or a multi-thread one for `mpburst`) or the plain-thread `sync` workload
/// (`submit` + `wait`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Async,
    Sync,
}

pub trait Lib: Send + Sync + Sized + 'static {
    /// Awaitable handle of one job.
    type Handle: Future<Output = u64> + Send + Unpin + 'static;
    /// Blocking handle of one job (the `sync` workload).
    type SyncHandle: Send + 'static;

    /// Sets the library up. `workers = Some(n)` fixes the number of worker threads (sleepy,
    /// cpu); `None` keeps the library's default, as a user gets it.
    fn new(mode: Mode, workers: Option<usize>) -> Self;

    /// Adjusts the runtime the async workloads run on, current-thread or multi-thread (tokio's
    /// blocking pool belongs to the runtime). `spawn` may then be called from any of that
    /// runtime's threads, and must use that runtime where the library is the runtime's own.
    fn tune_runtime(_builder: &mut tokio::runtime::Builder, _workers: Option<usize>) {}

    fn spawn<F>(&self, f: F) -> Self::Handle
    where
        F: FnOnce() -> u64 + Send + 'static;

    fn submit<F>(&self, f: F) -> Self::SyncHandle
    where
        F: FnOnce() -> u64 + Send + 'static;

    fn wait(h: Self::SyncHandle) -> u64;

    /// Runs `f` with no handle (sync mode): the library's cheapest fire-and-forget path, the one
    /// an un-awaited `spawn_blocking`, Java's `Executor.execute` or `threadpool::execute` takes.
    fn fire<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static;

    /// The `as_completed` workload (sync mode, a plain thread): takes the outcomes of `handles`
    /// in completion order and returns their sum. poolbridge: `poolbridge::as_completed`; the
    /// others: a `futures::stream::FuturesUnordered` of their handles, drained with
    /// `futures::executor::block_on` (see [`unordered_sum`]).
    fn as_completed(handles: Vec<Self::SyncHandle>) -> u64;

    /// The `wait` workload (sync mode): blocks until every one of `handles` is done, then returns
    /// the sum of their outcomes. poolbridge: `poolbridge::wait(.., ReturnWhen::AllCompleted)`;
    /// the others: `futures::future::join_all` over their handles under `block_on` (see
    /// [`join_all_sum`]).
    fn wait_all(handles: Vec<Self::SyncHandle>) -> u64;

    /// The `joinset` workload, where the library has a `JoinSet` of blocking jobs (poolbridge's,
    /// tokio's): a future, to be awaited on the workload's current-thread runtime, that puts the
    /// jobs `job(0)..job(n)` into a new set, then takes their outcomes in completion order; its
    /// output is their sum and the time spent submitting. `None` (the default): the library has
    /// no such set, the workload is "n/a" for it (as [`LibInfo::join_set`] says to the parent).
    fn join_set<J>(
        _n: u64,
        _job: impl FnMut(u64) -> J,
    ) -> Option<impl Future<Output = (u64, Duration)>>
    where
        J: FnOnce() -> u64 + Send + 'static,
    {
        None::<std::future::Ready<(u64, Duration)>>
    }
}

/// The peers' `as_completed`: every handle in a `FuturesUnordered`, outcomes summed as they
/// complete, on the calling thread (`futures::executor::block_on`, no runtime).
pub fn unordered_sum<F: Future<Output = u64>>(handles: impl IntoIterator<Item = F>) -> u64 {
    use futures::StreamExt;
    let set: futures::stream::FuturesUnordered<F> = handles.into_iter().collect();
    futures::executor::block_on(set.fold(0u64, |sum, v| async move { sum.wrapping_add(v) }))
}

/// The peers' `wait` (all completed): `futures::future::join_all` over the handles, then the sum.
pub fn join_all_sum<F: Future<Output = u64>>(handles: impl IntoIterator<Item = F>) -> u64 {
    futures::executor::block_on(futures::future::join_all(handles))
        .into_iter()
        .fold(0u64, u64::wrapping_add)
}

// ---------------------------------------------------------------------------------------------
// poolbridge: `run_in_executor(None, ..)` (async), `ThreadPoolExecutor::submit` + `join` (sync).

pub struct Poolbridge {
    pool: Option<poolbridge::ThreadPoolExecutor>,
}

impl Lib for Poolbridge {
    type Handle = Unwrap<poolbridge::ExecutorFuture<u64>>;
    type SyncHandle = poolbridge::PoolFuture<u64>;

    fn new(mode: Mode, workers: Option<usize>) -> Self {
        match mode {
            Mode::Async => {
                if let Some(n) = workers {
                    poolbridge::set_default_executor(poolbridge::ThreadPoolExecutor::new(n));
                }
                Poolbridge { pool: None }
            }
            Mode::Sync => Poolbridge {
                pool: Some(match workers {
                    Some(n) => poolbridge::ThreadPoolExecutor::new(n),
                    None => poolbridge::ThreadPoolExecutor::default(),
                }),
            },
        }
    }

    fn spawn<F>(&self, f: F) -> Self::Handle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        Unwrap(poolbridge::run_in_executor(None, f, ()))
    }

    fn submit<F>(&self, f: F) -> Self::SyncHandle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        self.pool.as_ref().expect("sync mode").submit(f)
    }

    fn wait(h: Self::SyncHandle) -> u64 {
        h.join().expect("job failed")
    }

    fn fire<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        if self.pool.as_ref().expect("sync mode").execute(f).is_err() {
            panic!("the pool refused a job");
        }
    }

    fn as_completed(handles: Vec<Self::SyncHandle>) -> u64 {
        poolbridge::as_completed(handles)
            .map(|f| f.join().expect("job failed"))
            .fold(0u64, u64::wrapping_add)
    }

    fn wait_all(handles: Vec<Self::SyncHandle>) -> u64 {
        let outcome = poolbridge::wait(handles, poolbridge::ReturnWhen::AllCompleted);
        assert!(outcome.not_done.is_empty(), "wait returned early");
        outcome
            .done
            .into_iter()
            .map(|f| f.join().expect("job failed"))
            .fold(0u64, u64::wrapping_add)
    }

    fn join_set<J>(
        n: u64,
        mut job: impl FnMut(u64) -> J,
    ) -> Option<impl Future<Output = (u64, Duration)>>
    where
        J: FnOnce() -> u64 + Send + 'static,
    {
        Some(async move {
            let t = Instant::now();
            let mut set = poolbridge::JoinSet::new();
            for i in 0..n {
                set.spawn_blocking(job(i));
            }
            let submitted = t.elapsed();
            let mut sum = 0u64;
            while let Some(outcome) = set.join_next().await {
                sum = sum.wrapping_add(outcome.expect("job failed"));
            }
            (sum, submitted)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// tokio: `tokio::task::spawn_blocking` on the blocking pool of the runtime it is called from
// (current-thread or multi-thread: the ambient handle, never a runtime of its own).

pub struct Tokio {
    /// Sync mode only: a runtime whose blocking pool runs the jobs (never entered).
    rt: Option<tokio::runtime::Runtime>,
}

impl Lib for Tokio {
    type Handle = Unwrap<tokio::task::JoinHandle<u64>>;
    type SyncHandle = tokio::task::JoinHandle<u64>;

    fn new(mode: Mode, workers: Option<usize>) -> Self {
        match mode {
            Mode::Async => Tokio { rt: None },
            Mode::Sync => {
                let mut b = tokio::runtime::Builder::new_current_thread();
                b.enable_all();
                Self::tune_runtime(&mut b, workers);
                Tokio {
                    rt: Some(b.build().expect("tokio runtime")),
                }
            }
        }
    }

    fn tune_runtime(builder: &mut tokio::runtime::Builder, workers: Option<usize>) {
        if let Some(n) = workers {
            builder.max_blocking_threads(n);
        }
    }

    fn spawn<F>(&self, f: F) -> Self::Handle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        Unwrap(tokio::task::spawn_blocking(f))
    }

    fn submit<F>(&self, f: F) -> Self::SyncHandle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        self.rt.as_ref().expect("sync mode").spawn_blocking(f)
    }

    fn wait(h: Self::SyncHandle) -> u64 {
        futures::executor::block_on(h).expect("job failed")
    }

    fn fire<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        drop(self.rt.as_ref().expect("sync mode").spawn_blocking(f));
    }

    fn as_completed(handles: Vec<Self::SyncHandle>) -> u64 {
        unordered_sum(handles.into_iter().map(Unwrap))
    }

    fn wait_all(handles: Vec<Self::SyncHandle>) -> u64 {
        join_all_sum(handles.into_iter().map(Unwrap))
    }

    fn join_set<J>(
        n: u64,
        mut job: impl FnMut(u64) -> J,
    ) -> Option<impl Future<Output = (u64, Duration)>>
    where
        J: FnOnce() -> u64 + Send + 'static,
    {
        Some(async move {
            let t = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for i in 0..n {
                set.spawn_blocking(job(i));
            }
            let submitted = t.elapsed();
            let mut sum = 0u64;
            while let Some(outcome) = set.join_next().await {
                sum = sum.wrapping_add(outcome.expect("job failed"));
            }
            (sum, submitted)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// smol: `blocking::unblock` (what `smol::unblock` re-exports).

pub struct Blocking;

impl Lib for Blocking {
    type Handle = blocking::Task<u64>;
    type SyncHandle = blocking::Task<u64>;

    fn new(_mode: Mode, workers: Option<usize>) -> Self {
        if let Some(n) = workers {
            blocking::set_max_blocking_threads(NonZeroUsize::new(n).expect("workers > 0"));
        }
        Blocking
    }

    fn spawn<F>(&self, f: F) -> Self::Handle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        blocking::unblock(f)
    }

    fn submit<F>(&self, f: F) -> Self::SyncHandle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        blocking::unblock(f)
    }

    fn wait(h: Self::SyncHandle) -> u64 {
        futures::executor::block_on(h)
    }

    fn fire<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        blocking::unblock(f).detach();
    }

    fn as_completed(handles: Vec<Self::SyncHandle>) -> u64 {
        unordered_sum(handles)
    }

    fn wait_all(handles: Vec<Self::SyncHandle>) -> u64 {
        join_all_sum(handles)
    }
}

// ---------------------------------------------------------------------------------------------
// rayon: `rayon::spawn` + a tokio oneshot carrying the caught panic (exactly tokio-rayon's recipe).

pub struct Rayon;

impl Lib for Rayon {
    type Handle = Unwrap2<tokio::sync::oneshot::Receiver<std::thread::Result<u64>>>;
    type SyncHandle = tokio::sync::oneshot::Receiver<std::thread::Result<u64>>;

    fn new(_mode: Mode, workers: Option<usize>) -> Self {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(n) = workers {
            b = b.num_threads(n);
        }
        b.build_global().expect("rayon global pool");
        Rayon
    }

    fn spawn<F>(&self, f: F) -> Self::Handle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        Unwrap2(self.submit(f))
    }

    fn submit<F>(&self, f: F) -> Self::SyncHandle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        });
        rx
    }

    fn wait(h: Self::SyncHandle) -> u64 {
        h.blocking_recv()
            .expect("channel closed")
            .expect("job panicked")
    }

    fn fire<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        rayon::spawn(f);
    }

    fn as_completed(handles: Vec<Self::SyncHandle>) -> u64 {
        unordered_sum(handles.into_iter().map(Unwrap2))
    }

    fn wait_all(handles: Vec<Self::SyncHandle>) -> u64 {
        join_all_sum(handles.into_iter().map(Unwrap2))
    }
}

// ---------------------------------------------------------------------------------------------
// The "pool + oneshot" recipe shared by the `futures` and `threadpool` adapters.

/// The receiving end of a job's outcome (its value, or its panic).
pub type Report = futures::channel::oneshot::Receiver<std::thread::Result<u64>>;

/// Wraps `f` into a job that sends its outcome on a oneshot channel, and returns the receiver.
fn reporting<F>(f: F) -> (impl FnOnce() + Send + 'static, Report)
where
    F: FnOnce() -> u64 + Send + 'static,
{
    let (tx, rx) = futures::channel::oneshot::channel();
    let job = move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    };
    (job, rx)
}

/// Blocks on a [`Report`] from a plain thread.
fn wait_report(h: Report) -> u64 {
    futures::executor::block_on(h)
        .expect("channel closed")
        .expect("job panicked")
}

// ---------------------------------------------------------------------------------------------
// futures: `futures::executor::ThreadPool::spawn_ok` + a `futures::channel::oneshot`.

pub struct FuturesPool {
    pool: futures::executor::ThreadPool,
}

impl Lib for FuturesPool {
    type Handle = Unwrap2<Report>;
    type SyncHandle = Report;

    fn new(_mode: Mode, workers: Option<usize>) -> Self {
        let mut b = futures::executor::ThreadPool::builder();
        if let Some(n) = workers {
            b.pool_size(n);
        }
        FuturesPool {
            pool: b.create().expect("futures ThreadPool"),
        }
    }

    fn spawn<F>(&self, f: F) -> Self::Handle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        Unwrap2(self.submit(f))
    }

    fn submit<F>(&self, f: F) -> Self::SyncHandle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        let (job, rx) = reporting(f);
        self.pool.spawn_ok(async move { job() });
        rx
    }

    fn wait(h: Self::SyncHandle) -> u64 {
        wait_report(h)
    }

    fn fire<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.pool.spawn_ok(async move { f() });
    }

    fn as_completed(handles: Vec<Self::SyncHandle>) -> u64 {
        unordered_sum(handles.into_iter().map(Unwrap2))
    }

    fn wait_all(handles: Vec<Self::SyncHandle>) -> u64 {
        join_all_sum(handles.into_iter().map(Unwrap2))
    }
}

// ---------------------------------------------------------------------------------------------
// threadpool: `threadpool::ThreadPool::execute` + a `futures::channel::oneshot`.

pub struct Threadpool {
    pool: threadpool::ThreadPool,
}

impl Lib for Threadpool {
    type Handle = Unwrap2<Report>;
    type SyncHandle = Report;

    fn new(_mode: Mode, workers: Option<usize>) -> Self {
        let mut b = threadpool::Builder::new();
        if let Some(n) = workers {
            b = b.num_threads(n);
        }
        Threadpool { pool: b.build() }
    }

    fn spawn<F>(&self, f: F) -> Self::Handle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        Unwrap2(self.submit(f))
    }

    fn submit<F>(&self, f: F) -> Self::SyncHandle
    where
        F: FnOnce() -> u64 + Send + 'static,
    {
        let (job, rx) = reporting(f);
        self.pool.execute(job);
        rx
    }

    fn wait(h: Self::SyncHandle) -> u64 {
        wait_report(h)
    }

    fn fire<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        self.pool.execute(f);
    }

    fn as_completed(handles: Vec<Self::SyncHandle>) -> u64 {
        unordered_sum(handles.into_iter().map(Unwrap2))
    }

    fn wait_all(handles: Vec<Self::SyncHandle>) -> u64 {
        join_all_sum(handles.into_iter().map(Unwrap2))
    }
}

/// Static description of a library, for the report.
pub struct LibInfo {
    pub name: &'static str,
    pub label: &'static str,
    /// The crate whose version is reported (from Cargo.lock).
    pub krate: &'static str,
    pub api: &'static str,
    /// Pool size as a user gets it by default.
    pub default_pool: &'static str,
    /// The API of the `as_completed` and `wait` workloads (sync mode).
    pub collect: &'static str,
    /// The library's `JoinSet` of blocking jobs (the `joinset` workload), or `None`: "n/a".
    /// Must agree with [`Lib::join_set`] (the child says "n/a" too).
    pub join_set: Option<&'static str>,
}

/// Whether `lib` has an equivalent of `workload`: only `joinset` is missing for some libraries.
pub fn supports(lib: &str, workload: &str) -> bool {
    workload != "joinset" || LIBS.iter().any(|l| l.name == lib && l.join_set.is_some())
}

pub const POOLBRIDGE: &str = "poolbridge";

pub const LIBS: &[LibInfo] = &[
    LibInfo {
        name: POOLBRIDGE,
        label: "poolbridge",
        krate: "poolbridge",
        api: "async: run_in_executor(None, f, ()); sync: ThreadPoolExecutor::default().submit(f).join(); fire: execute(f)",
        default_pool: "min(32, cores + 4) threads, started lazily",
        collect: "as_completed: poolbridge::as_completed(futures) + join(); wait: poolbridge::wait(futures, ReturnWhen::AllCompleted)",
        join_set: Some("poolbridge::JoinSet::spawn_blocking(f) + join_next().await"),
    },
    LibInfo {
        name: "tokio",
        label: "tokio spawn_blocking",
        krate: "tokio",
        api: "async: tokio::task::spawn_blocking(f); sync: Handle::spawn_blocking + futures::executor::block_on; fire: spawn_blocking(f), handle dropped",
        default_pool: "blocking pool of the runtime, up to 512 threads, started lazily",
        collect: "as_completed: FuturesUnordered of JoinHandles under futures::executor::block_on; wait: block_on(join_all(handles))",
        join_set: Some("tokio::task::JoinSet::spawn_blocking(f) + join_next().await"),
    },
    LibInfo {
        name: "blocking",
        label: "smol blocking::unblock",
        krate: "blocking",
        api: "blocking::unblock(f) (= smol::unblock); sync: futures::executor::block_on(task); fire: unblock(f).detach()",
        default_pool: "global pool, up to 500 threads, started lazily",
        collect: "as_completed: FuturesUnordered of Tasks under futures::executor::block_on; wait: block_on(join_all(tasks))",
        join_set: None,
    },
    LibInfo {
        name: "rayon",
        label: "rayon::spawn + oneshot",
        krate: "rayon",
        api: "rayon::spawn + tokio::sync::oneshot of catch_unwind(f) (tokio-rayon's recipe); sync: blocking_recv; fire: rayon::spawn(f)",
        default_pool: "global pool, one thread per core, started eagerly",
        collect: "as_completed: FuturesUnordered of the oneshot receivers under futures::executor::block_on; wait: block_on(join_all(receivers))",
        join_set: None,
    },
    LibInfo {
        name: "futures",
        label: "futures ThreadPool + oneshot",
        krate: "futures-executor",
        api: "futures::executor::ThreadPool::spawn_ok + futures::channel::oneshot; sync: block_on(rx); fire: spawn_ok(async { f() })",
        default_pool: "one thread per core, started eagerly",
        collect: "as_completed: FuturesUnordered of the oneshot receivers under futures::executor::block_on; wait: block_on(join_all(receivers))",
        join_set: None,
    },
    LibInfo {
        name: "threadpool",
        label: "threadpool + oneshot",
        krate: "threadpool",
        api: "threadpool::ThreadPool::execute + futures::channel::oneshot; sync: block_on(rx); fire: execute(f)",
        default_pool: "threadpool::Builder default: one thread per core, started eagerly",
        collect: "as_completed: FuturesUnordered of the oneshot receivers under futures::executor::block_on; wait: block_on(join_all(receivers))",
        join_set: None,
    },
];
