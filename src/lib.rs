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
//!
//! Errors are values of [`FutureError`]: `Cancelled`, `Timeout`, `Panicked`, `Shutdown`,
//! `BrokenPool`.
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
//! (`src/future/README.md`, `src/pool/sleep/README.md`), model-checked with loom.

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
mod signal;
mod trace;
mod unwind;
mod wait;

#[cfg(loom)]
#[doc(hidden)]
#[path = "loom_api.rs"]
pub mod __loom;

pub use crate::bridge::{
    Call, DEFAULT_THREAD_NAME_PREFIX, ExecutorFuture, run_in_executor, set_default_executor,
    shutdown_default_executor, to_thread, wrap_future,
};
pub use crate::error::{BuildError, FutureError, PanicError, SubmitError};
pub use crate::future::{FutureState, PoolFuture, Promise, cancelled};
pub use crate::map::{Map, MapOptions};
pub use crate::pool::{
    DEFAULT_KEEP_ALIVE, MAX_STACK_SIZE, MAX_WORKERS, MIN_STACK_SIZE, PoolMetrics,
    ThreadPoolBuilder, ThreadPoolExecutor, default_max_workers,
};
pub use crate::wait::{
    AsCompleted, AsCompletedTimeout, AsPoolFuture, DoneAndNotDone, ReturnWhen, as_completed,
    as_completed_timeout, wait, wait_timeout,
};
