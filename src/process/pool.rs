//! The parent side of a process pool: the queue, the worker slots, the pool threads and their
//! duties. `README.md` beside this file tells the life of a job and of a worker.
//!
//! One lock (`Shared::state`) guards the queue and every worker's phase; no user code and no
//! blocking I/O runs under it (the exceptions, `kill(2)` and a condvar notify, do not block).
//! The counters of [`PoolMetrics`] are plain integers under that lock too: every event they count
//! already takes it, and a process job costs microseconds, not nanoseconds.
//!
//! With `max_queued`, a queued job holds a [`Place`] (a reservation of the thread pool's
//! `backpressure::Permits`), given back when it leaves the queue: sent to a worker (sent ahead
//! too), cancelled, or refused. Giving it back may wake a waiting submitter (a waker: the
//! runtime's code), so it happens after the lock is released, never under it.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{FutureError, PanicError};
use crate::future::RunHooks;
use crate::pool::PoolMetrics;
use crate::pool::backpressure::{self, Permit, Permits, Reservation};
use crate::pool::sleep::Search;
use crate::process::child::{self, ExitWatch, Spawner};
use crate::process::config::Config;
use crate::process::spin::{self, SpinRead};
use crate::process::start;
use crate::process::wire::{self, FrameReader};
use crate::unwind;

/// Jobs a worker is sent beyond the one it runs, so it never waits for the parent between two
/// queued jobs (CPython's `EXTRA_QUEUED_CALLS`, per worker). A job sent ahead is marked running
/// (it can no longer be cancelled, as in CPython) but its time limit starts only when the worker
/// reaches it, and if the worker dies first it is queued again, not charged: a death is charged
/// to the job the worker was running, the oldest unanswered one.
///
/// Measured (`cargo bench --bench process -- --quick`, 2 busy shared cores, trivial jobs on 2
/// workers): without sending ahead, 58k jobs/s; with one job, 100–190k jobs/s; with
/// [`SEND_AHEAD_SHORT`] for a stream of short jobs, 200–270k jobs/s (the load of the machine
/// moved the numbers as much as the setting).
const SEND_AHEAD: usize = 1;

/// Jobs sent ahead to a worker whose answers come less than [`SHORT_JOB`] apart: a stream of
/// short jobs. The worker then answers several per wake-up of its reader and reads several calls
/// per wake-up of its own. A job waits behind at most this many short ones (under 1 ms), while a
/// worker busy with long jobs keeps [`SEND_AHEAD`], so a job never waits long behind another
/// while a worker could take it.
const SEND_AHEAD_SHORT: usize = 4;

/// Answers closer together than this mark a worker as running short jobs.
const SHORT_JOB: Duration = Duration::from_micros(200);

/// How long a pool thread without a duty waits for one before it exits. Pool threads beyond one
/// per worker exist only while a done callback runs on one of them (see `Handoff`).
const SPARE_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The typed end of a job: its promise and how to decode its output.
pub(crate) trait Completion: Send {
    /// `PENDING → RUNNING`, unless the future was cancelled (then `false`: drop the job).
    fn start(&self) -> bool;
    /// Decodes the worker's answer (user `Deserialize` code; no callbacks yet).
    fn decode(&mut self, outcome: Result<&[u8], FutureError>);
    /// Publishes the decoded outcome: wakes waiters, runs the done callbacks on this thread
    /// after `hooks.before_user_code()`.
    fn publish(self: Box<Self>, hooks: &mut dyn RunHooks);
    /// `true` if the future was cancelled (read under the lock: runs no user code): a full
    /// bounded queue drops such entries (`purge_cancelled`), and a broken pool counts them in
    /// [`PoolMetrics::cancelled`]. The default, `false`, only keeps such entries until a
    /// worker's turn drops them.
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// A job's place in the queue of a pool with `max_queued` (empty without the bound, or once
/// given back). The job's future holds the same reservation and gives it back if it is
/// cancelled while queued; a reservation is given back once.
///
/// Given back when dropped, which may wake a waiting submitter: drop it outside the state lock
/// (`take` it out of a job that leaves the queue under the lock).
#[derive(Default)]
pub(crate) struct Place(Option<Arc<Reservation>>);

impl Place {
    pub(crate) fn new(reservation: Option<Arc<Reservation>>) -> Place {
        Place(reservation)
    }

    fn take(&mut self) -> Place {
        Place(self.0.take())
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(reservation) = self.0.take() {
            reservation.release();
        }
    }
}

/// A submitted job.
pub(crate) struct Job {
    pub(crate) name: &'static str,
    pub(crate) timeout: Option<Duration>,
    pub(crate) done: Box<dyn Completion>,
    /// Requeued once already after its worker died before receiving it.
    retried: bool,
    /// Its place in a bounded queue, until it leaves the queue.
    place: Place,
}

impl Job {
    pub(crate) fn new(
        name: &'static str,
        timeout: Option<Duration>,
        done: Box<dyn Completion>,
    ) -> Job {
        Job {
            name,
            timeout,
            done,
            retried: false,
            place: Place::default(),
        }
    }

    /// The job holds `place` while it is queued (a pool with `max_queued`).
    pub(crate) fn holding(mut self, place: Place) -> Job {
        self.place = place;
        self
    }

    /// Ends the job with `err` (it never ran, or its worker died). Callbacks run here, after
    /// the job's place, if it still holds one, was given back (a callback may block).
    fn fail(mut self, err: FutureError, hooks: &mut dyn RunHooks) {
        drop(self.place.take());
        self.done.decode(Err(err));
        self.done.publish(hooks);
    }
}

/// An encoded `CALL` frame. Shared: the dispatcher writes it outside the lock while the worker's
/// slot keeps it, in case the worker dies before receiving it and the job is queued again.
type Frame = Arc<Vec<u8>>;

/// A job waiting for a worker, with its encoded `CALL` frame.
struct Queued {
    frame: Frame,
    job: Job,
}

/// A job a worker is running.
struct InFlight {
    job: Job,
    frame: Frame,
    /// Distinguishes this dispatch from the worker's earlier ones (timer, delivery).
    seq: u64,
}

/// The connection to one worker process.
pub(crate) struct Conn {
    stream: UnixStream,
    pid: u32,
    /// Tells the worker's exit apart from the socket (a process its job started may hold it).
    exit: ExitWatch,
    /// Held while a frame is written; holds the `seq` of the last call fully written, so the
    /// reaper of a dead worker can tell whether its job was delivered.
    written: Mutex<u64>,
    /// Used only by the thread holding this worker's read duty: the frames, and how long to
    /// spin for the next one before blocking (`spin.rs`).
    reader: Mutex<(FrameReader, Search)>,
}

impl Conn {
    /// Writes a `CALL` frame. A failure means the worker is dead or dying; its reader sees the
    /// end of the stream (or the exit) and handles the job. A write blocked on the full socket
    /// (the worker runs a job and reads its next call after it) ends when the worker exits,
    /// even if a process its job started holds the socket and never reads.
    fn send(&self, seq: u64, frame: &[u8]) -> io::Result<()> {
        let mut written = lock(&self.written);
        spin::write_watching(&self.stream, &self.exit, frame)?;
        *written = seq;
        Ok(())
    }

    /// `true` if call `seq` was fully written (calls to one worker are written in order).
    fn delivered(&self, seq: u64) -> bool {
        *lock(&self.written) >= seq
    }

    /// Tells the worker to exit once idle: it reads end-of-file and exits.
    fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a job; its reader is blocked on its socket.
    Idle,
    /// Running `jobs[0]`, with `jobs[1..]` sent ahead.
    Busy,
    /// Told to exit (max_tasks_per_child, shutdown); its reader waits for the end of file.
    Retiring,
    /// Its connection ended: being reaped.
    Dead,
}

struct Slot {
    conn: Arc<Conn>,
    child: Option<Child>,
    phase: Phase,
    /// Sent and not answered, oldest (running) first.
    jobs: VecDeque<InFlight>,
    /// Jobs sent to this worker (for `max_tasks_per_child`).
    sent: usize,
    /// When its last answer came, and whether it came less than `SHORT_JOB` after the one before.
    last_answer: Option<Instant>,
    short_jobs: bool,
    /// Set by the timer when it killed the worker because job `.0` ran past its limit `.1`.
    timed_out: Option<(u64, Duration)>,
}

/// A pool thread's one duty at a time.
#[derive(Clone)]
enum Duty {
    /// Start a worker (its slot is already counted in `live`).
    Start,
    /// Read the next frame of worker `id`: the reply to its job, or the end of its stream.
    Read(usize, Arc<Conn>),
}

impl Duty {
    fn same(&self, other: &Duty) -> bool {
        match (self, other) {
            (Duty::Start, Duty::Start) => true,
            (Duty::Read(a, x), Duty::Read(b, y)) => a == b && Arc::ptr_eq(x, y),
            _ => false,
        }
    }
}

enum Closed {
    Open,
    ShutDown,
    Broken(String),
}

struct State {
    queue: VecDeque<Queued>,
    /// Worker slots by id; `None` is free.
    workers: Vec<Option<Slot>>,
    /// Idle workers, most recently used last (its pages are warm).
    idle: Vec<usize>,
    /// Workers counted against `max_workers`: starting, running, or dead and not yet reaped.
    live: usize,
    /// Of `live`, workers still starting.
    starting: usize,
    /// Pool threads alive (duty holders, spares, the timer).
    threads: usize,
    /// Of `threads`, those waiting for a duty.
    spares: usize,
    /// Duties handed off by a thread about to run user code, for a spare to take.
    duties: VecDeque<Duty>,
    closed: Closed,
    /// Dropped while panicking: running jobs are killed and fail with this reason.
    terminating: Option<String>,
    /// Job deadlines: `(deadline, worker id, seq)`.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    timer_thread: bool,
    next_seq: u64,
    /// `shutdown_timeout` gave up waiting: dropping the executor does not wait either.
    detached: bool,
    /// What `PoolMetrics` counts (see `Shared::metrics`).
    counts: Counts,
}

/// The counters of [`PoolMetrics`], under the state lock.
#[derive(Default)]
struct Counts {
    /// Worker processes that completed the handshake.
    spawned: u64,
    /// Of those, the ones reaped (exited for any reason).
    retired: u64,
    /// Jobs whose worker answered with a value.
    completed: u64,
    /// Jobs whose worker answered with a panic.
    panicked: u64,
    /// Jobs cancelled before they were sent to a worker.
    cancelled: u64,
    /// Jobs whose worker died while it ran them (`FutureError::WorkerDied`).
    worker_died: u64,
    /// Jobs killed at their time limit (`FutureError::JobTimeout`).
    timed_out: u64,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    state: Mutex<State>,
    /// Spare threads wait here for a duty.
    spare_cv: Condvar,
    /// `shutdown(wait = true)` waits here for `live` and `threads` to reach 0.
    ended_cv: Condvar,
    /// The timer thread waits here for the next deadline.
    timer_cv: Condvar,
    spawner: Spawner,
    /// The places of a pool with `max_queued`, and the submitters waiting for one.
    permits: Option<Arc<Permits>>,
}

thread_local! {
    /// The pool (`Shared` address) whose thread this is; 0 for other threads.
    static POOL_THREAD: Cell<usize> = const { Cell::new(0) };
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(config: Config) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                workers: Vec::new(),
                idle: Vec::new(),
                live: 0,
                starting: 0,
                threads: 0,
                spares: 0,
                duties: VecDeque::new(),
                closed: Closed::Open,
                terminating: None,
                timers: BinaryHeap::new(),
                timer_thread: false,
                next_seq: 0,
                detached: false,
                counts: Counts::default(),
            }),
            spare_cv: Condvar::new(),
            ended_cv: Condvar::new(),
            timer_cv: Condvar::new(),
            spawner: Spawner::new(),
            permits: config.max_queued.map(|n| Arc::new(Permits::new(n))),
            config,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The error a job submitted now gets, if the pool is closed.
    pub(crate) fn closed_error(&self) -> Option<FutureError> {
        closed_error(&self.state().closed)
    }

    /// A place in the queue for a job about to be submitted, waiting for one (blocking the
    /// calling thread) while `max_queued` jobs wait. `Ok(None)`: the pool has no bound. `Err`:
    /// the pool is closed, or closed while this thread waited.
    pub(crate) fn reserve_blocking(&self) -> Result<Option<Arc<Reservation>>, FutureError> {
        let Some(permits) = self.bound()? else {
            return Ok(None);
        };
        match permits.acquire_blocking() {
            Ok(()) => Ok(Some(Arc::new(Reservation::new(permits)))),
            Err(backpressure::Closed) => Err(self.closed_or_shutdown()),
        }
    }

    /// [`reserve_blocking`](Self::reserve_blocking) without the wait.
    pub(crate) fn try_reserve(&self) -> Result<Option<Arc<Reservation>>, NoRoom> {
        let Some(permits) = self.bound().map_err(NoRoom::Closed)? else {
            return Ok(None);
        };
        if permits.try_acquire() {
            Ok(Some(Arc::new(Reservation::new(permits))))
        } else {
            Err(NoRoom::Full)
        }
    }

    /// [`reserve_blocking`](Self::reserve_blocking) that awaits the place without blocking the
    /// thread: first come, first served; dropped while it waits, it leaves no reservation
    /// behind (see `backpressure::Acquire`).
    pub(crate) async fn reserve(&self) -> Result<Option<Arc<Reservation>>, FutureError> {
        let Some(permits) = self.bound()? else {
            return Ok(None);
        };
        match permits.acquire().await {
            Ok(()) => Ok(Some(Arc::new(Reservation::new(permits)))),
            Err(backpressure::Closed) => Err(self.closed_or_shutdown()),
        }
    }

    /// The permits of a bounded pool (`None` without the bound), or the error of a closed one.
    fn bound(&self) -> Result<Option<&Arc<Permits>>, FutureError> {
        match self.closed_error() {
            Some(err) => Err(err),
            None => Ok(self.permits.as_ref()),
        }
    }

    fn closed_or_shutdown(&self) -> FutureError {
        self.closed_error().unwrap_or(FutureError::Shutdown)
    }

    /// The pool closed (shut down, broken): submitters waiting for a place wake up and refuse
    /// their jobs. Called without the state lock (it wakes them).
    fn refuse_waiting_submits(&self) {
        if let Some(permits) = &self.permits {
            permits.close();
        }
    }

    /// Queues `job` (its `CALL` frame encoded), or hands it straight to an idle worker. The job
    /// holds its place (if the pool is bounded) until it leaves the queue.
    pub(crate) fn submit(self: &Arc<Self>, frame: Vec<u8>, mut job: Job) {
        let frame = Arc::new(frame);
        // Declared before the guard, so dropped after the lock is released.
        let _purged;
        let mut st = self.state();
        if let Some(err) = closed_error(&st.closed) {
            drop(st);
            job.fail(err, &mut ());
            return;
        }
        if let Some(id) = st.idle.pop() {
            // It never waits in the queue: its place is free again once the lock is released.
            let place = job.place.take();
            if !job.done.start() {
                st.idle.push(id);
                st.counts.cancelled += 1;
                drop(st);
                drop(place);
                return;
            }
            let (conn, seq) = self.dispatch(&mut st, id, job, Arc::clone(&frame));
            drop(st);
            drop(place);
            self.send(&conn, id, seq, &frame);
            return;
        }
        _purged = self.purge_cancelled(&mut st);
        st.queue.push_back(Queued { frame, job });
        if st.queue.len() > st.starting && st.live < self.config.max_workers {
            st.live += 1;
            st.starting += 1;
            if let Err(reason) = self.post_duty(&mut st, Duty::Start) {
                st.live -= 1;
                st.starting -= 1;
                if st.live == 0 {
                    // No worker will ever take the queue: fail it.
                    let failed = self.break_locked(&mut st, reason.clone());
                    drop(st);
                    self.refuse_waiting_submits();
                    for queued in failed {
                        queued
                            .job
                            .fail(FutureError::BrokenPool(reason.clone()), &mut ());
                    }
                }
            }
        }
    }

    /// In a bounded pool whose queue is full, drops the entries of the jobs cancelled while
    /// queued (their places were given back by the cancel), for the caller to drop outside the
    /// lock. Otherwise a producer that cancels and resubmits while every worker is busy would
    /// pile up dead entries, each with its encoded arguments, past `max_queued`: the growth the
    /// bound exists to stop. A scan of at most about `max_queued` entries, only when full.
    fn purge_cancelled(&self, st: &mut State) -> Vec<Queued> {
        let full = self
            .config
            .max_queued
            .is_some_and(|max| st.queue.len() >= max);
        if !full {
            return Vec::new();
        }
        let mut cancelled = Vec::new();
        for queued in std::mem::take(&mut st.queue) {
            if queued.job.done.is_cancelled() {
                cancelled.push(queued);
            } else {
                st.queue.push_back(queued);
            }
        }
        st.counts.cancelled += cancelled.len() as u64;
        cancelled
    }

    /// Gives `job` (started) to worker `id`, to run now or after the jobs it was already sent.
    /// Returns what to write, outside the lock.
    fn dispatch(
        self: &Arc<Self>,
        st: &mut State,
        id: usize,
        job: Job,
        frame: Frame,
    ) -> (Arc<Conn>, u64) {
        st.next_seq += 1;
        let seq = st.next_seq;
        let slot = st.workers[id].as_mut().expect("a live worker");
        let runs_now = slot.jobs.is_empty();
        let timeout = job.timeout;
        slot.phase = Phase::Busy;
        slot.sent += 1;
        slot.jobs.push_back(InFlight { job, frame, seq });
        let conn = Arc::clone(&slot.conn);
        if runs_now {
            self.arm_timer(st, id, seq, timeout);
        }
        (conn, seq)
    }

    /// Starts the clock of job `seq`, which worker `id` starts running now.
    fn arm_timer(self: &Arc<Self>, st: &mut State, id: usize, seq: u64, timeout: Option<Duration>) {
        let Some(limit) = timeout else { return };
        // A limit too large for `Instant` (`Duration::MAX`: centuries) is no limit.
        let Some(deadline) = Instant::now().checked_add(limit) else {
            return;
        };
        let earliest = st.timers.peek().is_none_or(|Reverse(t)| deadline < t.0);
        st.timers.push(Reverse((deadline, id, seq)));
        if !st.timer_thread {
            self.start_timer(st);
        } else if earliest {
            self.timer_cv.notify_one();
        }
    }

    /// Writes a dispatched call. On failure the worker is dead or broken: make sure its reader
    /// sees the end of its stream (a live worker that cannot be written to is killed).
    fn send(&self, conn: &Conn, id: usize, seq: u64, frame: &[u8]) {
        if conn.send(seq, frame).is_err() {
            let st = self.state();
            if let Some(slot) = st.workers[id].as_ref() {
                if std::ptr::eq(Arc::as_ptr(&slot.conn), conn) && slot.phase != Phase::Dead {
                    // Not reaped yet (reaping happens after `Dead`): pid and group are its own.
                    child::kill_worker(conn.pid);
                }
            }
        }
    }

    /// The next queued job that was not cancelled meanwhile, marked running. The places of the
    /// jobs taken from the queue go to `freed`, to be given back once the lock is released.
    fn pop_job(st: &mut State, freed: &mut Vec<Place>) -> Option<Queued> {
        while let Some(mut queued) = st.queue.pop_front() {
            let place = queued.job.place.take();
            if place.0.is_some() {
                freed.push(place);
            }
            if queued.job.done.start() {
                return Some(queued);
            }
            // Cancelled while queued: its future is already done (and its place was given back
            // then); dropping it runs no user code.
            st.counts.cancelled += 1;
        }
        None
    }

    /// Gives `duty` to a spare thread, or to a new one. Fails only if no thread can be started.
    fn post_duty(self: &Arc<Self>, st: &mut State, duty: Duty) -> Result<(), String> {
        if st.spares > st.duties.len() {
            st.duties.push_back(duty);
            self.spare_cv.notify_one();
            return Ok(());
        }
        st.threads += 1;
        let shared = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("poolbridge-process".into())
            .spawn(move || shared.thread_main());
        match spawned {
            Ok(_) => {
                st.duties.push_back(duty);
                Ok(())
            }
            Err(err) => {
                st.threads -= 1;
                Err(format!("could not start a pool thread: {err}"))
            }
        }
    }

    /// A pool thread: performs duties until none is left for it.
    fn thread_main(self: Arc<Self>) {
        POOL_THREAD.with(|p| p.set(Arc::as_ptr(&self) as usize));
        let mut duty = None;
        loop {
            let current = match duty.take() {
                Some(d) => d,
                None => match self.wait_for_duty() {
                    Some(d) => d,
                    None => break,
                },
            };
            duty = match current {
                Duty::Start => self.start_worker(),
                Duty::Read(id, conn) => self.read_one(id, &conn),
            };
        }
        let mut st = self.state();
        st.threads -= 1;
        self.ended_cv.notify_all();
    }

    /// Waits for a handed-off duty. `None`: exit (the pool ended, or idle too long).
    fn wait_for_duty(&self) -> Option<Duty> {
        let mut st = self.state();
        let mut waited = false;
        loop {
            if let Some(duty) = st.duties.pop_front() {
                return Some(duty);
            }
            if waited || (st.live == 0 && !matches!(st.closed, Closed::Open)) {
                return None;
            }
            st.spares += 1;
            let (guard, timeout) = self
                .spare_cv
                .wait_timeout(st, SPARE_KEEP_ALIVE)
                .unwrap_or_else(PoisonError::into_inner);
            st = guard;
            st.spares -= 1;
            waited = timeout.timed_out();
        }
    }

    /// Takes `duty` back if no spare took it while this thread ran user code.
    fn reclaim(&self, duty: &Duty) -> Option<Duty> {
        let mut st = self.state();
        let at = st.duties.iter().position(|d| d.same(duty))?;
        st.duties.remove(at)
    }

    /// Starts a worker process for a counted slot; then the slot takes a queued job or idles.
    fn start_worker(self: &Arc<Self>) -> Option<Duty> {
        {
            // Broken meanwhile, or shut down with nothing left to run: no worker is needed.
            let mut st = self.state();
            let needless = match st.closed {
                Closed::Open => false,
                Closed::ShutDown => st.queue.is_empty(),
                Closed::Broken(_) => true,
            };
            if needless {
                st.starting -= 1;
                st.live -= 1;
                self.notify_ended(&st);
                return None;
            }
        }
        let started = start::start(&self.config, &self.spawner);
        let mut st = self.state();
        st.starting -= 1;
        let started = match started {
            Ok(started) => started,
            Err(reason) => {
                st.live -= 1;
                let failed = self.break_locked(&mut st, reason);
                let err = closed_error(&st.closed).expect("broken");
                self.notify_ended(&st);
                drop(st);
                self.refuse_waiting_submits();
                for queued in failed {
                    queued.job.fail(err.clone(), &mut ());
                }
                return None;
            }
        };
        st.counts.spawned += 1;
        let conn = Arc::new(Conn {
            pid: started.child.id(),
            stream: started.stream,
            exit: started.exit,
            written: Mutex::new(0),
            reader: Mutex::new((started.reader, Search::new())),
        });
        let slot = Slot {
            conn: Arc::clone(&conn),
            child: Some(started.child),
            phase: Phase::Idle,
            jobs: VecDeque::with_capacity(1 + SEND_AHEAD),
            sent: 0,
            last_answer: None,
            short_jobs: false,
            timed_out: None,
        };
        let id = match st.workers.iter().position(Option::is_none) {
            Some(free) => {
                st.workers[free] = Some(slot);
                free
            }
            None => {
                st.workers.push(Some(slot));
                st.workers.len() - 1
            }
        };
        let next = self.next_for(&mut st, id);
        drop(st);
        self.follow(id, &conn, next);
        Some(Duty::Read(id, conn))
    }

    /// Tops worker `id` up after it started or answered: queued jobs to send (the running one
    /// and `SEND_AHEAD` more), or idle, or retire. Decided under the lock, done outside it.
    fn next_for(self: &Arc<Self>, st: &mut State, id: usize) -> Next {
        let mut next = Next::default();
        let (budget, doomed) = {
            let slot = st.workers[id].as_ref().expect("a live worker");
            let budget = self
                .config
                .max_tasks_per_child
                .map_or(usize::MAX, |max| max.saturating_sub(slot.sent));
            // A worker the timer killed just after it replied is as good as dead.
            (budget, slot.timed_out.is_some() || st.terminating.is_some())
        };
        if !doomed {
            let slot = st.workers[id].as_ref().expect("live");
            let ahead = if slot.short_jobs {
                SEND_AHEAD_SHORT
            } else {
                SEND_AHEAD
            };
            let room = (1 + ahead).saturating_sub(slot.jobs.len());
            for _ in 0..room.min(budget) {
                // Send ahead only what the workers being started will not take first: a job
                // waits behind another only when no worker is coming for it.
                let holds = st.workers[id].as_ref().expect("live").jobs.len();
                if holds > 0 && st.queue.len() <= st.starting {
                    break;
                }
                let Some(queued) = Self::pop_job(st, &mut next.freed) else {
                    break;
                };
                let (_, seq) = self.dispatch(st, id, queued.job, Arc::clone(&queued.frame));
                next.sends.push((seq, queued.frame));
            }
        }
        let slot = st.workers[id].as_mut().expect("a live worker");
        if !slot.jobs.is_empty() {
            return next;
        }
        let exhausted = self
            .config
            .max_tasks_per_child
            .is_some_and(|max| slot.sent >= max);
        if doomed || exhausted || !matches!(st.closed, Closed::Open) {
            slot.phase = Phase::Retiring;
            next.retire = true;
        } else {
            slot.phase = Phase::Idle;
            st.idle.push(id);
        }
        next
    }

    fn follow(&self, id: usize, conn: &Conn, next: Next) {
        for (seq, frame) in &next.sends {
            self.send(conn, id, *seq, frame);
        }
        if next.retire {
            conn.close();
        }
        // Room in the queue for waiting submitters (woken here, outside the lock).
        drop(next.freed);
    }

    /// Reads one frame of worker `id` and acts on it. Returns this thread's next duty.
    fn read_one(self: &Arc<Self>, id: usize, conn: &Arc<Conn>) -> Option<Duty> {
        let mut guard = lock(&conn.reader);
        let (reader, search) = &mut *guard;
        let mut src = SpinRead {
            stream: &conn.stream,
            search,
            exit: Some(&conn.exit),
        };
        let (kind, status) = match reader.read(&mut src) {
            Ok(frame) => (frame.kind, frame.body.first().copied()),
            Err(err) => {
                drop(guard);
                return self.reap(id, conn, Death::Eof(err));
            }
        };
        if kind != wire::DONE || status.is_none() {
            drop(guard);
            return self.reap(id, conn, Death::Protocol(kind));
        }
        // The reply: take the job, give the worker more, then publish.
        let mut st = self.state();
        let Some(slot) = st.workers[id].as_mut() else {
            unreachable!("poolbridge bug: a reply from a reaped worker");
        };
        let Some(InFlight { mut job, .. }) = slot.jobs.pop_front() else {
            drop(st);
            drop(guard);
            return self.reap(id, conn, Death::Protocol(kind));
        };
        let now = Instant::now();
        slot.short_jobs = slot
            .last_answer
            .is_some_and(|last| now.duration_since(last) < SHORT_JOB);
        slot.last_answer = Some(now);
        // The job sent ahead, if any, runs from now on: start its clock.
        if let Some((seq, timeout)) = slot.jobs.front().map(|f| (f.seq, f.job.timeout)) {
            if slot.timed_out.is_none() {
                self.arm_timer(&mut st, id, seq, timeout);
            }
        }
        match status {
            Some(wire::OK) => st.counts.completed += 1,
            Some(wire::PANICKED) => st.counts.panicked += 1,
            _ => {}
        }
        let next = self.next_for(&mut st, id);
        drop(st);
        let body = &reader.last_body()[1..];
        let outcome = match status {
            Some(wire::OK) => Ok(body),
            Some(wire::PANICKED) => Err(FutureError::Panicked(PanicError::new(
                String::from_utf8_lossy(body).into_owned(),
            ))),
            _ => Err(FutureError::Ipc(String::from_utf8_lossy(body).into_owned())),
        };
        // Send first: the worker runs while this thread publishes.
        self.follow(id, conn, next);
        job.done.decode(outcome);
        drop(guard);
        let duty = Duty::Read(id, Arc::clone(conn));
        self.publish(job, Some(duty))
    }

    /// Publishes a finished job. If it has callbacks, `duty` is handed to another thread first
    /// (a callback may block for any time, even on a later job of this worker). Returns this
    /// thread's next duty.
    fn publish(self: &Arc<Self>, job: Job, duty: Option<Duty>) -> Option<Duty> {
        let mut hooks = Handoff {
            shared: self,
            duty,
            handed: false,
        };
        if let Err(err) = unwind::catch(|| job.done.publish(&mut hooks)) {
            unwind::report(
                "user code run after a process job (a waker, or a drop)",
                &err,
            );
        }
        match hooks.duty {
            Some(duty) if hooks.handed => self.reclaim(&duty),
            other => other,
        }
    }

    /// Worker `id`'s stream ended (or broke): kill what is left of its group, reap it, charge its
    /// job, and start a replacement if jobs wait.
    fn reap(self: &Arc<Self>, id: usize, conn: &Arc<Conn>, death: Death) -> Option<Duty> {
        let mut st = self.state();
        let slot = st.workers[id].as_mut().expect("a live worker");
        let was = slot.phase;
        slot.phase = Phase::Dead;
        let mut child = slot.child.take().expect("reaped once");
        if was == Phase::Idle {
            st.idle.retain(|&w| w != id);
        }
        drop(st);

        // Not reaped yet, so the pid and group id are still this worker's: kill the rest of the
        // group (what its jobs started), then reap. A worker that is still alive (it closed its
        // socket, or sent nonsense, maybe after leaving its group) is killed too; one that
        // already exited keeps its own status.
        child::kill_worker(conn.pid);
        // The worker may be dead while a process it started (one that left its group) still
        // holds the socket: shut this end, so that a write still in progress (it holds
        // `written`, which `delivered` below waits for) or a later one fails at once.
        let _ = conn.stream.shutdown(Shutdown::Both);
        let status = child.wait();

        let mut st = self.state();
        let slot = st.workers[id].take().expect("a live worker");
        st.live -= 1;
        st.counts.retired += 1;
        let mut failed = None;
        let mut resend = Vec::new();
        let mut jobs = slot.jobs;
        if let Some(InFlight {
            mut job,
            frame,
            seq,
        }) = jobs.pop_front()
        {
            // Killed for the job before this one, which answered just in time: not this one's
            // fault.
            let killed_for_another = slot.timed_out.is_some_and(|(late, _)| late != seq);
            // `delivered` waits for a write in progress (to a dead peer: it fails at once).
            let undelivered = !conn.delivered(seq) && !job.retried;
            if (killed_for_another || undelivered) && st.terminating.is_none() {
                // The worker died before it got or started the call: the job is not to blame.
                // Run it elsewhere, ahead of the queue.
                job.retried |= undelivered;
                jobs.push_front(InFlight { job, frame, seq });
            } else {
                let err = if let Some(reason) = &st.terminating {
                    FutureError::BrokenPool(reason.clone())
                } else if let Some((_, limit)) = slot.timed_out {
                    FutureError::JobTimeout(limit)
                } else {
                    match (&death, &status) {
                        (Death::Protocol(kind), _) => FutureError::Ipc(format!(
                            "worker process {} sent an unexpected frame (kind {kind}) while \
                             running `{}`; it was killed",
                            conn.pid, job.name
                        )),
                        (Death::Eof(_), Ok(status)) => FutureError::WorkerDied(
                            child::exit_of(conn.pid, *status).with_job(job.name),
                        ),
                        (Death::Eof(err), Err(wait_err)) => FutureError::BrokenPool(format!(
                            "lost worker process {} while it ran `{}` ({err}; its status could \
                             not be read: {wait_err})",
                            conn.pid, job.name
                        )),
                    }
                };
                match err {
                    FutureError::WorkerDied(_) => st.counts.worker_died += 1,
                    FutureError::JobTimeout(_) => st.counts.timed_out += 1,
                    _ => {}
                }
                failed = Some((job, err));
            }
        }
        // The jobs sent ahead never started: run them elsewhere, first, in order.
        let terminating_reason = st.terminating.clone();
        let mut cancelled = Vec::new();
        while let Some(InFlight { job, frame, .. }) = jobs.pop_back() {
            if st.terminating.is_some() {
                cancelled.push(job);
                continue;
            }
            match st.idle.pop() {
                Some(other) => {
                    let (conn, seq) = self.dispatch(&mut st, other, job, Arc::clone(&frame));
                    resend.push((other, conn, seq, frame));
                }
                None => st.queue.push_front(Queued { frame, job }),
            }
        }
        // Also after `shutdown`: queued jobs still run (the worker may have retired after
        // `max_tasks_per_child` jobs, or died), only a broken pool gives up on them.
        let replace = !matches!(st.closed, Closed::Broken(_))
            && st.terminating.is_none()
            && st.queue.len() > st.starting
            && st.live < self.config.max_workers;
        if replace {
            st.live += 1;
            st.starting += 1;
        }
        self.notify_ended(&st);
        drop(st);
        for (other, conn, seq, frame) in resend {
            self.send(&conn, other, seq, &frame);
        }
        for job in cancelled {
            let reason = terminating_reason.clone().unwrap_or_default();
            job.fail(FutureError::BrokenPool(reason), &mut ());
        }
        let next = replace.then_some(Duty::Start);
        match failed {
            Some((job, err)) => {
                let mut hooks = Handoff {
                    shared: self,
                    duty: next,
                    handed: false,
                };
                if let Err(panic) = unwind::catch(|| job.fail(err, &mut hooks)) {
                    unwind::report(
                        "user code run after a process job (a waker, or a drop)",
                        &panic,
                    );
                }
                match hooks.duty {
                    Some(duty) if hooks.handed => self.reclaim(&duty),
                    other => other,
                }
            }
            None => next,
        }
    }

    /// Marks the pool broken (keeping the first reason) and takes the queued jobs, for the
    /// caller to fail outside the lock. Idle workers are told to exit.
    fn break_locked(&self, st: &mut State, reason: String) -> Vec<Queued> {
        if !matches!(st.closed, Closed::Broken(_)) {
            st.closed = Closed::Broken(reason);
        }
        self.retire_idle(st);
        let failed: Vec<Queued> = st.queue.drain(..).collect();
        let cancelled = failed.iter().filter(|q| q.job.done.is_cancelled()).count();
        st.counts.cancelled += cancelled as u64;
        failed
    }

    fn retire_idle(&self, st: &mut State) {
        for id in std::mem::take(&mut st.idle) {
            let slot = st.workers[id].as_mut().expect("an idle worker is live");
            slot.phase = Phase::Retiring;
            slot.conn.close();
        }
    }

    fn notify_ended(&self, st: &State) {
        if st.live == 0 {
            self.ended_cv.notify_all();
            if !matches!(st.closed, Closed::Open) {
                self.spare_cv.notify_all();
                self.timer_cv.notify_all();
            }
        }
    }

    fn start_timer(self: &Arc<Self>, st: &mut State) {
        st.threads += 1;
        st.timer_thread = true;
        let shared = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("poolbridge-timer".into())
            .stack_size(256 * 1024)
            .spawn(move || shared.timer_main());
        if spawned.is_err() {
            // Without a timer, timeouts are not enforced; the jobs still end normally.
            st.threads -= 1;
            st.timer_thread = false;
        }
    }

    /// Kills the workers whose job ran past its deadline.
    fn timer_main(self: Arc<Self>) {
        POOL_THREAD.with(|p| p.set(Arc::as_ptr(&self) as usize));
        let mut st = self.state();
        loop {
            if st.live == 0 && !matches!(st.closed, Closed::Open) {
                break;
            }
            let now = Instant::now();
            while let Some(&Reverse((deadline, id, seq))) = st.timers.peek() {
                if deadline > now {
                    break;
                }
                st.timers.pop();
                let Some(slot) = st.workers.get_mut(id).and_then(Option::as_mut) else {
                    continue;
                };
                let Some(in_flight) = slot.jobs.front() else {
                    continue;
                };
                if slot.phase == Phase::Busy && in_flight.seq == seq {
                    slot.timed_out = in_flight.job.timeout.map(|limit| (seq, limit));
                    // Under the lock and before `Dead`: the worker is not reaped, its pid and
                    // group id are still its own. The pid too: the job may have moved the worker
                    // out of its group.
                    child::kill_worker(slot.conn.pid);
                }
            }
            st = match st.timers.peek() {
                Some(&Reverse((deadline, _, _))) => {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    self.timer_cv
                        .wait_timeout(st, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .timer_cv
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
        st.timer_thread = false;
        st.threads -= 1;
        self.ended_cv.notify_all();
    }

    /// Python's `shutdown(wait, cancel_futures)`.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let mut st = self.state();
        if matches!(st.closed, Closed::Open) {
            st.closed = Closed::ShutDown;
        }
        let cancelled: Vec<Queued> = if cancel_futures {
            st.queue.drain(..).collect()
        } else {
            Vec::new()
        };
        st.counts.cancelled += cancelled.len() as u64;
        if st.queue.is_empty() {
            self.retire_idle(&mut st);
        }
        self.notify_ended(&st);
        drop(st);
        self.refuse_waiting_submits();
        for queued in cancelled {
            queued.job.fail(FutureError::Cancelled, &mut ());
        }
        if wait {
            self.wait_ended(true);
        }
    }

    /// Dropped while panicking: cancel the queue, kill every worker (their running jobs fail
    /// with `BrokenPool`), and wait for them to be reaped, never for a job.
    pub(crate) fn terminate(&self, reason: &str) {
        let mut st = self.state();
        if matches!(st.closed, Closed::Open) {
            st.closed = Closed::ShutDown;
        }
        st.terminating = Some(reason.to_owned());
        let cancelled: Vec<Queued> = st.queue.drain(..).collect();
        st.counts.cancelled += cancelled.len() as u64;
        self.retire_idle(&mut st);
        for slot in st.workers.iter().flatten() {
            if slot.phase != Phase::Dead {
                child::kill_worker(slot.conn.pid);
            }
        }
        self.notify_ended(&st);
        drop(st);
        self.refuse_waiting_submits();
        for queued in cancelled {
            queued.job.fail(FutureError::Cancelled, &mut ());
        }
        // Workers only: a pool thread may be inside a done callback that blocks.
        self.wait_ended(false);
    }

    /// `shutdown_timeout(timeout)` (tokio's): shuts down without cancelling the queue, then
    /// waits at most `timeout` for every job to end, every worker to be reaped and every pool
    /// thread to exit. Returns `true` if all ended; otherwise the rest goes on detached (see
    /// `ProcessPoolExecutor::shutdown_timeout`) and dropping the executor no longer waits.
    pub(crate) fn shutdown_timeout(&self, timeout: Duration) -> bool {
        let deadline = crate::future::deadline_after(timeout);
        self.shutdown(false, false);
        let ended = self.wait_ended_until(true, Some(deadline));
        if !ended {
            self.state().detached = true;
        }
        ended
    }

    /// `true` once `shutdown_timeout` gave up waiting.
    pub(crate) fn is_detached(&self) -> bool {
        self.state().detached
    }

    /// Waits until every worker is reaped and, with `threads`, every pool thread has exited
    /// (except the calling thread, if it is one of them: a done callback may shut the pool down).
    fn wait_ended(&self, threads: bool) {
        self.wait_ended_until(threads, None);
    }

    /// [`wait_ended`](Self::wait_ended), giving up at `deadline`. Returns `true` if everything
    /// ended.
    fn wait_ended_until(&self, threads: bool, deadline: Option<Instant>) -> bool {
        let mine = POOL_THREAD.with(Cell::get) == self as *const Shared as usize;
        let allowed = if threads {
            usize::from(mine)
        } else {
            usize::MAX
        };
        let mut st = self.state();
        while st.live > 0 || st.threads > allowed {
            st = match deadline {
                None => self
                    .ended_cv
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.ended_cv
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        true
    }

    /// A snapshot for `ProcessPoolExecutor::metrics`, read under the state lock (so the gauges
    /// agree with each other, unlike the thread pool's).
    pub(crate) fn metrics(&self) -> PoolMetrics {
        let waiting_submits = self.permits.as_ref().map_or(0, |p| p.waiting());
        let st = self.state();
        let mut m = PoolMetrics {
            idle: st.idle.len(),
            queued: st.queue.len(),
            completed: st.counts.completed,
            panicked: st.counts.panicked,
            cancelled: st.counts.cancelled,
            worker_died: st.counts.worker_died,
            timed_out: st.counts.timed_out,
            spawned: st.counts.spawned,
            retired: st.counts.retired,
            waiting_submits,
            ..PoolMetrics::default()
        };
        for slot in st.workers.iter().flatten() {
            if slot.phase != Phase::Dead {
                m.threads += 1;
            }
            m.running += slot.jobs.len();
        }
        m
    }

    /// Counts for `Debug` and the accessors: `(live workers, idle workers, queued jobs)`.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        let st = self.state();
        (st.live, st.idle.len(), st.queue.len())
    }

    /// The pids of the worker processes alive now.
    pub(crate) fn pids(&self) -> Vec<u32> {
        let st = self.state();
        st.workers
            .iter()
            .flatten()
            .filter(|s| s.phase != Phase::Dead)
            .map(|s| s.conn.pid)
            .collect()
    }

    pub(crate) fn is_closed(&self) -> bool {
        !matches!(self.state().closed, Closed::Open)
    }
}

/// Why a worker's stream ended.
enum Death {
    Eof(io::Error),
    Protocol(u8),
}

/// What a worker does after its job (see `next_for`): calls to send, then maybe retire, and
/// the places of the jobs taken from the queue to give back.
#[derive(Default)]
struct Next {
    sends: Vec<(u64, Frame)>,
    retire: bool,
    freed: Vec<Place>,
}

/// Why [`Shared::try_reserve`] found no place.
pub(crate) enum NoRoom {
    /// `max_queued` jobs wait.
    Full,
    /// The pool is shut down or broken.
    Closed(FutureError),
}

fn closed_error(closed: &Closed) -> Option<FutureError> {
    match closed {
        Closed::Open => None,
        Closed::ShutDown => Some(FutureError::Shutdown),
        Closed::Broken(reason) => Some(FutureError::BrokenPool(reason.clone())),
    }
}

/// Hands the thread's duty to another thread right before user code (done callbacks) runs.
struct Handoff<'a> {
    shared: &'a Arc<Shared>,
    duty: Option<Duty>,
    handed: bool,
}

impl RunHooks for Handoff<'_> {
    fn before_user_code(&mut self) {
        if let Some(duty) = &self.duty {
            let mut st = self.shared.state();
            // If no thread can be started, keep the duty: the callbacks run first (the only
            // risk is a callback that waits on this very worker).
            self.handed = self.shared.post_duty(&mut st, duty.clone()).is_ok();
        }
    }
}
