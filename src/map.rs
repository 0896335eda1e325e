//! [`Map`] and [`MapOptions`]: Python's `Executor.map`, with its `timeout` and `buffersize`.

use std::collections::VecDeque;
use std::fmt;
use std::iter::FusedIterator;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::FutureError;
use crate::future::{PoolFuture, Until, deadline_after};
use crate::pool::registry::Registry;

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
/// Dropping it cancels the jobs that have not started.
#[must_use = "a Map cancels its queued jobs when dropped"]
pub struct Map<T> {
    /// Submitted jobs, in input order.
    pending: VecDeque<PoolFuture<T>>,
    /// Pulls and submits the next item (with a `buffersize`); `None` once the input is exhausted.
    refill: Option<Refill<T>>,
    deadline: Option<Instant>,
    finished: bool,
}

impl<T: Send + 'static> Map<T> {
    /// Submits every item now.
    pub(crate) fn eager<I, F>(
        registry: &Arc<Registry>,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Map<T>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
    {
        let deadline = options.timeout.and_then(deadline_after);
        let f = Arc::new(f);
        let pending = items
            .into_iter()
            .map(|item| {
                let f = Arc::clone(&f);
                registry.submit(move || f(item))
            })
            .collect();
        Map {
            pending,
            refill: None,
            deadline,
            finished: false,
        }
    }

    /// Submits `buffersize` items now and one more per result consumed.
    pub(crate) fn lazy<It, F>(
        registry: &Arc<Registry>,
        f: F,
        mut items: It,
        options: MapOptions,
    ) -> Map<T>
    where
        It: Iterator + Send + 'static,
        It::Item: Send + 'static,
        F: Fn(It::Item) -> T + Send + Sync + 'static,
    {
        let deadline = options.timeout.and_then(deadline_after);
        let window = options.buffer_size().unwrap_or(usize::MAX);
        let f = Arc::new(f);
        let registry = Arc::clone(registry);
        let mut stopped = false;
        let mut refill: Refill<T> = Box::new(move || {
            // Once the executor is shut down, one more item is submitted — its future resolves
            // to `Err(Shutdown)`, as Python's `submit` raises — and the input is left alone.
            if stopped {
                return None;
            }
            let item = items.next()?;
            stopped = registry.is_closed();
            let f = Arc::clone(&f);
            Some(registry.submit(move || f(item)))
        });
        let mut pending = VecDeque::new();
        let mut exhausted = false;
        while pending.len() < window {
            match refill() {
                Some(fut) => pending.push_back(fut),
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        Map {
            pending,
            refill: (!exhausted).then_some(refill),
            deadline,
            finished: false,
        }
    }
}

impl<T> Map<T> {
    fn cancel_pending(&mut self) {
        for fut in self.pending.drain(..) {
            fut.cancel();
        }
        self.refill = None;
    }
}

impl<T> Iterator for Map<T> {
    type Item = Result<T, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let Some(fut) = self.pending.pop_front() else {
            self.finished = true;
            return None;
        };
        if !fut.wait_until(self.deadline, Until::Settled) {
            fut.cancel();
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
    fn drop(&mut self) {
        self.cancel_pending();
    }
}

impl<T> fmt::Debug for Map<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("in_flight", &self.pending.len())
            .field("lazy", &self.refill.is_some())
            .field("deadline", &self.deadline)
            .field("finished", &self.finished)
            .finish()
    }
}
