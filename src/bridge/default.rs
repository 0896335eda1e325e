//! The process-wide default executor behind `run_in_executor(None, ..)` and `to_thread`: asyncio's
//! default executor.

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
/// assert!(name.unwrap().unwrap().starts_with(poolbridge::DEFAULT_THREAD_NAME_PREFIX));
/// # });
/// ```
pub const DEFAULT_THREAD_NAME_PREFIX: &str = "poolbridge-default";

enum Slot {
    /// Not used yet: built on first use.
    Unset,
    Active(Arc<Registry>),
    /// `shutdown_default_executor` was called.
    ShutDown,
}

/// Holds the registry, not a `ThreadPoolExecutor`: a replaced or shut-down default is shut down
/// explicitly, never by whichever thread happens to drop the last reference.
static DEFAULT: RwLock<Slot> = RwLock::new(Slot::Unset);

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
    match &*DEFAULT.read().unwrap_or_else(|e| e.into_inner()) {
        Slot::Active(registry) => return Ok(Arc::clone(registry)),
        Slot::ShutDown => return Err(FutureError::Shutdown),
        Slot::Unset => {}
    }
    let mut slot = DEFAULT.write().unwrap_or_else(|e| e.into_inner());
    match &*slot {
        Slot::Active(registry) => Ok(Arc::clone(registry)),
        Slot::ShutDown => Err(FutureError::Shutdown),
        Slot::Unset => {
            let registry = new_default();
            *slot = Slot::Active(Arc::clone(&registry));
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
        Slot::Active(registry),
    );
    if let Slot::Active(previous) = previous {
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
        Slot::ShutDown,
    );
    if let Slot::Active(previous) = previous {
        previous.shutdown(true, false);
    }
}
