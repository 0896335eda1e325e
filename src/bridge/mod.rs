//! The async bridge: asyncio's `loop.run_in_executor`, `asyncio.to_thread` and
//! `asyncio.wrap_future` (an [`ExecutorFuture`], which cancels its queued job when dropped after
//! a poll, and lets it run when dropped unpolled), and
//! tokio's shapes for the same: [`spawn_blocking`] and its [`JoinHandle`] (which detaches when
//! dropped), and [`JoinSet`] (`join_set.rs`).
//!
//! A job's completion reaches an async task through the waker stored by the latest poll of its
//! [`ExecutorFuture`] or [`JoinHandle`] (one handle type behind both, `handle.rs`): the worker
//! that finishes the job takes that waker under the future's lock as it marks the future
//! settled, and wakes it after releasing the lock. A poll that races with the completion either
//! finds the future settled or leaves its waker before the completer takes it (both happen under
//! the same lock), so no wakeup is lost; `tests/loom_bridge.rs` checks it.
//!
//! | file           | concept                                                                   |
//! |----------------|---------------------------------------------------------------------------|
//! | `call.rs`      | [`Call`]: a function applied to a tuple of arguments; `submit_call`       |
//! | `default.rs`   | the process-wide default executor, [`ExitGuard`], the warning when `main` returns with its jobs pending |
//! | `handle.rs`    | the one handle of an awaited job: `poll`, the shared methods, two drop policies |
//! | `awaitable.rs` | [`ExecutorFuture`] and [`JoinHandle`] (wrappers of that handle), the functions that return them |
//! | `join_set.rs`  | [`JoinSet`]                                                               |
//!
//! Each file names only files above it in this table, and none names this one.

mod awaitable;
mod call;
mod default;
mod handle;
mod join_set;

pub use self::awaitable::{
    ExecutorFuture, JoinHandle, run_in_executor, spawn_blocking, to_thread, wrap_future,
};
pub use self::call::Call;
pub use self::default::{
    DEFAULT_THREAD_NAME_PREFIX, ExitGuard, default_executor, exit_guard, set_default_executor,
    shutdown_default_executor,
};
pub use self::join_set::JoinSet;
