//! [`Map`] and [`MapOptions`]: Python's `Executor.map`, with its `timeout` and `buffersize`.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use crate::error::FutureError;
use crate::future::{PoolFuture, Until, deadline_after};

/// Options of [`ThreadPoolExecutor::map_with`](crate::ThreadPoolExecutor::map_with).
///
/// ```
/// use std::time::Duration;
/// use poolbridge::MapOptions;
///
/// let options = MapOptions::default().timeout(Duration::from_secs(5)).buffersize(16);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapOptions {
    timeout: Option<Duration>,
    buffersize: Option<NonZeroUsize>,
}

impl MapOptions {
    /// Bounds the whole iteration, measured from the `map_with` call: once the deadline passes,
    /// the iterator yields `Err(FutureError::Timeout)` once, cancels the jobs that have not
    /// started, and ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::{FutureError, MapOptions, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let options = MapOptions::default().timeout(Duration::from_millis(50));
    /// let slow = |ms: u64| std::thread::sleep(Duration::from_millis(ms));
    /// let results: Vec<_> = pool.map_with(slow, [1, 300, 1], options).collect();
    /// assert_eq!(results, [Ok(()), Err(FutureError::Timeout)]);
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Keeps at most `n` jobs in flight: items are pulled from the input lazily, one more each
    /// time a result is consumed, so an infinite iterator works.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::{MapOptions, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// // An endless input: only 8 jobs are ever in flight.
    /// let squares = pool.map_with(|n: u64| n * n, 1.., MapOptions::default().buffersize(8));
    /// let first: Vec<u64> = squares.take(4).map(Result::unwrap).collect();
    /// assert_eq!(first, [1, 4, 9, 16]);
    /// ```
    pub fn buffersize(mut self, n: usize) -> Self {
        match NonZeroUsize::new(n) {
            Some(n) => self.buffersize = Some(n),
            None => panic!("MapOptions::buffersize must be at least 1, got 0"),
        }
        self
    }

    pub(crate) fn buffer_size(&self) -> Option<usize> {
        self.buffersize.map(NonZeroUsize::get)
    }
}

type Refill<T> = Box<dyn FnMut() -> Option<PoolFuture<T>> + Send>;

/// The iterator returned by [`ThreadPoolExecutor::map`](crate::ThreadPoolExecutor::map): the
/// results in input order, each `Ok(value)` or the item's error.
///
/// What a drop does depends on whether the map was iterated, as in Python (whose `map` cancels
/// its futures in the `finally` of a generator that only runs once iteration has started):
///
/// * **Never iterated** (`pool.map(f, items);`, `let _ = pool.map(f, items);`): the jobs run.
///   Without a [`buffersize`](MapOptions::buffersize) every item was submitted by the `map`
///   call, so every item runs; with one, only the first `buffersize` items were submitted and
///   run, and the rest of the input is never pulled (Python 3.14 does the same).
/// * **Iterated at least once** (`next()` was called, by a `for` loop that `break`s, `take(n)`,
///   ...): the drop cancels the jobs that have not started and asks the running ones to stop
///   (see [`PoolFuture::request_cancel`]).
///
/// [`detach`](Self::detach) lets the submitted jobs run after iteration has started, and hands
/// back their futures.
///
/// # Examples
///
/// ```
/// use poolbridge::{FutureError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2);
/// let results: Vec<Result<u32, FutureError>> = pool
///     .map(|n: u32| if n == 2 { panic!("two") } else { n }, [1, 2, 3])
///     .collect();
/// assert_eq!(results[0], Ok(1));
/// assert!(results[1].as_ref().unwrap_err().is_panic());
/// assert_eq!(results[2], Ok(3));
/// ```
pub struct Map<T> {
    /// Submitted jobs, in input order.
    pending: VecDeque<PoolFuture<T>>,
    /// Pulls and submits the next item (with a `buffersize`); `None` once the input is exhausted.
    refill: Option<Refill<T>>,
    deadline: Option<Instant>,
    finished: bool,
    /// Set by the first `next()`: from then on a drop cancels the jobs that have not started.
    /// A map dropped before it lets its submitted jobs run.
    iterated: bool,
}

impl<T> Map<T> {
    /// A map over jobs already submitted, in input order (Python's eager `map`).
    pub(crate) fn eager(pending: VecDeque<PoolFuture<T>>, options: &MapOptions) -> Map<T> {
        Map {
            pending,
            refill: None,
            deadline: options.timeout.map(deadline_after),
            finished: false,
            iterated: false,
        }
    }

    /// A map that keeps at most `options.buffersize` jobs in flight: `submit_next` submits the
    /// next item's job, or returns `None` once the input is exhausted (or the executor refuses
    /// any more). It is called `buffersize` times now and once more per result consumed.
    pub(crate) fn lazy(
        mut submit_next: impl FnMut() -> Option<PoolFuture<T>> + Send + 'static,
        options: &MapOptions,
    ) -> Map<T> {
        let deadline = options.timeout.map(deadline_after);
        let window = options.buffer_size().unwrap_or(usize::MAX);
        let mut pending = VecDeque::new();
        let mut exhausted = false;
        while pending.len() < window {
            match submit_next() {
                Some(fut) => pending.push_back(fut),
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        Map {
            pending,
            refill: (!exhausted).then(|| Box::new(submit_next) as Refill<T>),
            deadline,
            finished: false,
            iterated: false,
        }
    }

    /// `map_with` of every executor: `submit` submits one item's job. Eager without a
    /// `buffersize` (every item submitted now), lazy with one. A lazy map stops pulling items
    /// after the first submit made once `is_closed` says the executor refuses jobs: that
    /// submit's future carries the refusal (Python's `submit` raises), and the map ends after it.
    pub(crate) fn submitting<It>(
        mut items: It,
        options: &MapOptions,
        mut submit: impl FnMut(It::Item) -> PoolFuture<T> + Send + 'static,
        is_closed: impl Fn() -> bool + Send + 'static,
    ) -> Map<T>
    where
        It: Iterator + Send + 'static,
    {
        if options.buffer_size().is_none() {
            let pending = items.by_ref().map(&mut submit).collect();
            return Map::eager(pending, options);
        }
        let mut stopped = false;
        Map::lazy(
            move || {
                if stopped {
                    return None;
                }
                let item = items.next()?;
                stopped = is_closed();
                Some(submit(item))
            },
            options,
        )
    }

    /// Lets the submitted jobs run without iterating further, and returns their futures in input
    /// order (dropping them cancels nothing). Dropping a `Map` that was never iterated lets its
    /// jobs run too; after iteration has started, a drop would cancel the jobs that have not
    /// started, and `detach` keeps them.
    ///
    /// With [`MapOptions::buffersize`], only the items already submitted (at most `buffersize`)
    /// run: the rest of the input is never pulled. The map's timeout no longer applies.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use poolbridge::{ThreadPoolExecutor, wait, ReturnWhen};
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let ran = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&ran);
    /// // ORDERING: SeqCst counters, read after the jobs ended.
    /// let futures = pool.map(move |_: u32| counter.fetch_add(1, Ordering::SeqCst), 0..10).detach();
    /// wait(&futures, ReturnWhen::AllCompleted);
    /// assert_eq!(ran.load(Ordering::SeqCst), 10);
    /// ```
    pub fn detach(mut self) -> Vec<PoolFuture<T>> {
        self.refill = None;
        self.finished = true;
        self.pending.drain(..).collect()
    }

    /// Nobody will read these results: cancel the jobs that have not started, and ask the
    /// running ones to stop (`request_cancel`; a job that never checks `cancelled()` finishes).
    fn cancel_pending(&mut self) {
        for fut in self.pending.drain(..) {
            fut.request_cancel();
        }
        self.refill = None;
    }
}

impl<T> Iterator for Map<T> {
    type Item = Result<T, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.iterated = true;
        if self.finished {
            return None;
        }
        let Some(fut) = self.pending.pop_front() else {
            self.finished = true;
            return None;
        };
        if !fut.wait_until(self.deadline, Until::Settled) {
            fut.request_cancel();
            self.cancel_pending();
            self.finished = true;
            return Some(Err(FutureError::Timeout));
        }
        if let Some(refill) = &mut self.refill {
            match refill() {
                Some(next) => self.pending.push_back(next),
                None => self.refill = None,
            }
        }
        Some(fut.join())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        let n = self.pending.len();
        // A timeout may end the iteration with one `Err(Timeout)` in place of the rest.
        let low = if self.deadline.is_some() { n.min(1) } else { n };
        (low, if self.refill.is_some() { None } else { Some(n) })
    }
}

impl<T> FusedIterator for Map<T> {}

impl<T> Drop for Map<T> {
    /// Iterated: the reader gave up, so cancel what has not started. Never iterated: let the
    /// submitted jobs run (dropping a `PoolFuture` cancels nothing) and pull no more items.
    fn drop(&mut self) {
        if self.iterated {
            self.cancel_pending();
        }
    }
}

impl<T> fmt::Debug for Map<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.pending.len())
            .field("lazy", &self.refill.is_some())
            .field("deadline", &self.deadline)
            .field("finished", &self.finished)
            .field("iterated", &self.iterated)
            .finish()
    }
}
