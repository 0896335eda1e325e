//! What the current thread is doing: which pool, if any, it is a worker of, and which job, if
//! any, it is running.
//!
//! A leaf module: it imports nothing of the crate but the loom shim's thread-locals.
//!
//! * **The pool.** The worker loop (`pool::worker`) enters it when its thread starts and leaves
//!   it when the thread exits; the future module asks it whether a blocking wait may run the
//!   awaited job inline (only a worker of the job's own pool may: see
//!   [`PoolFuture::run_inline_if_worker`](crate::PoolFuture)). So the future module knows nothing
//!   of the pool, and data flows one way: bridge → pool → future.
//! * **The job.** Whoever runs a job (`PoolFuture::run_if_pending`, on a worker or inline in a
//!   wait) claims it through [`run_job`], which gives the job a [`JobCell`] for as long as it
//!   runs: the word [`cancelled`](crate::cancelled) reads, and that
//!   [`PoolFuture::request_cancel`](crate::PoolFuture::request_cancel) sets. The cell's index
//!   goes into the job's state word when the job starts (`future/state.rs`), which is how a
//!   request reaches the thread running the job without any per-job allocation or reference
//!   count. `src/future/README.md` ("Cooperative cancellation") explains why a request never
//!   reaches the wrong job.
//! * **Another worker.** The worker also registers a probe that answers "would another worker of
//!   this pool take a queued job now?", so that an async poll on a worker leaves a job to an idle
//!   worker instead of running it inline (`PoolFuture::run_inline_if_worker`).
//! * **The deadline.** The deadline of the job running on this thread, if it has one
//!   ([`current_deadline`], set by [`enter_deadline`] around a job with a deadline): what
//!   `poolbridge::deadline()` reads and what a submit from the job inherits (`pool/deadline.rs`).
//!   A request made at the deadline carries the reason in the job's cell ([`Stop::Deadline`]).
//! * **The counters.** A worker thread also counts the jobs it runs, in the [`JobCounters`] of
//!   its slot (`ThreadPoolExecutor::metrics` sums them): plain stores to a cache line that only
//!   this thread writes.
//!
//! Two paths, so that the common one costs a handful of instructions: a worker's loop runs its
//! jobs with a [`Runner`] (its own cell and its counters, passed down by reference), touching
//! only the one-word thread-local that `cancelled()` reads; a job run inline inside another (a
//! blocking wait) takes a cell of the next nesting level from this thread's stack of cells, and
//! counts through the counters recorded by [`enter`].

use std::cell::{Cell, RefCell};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

// The cells are model-checked (`tests/loom_future.rs`): under loom their word is loom's.
use crate::loom::sync::atomic::{AtomicU32, Ordering};

/// The largest number of job cells: a cell's index must fit the runner field of a future's
/// state word (`future/state.rs`, 24 bits). Cells are per thread and per nesting level of jobs
/// run inline, so this is never reached; past it a job runs with a cell that no request can
/// reach (its `cancelled()` stays `false`).
pub(crate) const MAX_CELLS: u32 = (1 << 24) - 1;

/// `JobCell` bit: `request_cancel` asked the job that owns the cell to stop.
const REQUESTED: u32 = 0b01;
/// `JobCell` bit: the job saw the request (`cancelled()` returned `true`): it resolves to
/// `Err(Cancelled)` (or `DeadlineExceeded`, with [`BY_DEADLINE`]) whatever it returns.
const SEEN: u32 = 0b10;
/// `JobCell` bit, set with [`REQUESTED`] by the first request: it came from the job's deadline
/// (the deadline timer, `pool/deadline.rs`), not from `request_cancel`.
const BY_DEADLINE: u32 = 0b100;

/// Who asked a running job to stop; for a job that saw the request, how it resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `PoolFuture::request_cancel` (or a dropped awaitable): `Err(Cancelled)`.
    Requested,
    /// Its deadline passed: `Err(DeadlineExceeded { started: true })`.
    Deadline,
}

/// The cancellation word of one running job. Cells live for the whole program (one per thread
/// and nesting level, recycled when a thread exits), so a `&'static JobCell` can sit in a
/// thread-local without `unsafe` and without a reference count per job.
///
/// Aligned to 128 bytes like [`JobCounters`]: the runner writes its cell at every job start, and
/// cells of different workers allocated side by side would share a cache line (false sharing
/// measured at 10-20 ns per job in a burst).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct JobCell(AtomicU32);

impl JobCell {
    /// Asks the job that owns the cell to stop, for the reason `why`. The caller holds that
    /// job's lock, has seen it `RUNNING` under the lock, and makes the first request (see
    /// `Core::request_stop`): a later one does not come here, so the first reason stays.
    pub(crate) fn request(&self, why: Stop) {
        let bits = match why {
            Stop::Requested => REQUESTED,
            Stop::Deadline => REQUESTED | BY_DEADLINE,
        };
        // ORDERING: Relaxed: a flag that carries no data. The runner's next `cancelled()` load
        // sees it as soon as the store propagates (coherence); nothing else is published with it.
        // The reason is in the same word, so a runner that saw the request sees it too.
        self.0.fetch_or(bits, Ordering::Relaxed);
    }

    /// `cancelled()` on the job that owns the cell: `true` once a stop was requested, recording
    /// that the job saw it.
    #[inline]
    fn observe(&self) -> bool {
        // ORDERING: Relaxed: see `request`. This load is the whole cost of `cancelled()`.
        let word = self.0.load(Ordering::Relaxed);
        if word & REQUESTED == 0 {
            return false;
        }
        if word & SEEN == 0 {
            // ORDERING: Relaxed: only this thread reads SEEN (in `JobRun::end`), in program order.
            self.0.fetch_or(SEEN, Ordering::Relaxed);
        }
        true
    }

    /// Clears the cell for the next job, before that job's claim publishes the cell's index.
    #[inline]
    fn reset(&self) {
        // ORDERING: Relaxed; published by the claim's Release CAS on the job's state word, which
        // a requester reads (Acquire) before it touches the cell. A request for an earlier job
        // of this cell happened before that job finished (both under the job's lock), hence
        // before this store: it cannot land after it.
        self.0.store(0, Ordering::Relaxed);
    }

    /// Whether the job saw a request, and whose.
    #[inline]
    fn seen(&self) -> Option<Stop> {
        // ORDERING: Relaxed: SEEN is written by this thread only, in the same word as the reason
        // (set before SEEN, by the request the job saw).
        let word = self.0.load(Ordering::Relaxed);
        if word & SEEN == 0 {
            None
        } else if word & BY_DEADLINE != 0 {
            Some(Stop::Deadline)
        } else {
            Some(Stop::Requested)
        }
    }
}

/// Every cell ever made (index = position + 1; 0 means "no cell") and the free ones.
struct Table {
    cells: Vec<&'static JobCell>,
    free: Vec<u32>,
}

#[cfg(not(loom))]
static TABLE: Mutex<Table> = Mutex::new(Table {
    cells: Vec::new(),
    free: Vec::new(),
});

// Under loom, one table per model execution (its cells hold loom atomics, which belong to it).
#[cfg(loom)]
loom::lazy_static! {
    static ref TABLE: Mutex<Table> = Mutex::new(Table {
        cells: Vec::new(),
        free: Vec::new(),
    });
}

fn table() -> std::sync::MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A free cell and its index (0 if the table is full: a cell no request can reach).
fn acquire_cell() -> (u32, &'static JobCell) {
    let mut table = table();
    if let Some(index) = table.free.pop() {
        return (index, table.cells[index as usize - 1]);
    }
    let cell: &'static JobCell = Box::leak(Box::new(JobCell(AtomicU32::new(0))));
    if table.cells.len() >= MAX_CELLS as usize {
        return (0, cell);
    }
    table.cells.push(cell);
    (table.cells.len() as u32, cell)
}

/// The cell with index `index`, if there is one. `request_cancel` uses it to reach the thread
/// that runs a job: the index is in the job's state word.
pub(crate) fn job_cell(index: u32) -> Option<&'static JobCell> {
    if index == 0 {
        return None;
    }
    table().cells.get(index as usize - 1).copied()
}

/// How many jobs the worker in one slot ran, and how they ended. Only the thread that holds the
/// slot writes them (with plain stores: one writer, no read-modify-write); `metrics()` sums the
/// slots with loads. Aligned to 128 bytes (two cache lines, as crossbeam's `CachePadded` on
/// x86-64, against the adjacent-line prefetcher), so no two workers' counters share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct JobCounters {
    /// Jobs running now on the slot's thread (more than one while a job runs another inline).
    pub(crate) running: AtomicUsize,
    /// Jobs that ran and returned.
    pub(crate) completed: AtomicUsize,
    /// Jobs that panicked.
    pub(crate) panicked: AtomicUsize,
    /// Jobs that ran and stopped after seeing `cancelled()`, plus the queue entries of jobs
    /// cancelled before they started that this worker took from a queue.
    pub(crate) cancelled: AtomicUsize,
    /// Jobs this worker took from another worker's deque.
    pub(crate) stolen: AtomicUsize,
    /// Jobs that ran and stopped after seeing `cancelled()` turn `true` at their deadline.
    pub(crate) deadline_exceeded: AtomicUsize,
}

impl JobCounters {
    /// `counter += 1`, by the only thread that writes it.
    #[inline]
    pub(crate) fn bump(counter: &AtomicUsize) {
        // ORDERING: Relaxed load and store: one writer, so no update is lost; readers only sum
        // the counters for a snapshot. A counter wraps after `usize::MAX` jobs.
        counter.store(
            counter.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    /// `running += delta` (wrapping: `usize::MAX` is −1), by the only thread that writes it.
    #[inline]
    fn add_running(&self, delta: usize) {
        // ORDERING: Relaxed load and store, one writer (see `bump`). Stored before the job's
        // outcome is published (Release), so a thread that saw the future done sees the count
        // without it.
        self.running.store(
            self.running.load(Ordering::Relaxed).wrapping_add(delta),
            Ordering::Relaxed,
        );
    }

    /// A job ended: no longer running; completed, panicked, or stopped on request or at its
    /// deadline.
    #[inline]
    fn count_end(&self, panicked: bool, stopped: Option<Stop>) {
        self.add_running(usize::MAX);
        JobCounters::bump(match (panicked, stopped) {
            (true, _) => &self.panicked,
            (false, None) => &self.completed,
            (false, Some(Stop::Requested)) => &self.cancelled,
            (false, Some(Stop::Deadline)) => &self.deadline_exceeded,
        });
    }
}

/// A cell owned by one thread for the jobs it runs at top level: a worker's loop. Given back to
/// the table when dropped (the worker exits: every job that used it has finished).
#[derive(Debug)]
pub(crate) struct OwnCell {
    index: u32,
    cell: &'static JobCell,
}

impl OwnCell {
    pub(crate) fn new() -> OwnCell {
        let (index, cell) = acquire_cell();
        OwnCell { index, cell }
    }
}

impl Drop for OwnCell {
    fn drop(&mut self) {
        release_cells([self.index]);
    }
}

/// Gives cells back to the table, for other threads. Every job that used them has finished, so
/// no request can reach them any more.
fn release_cells(indices: impl IntoIterator<Item = u32>) {
    let mut table = table();
    table.free.extend(indices.into_iter().filter(|&i| i != 0));
}

/// What a worker's loop runs its jobs with: its own cell, and the counters of its slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Runner<'a> {
    pub(crate) cell: &'a OwnCell,
    pub(crate) counters: &'a JobCounters,
}

/// This thread's cells for jobs run inline inside another job, one per nesting level reached so
/// far, and the counters of the worker slot it holds (to count those jobs).
struct Nested {
    cells: Vec<(u32, &'static JobCell)>,
    /// How many inline jobs this thread is running now, nested.
    depth: usize,
    counters: Option<Arc<JobCounters>>,
}

impl Drop for Nested {
    /// The thread exits: its cells go back to the table.
    fn drop(&mut self) {
        if !self.cells.is_empty() {
            release_cells(self.cells.iter().map(|&(index, _)| index));
        }
    }
}

/// Answers "would another worker of this thread's pool take a queued job now?" for the worker
/// running on this thread. Registered by the worker; it only reads the pool's counters.
pub(crate) type HandOffProbe = Box<dyn Fn() -> bool>;

thread_local! {
    /// The worker's probe, while it is a worker.
    static PROBE: RefCell<Option<HandOffProbe>> = const { RefCell::new(None) };
}

#[cfg(not(loom))]
thread_local! {
    /// The identity of the pool this thread works for; 0 when it is not a worker.
    static POOL: Cell<u32> = const { Cell::new(0) };
    /// The cell of the job this thread runs now (the innermost one), if any: all that
    /// `cancelled()` reads.
    static CURRENT: Cell<Option<&'static JobCell>> = const { Cell::new(None) };
    static NESTED: RefCell<Nested> = const {
        RefCell::new(Nested { cells: Vec::new(), depth: 0, counters: None })
    };
}

// Loom runs a model's threads as coroutines on one OS thread: their thread-locals must be loom's.
#[cfg(loom)]
thread_local! {
    static POOL: Cell<u32> = const { Cell::new(0) };
}

#[cfg(loom)]
loom::thread_local! {
    static CURRENT: Cell<Option<&'static JobCell>> = Cell::new(None);
    static NESTED: RefCell<Nested> = RefCell::new(Nested {
        cells: Vec::new(),
        depth: 0,
        counters: None,
    });
}

/// The identity of the pool this thread is a worker of, or 0.
pub(crate) fn current_pool() -> u32 {
    // During thread-local destruction the slot may be gone: such a thread is no worker any more.
    POOL.try_with(Cell::get).unwrap_or(0)
}

/// `true` if this thread is a worker of pool `pool` (never for `pool == 0`, "no pool").
pub(crate) fn is_worker_of(pool: u32) -> bool {
    pool != 0 && current_pool() == pool
}

/// `true` if this thread is a worker whose pool has another worker idle, or room to start one:
/// a job queued now would be taken without this thread. `false` on a thread that is no worker.
pub(crate) fn another_worker_can_take_jobs() -> bool {
    PROBE
        .try_with(|probe| probe.borrow().as_ref().is_some_and(|probe| probe()))
        .unwrap_or(false)
}

/// Marks this thread as a worker of `pool`, counting the jobs it runs inline in `counters` (its
/// loop's jobs are counted through its [`Runner`]), until the returned guard is dropped. `probe`
/// answers [`another_worker_can_take_jobs`] meanwhile.
pub(crate) fn enter(pool: u32, counters: Arc<JobCounters>, probe: HandOffProbe) -> Entered {
    debug_assert_ne!(pool, 0, "0 means no pool");
    let previous = POOL.with(|p| p.replace(pool));
    debug_assert_eq!(previous, 0, "a thread is a worker of one pool at most");
    NESTED.with(|nested| nested.borrow_mut().counters = Some(counters));
    PROBE.with(|p| *p.borrow_mut() = Some(probe));
    Entered(())
}

/// Leaves the worker context on drop (also when the worker's thread unwinds).
#[must_use]
pub(crate) struct Entered(());

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = POOL.try_with(|p| p.set(0));
        let _ = NESTED.try_with(|nested| nested.borrow_mut().counters = None);
        let _ = PROBE.try_with(|p| p.borrow_mut().take());
    }
}

thread_local! {
    /// The deadline of the job this thread runs now, if it has one (set by whoever runs a job
    /// with a deadline, for [`crate::deadline`] and for the jobs it submits to inherit).
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The deadline of the job running on this thread, if any. See [`crate::deadline`].
#[inline]
pub(crate) fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(Cell::get).unwrap_or(None)
}

/// Makes `deadline` the current job's deadline until the guard is dropped (which restores the
/// outer one: a job run inline inside another).
pub(crate) fn enter_deadline(deadline: Option<Instant>) -> DeadlineScope {
    DeadlineScope(DEADLINE.with(|d| d.replace(deadline)))
}

/// Restores the outer job's deadline on drop.
#[must_use]
pub(crate) struct DeadlineScope(Option<Instant>);

impl Drop for DeadlineScope {
    fn drop(&mut self) {
        let outer = self.0;
        let _ = DEADLINE.try_with(|d| d.set(outer));
    }
}

/// `true` inside a job whose cancellation was requested. See [`crate::cancelled`].
#[inline]
pub(crate) fn current_job_cancelled() -> bool {
    CURRENT.with(Cell::get).is_some_and(JobCell::observe)
}

/// A job claimed by this thread, from its claim to [`end`](Self::end).
#[must_use = "a claimed job must be ended"]
pub(crate) struct JobRun<'a> {
    cell: &'static JobCell,
    /// The cell current before this job: the outer job's, for a job run inline.
    outer: Option<&'static JobCell>,
    /// `Some` for a worker loop's job (counted here), `None` for a nested one (counted through
    /// the counters recorded by `enter`).
    counters: Option<&'a JobCounters>,
}

/// Claims a job for this thread: takes a cell (the `runner`'s own one, for a worker loop's job;
/// else one of the next nesting level), clears it, and calls `claim` with the cell's index (the
/// `PENDING → RUNNING` CAS, which stores the index in the job's state word). If `claim` wins,
/// the cell becomes the current one and the job counts as running; the caller runs the job,
/// then calls [`JobRun::end`].
///
/// `claim` must not run user code (it may run while this thread's nesting record is borrowed).
#[inline]
pub(crate) fn run_job<'a>(
    runner: Option<Runner<'a>>,
    claim: impl FnOnce(u32) -> bool,
) -> Option<JobRun<'a>> {
    let Some(runner) = runner else {
        return run_nested(claim);
    };
    let OwnCell { index, cell } = *runner.cell;
    cell.reset();
    if !claim(index) {
        return None;
    }
    runner.counters.add_running(1);
    let outer = CURRENT.with(|current| current.replace(Some(cell)));
    Some(JobRun {
        cell,
        outer,
        counters: Some(runner.counters),
    })
}

/// [`run_job`] for a job without a runner: one run inline inside another job (a blocking
/// wait), or by a thread that is no worker.
fn run_nested<'a>(claim: impl FnOnce(u32) -> bool) -> Option<JobRun<'a>> {
    let cell = NESTED.with(|nested| {
        let mut nested = nested.borrow_mut();
        let depth = nested.depth;
        if depth == nested.cells.len() {
            nested.cells.push(acquire_cell());
        }
        let (index, cell) = nested.cells[depth];
        cell.reset();
        if !claim(index) {
            return None;
        }
        nested.depth = depth + 1;
        if let Some(counters) = &nested.counters {
            counters.add_running(1);
        }
        Some(cell)
    })?;
    let outer = CURRENT.with(|current| current.replace(Some(cell)));
    Some(JobRun {
        cell,
        outer,
        counters: None,
    })
}

impl JobRun<'_> {
    /// The job's closure returned (`panicked`: by a panic). Restores the outer job's cell (if
    /// this one ran inline inside another job), counts the job, and returns who stopped it if
    /// it stopped early: it saw `cancelled()` and returned normally. Its outcome is then
    /// `Err(Cancelled)` ([`Stop::Requested`]) or `Err(DeadlineExceeded { started: true })`
    /// ([`Stop::Deadline`]).
    #[inline]
    pub(crate) fn end(self, panicked: bool) -> Option<Stop> {
        CURRENT.with(|current| current.set(self.outer));
        let stopped = if panicked { None } else { self.cell.seen() };
        match self.counters {
            Some(counters) => counters.count_end(panicked, stopped),
            None => NESTED.with(|nested| {
                let mut nested = nested.borrow_mut();
                nested.depth -= 1;
                if let Some(counters) = &nested.counters {
                    counters.count_end(panicked, stopped);
                }
            }),
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reaches_only_the_job_that_owns_the_cell() {
        assert!(!current_job_cancelled(), "no job runs here");
        let mut outer_index = 0;
        let outer = run_job(None, |index| {
            outer_index = index;
            true
        })
        .unwrap();
        assert!(!current_job_cancelled());
        job_cell(outer_index).unwrap().request(Stop::Requested);
        assert!(current_job_cancelled());

        // A job run inline, one level deeper, has a cell of its own.
        let mut inner_index = 0;
        let inner = run_job(None, |index| {
            inner_index = index;
            true
        })
        .unwrap();
        assert_ne!(inner_index, outer_index);
        assert!(
            !current_job_cancelled(),
            "the outer job's request is not the inner job's"
        );
        assert_eq!(inner.end(false), None);

        // Back in the outer job: its request is still there, and it saw it.
        assert!(current_job_cancelled());
        assert_eq!(
            outer.end(false),
            Some(Stop::Requested),
            "the outer job saw the request: it stopped"
        );
        assert!(!current_job_cancelled(), "no job runs here any more");

        // The next job at the same level reuses the cell, cleared.
        let next = run_job(None, |index| {
            assert_eq!(index, outer_index);
            true
        })
        .unwrap();
        assert!(!current_job_cancelled());
        assert_eq!(next.end(false), None);
        // A lost claim leaves nothing behind.
        assert!(run_job(None, |_| false).is_none());
        assert!(!current_job_cancelled());
    }
}
