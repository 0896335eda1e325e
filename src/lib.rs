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
//! worker runs the awaited job instead of deadlocking a saturated pool; dropping an awaitable
//! cancels its queued job; idle workers park and use no CPU; a job submitted after shutdown gets a
//! clear error instead of vanishing; a panic in a job or a callback never kills a worker.
//!
//! And it gives control that Python and the usual Rust workarounds do not: a running job can be
//! asked to stop ([`cancelled()`], [`PoolFuture::request_cancel`]; dropping its awaitable asks
//! too), the queue can be bounded
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
//! | `pool.submit(fn, *args)`                   | [`pool.submit(move \|\| f(args))`](ThreadPoolExecutor::submit) |
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
//! And for code written for tokio's blocking pool (its shapes, so a `use` line switches it):
//!
//! | tokio                                      | poolbridge                                     |
//! |--------------------------------------------|------------------------------------------------|
//! | `tokio::task::spawn_blocking(f)`           | [`spawn_blocking(f)`](spawn_blocking), [`pool.spawn_blocking(f)`](ThreadPoolExecutor::spawn_blocking) |
//! | `JoinHandle` (detaches on drop), `abort()` | [`JoinHandle`], [`cancel()`](JoinHandle::cancel) |
//! | `JoinSet::spawn_blocking`, `join_next`     | [`JoinSet`]                                    |
//! | `JoinError::into_panic`, `?` into `io::Error` | [`FutureError::into_panic`], `From<FutureError> for io::Error` |
//!
//! Errors are values of [`FutureError`]: `Cancelled`, `Timeout`, `Panicked`, `Shutdown`,
//! `BrokenPool`, and for the process pool `WorkerDied`, `JobTimeout`, `Ipc`. A worker can own a
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
//! names no feature), on `crossbeam-deque`, `crossbeam-utils` and `futures-core`. The rest is
//! opt-in:
//!
//! * `process`: `ProcessPoolExecutor`, the `process` module and `#[poolbridge::job]` (Linux
//!   and macOS; adds `serde`, `postcard`, `linkme`, the `poolbridge-macros` proc macro, `libc`
//!   and `rustix`);
//! * `nats`: `RemoteExecutor` and the `remote` module (implies `process`; adds `async-nats`,
//!   `tokio` and `bytes`);
//! * `tracing`: a job runs inside the span that was current at `submit`, and the pool emits
//!   events (adds `tracing`).
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
mod error;
mod future;
mod loom;
mod map;
mod pool;
#[cfg(feature = "process")]
pub mod process;
#[cfg(all(unix, feature = "nats"))]
pub mod remote;
mod signal;
mod trace;
mod unwind;
mod wait;

#[cfg(loom)]
#[doc(hidden)]
#[path = "loom_api.rs"]
pub mod __loom;

pub use crate::bridge::{
    Call, DEFAULT_THREAD_NAME_PREFIX, ExecutorFuture, JoinHandle, JoinSet, default_executor,
    run_in_executor, set_default_executor, shutdown_default_executor, spawn_blocking, to_thread,
    wrap_future,
};
pub use crate::error::{BuildError, FutureError, PanicError, SubmitError, WorkerExit};
pub use crate::future::{FutureState, PoolFuture, Promise, cancelled};
pub use crate::map::{Map, MapOptions};
pub use crate::pool::{
    DEFAULT_KEEP_ALIVE, MAX_STACK_SIZE, MAX_WORKERS, MIN_STACK_SIZE, PoolMetrics, StatefulPool,
    ThreadPoolBuilder, ThreadPoolExecutor, default_max_workers,
};
#[cfg(feature = "process")]
#[doc(hidden)]
pub use crate::process::__private;
#[cfg(feature = "process")]
pub use crate::process::{Job, ProcessPoolBuilder, ProcessPoolExecutor, SubmitOptions};
#[cfg(all(unix, feature = "nats"))]
pub use crate::remote::{RemoteBuilder, RemoteExecutor, ServeOptions};
pub use crate::unwind::{PanicReport, ReportHook, set_report_hook, take_report_hook};
pub use crate::wait::{
    AsCompleted, AsCompletedTimeout, AsPoolFuture, DoneAndNotDone, ReturnWhen, as_completed,
    as_completed_timeout, wait, wait_timeout,
};
/// Registers a plain `fn` as a job of [`ProcessPoolExecutor`]: arguments and output are serde
/// types; the function becomes a zero-size value (its handle) implementing [`Job`].
///
/// ```
/// #[poolbridge::job]
/// fn thumbnail(path: String, width: u32) -> Result<Vec<u8>, String> {
///     Ok(format!("{path}@{width}").into_bytes())
/// }
///
/// use poolbridge::Job;
/// assert_eq!(thumbnail.call(("a.png".into(), 128)), Ok(b"a.png@128".to_vec()));
/// ```
///
/// See the [`process`] module for the registration rules; the expansion is a unit struct named
/// like the function, an `impl Job` and an entry in a link-time registry (`linkme`).
#[cfg(feature = "process")]
pub use poolbridge_macros::job;
