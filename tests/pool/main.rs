//! The thread pool's integration tests, in one test binary instead of twenty: each file here was
//! a binary of its own, and linking twenty binaries against tokio, smol and reqwest took longer
//! than compiling them. Every test keeps its name, under its file's module:
//! `cargo test --test pool shutdown::` runs what `cargo test --test shutdown` ran.
//!
//! What stays apart, in a binary of its own: tests that change process-wide state
//! (`default_executor.rs` sets the default executor, `report_hook.rs` the report hook,
//! `stress.rs` a panic hook and the whole machine's load), the bridge and future tests, the
//! process pool's tests (each binary is its pools' worker program), and the loom models.
//!
//! Each module is loaded with `#[path]` so that its own `mod common;` finds `common.rs` beside
//! it: one line that re-exports the shared `tests/common` module, compiled once here.

// Each module's `mod common;` loads that one-line shim (on purpose: the files stay as they were).
#![allow(clippy::duplicate_mod)]

#[path = "../common/mod.rs"]
mod common;

#[path = "as_completed.rs"]
mod as_completed;
#[path = "backpressure.rs"]
mod backpressure;
#[path = "callbacks.rs"]
mod callbacks;
#[path = "cancel.rs"]
mod cancel;
#[path = "cancel_running.rs"]
mod cancel_running;
#[path = "deadline.rs"]
mod deadline;
#[path = "error_interop.rs"]
mod error_interop;
#[path = "execute.rs"]
mod execute;
#[path = "idle.rs"]
mod idle;
#[path = "initializer.rs"]
mod initializer;
#[path = "join_set.rs"]
mod join_set;
#[path = "latency.rs"]
mod latency;
#[path = "metrics.rs"]
mod metrics;
#[path = "nested.rs"]
mod nested;
#[path = "panic.rs"]
mod panic;
#[path = "progress.rs"]
mod progress;
#[path = "promise.rs"]
mod promise;
#[path = "result.rs"]
mod result;
#[path = "runtime_in_job.rs"]
mod runtime_in_job;
#[path = "shutdown.rs"]
mod shutdown;
#[path = "shutdown_timeout.rs"]
mod shutdown_timeout;
#[path = "threads.rs"]
mod threads;
#[path = "wait.rs"]
mod wait;
#[path = "worker_state.rs"]
mod worker_state;
