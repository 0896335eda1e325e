//! The process-wide default executor behind `run_in_executor(None, ..)` and `to_thread`: asyncio's
//! default executor, and what becomes of its jobs when `main` returns.
//!
//! A process ends when `main` returns, and its threads with it: a job of the default executor
//! still running or queued then dies mid-run. asyncio's `asyncio.run` and tokio's runtime wait
//! for their executor's jobs; here `main` waits when it says so: [`ExitGuard`] (and
//! `#[poolbridge::main]`, which holds one around `main`'s body) shuts the default executor down
//! with `wait = true` when dropped. A program that says nothing is told: the first use of the
//! default executor from the main thread arms a thread-local on that thread, whose destructor
//! runs when `main` has returned (on Linux with glibc, where it is tested; not on every
//! platform, so this is a warning, not the mechanism) and prints on stderr how many jobs are
//! about to die and what to write.

use std::sync::{Arc, RwLock};

use crate::error::FutureError;
use crate::future::PoolFuture;
use crate::pool::registry::{self, Registry};
use crate::pool::{ThreadPoolExecutor, default_max_workers};

/// Thread name prefix of the default executor's workers (`poolbridge-default_0`, ...).
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// let name = poolbridge::to_thread(|| std::thread::current().name().map(str::to_owned)).await;
/// assert!(name.unwrap().unwrap().starts_with(poolbridge::thread::DEFAULT_THREAD_NAME_PREFIX));
/// # });
/// ```
pub const DEFAULT_THREAD_NAME_PREFIX: &str = "poolbridge-default";

enum DefaultSlot {
    /// Not used yet: built on first use.
    Unset,
    Active(Arc<Registry>),
    /// `shutdown_default_executor` was called.
    ShutDown,
}

/// Holds the registry, not a `ThreadPoolExecutor`: a replaced or shut-down default is shut down
/// explicitly, never by whichever thread happens to drop the last reference.
static DEFAULT: RwLock<DefaultSlot> = RwLock::new(DefaultSlot::Unset);

/// Submits `f` to the default executor, building it on first use.
pub(crate) fn submit<F, T>(f: F) -> PoolFuture<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match current() {
        // Submit outside the lock: a refused job drops its closure, which is user code.
        Ok(registry) => registry.submit(f),
        Err(err) => registry::refused(f, err),
    }
}

fn current() -> Result<Arc<Registry>, FutureError> {
    exit_watch::arm();
    match &*DEFAULT.read().unwrap_or_else(|e| e.into_inner()) {
        DefaultSlot::Active(registry) => return Ok(Arc::clone(registry)),
        DefaultSlot::ShutDown => return Err(FutureError::Shutdown),
        DefaultSlot::Unset => {}
    }
    let mut slot = DEFAULT.write().unwrap_or_else(|e| e.into_inner());
    match &*slot {
        DefaultSlot::Active(registry) => Ok(Arc::clone(registry)),
        DefaultSlot::ShutDown => Err(FutureError::Shutdown),
        DefaultSlot::Unset => {
            let registry = new_default();
            *slot = DefaultSlot::Active(Arc::clone(&registry));
            Ok(registry)
        }
    }
}

/// A handle to the process-wide default executor, the one behind `run_in_executor(None, ..)`,
/// [`to_thread`](crate::to_thread) and [`spawn_blocking`](crate::spawn_blocking), built on first
/// use. For sync code that wants a [`PoolFuture`] from it (`default_executor().submit(f)`), its
/// `map`, or its thread counts.
///
/// The handle does not own the executor: dropping it does not shut the executor down (unlike
/// dropping an executor you built), and [`shutdown`](ThreadPoolExecutor::shutdown) on it shuts
/// the default executor down for everyone, like [`shutdown_default_executor`] without the
/// waiting. After [`shutdown_default_executor`], or once [`set_default_executor`] has replaced the
/// executor the handle refers to, the handle's submits resolve to `Err(FutureError::Shutdown)`.
///
/// # Examples
///
/// ```
/// use poolbridge::default_executor;
///
/// let pool = default_executor();
/// let fut = pool.submit(|| 6 * 7); // a PoolFuture: wait, result, join, callbacks
/// assert_eq!(fut.join(), Ok(42));
/// assert!(pool.max_workers() >= 5); // min(32, cpus + 4)
/// drop(pool); // the default executor goes on
/// assert_eq!(default_executor().submit(|| 1).join(), Ok(1));
/// ```
pub fn default_executor() -> ThreadPoolExecutor {
    let registry = match current() {
        Ok(registry) => registry,
        Err(_) => {
            // Shut down: a handle to an executor that refuses every job, as the default does.
            let registry = new_default();
            registry.shutdown(false, false);
            registry
        }
    };
    ThreadPoolExecutor::handle(registry)
}

/// A new default executor (no thread is started before its first job).
fn new_default() -> Arc<Registry> {
    ThreadPoolExecutor::builder()
        .max_workers(default_max_workers())
        .thread_name_prefix(DEFAULT_THREAD_NAME_PREFIX)
        .build()
        .expect("the default executor's settings are valid")
        .into_registry()
}

/// Makes `executor` the default executor used by `run_in_executor(None, ..)` and
/// [`to_thread`](crate::to_thread): asyncio's `loop.set_default_executor`.
///
/// The previous default, if any, is shut down without waiting: its queued jobs still run, then
/// its threads exit. Unlike asyncio, this also re-enables the default executor after
/// [`shutdown_default_executor`]. Installing the current default again (a handle from
/// [`default_executor`]) changes nothing.
///
/// # Examples
///
/// ```
/// use poolbridge::{ThreadPoolExecutor, set_default_executor};
///
/// set_default_executor(ThreadPoolExecutor::builder().max_workers(16).build().unwrap());
/// ```
pub fn set_default_executor(executor: ThreadPoolExecutor) {
    let registry = executor.into_registry();
    let installed = Arc::clone(&registry);
    let previous = std::mem::replace(
        &mut *DEFAULT.write().unwrap_or_else(|e| e.into_inner()),
        DefaultSlot::Active(registry),
    );
    if let DefaultSlot::Active(previous) = previous {
        if !Arc::ptr_eq(&previous, &installed) {
            previous.shutdown(false, false);
        }
    }
}

/// Shuts the default executor down and waits for its jobs: asyncio's
/// `loop.shutdown_default_executor()`. Afterwards `run_in_executor(None, ..)` and
/// [`to_thread`](crate::to_thread) resolve to `Err(FutureError::Shutdown)` (until
/// [`set_default_executor`] installs a new one).
///
/// Safe to call from one of the default executor's own jobs: that worker waits for the others.
///
/// # Examples
///
/// ```
/// use poolbridge::{FutureError, shutdown_default_executor, to_thread};
/// use futures::executor::block_on;
///
/// assert_eq!(block_on(to_thread(|| 1)), Ok(1));
/// shutdown_default_executor();
/// assert_eq!(block_on(to_thread(|| 2)), Err(FutureError::Shutdown));
/// ```
pub fn shutdown_default_executor() {
    let previous = std::mem::replace(
        &mut *DEFAULT.write().unwrap_or_else(|e| e.into_inner()),
        DefaultSlot::ShutDown,
    );
    if let DefaultSlot::Active(previous) = previous {
        previous.shutdown(true, false);
    }
}

/// Waits for the default executor's jobs when dropped: [`shutdown_default_executor`] at the end of
/// a scope, normally `main`'s. What [`#[poolbridge::main]`](crate::main) holds around `main`'s
/// body; returned by [`exit_guard`].
///
/// When `main` returns, the process ends and every thread with it: a job of the default executor
/// (from [`spawn_blocking`](crate::spawn_blocking), [`to_thread`](crate::to_thread),
/// `run_in_executor(None, ..)`) still running or queued dies mid-run. tokio's runtime waits for
/// its blocking tasks when it shuts down and `asyncio.run` waits for its default executor; with
/// this guard alive until the end of `main`, `main` waits too. It also waits when `main` returns
/// early (`?`) or unwinds from a panic. It does not run on `std::process::exit`.
///
/// After the drop the default executor is shut down: `run_in_executor(None, ..)` resolves to
/// `Err(FutureError::Shutdown)` (until [`set_default_executor`] installs another).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// #[tokio::main]
/// async fn main() {
///     let _exit = poolbridge::exit_guard(); // first line: dropped last
///     poolbridge::spawn_blocking(|| {
///         std::thread::sleep(Duration::from_millis(50));
///         println!("finished before the process exits");
///     });
/// } // `_exit` is dropped here: main waits for the job
/// ```
///
/// To let the jobs die instead (a background loop that never ends), say so before `main`
/// returns: `poolbridge::default_executor().shutdown(false, true)` cancels the queued ones and
/// waits for nothing.
#[must_use = "the guard waits when it is dropped: bind it to a variable that lives until the end \
              of `main` (`let _exit = poolbridge::exit_guard();`, not `let _ = ...`)"]
pub struct ExitGuard {
    _private: (),
}

/// A guard that waits for the default executor's jobs when dropped; see [`ExitGuard`]. Bind it
/// at the top of `main` (`let _exit = poolbridge::exit_guard();`) or put
/// [`#[poolbridge::main]`](crate::main) on `main`, which does the same.
///
/// # Examples
///
/// ```
/// // The first line of `main`:
/// let _exit = poolbridge::exit_guard();
/// poolbridge::spawn_blocking(|| println!("runs to the end"));
/// // The end of `main`: `_exit` is dropped and waits for the job.
/// ```
pub fn exit_guard() -> ExitGuard {
    ExitGuard { _private: () }
}

impl Drop for ExitGuard {
    /// `shutdown_default_executor()`: every job submitted and not cancelled finishes, and the
    /// default executor's threads exit.
    fn drop(&mut self) {
        shutdown_default_executor();
    }
}

impl std::fmt::Debug for ExitGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExitGuard")
    }
}

/// The warning printed when `main` returns with jobs of the default executor still running or
/// queued, and nothing said what should become of them.
mod exit_watch {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, Ordering};

    // Named from the crate root: `.ci/import_cycles.py` reads `super` as the parent of this
    // file's module (`bridge/mod.rs`), not of this inline module.
    use crate::bridge::default::{DEFAULT, DefaultSlot};

    /// Armed once per process: set when the main thread's watch is registered.
    static ARMED: AtomicBool = AtomicBool::new(false);

    thread_local! {
        /// Per thread: this thread was looked at (it is not the main thread, or it armed).
        /// No destructor: checking it costs a thread-local read.
        static CHECKED: Cell<bool> = const { Cell::new(false) };
        /// The main thread's watch: its destructor runs at exit where the platform runs the
        /// main thread's thread-local destructors then (glibc's `exit` does).
        static WATCH: Watch = const { Watch };
    }

    /// Registers the main thread's watch if this is the main thread and it is not registered
    /// yet. Called on every use of the default executor: after the first, one relaxed load.
    pub(super) fn arm() {
        // ORDERING: Relaxed: a hint that skips the check below; a stale `false` only repeats it.
        if ARMED.load(Ordering::Relaxed) || CHECKED.with(Cell::get) {
            return;
        }
        CHECKED.with(|checked| checked.set(true));
        // Rust names the thread that runs `main` "main".
        if std::thread::current().name() == Some("main") {
            // `try_with`: during the main thread's own teardown the slot is gone; nothing to arm.
            if WATCH.try_with(|_| ()).is_ok() {
                // ORDERING: Relaxed: only ever read as the hint above.
                ARMED.store(true, Ordering::Relaxed);
            }
        }
    }

    struct Watch;

    impl Drop for Watch {
        fn drop(&mut self) {
            // A panic here would abort the process at exit: catch (and drop) it.
            let _ = crate::unwind::catch(warn_if_pending);
        }
    }

    /// The jobs still queued or running on the default executor, unless it was shut down (by
    /// an [`ExitGuard`](super::ExitGuard), `shutdown_default_executor`, or
    /// `default_executor().shutdown(..)`).
    fn pending() -> usize {
        let slot = DEFAULT.read().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            DefaultSlot::Active(registry) if !registry.is_closed() => {
                let m = registry.metrics();
                m.queued + m.running
            }
            _ => 0,
        }
    }

    fn warn_if_pending() {
        let n = pending();
        if n == 0 {
            return;
        }
        let jobs = if n == 1 {
            "1 job".to_owned()
        } else {
            format!("{n} jobs")
        };
        eprintln!(
            "poolbridge: `main` returned while {jobs} of the default executor (spawn_blocking, \
             to_thread, run_in_executor(None, ..)) still ran or waited: they die with the process. \
             To wait for them, put #[poolbridge::main] on `fn main` (above #[tokio::main]), or \
             start main with `let _exit = poolbridge::exit_guard();`. To let them die without \
             this warning, call poolbridge::default_executor().shutdown(false, true) before \
             main returns."
        );
    }
}
