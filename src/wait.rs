//! Waiting on many futures: [`wait()`], [`wait_timeout`], [`as_completed`] and
//! [`as_completed_timeout`], with Python's semantics.
//!
//! None of them polls: each registers one [`Signal`] with every pending future and sleeps on it;
//! a future notifies the signal when it settles. A call without a timeout from a worker thread
//! first runs the awaited jobs of its own pool that have not started, one at a time, so it cannot
//! deadlock a saturated pool; a timed call never does, so it returns by its deadline.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::iter::FusedIterator;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::context;
use crate::error::FutureError;
use crate::future::{PoolFuture, Waiter, deadline_after, state};
use crate::signal::Signal;

/// Something that is, or refers to, a [`PoolFuture`]: lets [`wait()`] and [`as_completed`] take
/// futures by value (`Vec<PoolFuture<T>>`) or by reference (`&Vec<PoolFuture<T>>`,
/// `map.keys()`), boxed or in an `Arc`.
///
/// # Examples
///
/// ```
/// use poolbridge::{ReturnWhen, ThreadPoolExecutor, wait};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let futures = vec![pool.submit(|| 1), pool.submit(|| 2)];
/// // By reference (the futures stay usable)...
/// assert_eq!(wait(&futures, ReturnWhen::AllCompleted).done.len(), 2);
/// // ... or by value, boxed, in an Arc.
/// let boxed: Vec<Box<_>> = futures.into_iter().map(Box::new).collect();
/// assert_eq!(wait(boxed, ReturnWhen::AllCompleted).done.len(), 2);
/// ```
pub trait AsPoolFuture {
    /// The value type of the future.
    type Output;
    /// The future.
    fn as_pool_future(&self) -> &PoolFuture<Self::Output>;
}

impl<T> AsPoolFuture for PoolFuture<T> {
    type Output = T;
    fn as_pool_future(&self) -> &PoolFuture<T> {
        self
    }
}

impl<F: AsPoolFuture + ?Sized> AsPoolFuture for &F {
    type Output = F::Output;
    fn as_pool_future(&self) -> &PoolFuture<F::Output> {
        (**self).as_pool_future()
    }
}

impl<F: AsPoolFuture + ?Sized> AsPoolFuture for &mut F {
    type Output = F::Output;
    fn as_pool_future(&self) -> &PoolFuture<F::Output> {
        (**self).as_pool_future()
    }
}

impl<F: AsPoolFuture + ?Sized> AsPoolFuture for Box<F> {
    type Output = F::Output;
    fn as_pool_future(&self) -> &PoolFuture<F::Output> {
        (**self).as_pool_future()
    }
}

impl<F: AsPoolFuture + ?Sized> AsPoolFuture for Arc<F> {
    type Output = F::Output;
    fn as_pool_future(&self) -> &PoolFuture<F::Output> {
        (**self).as_pool_future()
    }
}

/// When [`wait()`] returns: Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`.
///
/// # Examples
///
/// ```
/// use poolbridge::{ReturnWhen, ThreadPoolExecutor, wait};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let futures = [pool.submit(|| -> u8 { panic!("first") }), pool.submit(|| 2)];
/// let outcome = wait(&futures, ReturnWhen::FirstException);
/// assert!(outcome.done.iter().any(|f| f.exception().is_some()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any future is done (finished or cancelled).
    FirstCompleted,
    /// As soon as any future finishes with an error (a panic, `Shutdown`, `BrokenPool`; not a
    /// cancellation), or when all are done.
    FirstException,
    /// When all futures are done.
    AllCompleted,
}

/// What [`wait()`] returns: the futures that are done and those that are not, each in input
/// order.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use poolbridge::{Promise, ReturnWhen, ThreadPoolExecutor, wait_timeout};
///
/// let pool = ThreadPoolExecutor::new(1);
/// let (_never, pending) = Promise::new();
/// let futures = [pool.submit(|| 1), pending];
/// let outcome = wait_timeout(&futures, Duration::from_millis(50), ReturnWhen::AllCompleted);
/// assert_eq!(outcome.done.len(), 1);
/// assert_eq!(outcome.not_done.len(), 1);
/// ```
#[derive(Debug)]
pub struct DoneAndNotDone<F> {
    /// Finished or cancelled futures.
    pub done: Vec<F>,
    /// Pending or running futures.
    pub not_done: Vec<F>,
}

/// Blocks until `return_when` holds for the futures `fs`: Python's `concurrent.futures.wait`.
///
/// The same future given twice is kept once (the first time). Returns at once if the condition
/// already holds.
///
/// # Examples
///
/// ```
/// use poolbridge::{ReturnWhen, ThreadPoolExecutor, wait};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let futures: Vec<_> = (0..4).map(|i| pool.submit(move || i)).collect();
/// let outcome = wait(&futures, ReturnWhen::AllCompleted);
/// assert_eq!(outcome.done.len(), 4);
/// assert!(outcome.not_done.is_empty());
/// ```
pub fn wait<I>(fs: I, return_when: ReturnWhen) -> DoneAndNotDone<I::Item>
where
    I: IntoIterator,
    I::Item: AsPoolFuture,
{
    wait_impl(fs, None, return_when)
}

/// [`wait()`], giving up after `timeout`; the futures not done by then are in `not_done`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use poolbridge::{Promise, ReturnWhen, wait_timeout};
///
/// let (_promise, fut) = Promise::<u8>::new();
/// let outcome = wait_timeout([&fut], Duration::from_millis(10), ReturnWhen::FirstCompleted);
/// assert!(outcome.done.is_empty());
/// ```
pub fn wait_timeout<I>(fs: I, timeout: Duration, return_when: ReturnWhen) -> DoneAndNotDone<I::Item>
where
    I: IntoIterator,
    I::Item: AsPoolFuture,
{
    wait_impl(fs, Some(deadline_after(timeout)), return_when)
}

fn wait_impl<I>(
    fs: I,
    deadline: Option<Instant>,
    return_when: ReturnWhen,
) -> DoneAndNotDone<I::Item>
where
    I: IntoIterator,
    I::Item: AsPoolFuture,
{
    let items = dedup(fs);
    let total = items.len();
    let satisfied = |done: usize, failed: bool| match return_when {
        ReturnWhen::FirstCompleted => done > 0 || total == 0,
        ReturnWhen::FirstException => failed || done == total,
        ReturnWhen::AllCompleted => done == total,
    };

    // Fast path: no registration if the answer is already known.
    let (done, failed) = tally(
        items
            .iter()
            .map(|f| f.as_pool_future().core().state().load()),
    );
    if !satisfied(done, failed) {
        let signal = Arc::new(Signal::new());
        let mut registered = vec![false; total];
        let (mut done, mut failed) = (0, false);
        for (key, fut) in items.iter().enumerate() {
            let fut = fut.as_pool_future();
            if fut.core().add_signal(&signal, key) {
                registered[key] = true;
            } else {
                done += 1;
                failed |= state::is_failed(fut.core().state().load());
            }
        }
        let mut arrived = VecDeque::new();
        while !satisfied(done, failed) {
            let candidates = items
                .iter()
                .zip(&registered)
                .filter(|(_, registered)| **registered)
                .map(|(fut, _)| fut.as_pool_future());
            if run_one_inline(deadline, candidates) {
                // The job ran here; its completion arrives through the signal below.
            } else if !signal.wait(deadline, &mut arrived) {
                break;
            }
            signal.take(&mut arrived);
            for key in arrived.drain(..) {
                registered[key] = false;
                done += 1;
                failed |= state::is_failed(items[key].as_pool_future().core().state().load());
            }
        }
        for (key, fut) in items.iter().enumerate() {
            if registered[key] {
                fut.as_pool_future().core().remove_signal(&signal);
            }
        }
    }

    let (done, not_done) = items.into_iter().partition(|f| f.as_pool_future().done());
    DoneAndNotDone { done, not_done }
}

/// Yields the futures as they complete: Python's `concurrent.futures.as_completed`.
///
/// Futures already done are yielded first, in input order, then the others in the order they
/// finish (or are cancelled). The same future given twice is yielded once. The iterator sleeps
/// until a future completes; it never polls.
///
/// # Examples
///
/// The `future → input` map of Python's documentation:
///
/// ```
/// use std::collections::HashMap;
/// use poolbridge::{ThreadPoolExecutor, as_completed};
///
/// let pool = ThreadPoolExecutor::new(4);
/// let mut future_to_n = HashMap::new();
/// for n in 1..=3u64 {
///     future_to_n.insert(pool.submit(move || n * 100), n);
/// }
/// for fut in as_completed(future_to_n.keys()) {
///     let n = future_to_n[fut];
///     assert_eq!(fut.result(), Ok(n * 100));
/// }
/// ```
pub fn as_completed<I>(fs: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: AsPoolFuture,
{
    AsCompleted {
        inner: Completions::new(fs, None),
    }
}

/// [`as_completed`] with a deadline: once `timeout` passes with futures still pending, yields one
/// `Err(FutureError::Timeout)` and ends.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use poolbridge::{Promise, ThreadPoolExecutor, as_completed_timeout};
///
/// let pool = ThreadPoolExecutor::new(1);
/// let (_never, pending) = Promise::new();
/// let futures = [pool.submit(|| 1), pending];
/// let mut it = as_completed_timeout(&futures, Duration::from_millis(50));
/// assert_eq!(it.next().unwrap().unwrap().result(), Ok(1));
/// assert!(it.next().unwrap().unwrap_err().is_timeout());
/// assert!(it.next().is_none());
/// ```
pub fn as_completed_timeout<I>(fs: I, timeout: Duration) -> AsCompletedTimeout<I::Item>
where
    I: IntoIterator,
    I::Item: AsPoolFuture,
{
    AsCompletedTimeout {
        inner: Completions::new(fs, Some(deadline_after(timeout))),
    }
}

/// The iterator returned by [`as_completed`].
///
/// # Examples
///
/// ```
/// use poolbridge::{ThreadPoolExecutor, as_completed};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let futures: Vec<_> = (0..3).map(|n| pool.submit(move || n)).collect();
/// let mut done = as_completed(&futures);
/// assert_eq!(done.len(), 3); // an ExactSizeIterator
/// let sum: i32 = done.by_ref().map(|f| f.result().unwrap()).sum();
/// assert_eq!(sum, 3);
/// ```
pub struct AsCompleted<F: AsPoolFuture> {
    inner: Completions<F>,
}

impl<F: AsPoolFuture> Iterator for AsCompleted<F> {
    type Item = F;

    fn next(&mut self) -> Option<F> {
        // Without a deadline the engine never yields `Err(Timeout)`.
        self.inner.next().and_then(Result::ok)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.inner.remaining;
        (n, Some(n))
    }
}

impl<F: AsPoolFuture> ExactSizeIterator for AsCompleted<F> {}
impl<F: AsPoolFuture> FusedIterator for AsCompleted<F> {}

/// The iterator returned by [`as_completed_timeout`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use poolbridge::{ThreadPoolExecutor, as_completed_timeout};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let futures: Vec<_> = (0..3).map(|n| pool.submit(move || n)).collect();
/// let values: Vec<i32> = as_completed_timeout(futures, Duration::from_secs(5))
///     .map(|f| f.unwrap().join().unwrap())
///     .collect();
/// assert_eq!(values.len(), 3);
/// ```
pub struct AsCompletedTimeout<F: AsPoolFuture> {
    inner: Completions<F>,
}

impl<F: AsPoolFuture> Iterator for AsCompletedTimeout<F> {
    type Item = Result<F, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.inner.finished {
            return (0, Some(0));
        }
        // A timeout may end the iteration with one `Err(Timeout)` at any point.
        let n = self.inner.remaining;
        (n.min(1), Some(n))
    }
}

impl<F: AsPoolFuture> FusedIterator for AsCompletedTimeout<F> {}

/// The engine behind both `as_completed` iterators.
struct Completions<F: AsPoolFuture> {
    /// The futures, by key; `None` once yielded.
    items: Vec<Option<F>>,
    /// `true` while the signal is registered with the future of that key.
    registered: Vec<bool>,
    /// Keys of done futures not yet yielded, in the order to yield them.
    ready: VecDeque<usize>,
    signal: Arc<Signal>,
    /// Futures not yet yielded.
    remaining: usize,
    deadline: Option<Instant>,
    finished: bool,
}

impl<F: AsPoolFuture> Completions<F> {
    fn new(fs: impl IntoIterator<Item = F>, deadline: Option<Instant>) -> Completions<F> {
        let items = dedup(fs);
        let signal = Arc::new(Signal::new());
        // Already-done futures first, in input order; then register with the others. One that
        // finishes between the two passes is found by `add_signal` and queued right away.
        let mut ready = VecDeque::new();
        let mut registered = vec![false; items.len()];
        let initially_done: Vec<bool> = items.iter().map(|f| f.as_pool_future().done()).collect();
        for (key, _) in initially_done.iter().enumerate().filter(|(_, done)| **done) {
            ready.push_back(key);
        }
        for (key, fut) in items.iter().enumerate() {
            if initially_done[key] {
                continue;
            }
            if fut.as_pool_future().core().add_signal(&signal, key) {
                registered[key] = true;
            } else {
                ready.push_back(key);
            }
        }
        Completions {
            remaining: items.len(),
            items: items.into_iter().map(Some).collect(),
            registered,
            ready,
            signal,
            deadline,
            finished: false,
        }
    }

    fn next(&mut self) -> Option<Result<F, FutureError>> {
        if self.finished {
            return None;
        }
        loop {
            self.signal.take(&mut self.ready);
            if let Some(key) = self.ready.pop_front() {
                self.registered[key] = false;
                self.remaining -= 1;
                let fut = self.items[key]
                    .take()
                    .expect("poolbridge bug: a future completed twice");
                return Some(Ok(fut));
            }
            if self.remaining == 0 {
                self.finished = true;
                return None;
            }
            let candidates = self
                .items
                .iter()
                .zip(&self.registered)
                .filter_map(|(fut, registered)| fut.as_ref().filter(|_| *registered))
                .map(|fut| fut.as_pool_future());
            if run_one_inline(self.deadline, candidates) {
                continue;
            }
            if !self.signal.wait(self.deadline, &mut self.ready) {
                self.finished = true;
                self.unregister();
                return Some(Err(FutureError::Timeout));
            }
        }
    }

    fn unregister(&mut self) {
        for (key, fut) in self.items.iter().enumerate() {
            if let (true, Some(fut)) = (self.registered[key], fut) {
                fut.as_pool_future().core().remove_signal(&self.signal);
            }
        }
        self.registered.iter_mut().for_each(|r| *r = false);
    }
}

impl<F: AsPoolFuture> Drop for Completions<F> {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl<F: AsPoolFuture> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.inner.remaining)
            .finish_non_exhaustive()
    }
}

impl<F: AsPoolFuture> fmt::Debug for AsCompletedTimeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("remaining", &self.inner.remaining)
            .field("deadline", &self.inner.deadline)
            .finish_non_exhaustive()
    }
}

/// Keeps the first occurrence of each future (by identity), in input order.
fn dedup<F: AsPoolFuture>(fs: impl IntoIterator<Item = F>) -> Vec<F> {
    let mut seen = HashSet::new();
    fs.into_iter()
        .filter(|f| seen.insert(f.as_pool_future().addr()))
        .collect()
}

/// (done count, any failed) over state words.
fn tally(words: impl Iterator<Item = u32>) -> (usize, bool) {
    words.fold((0, false), |(done, failed), word| {
        (
            done + usize::from(state::is_done(word)),
            failed || state::is_failed(word),
        )
    })
}

/// Without a deadline, on a worker thread: runs one of `candidates` that belongs to the worker's
/// own pool and has not started (see `PoolFuture::run_inline_if_worker`). Returns `true` if it
/// ran one. A timed wait never runs a job inline: it must return by its deadline.
fn run_one_inline<'a, T: 'a>(
    deadline: Option<Instant>,
    mut candidates: impl Iterator<Item = &'a PoolFuture<T>>,
) -> bool {
    deadline.is_none()
        && context::current_pool() != 0
        && candidates.any(|fut| fut.run_inline_if_worker(Waiter::Blocking))
}
