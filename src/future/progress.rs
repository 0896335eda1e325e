//! Progress from a job: [`progress()`] inside it, [`PoolFuture::progress`] and
//! [`PoolFuture::progress_updates`] (a [`ProgressUpdates`] stream) outside.
//!
//! * **The cell.** A job's progress lives in a [`ProgressCell`], allocated the first time
//!   someone needs it (the job reports, or a caller asks for its updates) and shared by `Arc`:
//!   a job that never reports costs no byte more. The value is a pair of words behind a
//!   sequence counter (a seqlock made of atomics): one writer at a time (the job's thread, or the
//!   process pool's reader of the worker that runs it), any number of readers, no lock and no
//!   allocation per report. The counter doubles as the version a stream compares.
//! * **Finding the cell.** While a job has not ended its cell is in a global table keyed by the
//!   identity of its future ([`PoolFuture::addr`](crate::PoolFuture)); whoever ends the future
//!   moves it into the future's waiters (`Core::adopt_progress`, under the future's lock), where
//!   [`PoolFuture::progress`] finds it afterwards, and marks it ended. The address cannot be
//!   reused while the job runs or a handle exists, and the table entry leaves at the end, so a key
//!   never names another job. Jobs end without touching the table while it is empty (one load).
//! * **The job's side.** `run_if_pending` makes the job's identity the thread's current one
//!   ([`enter`]); the first report looks the cell up (one lock of the table) and keeps it in a
//!   thread-local cache; every later report of the same job is a few stores. A process worker
//!   installs a [`hook`](set_child_hook) instead: its job's reports go to the worker, which sends
//!   them to the parent (coalesced), where the reader of that worker reports them on the
//!   future through [`report`] (as a remote host will for its clients).
//! * **Waking.** A stream registers its waker and raises `waiting`; a report wakes it only if
//!   `waiting` is up (and lowers it): at most one wake-up per poll, however often the job
//!   reports. The end wakes it too.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

/// The progress of one job, shared by the job's reporter and its readers.
#[derive(Debug, Default)]
pub(crate) struct ProgressCell {
    /// Twice the number of reports (odd while one is being written); 0: never reported.
    seq: AtomicU64,
    done: AtomicU64,
    total: AtomicU64,
    /// The job ended: no report comes any more.
    ended: AtomicBool,
    /// A stream waits for a change: the next report wakes the streams.
    waiting: AtomicBool,
    /// The thread pool whose worker runs the job (its id; 0: not known, e.g. a process job,
    /// whose pool lists its running jobs itself): set by the job's first report, read by
    /// [`running_in`].
    pool: AtomicU32,
    /// The wakers of the streams that wait, by stream number.
    wakers: Mutex<Vec<(u64, Waker)>>,
}

impl ProgressCell {
    /// Records a report. Called by one writer at a time (the job's thread, or the reader of the
    /// process worker that runs the job).
    pub(crate) fn set(&self, done: u64, total: u64) {
        // ORDERING: the classic seqlock with atomics: the odd count, a Release fence, the data,
        // then the even count with Release. A reader that sees the same even count before and
        // after reading the data (with an Acquire fence between) read one whole report.
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.done.store(done, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.seq.store((seq | 1) + 1, Ordering::Release);
        // ORDERING: SeqCst fence against the stream's (see `ProgressUpdates::poll_next`): either
        // this load sees `waiting`, or the stream's re-check sees the new count.
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) {
            self.wake();
        }
    }

    /// The latest report and its version (0, none: never reported).
    pub(crate) fn get(&self) -> (u64, Option<(u64, u64)>) {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let done = self.done.load(Ordering::Relaxed);
            let total = self.total.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return (before, (before != 0).then_some((done, total)));
            }
        }
    }

    /// `true` once the job ended.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// The job ended: no report will come. Wakes a waiting stream.
    pub(crate) fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        if self.waiting.swap(false, Ordering::AcqRel) {
            let wakers = std::mem::take(&mut *self.wakers());
            for (_, waker) in wakers {
                waker.wake();
            }
        }
    }

    fn wakers(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Waker)>> {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The cells of the jobs that have not ended, by future identity; and how many there are.
static TABLE: OnceLock<Mutex<HashMap<usize, Arc<ProgressCell>>>> = OnceLock::new();
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn table() -> std::sync::MutexGuard<'static, HashMap<usize, Arc<ProgressCell>>> {
    TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The cell of the job with identity `key`, made if it has none. The caller knows the job has
/// not ended (it runs it, or holds its future's lock and saw it not done).
pub(crate) fn cell_of(key: usize) -> Arc<ProgressCell> {
    let mut table = table();
    let cell = table.entry(key).or_insert_with(|| {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Arc::default()
    });
    Arc::clone(cell)
}

/// The cell of the job with identity `key`, if it has one and has not ended.
pub(crate) fn find(key: usize) -> Option<Arc<ProgressCell>> {
    // ORDERING: Relaxed: an entry is inserted before (in program order, or under the future's
    // lock that the caller holds now) any caller that could see it here.
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    table().get(&key).cloned()
}

/// Takes the cell of the job with identity `key` out of the table: the job is ending (the
/// caller holds its future's lock). Cheap when no job has a cell.
pub(crate) fn take(key: usize) -> Option<Arc<ProgressCell>> {
    // ORDERING: Relaxed: an insert for this key happened before, under the same future lock
    // (a reader), or on the job's own thread before it returned (the job's report).
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let cell = table().remove(&key)?;
    LIVE.fetch_sub(1, Ordering::Relaxed);
    Some(cell)
}

/// The latest progress of each job that runs on a worker of thread pool `pool` and has
/// reported, in no particular order (`PoolMetrics::progress`). Takes the table's lock once;
/// nothing when no job has a cell.
pub(crate) fn running_in(pool: u32) -> Vec<(u64, u64)> {
    // ORDERING: Relaxed (here and for each cell's `pool`): a snapshot; see `find`. A cell's
    // `pool` is stored by the job's first report just after the cell is made: a snapshot taken
    // in between misses that job once (it reads 0), nothing worse.
    if LIVE.load(Ordering::Relaxed) == 0 {
        return Vec::new();
    }
    table()
        .values()
        .filter(|cell| cell.pool.load(Ordering::Relaxed) == pool && !cell.is_ended())
        .filter_map(|cell| cell.get().1)
        .collect()
}

thread_local! {
    /// The identity of the job this thread runs now (0: none).
    static CURRENT: Cell<usize> = const { Cell::new(0) };
    /// The cell of a job of this thread that reported, and its identity.
    static CACHE: RefCell<Option<(usize, Arc<ProgressCell>)>> = const { RefCell::new(None) };
}

/// Where a process worker's job's reports go (`process/worker.rs`), on the thread that runs it.
static CHILD_HOOK: OnceLock<fn(u64, u64)> = OnceLock::new();

/// Makes `hook` take the reports made on a thread that runs no pool job (a process worker's
/// main thread, while it runs a call). Set once per process.
#[cfg(feature = "process")]
pub(crate) fn set_child_hook(hook: fn(u64, u64)) {
    let _ = CHILD_HOOK.set(hook);
}

/// Makes the job with identity `key` this thread's current one until the guard drops (which
/// restores the outer one: a job run inline inside another).
#[inline]
pub(crate) fn enter(key: usize) -> Entered {
    Entered(CURRENT.with(|current| current.replace(key)))
}

/// Restores the outer job's identity on drop.
#[must_use]
pub(crate) struct Entered(usize);

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        let outer = self.0;
        let _ = CURRENT.try_with(|current| current.set(outer));
    }
}

/// Inside a job: records that it has done `done` units of work out of `total`, for whoever
/// watches its future ([`PoolFuture::progress`](crate::PoolFuture::progress),
/// [`PoolFuture::progress_updates`](crate::PoolFuture::progress_updates)). Outside a job it
/// does nothing.
///
/// Works in the jobs of a [`ThreadPoolExecutor`](crate::ThreadPoolExecutor) and of a
/// `ProcessPoolExecutor` (feature `process`: the worker sends the latest value to the pool
/// at most every 10 ms, and always the last one before the job's answer).
///
/// Cheap enough for a tight loop: after a job's first report (one lookup), a report is a few
/// atomic stores and one fence, with no allocation and no wake-up unless a stream waits for
/// the change. Readers see the latest value: reports made between two looks are coalesced,
/// never reordered.
///
/// # Examples
///
/// ```
/// use poolbridge::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(1);
/// let fut = pool.submit(|| {
///     for i in 1..=1_000u64 {
///         poolbridge::progress(i, 1_000);
///     }
/// });
/// fut.wait();
/// assert_eq!(fut.progress(), Some((1_000, 1_000)));
/// poolbridge::progress(1, 2); // not inside a job: nothing happens
/// ```
#[inline]
pub fn progress(done: u64, total: u64) {
    let key = CURRENT.try_with(Cell::get).unwrap_or(0);
    if key == 0 {
        if let Some(hook) = CHILD_HOOK.get() {
            hook(done, total);
        }
        return;
    }
    let _ = CACHE.try_with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return;
        };
        // The cache is this job's if it names this identity and that job has not ended (an
        // ended job's identity may be a later job's).
        match &*cache {
            Some((cached, cell)) if *cached == key && !cell.ended.load(Ordering::Relaxed) => {
                cell.set(done, total);
            }
            _ => {
                let cell = cell_of(key);
                // ORDERING: Relaxed: read by a metrics snapshot, which takes the table's lock
                // after this store's cell was inserted under it.
                cell.pool
                    .store(crate::context::current_pool(), Ordering::Relaxed);
                cell.set(done, total);
                *cache = Some((key, cell));
            }
        }
    });
}

/// The stream of a job's progress: [`PoolFuture::progress_updates`](crate::PoolFuture::progress_updates).
///
/// Yields the latest `(done, total)` whenever it changed since the last item (values reported
/// between two polls are skipped, never reordered), and ends when the job ends, after yielding
/// its last value if that changed. A job that never reports gives an empty stream.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
/// use poolbridge::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(1);
/// let fut = pool.submit(|| poolbridge::progress(3, 3));
/// let mut updates = fut.progress_updates();
/// let mut seen = Vec::new();
/// while let Some(update) = poll_fn(|cx| Pin::new(&mut updates).poll_next(cx)).await {
///     seen.push(update);
/// }
/// assert_eq!(seen, [(3, 3)]);
/// # });
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct ProgressUpdates {
    /// `None`: the job ended without a report (an empty stream), or the stream ended.
    cell: Option<Arc<ProgressCell>>,
    /// This stream's number, for its place among the cell's wakers.
    id: u64,
    /// The version of the last item yielded.
    last: u64,
    /// The last item yielded.
    last_value: Option<(u64, u64)>,
}

impl ProgressUpdates {
    pub(crate) fn new(cell: Option<Arc<ProgressCell>>) -> ProgressUpdates {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ProgressUpdates {
            cell,
            // ORDERING: Relaxed: only unique numbers are needed.
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            last: 0,
            last_value: None,
        }
    }

    /// The next item if one is due: `Some(Some(v))` a new value, `Some(None)` the end.
    fn next_due(&mut self, cell: &ProgressCell) -> Option<Option<(u64, u64)>> {
        let ended = cell.ended.load(Ordering::SeqCst);
        let (seq, value) = cell.get();
        if seq != self.last {
            self.last = seq;
            if value != self.last_value {
                self.last_value = value;
                return Some(value);
            }
        }
        ended.then_some(None)
    }
}

impl futures_core::Stream for ProgressUpdates {
    type Item = (u64, u64);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<(u64, u64)>> {
        let this = self.get_mut();
        let Some(cell) = this.cell.clone() else {
            return Poll::Ready(None);
        };
        if let Some(item) = this.next_due(&cell) {
            if item.is_none() {
                this.cell = None;
            }
            return Poll::Ready(item);
        }
        {
            let mut wakers = cell.wakers();
            match wakers.iter_mut().find(|(id, _)| *id == this.id) {
                Some((_, waker)) if waker.will_wake(cx.waker()) => {}
                Some((_, waker)) => *waker = cx.waker().clone(),
                None => wakers.push((this.id, cx.waker().clone())),
            }
        }
        cell.waiting.store(true, Ordering::SeqCst);
        // ORDERING: pairs with the fence in `set` and `end`: a report or end that missed
        // `waiting` is seen by this re-check.
        fence(Ordering::SeqCst);
        if let Some(item) = this.next_due(&cell) {
            if item.is_none() {
                this.cell = None;
            }
            return Poll::Ready(item);
        }
        Poll::Pending
    }
}

impl Drop for ProgressUpdates {
    fn drop(&mut self) {
        if let Some(cell) = &self.cell {
            cell.wakers().retain(|(id, _)| *id != self.id);
        }
    }
}

impl futures_core::stream::FusedStream for ProgressUpdates {
    fn is_terminated(&self) -> bool {
        self.cell.is_none()
    }
}
