//! The [`ProcessPoolExecutor`] type, exported at the crate root (`poolbridge::ProcessPoolExecutor`)
//! and not from the `process` module; its methods and trait impls are in `mod.rs`, beside
//! [`ProcessPoolBuilder`](crate::process::ProcessPoolBuilder), whose `build` makes it.

#[cfg(unix)]
use std::sync::Arc;

// For the documentation's links.
#[allow(unused_imports)]
use crate::error::FutureError;
#[allow(unused_imports)]
use crate::future::PoolFuture;
#[cfg(unix)]
use crate::process::pool::PoolCore;
#[allow(unused_imports)]
use crate::process::register;

/// A pool of worker *processes* that runs registered jobs and hands out [`PoolFuture`]s:
/// Python's `concurrent.futures.ProcessPoolExecutor`, where a crash, an abort, a runaway loop or
/// a memory blow-up in one job fails that job alone.
///
/// * Jobs are functions marked [`#[poolbridge::job]`](crate::job) (or registered with
///   [`register`]): closures cannot cross a process boundary. Arguments and output are serde
///   types, sent as postcard frames over a socket.
/// * Workers are this program re-run (or [`ProcessPoolBuilder::program`]), started lazily (one
///   per queued job, up to `max_workers`). They must call [`init`] first in `main`.
/// * Each worker runs one job at a time and the queue stays in the parent (a worker is sent at
///   most one job ahead of the one it runs, four for a stream of sub-200 µs jobs, as CPython
///   sends one: such a job counts as running and is requeued if the worker dies), so a worker
///   that dies fails exactly its own job with [`FutureError::WorkerDied`] (pid, exit code or
///   signal, job name); it is replaced and the pool goes on. Python breaks the whole pool there
///   (`BrokenProcessPool`).
/// * A job past its timeout is killed with its worker and the worker's whole process group
///   (anything it started) and resolves to [`FutureError::JobTimeout`]. A worker's death is seen
///   at once, even while a process its job started holds the worker's socket open; that process
///   dies with the worker's group (one that left the group, with `setsid`, is left alone).
/// * The futures are ordinary [`PoolFuture`]s: `result`, `join`, `cancel` (of a queued job),
///   callbacks, [`wait`](crate::wait()), [`as_completed`](crate::as_completed) and `.await`
///   work unchanged, mixed with thread-pool futures.
/// * Dropping the pool is `shutdown(wait = true, cancel_futures = false)`; no worker process
///   outlives it, even when the parent panics (queued jobs are then cancelled and running ones
///   killed) or is killed or exits without dropping it (workers watch their parent and exit
///   with their process group, taking what their jobs started).
///   After a [`shutdown_timeout`](Self::shutdown_timeout) that ran out, it does not wait: the
///   workers still running a job exit when it ends, or with this process.
/// * The controls of the thread pool apply where they make sense:
///   [`max_queued`][max_queued] with [`try_submit`](Self::try_submit) and
///   [`submit_async`](Self::submit_async), [`shutdown_timeout`](Self::shutdown_timeout),
///   [`metrics`](Self::metrics), and stopping a running job: [`PoolFuture::request_cancel`]
///   (or dropping its polled [`ExecutorFuture`](crate::ExecutorFuture), or its
///   [`deadline`](crate::SubmitOptions::deadline)) turns [`cancelled()`](crate::cancelled())
///   `true` inside the job, in its worker process; a job that returns then resolves to
///   `Err(FutureError::Cancelled)` and keeps its worker, one that runs on past
///   [`cancel_grace`](crate::process::ProcessPoolBuilder::cancel_grace) is killed with its worker (which is
///   replaced) and resolves the same way. `cancel()` keeps Python's meaning: it cancels only a
///   job not sent to a worker yet, and never interrupts one.
///
/// Unix only (Linux, macOS); elsewhere [`ProcessPoolBuilder::build`] returns an error.
///
/// # Examples
///
/// ```no_run
/// use poolbridge::{FutureError, ProcessPoolExecutor};
///
/// #[poolbridge::job]
/// fn checksum(data: Vec<u8>) -> u32 {
///     data.iter().map(|&b| u32::from(b)).sum()
/// }
///
/// #[poolbridge::job]
/// fn buggy_native_call() {
///     std::process::abort(); // a C library gone wrong
/// }
///
/// fn main() {
///     poolbridge::process::init(); // first: in a worker, this serves jobs and never returns
///
///     let pool = ProcessPoolExecutor::new(2);
///     let sum = pool.submit(checksum, (vec![1, 2, 3],));
///     let crash = pool.submit(buggy_native_call, ());
///     assert_eq!(sum.join(), Ok(6));
///     match crash.join() {
///         Err(FutureError::WorkerDied(exit)) => assert_eq!(exit.signal_name(), Some("SIGABRT")),
///         other => panic!("{other:?}"),
///     }
///     // The pool still runs.
///     assert_eq!(pool.submit(checksum, (vec![4],)).join(), Ok(4));
/// }
/// ```
///
/// [`init`]: crate::process::init
/// [`ProcessPoolBuilder::build`]: crate::process::ProcessPoolBuilder::build
/// [`ProcessPoolBuilder::program`]: crate::process::ProcessPoolBuilder::program
/// [max_queued]: crate::process::ProcessPoolBuilder::max_queued
pub struct ProcessPoolExecutor {
    /// The pool threads, the queue and the workers (`pool.rs`); the methods are in `mod.rs`.
    #[cfg(unix)]
    pub(super) shared: Arc<PoolCore>,
    /// No pool can be built off Unix.
    #[cfg(not(unix))]
    pub(super) never: std::convert::Infallible,
}
