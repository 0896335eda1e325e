//! Per-worker state: [`StatefulPool`], a pool whose every worker thread owns a value (a database
//! connection, a parser, a scratch buffer) built by a fallible initializer that is told the
//! worker's index, and whose jobs borrow it ([`StatefulPool::submit_with_state`]).
//!
//! The state lives in a thread-local of the worker that built it: it is created, used and dropped
//! on that thread only, so it need not be `Send` or `Sync`. A job that needs it runs only on a
//! worker of its own pool (the queues and the inline-run rule of `PoolFuture` guarantee that).
//!
//! The worker loop calls [`start_worker`] before its first job (the plain initializer, then the
//! state's) and [`stop_worker`] when it leaves.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::error::BrokenReason;
use crate::future::PoolFuture;
use crate::pool::ThreadPoolExecutor;
use crate::pool::config::{Config, StateInit};
use crate::unwind;

thread_local! {
    /// The state of the worker running on this thread, with the identity of its pool.
    static STATE: RefCell<Option<(u32, Box<dyn Any>)>> = const { RefCell::new(None) };
}

/// Sets up the worker `index` of pool `pool` (built with `config`) on this (its) thread: runs
/// the pool's initializer, then builds the worker's state. `Err` is the reason to break the pool
/// with: an initializer panicked, or the state's failed.
pub(crate) fn start_worker(pool: u32, config: &Config, index: usize) -> Result<(), BrokenReason> {
    if let Some(initializer) = &config.initializer {
        if let Err(panic) = unwind::catch(|| initializer()) {
            unwind::report_with(
                &format!("the initializer of worker {}", worker_name(config, index)),
                "the pool is broken",
                &panic,
            );
            return Err(BrokenReason::initializer_panicked(
                "a worker thread's initializer".to_owned(),
                panic,
            ));
        }
    }
    match &config.state {
        Some(init) => build(pool, &worker_name(config, index), index, &**init),
        None => Ok(()),
    }
}

/// Tears the worker down as it leaves (keep-alive, shutdown, broken pool): drops its state.
pub(crate) fn stop_worker(config: &Config, index: usize) {
    if STATE
        .try_with(|slot| slot.borrow().is_some())
        .unwrap_or(false)
    {
        clear(&worker_name(config, index));
    }
}

/// The worker's thread name, `{prefix}_{index}`, for messages.
fn worker_name(config: &Config, index: usize) -> String {
    format!("{}_{index}", config.thread_name_prefix)
}

/// Runs `init` for the worker `index` of pool `pool` on this (the worker's) thread and keeps its
/// state. `Err` is the reason to break the pool with: the initializer failed or panicked.
fn build(pool: u32, name: &str, index: usize, init: &StateInit) -> Result<(), BrokenReason> {
    match unwind::catch(|| init(index)) {
        Ok(Ok(state)) => {
            STATE.with(|slot| *slot.borrow_mut() = Some((pool, state)));
            Ok(())
        }
        Ok(Err(err)) => Err(BrokenReason::InitializerFailed(format!(
            "the state initializer of worker {name} failed: {err}"
        ))),
        Err(panic) => {
            unwind::report_with(
                &format!("the state initializer of worker {name}"),
                "the pool is broken",
                &panic,
            );
            Err(BrokenReason::initializer_panicked(
                format!("the state initializer of worker {name}"),
                panic,
            ))
        }
    }
}

/// Drops this worker's state, if it has one: the worker is leaving (keep-alive, shutdown). The
/// drop is user code (closing a connection): a panic in it is reported, not propagated.
fn clear(name: &str) {
    let state = STATE
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten();
    if let Some(state) = state {
        if let Err(panic) = unwind::catch(move || drop(state)) {
            unwind::report(&format!("dropping the state of worker {name}"), &panic);
        }
    }
}

/// Calls `f` with this worker's state: the body of every job of
/// [`StatefulPool::submit_with_state`].
fn with_state<S: 'static, T>(pool: u32, f: impl FnOnce(&mut S) -> T) -> T {
    STATE.with(|slot| {
        let Ok(mut slot) = slot.try_borrow_mut() else {
            panic!(
                "the worker's state is in use by another job on this thread: a job of \
                 `submit_with_state` waited for another such job of its pool, which then ran \
                 inline (as every blocking wait on a worker does) and cannot borrow the state \
                 a second time; submit the inner job with `submit` instead"
            );
        };
        match slot.as_mut() {
            Some((owner, state)) if *owner == pool => f(state
                .downcast_mut::<S>()
                .expect("poolbridge bug: a worker's state has another type than its pool's")),
            _ => panic!(
                "a job of `submit_with_state` ran on a thread that holds no state of its pool \
                 (inside the pool's own initializer?)"
            ),
        }
    })
}

/// A [`ThreadPoolExecutor`] whose every worker thread owns a value of type `S`, built when the
/// thread starts and dropped when it exits: a database connection per worker, a parser, a
/// scratch buffer. Built by [`ThreadPoolBuilder::build_with_state`](crate::ThreadPoolBuilder::build_with_state);
/// jobs borrow the state with [`submit_with_state`](Self::submit_with_state).
///
/// It derefs to its [`ThreadPoolExecutor`], so `submit`, `map`, `shutdown` and the rest work as
/// usual (those jobs simply do not see the state); [`executor`](Self::executor) gives the
/// executor itself, for `run_in_executor(Some(pool.executor()), ..)`.
///
/// * The state is created, used and dropped on its worker's thread only, so `S` need not be
///   `Send` (an `Rc`, a `RefCell`, a connection type that must stay on its thread).
/// * A worker that goes idle for the pool's keep-alive ([`DEFAULT_KEEP_ALIVE`], 10 s) exits,
///   and its state is dropped: idle connections close by themselves, and the next burst opens
///   new ones. Use `.keep_alive(None)` to keep every worker and its state until shutdown.
///
/// [`DEFAULT_KEEP_ALIVE`]: crate::thread::DEFAULT_KEEP_ALIVE
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use poolbridge::ThreadPoolExecutor;
///
/// struct Connection { worker: usize, cache: HashMap<u64, u64> }
///
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(2)
///     .build_with_state(|index| {
///         // Connection::open(path)? in real code: a failure breaks the pool with its message.
///         Ok::<_, std::io::Error>(Connection { worker: index, cache: HashMap::new() })
///     })
///     .unwrap();
/// let fut = pool.submit_with_state(|conn: &mut Connection| {
///     *conn.cache.entry(7).or_insert(49) + conn.worker as u64 * 0
/// });
/// assert_eq!(fut.join(), Ok(49));
/// assert_eq!(pool.submit(|| "plain jobs work too").join(), Ok("plain jobs work too"));
/// ```
pub struct StatefulPool<S> {
    executor: ThreadPoolExecutor,
    /// The state lives on the workers, never in this handle: the handle is `Send` and `Sync`
    /// whatever `S` is.
    _state: PhantomData<fn() -> S>,
}

impl<S: 'static> StatefulPool<S> {
    pub(crate) fn new(executor: ThreadPoolExecutor) -> StatefulPool<S> {
        StatefulPool {
            executor,
            _state: PhantomData,
        }
    }

    /// Schedules `f` with the state of the worker that runs it, and returns its future at once:
    /// like [`ThreadPoolExecutor::submit`], with `&mut S` passed in.
    ///
    /// # Panics
    ///
    /// The job (not this call) panics, resolving to `FutureError::Panicked`, if it runs inline
    /// inside another job of `submit_with_state` on the same worker, which holds the state: a
    /// stateful job that blocks on another stateful job of its own pool while no other worker
    /// takes it. Submit such inner jobs with plain `submit`.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// // A scratch buffer per worker, reused by every job that worker runs.
    /// let pool = ThreadPoolExecutor::builder()
    ///     .build_with_state(|_index| Ok::<_, String>(Vec::<u8>::with_capacity(1 << 16)))
    ///     .unwrap();
    /// let len = pool.submit_with_state(|buf: &mut Vec<u8>| {
    ///     buf.clear();
    ///     buf.extend_from_slice(b"reused");
    ///     buf.len()
    /// });
    /// assert_eq!(len.join(), Ok(6));
    /// ```
    pub fn submit_with_state<F, T>(&self, f: F) -> PoolFuture<T>
    where
        F: FnOnce(&mut S) -> T + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.executor.pool_id();
        self.executor.submit(move || with_state::<S, T>(pool, f))
    }

    /// The executor, for APIs that take a `&ThreadPoolExecutor`.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use poolbridge::{ThreadPoolExecutor, run_in_executor};
    ///
    /// let pool = ThreadPoolExecutor::builder()
    ///     .build_with_state(|index| Ok::<_, String>(index))
    ///     .unwrap();
    /// let sum = run_in_executor(Some(pool.executor()), |a: u32, b: u32| a + b, (1, 2)).await;
    /// assert_eq!(sum, Ok(3));
    /// // Stateful jobs are awaitable too:
    /// assert!(pool.submit_with_state(|index: &mut usize| *index < 64).await.unwrap());
    /// # });
    /// ```
    pub fn executor(&self) -> &ThreadPoolExecutor {
        &self.executor
    }
}

impl<S> Deref for StatefulPool<S> {
    type Target = ThreadPoolExecutor;

    fn deref(&self) -> &ThreadPoolExecutor {
        &self.executor
    }
}

impl<S> fmt::Debug for StatefulPool<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatefulPool")
            .field("state", &std::any::type_name::<S>())
            .field("executor", &self.executor)
            .finish()
    }
}
