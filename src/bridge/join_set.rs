//! [`JoinSet`]: a group of jobs awaited in completion order, tokio's `JoinSet` for blocking jobs,
//! and the async counterpart of [`as_completed`](crate::as_completed).
//!
//! Each entry is polled with a waker of its own, which records the entry's key in a shared ready
//! list and wakes the task that awaits the set. A poll of the set looks only at the entries whose
//! keys arrived, so awaiting a set of `n` jobs costs O(n) in all, not O(n²). No wakeup is lost:
//! the ready list and the task's waker sit under one lock; an entry waker pushes its key and
//! takes the task waker in one critical section, and the set stores its waker only after
//! finding the list empty in the same critical section. `tests/loom_bridge.rs` checks it.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;

use crate::bridge::default;
use crate::error::FutureError;
use crate::future::{PoolFuture, Waiter};
use crate::loom::lock;
use crate::loom::sync::{Mutex, MutexGuard};
use crate::pool::ThreadPoolExecutor;

/// A set of jobs whose outcomes are taken as they complete: tokio's `JoinSet`, for blocking jobs.
///
/// [`spawn_blocking`](Self::spawn_blocking) submits a job to the default executor,
/// [`spawn_blocking_on`](Self::spawn_blocking_on) to a given pool, [`insert`](Self::insert) adds
/// any [`PoolFuture`] (a `Promise`'s too); [`join_next`](Self::join_next) awaits the next job to
/// complete and returns its outcome. It is also a [`Stream`] of those outcomes.
///
/// Dropping the set cancels the jobs that have not started, whether or not it was ever polled
/// (tokio aborts a `JoinSet`'s tasks on drop; unlike an [`ExecutorFuture`](crate::ExecutorFuture)
/// never polled, whose job runs); [`detach_all`](Self::detach_all) lets them run on instead.
///
/// From async code use this, not the blocking [`as_completed`](crate::as_completed), which would
/// stall the runtime thread while it waits.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// use poolbridge::JoinSet;
///
/// let mut set = JoinSet::new();
/// for n in 1..=5u64 {
///     set.spawn_blocking(move || n * n);
/// }
/// let mut total = 0;
/// while let Some(outcome) = set.join_next().await {
///     total += outcome.unwrap(); // in completion order
/// }
/// assert_eq!(total, 55);
/// # });
/// ```
pub struct JoinSet<T> {
    /// The jobs, by key; `None` marks a free key (listed in `free`).
    entries: Vec<Option<Entry<T>>>,
    free: Vec<usize>,
    len: usize,
    /// Keys taken from `shared` and not looked at yet.
    ready: VecDeque<usize>,
    shared: Arc<Shared>,
}

struct Entry<T> {
    fut: PoolFuture<T>,
    /// Wakes the set with this entry's key.
    waker: Waker,
}

/// What the entries' wakers share with the set.
struct Shared {
    inner: Mutex<SharedInner>,
}

struct SharedInner {
    /// Keys of entries woken since the set last looked.
    ready: Vec<usize>,
    /// The waker of the set's latest pending poll.
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SharedInner> {
        lock(&self.inner)
    }
}

/// The waker of one entry.
struct EntryWaker {
    shared: Arc<Shared>,
    key: usize,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waker = {
            let mut inner = self.shared.lock();
            inner.ready.push(self.key);
            inner.waker.take()
        };
        // The task's waker is runtime code: called outside the lock.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = poolbridge::JoinSet::<u32>::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> JoinSet<T> {
        JoinSet {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
            ready: VecDeque::new(),
            shared: Arc::new(Shared {
                inner: Mutex::new(SharedInner {
                    ready: Vec::new(),
                    waker: None,
                }),
            }),
        }
    }

    /// The number of jobs in the set whose outcome has not been taken, finished or not.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = poolbridge::JoinSet::new();
    /// set.spawn_blocking(|| 1);
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if the set holds no job.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(poolbridge::JoinSet::<()>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a job's future to the set: any [`PoolFuture`], from any executor or a
    /// [`Promise`](crate::Promise).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use poolbridge::{JoinSet, Promise, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let (promise, manual) = Promise::new();
    /// let mut set: JoinSet<u32> = [pool.submit(|| 1), manual].into_iter().collect();
    /// promise.set_result(2).unwrap();
    /// let mut sum = 0;
    /// while let Some(outcome) = set.join_next().await {
    ///     sum += outcome.unwrap();
    /// }
    /// assert_eq!(sum, 3);
    /// # });
    /// ```
    pub fn insert(&mut self, fut: PoolFuture<T>) {
        let key = match self.free.pop() {
            Some(key) => key,
            None => {
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        let waker = Waker::from(Arc::new(EntryWaker {
            shared: Arc::clone(&self.shared),
            key,
        }));
        self.entries[key] = Some(Entry { fut, waker });
        self.len += 1;
        // Looked at by the next poll, which registers the entry's waker.
        self.ready.push_back(key);
    }

    /// Cancels every job of the set that has not started (tokio's `abort_all`). The jobs stay in
    /// the set: [`join_next`](Self::join_next) yields `Err(FutureError::Cancelled)` for each
    /// cancelled one, and the outcome of those that were running.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// use poolbridge::{JoinSet, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let busy = pool.submit(move || rx.recv()); // holds the only worker
    /// let mut set = JoinSet::new();
    /// for n in 0..3 {
    ///     set.spawn_blocking_on(move || n, &pool);
    /// }
    /// set.cancel_all();
    /// # tx.send(()).unwrap(); busy.wait();
    /// while let Some(outcome) = set.join_next().await {
    ///     assert!(outcome.unwrap_err().is_cancelled());
    /// }
    /// # });
    /// ```
    #[doc(alias = "abort_all")]
    pub fn cancel_all(&mut self) {
        for entry in self.entries.iter().flatten() {
            entry.fut.cancel();
        }
    }

    /// Removes every job from the set without cancelling any: they run on, and their values are
    /// dropped when they end (tokio's `detach_all`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = poolbridge::JoinSet::new();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// set.spawn_blocking(move || tx.send("ran anyway").unwrap());
    /// set.detach_all();
    /// drop(set);
    /// assert_eq!(rx.recv(), Ok("ran anyway"));
    /// ```
    pub fn detach_all(&mut self) {
        for entry in self.entries.drain(..).flatten() {
            entry.fut.core().clear_waker();
        }
        self.free.clear();
        self.ready.clear();
        self.len = 0;
    }

    /// Awaits the next job of the set to complete and returns its outcome, or `None` if the set
    /// is empty. Cancel-safe: dropping the returned future loses no outcome.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut set = poolbridge::JoinSet::new();
    /// set.spawn_blocking(|| "only");
    /// assert_eq!(set.join_next().await, Some(Ok("only")));
    /// assert_eq!(set.join_next().await, None);
    /// # });
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, FutureError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// The outcome of a job that has completed, if there is one, without waiting: `None` if no
    /// job is done yet or the set is empty (tokio's `try_join_next`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut set = poolbridge::JoinSet::new();
    /// set.spawn_blocking(|| 7);
    /// let outcome = loop {
    ///     if let Some(outcome) = set.try_join_next() {
    ///         break outcome;
    ///     }
    ///     std::thread::yield_now();
    /// };
    /// assert_eq!(outcome, Ok(7));
    /// ```
    pub fn try_join_next(&mut self) -> Option<Result<T, FutureError>> {
        match self.next_ready(None) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => None,
        }
    }

    /// Polls for the next outcome: `Ready(None)` if the set is empty, `Pending` (with `cx`'s
    /// waker registered) if no job is done yet. The building block of
    /// [`join_next`](Self::join_next) and of the [`Stream`] impl.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    ///
    /// let mut set = poolbridge::JoinSet::<u8>::new();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(set.poll_join_next(&mut cx), Poll::Ready(None));
    /// ```
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, FutureError>>> {
        self.next_ready(Some(cx))
    }

    /// The next outcome among the entries whose keys arrived. With a context, registers its
    /// waker before returning `Pending`.
    fn next_ready(
        &mut self,
        mut cx: Option<&mut Context<'_>>,
    ) -> Poll<Option<Result<T, FutureError>>> {
        loop {
            if self.len == 0 {
                return Poll::Ready(None);
            }
            while let Some(key) = self.ready.pop_front() {
                if let Some(outcome) = self.poll_entry(key) {
                    return Poll::Ready(Some(outcome));
                }
            }
            // Nothing ready here: take what the wakers recorded, or register and sleep.
            let mut inner = self.shared.lock();
            if !inner.ready.is_empty() {
                self.ready.extend(inner.ready.drain(..));
                continue;
            }
            let Some(cx) = cx.as_deref_mut() else {
                return Poll::Pending;
            };
            if inner
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                return Poll::Pending;
            }
            // Clone the new waker outside the lock (runtime code), then look again: a key may
            // have arrived meanwhile, and its entry waker found no waker to wake.
            drop(inner);
            let waker = cx.waker().clone();
            let mut inner = self.shared.lock();
            if !inner.ready.is_empty() {
                self.ready.extend(inner.ready.drain(..));
                drop(inner);
                drop(waker);
                continue;
            }
            let old = inner.waker.replace(waker);
            drop(inner);
            drop(old);
            return Poll::Pending;
        }
    }

    /// Polls entry `key` (a stale key of a removed entry is skipped): its outcome if settled, in
    /// which case the entry is removed.
    fn poll_entry(&mut self, key: usize) -> Option<Result<T, FutureError>> {
        let entry = self.entries.get(key)?.as_ref()?;
        // The inline-run rule of every async poll (see `PoolFuture::run_inline_if_worker`).
        let _ = entry.fut.run_inline_if_worker(Waiter::Polling);
        let mut entry_cx = Context::from_waker(&entry.waker);
        match entry.fut.core().poll_take(&mut entry_cx) {
            Poll::Ready(outcome) => {
                self.entries[key] = None;
                self.free.push(key);
                self.len -= 1;
                Some(outcome)
            }
            Poll::Pending => None,
        }
    }

    /// Cancels every job that has not started, then awaits the rest: tokio's `shutdown`. The set
    /// is empty afterwards; the outcomes are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut set = poolbridge::JoinSet::new();
    /// set.spawn_blocking(|| 1);
    /// set.shutdown().await;
    /// assert!(set.is_empty());
    /// # });
    /// ```
    pub async fn shutdown(&mut self) {
        self.cancel_all();
        while self.join_next().await.is_some() {}
    }

    /// Awaits every job and returns their values in completion order: tokio's `join_all`.
    ///
    /// # Panics
    ///
    /// As tokio's: if a job panicked, its panic is resumed here with the original payload
    /// ([`std::panic::resume_unwind`]); for any other error (a cancelled job, a shut-down
    /// executor), this panics with the error. Collect [`join_next`](Self::join_next) outcomes to
    /// handle errors instead. When it panics, the jobs left in the set are cancelled (the set is
    /// dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut set = poolbridge::JoinSet::new();
    /// for n in 0..4 {
    ///     set.spawn_blocking(move || n);
    /// }
    /// let mut values = set.join_all().await;
    /// values.sort();
    /// assert_eq!(values, [0, 1, 2, 3]);
    /// # });
    /// ```
    pub async fn join_all(mut self) -> Vec<T> {
        let mut values = Vec::with_capacity(self.len);
        while let Some(outcome) = self.join_next().await {
            match outcome {
                Ok(value) => values.push(value),
                Err(err) => match err.try_into_panic() {
                    Ok(payload) => std::panic::resume_unwind(payload),
                    Err(err) => panic!("a job of the JoinSet failed: {err}"),
                },
            }
        }
        values
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Runs `f` on the default executor and adds its job to the set: tokio's
    /// `JoinSet::spawn_blocking`. The job starts as soon as a worker is free, whether or not the
    /// set is awaited.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let mut set = poolbridge::JoinSet::new();
    /// set.spawn_blocking(|| std::fs::metadata("Cargo.toml").map(|m| m.len()));
    /// let len = set.join_next().await.unwrap().unwrap().unwrap();
    /// assert!(len > 0);
    /// # });
    /// ```
    pub fn spawn_blocking<F>(&mut self, f: F)
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.insert(default::submit(f));
    }

    /// Runs `f` on `executor` and adds its job to the set: tokio's `spawn_blocking_on`.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = poolbridge::ThreadPoolExecutor::new(2);
    /// let mut set = poolbridge::JoinSet::new();
    /// set.spawn_blocking_on(|| 1, &pool);
    /// assert_eq!(set.join_next().await, Some(Ok(1)));
    /// # });
    /// ```
    pub fn spawn_blocking_on<F>(&mut self, f: F, executor: &ThreadPoolExecutor)
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.insert(executor.submit(f));
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    /// Cancels the jobs that have not started; running ones finish and their values are dropped.
    fn drop(&mut self) {
        for entry in self.entries.drain(..).flatten() {
            entry.fut.core().clear_waker();
            entry.fut.cancel();
        }
    }
}

impl<T> Stream for JoinSet<T> {
    type Item = Result<T, FutureError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_join_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len, Some(self.len))
    }
}

impl<T> FromIterator<PoolFuture<T>> for JoinSet<T> {
    fn from_iter<I: IntoIterator<Item = PoolFuture<T>>>(iter: I) -> Self {
        let mut set = JoinSet::new();
        set.extend(iter);
        set
    }
}

impl<T> Extend<PoolFuture<T>> for JoinSet<T> {
    fn extend<I: IntoIterator<Item = PoolFuture<T>>>(&mut self, iter: I) {
        for fut in iter {
            self.insert(fut);
        }
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}
