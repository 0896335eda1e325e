//! Await blocking work from async Rust without ever stalling the runtime: Python's
//! `concurrent.futures` and asyncio's `run_in_executor`, on a work-stealing thread pool.
//!
//! # Why
//!
//! An async runtime runs many tasks on few threads; one blocking call (a blocking HTTP client, a
//! legacy database driver, a CPU-heavy computation) stalls every task on its thread. The fix is
//! to run the call on another thread and await its outcome. `poolbridge` does that with the
//! model Python developers already know:
//!
//! * a [`ThreadPoolExecutor`] whose [`submit`](ThreadPoolExecutor::submit) returns a
//!   [`PoolFuture`] handle, with Python's states, `cancel`, `result`, `exception` and done
//!   callbacks, plus [`wait()`], [`as_completed`] and [`map`](ThreadPoolExecutor::map);
//! * [`run_in_executor`], [`to_thread`] and [`wrap_future`], which turn a job into a
//!   `std::future::Future` that is woken the moment the pool finishes it, under any runtime.
//!
//! It also fixes what hurts in Python and in the usual Rust workarounds: a blocking wait inside a
//! worker runs the awaited job instead of deadlocking a saturated pool; an awaitable dropped by a
//! `timeout` or a `select!` cancels its queued job; idle workers park and use no CPU; a job
//! submitted after shutdown gets a clear error instead of vanishing; a panic in a job or a
//! callback never kills a worker.
//!
//! And it gives control that Python and the usual Rust workarounds do not: a running job can be
//! asked to stop ([`cancelled()`], [`PoolFuture::request_cancel`]; dropping its awaitable after
//! a poll asks too), the queue can be bounded
//! ([`max_queued`](ThreadPoolBuilder::max_queued), [`submit_async`](ThreadPoolExecutor::submit_async)),
//! a shutdown can have a deadline ([`shutdown_timeout`](ThreadPoolExecutor::shutdown_timeout)),
//! the pool reports what it does ([`metrics`](ThreadPoolExecutor::metrics)), and with the
//! `tracing` feature a job runs inside the span of the code that submitted it.
//!
//! # Concepts
//!
//! | Python                                     | poolbridge                                     |
//! |--------------------------------------------|------------------------------------------------|
//! | `ThreadPoolExecutor(max_workers=4)`        | [`ThreadPoolExecutor::new(4)`](ThreadPoolExecutor::new) |
//! | `pool.submit(fn, *args)`                   | [`pool.submit_call(f, (a, b))`](ThreadPoolExecutor::submit_call), [`pool.submit(move \|\| f(a, b))`](ThreadPoolExecutor::submit) |
//! | `future.result(timeout)`                   | [`result`](PoolFuture::result), [`result_timeout`](PoolFuture::result_timeout), [`join`](PoolFuture::join) |
//! | `pool.map(fn, items, timeout, buffersize)` | [`map`](ThreadPoolExecutor::map), [`map_with`](ThreadPoolExecutor::map_with) |
//! | `wait(fs, return_when=...)`                | [`wait()`], [`wait_timeout`]                   |
//! | `as_completed(fs, timeout)`                | [`as_completed`], [`as_completed_timeout`]     |
//! | `with ThreadPoolExecutor() as pool:`       | drop the pool (= `shutdown(wait = true)`)      |
//! | `await loop.run_in_executor(None, fn, *a)` | [`run_in_executor(None, f, (a,)).await`](run_in_executor) |
//! | `await asyncio.to_thread(fn)`              | [`to_thread(f).await`](to_thread)              |
//! | `await asyncio.wrap_future(fut)`           | [`fut.await`](PoolFuture#impl-IntoFuture-for-PoolFuture<T>), [`wrap_future`] |
//! | `asyncio.as_completed(aws)`                | [`JoinSet`]: `set.join_next().await`           |
//! | `Future()`, `set_result`, `set_exception`  | [`Promise`]                                    |
//! | `ProcessPoolExecutor(max_workers=4)`       | `ProcessPoolExecutor::new(4)` (feature `process`), jobs marked `#[poolbridge::job]` |
//! | dask's `Client(...).submit(f, x)`          | `RemoteExecutor::connect(url)?.submit(f, (x,))` (feature `nats`): worker hosts on NATS JetStream |
//!
//! One call shape: a function and the tuple of its arguments (`()`, `(a,)`, `(a, b)`, as
//! Python's `*args`) for [`run_in_executor`], [`ThreadPoolExecutor::submit_call`] and the process
//! pool's `submit(job, args)`. A `#[poolbridge::job]` fn goes to all three, and stays callable as
//! a plain fn.
//!
//! # What is where
//!
//! The everyday names are at the crate root, as in Python's `concurrent.futures`; the details of
//! each executor are in its module. Each name is exported from one place.
//!
//! | group                    | at the root                                                   |
//! |--------------------------|---------------------------------------------------------------|
//! | executors                | [`ThreadPoolExecutor`], [`ThreadPoolBuilder`], [`default_max_workers`]; `ProcessPoolExecutor` (feature `process`), `RemoteExecutor` (feature `nats`) |
//! | futures                  | [`PoolFuture`], [`FutureState`], [`Promise`], [`ProgressUpdates`]; inside a job: [`cancelled()`], [`deadline()`], [`progress()`] |
//! | options                  | [`SubmitOptions`] (one job, every executor), [`MapOptions`] and [`Map`] (`map`) |
//! | waiting on many          | [`wait()`], [`wait_timeout`], [`ReturnWhen`], [`DoneAndNotDone`], [`as_completed`], [`as_completed_timeout`], [`AsCompleted`], [`AsCompletedTimeout`], [`AsPoolFuture`] |
//! | the async bridge         | [`run_in_executor`], [`to_thread`], [`wrap_future`], [`ExecutorFuture`], [`Call`], [`default_executor`], [`set_default_executor`], [`shutdown_default_executor`] |
//! | tokio's shapes           | [`spawn_blocking`], [`JoinHandle`], [`JoinSet`]               |
//! | the end of `main`        | [`#[poolbridge::main]`](macro@main), [`exit_guard`], [`ExitGuard`] |
//! | errors                   | [`FutureError`], [`BrokenReason`], [`CodecError`], [`CodecSide`], [`PanicError`], [`WorkerExit`], [`BuildError`], [`SubmitError`] |
//! | reports                  | [`PoolMetrics`], [`LatencySummary`]; panics nobody can receive: [`set_report_hook`], [`take_report_hook`], [`PanicReport`], [`ReportHook`] |
//! | jobs of other processes  | `#[poolbridge::job]` (feature `process`)                      |
//!
//! | module       | what is in it                                                            |
//! |--------------|--------------------------------------------------------------------------|
//! | [`thread`]   | the thread pool's limits and defaults (`MAX_WORKERS`, `MIN_STACK_SIZE`, `MAX_STACK_SIZE`, `DEFAULT_KEEP_ALIVE`, `DEFAULT_THREAD_NAME_PREFIX`) and `StatefulPool` |
//! | `process`    | feature `process`: `ProcessPoolBuilder`, `Job`, `JobFn`, `register`, `init`, `DEFAULT_START_TIMEOUT`, `DEFAULT_CANCEL_GRACE` |
//! | `remote`     | feature `nats`: `RemoteBuilder`, `ServeOptions`, `serve`, `NatsOptions`, `RemoteMetrics`, `JobHost`, `ServeReport`, the `DEFAULT_*` settings |
//! | `dashboard`  | feature `dashboard`: `Dashboard`, `DashboardBuilder`: a live page of the executors' metrics |
//! | `metrics_export` | feature `metrics`: `publish`, `publish_process`, `record`, `Publisher`: the metrics through the `metrics` crate facade |
//!
//! # The end of `main`
//!
//! The default executor (behind [`spawn_blocking`], [`to_thread`] and `run_in_executor(None, ..)`)
//! belongs to the process, not to a runtime: when `main` returns, a job of it still running or
//! queued dies with the process. tokio's runtime waits for its blocking tasks when it shuts down,
//! and `asyncio.run` waits for its default executor; here `main` waits when it says so, with
//! [`#[poolbridge::main]`](macro@main) on it (above `#[tokio::main]`), or an [`exit_guard`] held
//! until its end:
//!
//! ```
//! #[poolbridge::main] // main waits for the default executor's jobs when it ends
//! #[tokio::main]
//! async fn main() {
//!     poolbridge::spawn_blocking(|| println!("not lost at exit")); // fire and forget
//! }
//! ```
//!
//! A program that says nothing is warned on stderr when its `main` returns with such jobs (on
//! Linux with glibc, once the main thread has used the default executor; other platforms may
//! stay silent), with what to write; `default_executor().shutdown(false, true)` before `main`
//! returns lets them die quietly.
//!
//! # Dropping a handle
//!
//! Work that was submitted runs unless someone cancels it, as in asyncio and tokio: `let _ =
//! to_thread(f);`, a `JoinHandle` or a `PoolFuture` dropped, and a [`Map`] never iterated all let
//! their jobs run. Cancelling is explicit ([`cancel`](ExecutorFuture::cancel)), or the drop of an
//! [`ExecutorFuture`] that was polled (a `tokio::time::timeout` that ran out, a `select!` that
//! took another branch) or of a [`Map`] that was iterated: their queued jobs are cancelled and
//! the running ones asked to stop. A [`JoinSet`] cancels its queued jobs when dropped, as tokio's
//! aborts its tasks.
//!
//! # From tokio
//!
//! For code written for tokio's blocking pool (its shapes, so a `use` line switches it, and
//! `#[poolbridge::main]` above `#[tokio::main]` keeps its jobs alive to the end of `main`):
//!
//! | tokio                                      | poolbridge                                     |
//! |--------------------------------------------|------------------------------------------------|
//! | runtime shutdown waits for blocking tasks  | [`#[poolbridge::main]`](macro@main) above `#[tokio::main]`, or [`exit_guard`] |
//! | `tokio::task::spawn_blocking(f)`           | [`spawn_blocking(f)`](spawn_blocking), [`pool.spawn_blocking(f)`](ThreadPoolExecutor::spawn_blocking) |
//! | `JoinHandle` (detaches on drop), `abort()` | [`JoinHandle`], [`cancel()`](JoinHandle::cancel) |
//! | `JoinSet::spawn_blocking`, `join_next`     | [`JoinSet`]                                    |
//! | `JoinError::into_panic`, `?` into `io::Error` | [`FutureError::into_panic`], `From<FutureError> for io::Error` |
//!
//! Errors are values of [`FutureError`]: `Cancelled`, `Timeout`, `Panicked`, `Shutdown`,
//! `BrokenPool` (with a [`BrokenReason`]), and across a process or network boundary
//! `WorkerDied`, `JobTimeout`, `NotRegistered`, `Codec` (a serde failure, with its side),
//! `Ipc` (the protocol), `Unavailable` (the network, for now). A worker can own a
//! value for its whole life (a connection per thread): [`ThreadPoolBuilder::build_with_state`].
//! Panics nobody can receive (in done callbacks, initializers) are reported on stderr, or to
//! [`set_report_hook`].
//!
//! With the `process` feature, `ProcessPoolExecutor` runs registered jobs in child processes,
//! where a crash, an abort or a runaway loop fails one job and never the pool; see the `process`
//! module. With the `nats` feature, `RemoteExecutor` sends the same jobs to
//! worker hosts on other machines through NATS JetStream and hands out the same futures; see
//! the `remote` module and `docs/remote.md`.
//!
//! # Features
//!
//! The default build is the thread pool and its bridge to async code (everything above that
//! names no feature), on `crossbeam-deque`, `crossbeam-utils` and `futures-core`, and the
//! feature `macros`: the `#[poolbridge::main]` attribute (the `poolbridge-macros` proc macro
//! crate, on `syn`; `default-features = false` leaves it out, and [`exit_guard`] does the same
//! job without it). The rest is opt-in:
//!
//! * `process`: `ProcessPoolExecutor`, the `process` module and `#[poolbridge::job]` (Linux
//!   and macOS; implies `macros`; adds `serde`, `postcard`, `linkme`, `libc` and `rustix`);
//! * `nats`: `RemoteExecutor` and the `remote` module (implies `process`; adds `async-nats`,
//!   `tokio` and `bytes`);
//! * `tracing`: a job runs inside the span that was current at `submit`, and the pool emits
//!   events; process and remote jobs carry a W3C `TraceContext` under a `poolbridge.job`
//!   span, and a process job's events are re-emitted in the parent (adds `tracing` and
//!   `tracing-core`);
//! * `opentelemetry`: `tracing`, with the carried context taken from the job span's
//!   OpenTelemetry context and set as the parent of the span that runs it (adds `opentelemetry`
//!   and `tracing-opentelemetry`);
//! * `dashboard`: a live web page (and a JSON document) of your executors' numbers, served
//!   from the binary: the `dashboard` module (no dependency).
//!
//! ```toml
//! [dependencies]
//! poolbridge = { version = "0.1", features = ["process"] }
//! ```
//!
//! # Examples
//!
//! Synchronous code, as with `concurrent.futures`:
//!
//! ```
//! use poolbridge::{ThreadPoolExecutor, as_completed};
//!
//! let pool = ThreadPoolExecutor::new(4);
//! let futures: Vec<_> = (1..=8u64).map(|n| pool.submit(move || n * n)).collect();
//! let total: u64 = as_completed(&futures).map(|f| f.result().unwrap()).sum();
//! assert_eq!(total, 204);
//! ```
//!
//! Async code, as with asyncio (here under `futures::executor::block_on`; tokio, smol and any
//! other runtime work the same):
//!
//! ```
//! # futures::executor::block_on(async {
//! use poolbridge::{run_in_executor, to_thread};
//!
//! let config = run_in_executor(None, std::fs::read_to_string, ("Cargo.toml",)).await;
//! assert!(config.unwrap().is_ok());
//! let answer = to_thread(|| 6 * 7).await;
//! assert_eq!(answer, Ok(42));
//! # });
//! ```
//!
//! # Design
//!
//! `docs/design.md` in the repository follows a job from `submit` to completion; the future
//! state machine and the worker sleep protocol each have a design note beside their code
//! (`src/future/README.md`, `src/pool/sleep/README.md`), model-checked with loom. The process
//! pool's protocol and the life of its workers are in `src/process/README.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![warn(rust_2018_idioms, unreachable_pub)]

mod bridge;
mod context;
#[cfg(feature = "dashboard")]
pub mod dashboard;
mod error;
mod future;
mod loom;
mod map;
#[cfg(feature = "metrics")]
pub mod metrics_export;
mod options;
mod pool;
#[cfg(feature = "process")]
pub mod process;
#[cfg(all(unix, feature = "nats"))]
pub mod remote;
#[cfg(feature = "process")]
mod seam;
mod signal;
mod spin;
pub mod thread;
mod trace;
mod unwind;
mod wait;

#[cfg(loom)]
#[doc(hidden)]
#[path = "loom_api.rs"]
pub mod __loom;

pub use crate::bridge::{
    Call, ExecutorFuture, ExitGuard, JoinHandle, JoinSet, default_executor, exit_guard,
    run_in_executor, set_default_executor, shutdown_default_executor, spawn_blocking, to_thread,
    wrap_future,
};
pub use crate::error::{
    BrokenReason, BuildError, CodecError, CodecSide, FutureError, PanicError, SubmitError,
    WorkerExit,
};
pub use crate::future::{
    FutureState, PoolFuture, ProgressUpdates, Promise, cancelled, deadline, progress,
};
pub use crate::map::{Map, MapOptions};
pub use crate::options::SubmitOptions;
pub use crate::pool::{
    LatencySummary, PoolMetrics, ThreadPoolBuilder, ThreadPoolExecutor, default_max_workers,
};
#[cfg(feature = "process")]
#[doc(hidden)]
pub use crate::process::__private;
#[cfg(feature = "process")]
pub use crate::process::executor::ProcessPoolExecutor;
#[cfg(all(unix, feature = "nats"))]
pub use crate::remote::executor::RemoteExecutor;
#[cfg(feature = "tracing")]
pub use crate::trace::TraceContext;
pub use crate::unwind::{PanicReport, ReportHook, set_report_hook, take_report_hook};
pub use crate::wait::{
    AsCompleted, AsCompletedTimeout, AsPoolFuture, DoneAndNotDone, ReturnWhen, as_completed,
    as_completed_timeout, wait, wait_timeout,
};
/// Registers a plain `fn` as a job of [`ProcessPoolExecutor`]: arguments and output are serde
/// types; the function becomes a zero-size value (its handle) implementing [`process::Job`],
/// which can still be called as the function, and goes wherever a function and its arguments'
/// tuple go.
///
/// ```
/// use poolbridge::{ThreadPoolExecutor, run_in_executor};
///
/// #[poolbridge::job]
/// fn thumbnail(path: String, width: u32) -> Result<Vec<u8>, String> {
///     Ok(format!("{path}@{width}").into_bytes())
/// }
///
/// // Still a function:
/// assert_eq!(thumbnail("a.png".into(), 128), Ok(b"a.png@128".to_vec()));
/// // One call shape, a function and a tuple of its arguments, on every executor:
/// // procs.submit(thumbnail, ("a.png".into(), 128)) in a worker process,
/// let pool = ThreadPoolExecutor::new(1);
/// let fut = pool.submit_call(thumbnail, ("a.png".into(), 128)); // on a thread,
/// assert_eq!(fut.join(), Ok(Ok(b"a.png@128".to_vec())));
/// # futures::executor::block_on(async {
/// let out = run_in_executor(None, thumbnail, ("a.png".into(), 64)).await; // awaited.
/// assert_eq!(out, Ok(Ok(b"a.png@64".to_vec())));
/// # });
/// ```
///
/// The process pool takes only jobs: a closure or an unmarked fn cannot cross the process
/// boundary, and the error says to mark it (or to use the thread pool's `submit_call`):
///
/// ```compile_fail,E0277
/// fn digest(data: Vec<u8>, rounds: u32) -> u64 { data.len() as u64 + u64::from(rounds) }
///
/// let procs = poolbridge::ProcessPoolExecutor::new(2);
/// // error: `fn(Vec<u8>, u32) -> u64 {digest}` is not a job of the process pool
/// // note: mark the fn `#[poolbridge::job]`, then `pool.submit(f, (a, b))` ...
/// let _ = procs.submit(digest, (vec![1], 10));
/// ```
///
/// See the [`process`] module for the registration rules; the expansion is a unit struct named
/// like the function (callable through `Deref` to the fn), an `impl Job`, an `impl Call` and an
/// entry in a link-time registry (`linkme`).
#[cfg(feature = "process")]
pub use poolbridge_macros::job;
/// Makes `main` wait, when it ends, for the jobs of the default executor still running or queued:
/// an [`ExitGuard`] held around `main`'s body. Put it on `fn main`, above `#[tokio::main]` (or
/// any runtime's attribute) for an async one.
///
/// When `main` returns, the process ends and its threads with it: a job from
/// [`spawn_blocking`], [`to_thread`] or `run_in_executor(None, ..)` that is still running or
/// queued dies mid-run. tokio's runtime waits for its blocking tasks when it shuts down, and
/// `asyncio.run` waits for its default executor; with this attribute `main` waits too (also when
/// it returns early or panics). Above `#[tokio::main]`, it waits after the runtime has shut down,
/// as tokio does: tasks still running are dropped first (and the jobs they were awaiting
/// cancelled), then every job left runs to its end.
///
/// ```
/// use std::time::Duration;
///
/// #[poolbridge::main]
/// #[tokio::main]
/// async fn main() {
///     poolbridge::spawn_blocking(|| {
///         std::thread::sleep(Duration::from_millis(50));
///         println!("finished before the process exits");
///     });
/// }
/// ```
///
/// A sync `main` works the same way:
///
/// ```
/// #[poolbridge::main]
/// fn main() -> std::io::Result<()> {
///     poolbridge::to_thread(|| println!("runs to the end"));
///     Ok(())
/// }
/// ```
///
/// Without it (or an [`exit_guard`]) such jobs die with the process, and where the platform runs
/// the main thread's thread-local destructors at exit (Linux with glibc; others may not) and the
/// main thread used the default executor, a warning on stderr says how many died and what to
/// write.
/// To let them die on purpose, call `default_executor().shutdown(false, true)` before `main`
/// returns. The attribute does not run on `std::process::exit`.
///
/// Above an async `main` without a runtime attribute below it, it fails to compile and says
/// where to put it:
///
/// ```compile_fail
/// #[poolbridge::main] // error: an async main needs its runtime's attribute below #[poolbridge::main]
/// async fn main() {}
/// ```
#[cfg(feature = "macros")]
pub use poolbridge_macros::main;
