//! The parent side of a process pool: [`PoolCore`], what the executor and every pool thread
//! share. It ties the concerns of the files beside it together under one lock: the queue and
//! its places (`queue.rs`), the worker slots and their life (`slots.rs`), the job time limits
//! (`timers.rs`); here are the pool threads and their duties (start a worker, read a worker's
//! answers), the timer thread, shutdown and the metrics. `README.md` beside this file tells the
//! life of a job and of a worker; the diagram at the top of `mod.rs` who sends what to whom.
//!
//! One lock (`PoolCore::state`) guards the queue and every worker's phase; no user code and no
//! blocking I/O runs under it (the exceptions, `kill(2)` and a condvar notify, do not block).
//! The counters of [`PoolMetrics`] are plain integers under that lock too: every event they count
//! already takes it, and a process job costs microseconds, not nanoseconds.
//!
//! With `max_queued`, a queued call holds a `Place` (a reservation of the thread pool's
//! `backpressure::Permits`), given back when it leaves the queue: sent to a worker (sent ahead
//! too), cancelled, or refused. Giving it back may wake a waiting submitter (a waker: the
//! runtime's code), so it happens after the lock is released, never under it.

use std::net::Shutdown;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{BrokenReason, FutureError, PanicError};
use crate::future::{RunHooks, StopListener};
use crate::pool::PoolMetrics;
use crate::pool::backpressure::Reservation;
use crate::pool::latency::Latencies;
use crate::process::child::{self, Spawner};
use crate::process::config::Config;
use crate::process::queue::{Call, CallFrame, CallQueue, NoRoom, Places, QueuedCall, Stop};
use crate::process::slots::{Death, Duty, SentCall, TopUp, WorkerConn, WorkerPhase, WorkerSlot};
use crate::process::spin::SpinRead;
use crate::process::start;
use crate::process::timers::{Due, TIMER_STACK, Timers};
use crate::process::wire;
use crate::seam::crew::{Crew, Employer};
use crate::seam::lifecycle::Lifecycle;
use crate::unwind;
use crate::unwind::lock;

/// How long a pool thread without a duty waits for one before it exits. Pool threads beyond one
/// per worker exist only while a done callback runs on one of them (see `Handoff`).
const SPARE_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Everything the state lock guards.
struct PoolState {
    queue: CallQueue,
    /// Worker slots by id; `None` is free.
    workers: Vec<Option<WorkerSlot>>,
    /// Idle workers, most recently used last (its pages are warm).
    idle: Vec<usize>,
    /// Workers counted against `max_workers`: starting, running, or dead and not yet reaped.
    live: usize,
    /// Of `live`, workers still starting.
    starting: usize,
    closed: Lifecycle,
    /// Numbers the calls sent to workers (`SentCall::seq`).
    next_seq: u64,
    /// Dropped while panicking: running jobs are killed and fail with this reason.
    terminating: Option<BrokenReason>,
    /// Job deadlines, and whether the timer thread runs.
    timers: Timers,
    /// `shutdown_timeout` gave up waiting: dropping the executor does not wait either.
    detached: bool,
    /// What `PoolMetrics` counts (see `PoolCore::metrics`).
    counts: EventCounts,
    /// Queue wait and run time of every job (`PoolMetrics::queue_wait`, `run_time`).
    latency: Latencies,
}

/// The counters of [`PoolMetrics`], under the state lock.
#[derive(Default)]
struct EventCounts {
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
    /// Jobs that returned after a stop request reached them (`cancelled()` turned `true`).
    stopped: u64,
    /// Jobs killed with their worker because they did not stop within the grace period.
    killed: u64,
    /// Jobs that resolved to `FutureError::DeadlineExceeded`, started or not.
    deadline_exceeded: u64,
}

/// A process pool's shared core: owned by its `ProcessPoolExecutor` and by each of its pool
/// threads and the timer thread.
pub(crate) struct PoolCore {
    pub(crate) config: Config,
    state: Mutex<PoolState>,
    /// The pool threads: one per worker (starting it, then reading its answers), and spares
    /// that take a worker's reading over while a done callback runs on its thread.
    crew: Crew<Duty>,
    /// `shutdown(wait = true)` waits here for `live` to reach 0 and the timer thread to end
    /// (then for the crew).
    ended_cv: Condvar,
    /// The timer thread waits here for the next deadline.
    timer_cv: Condvar,
    spawner: Spawner,
    /// The places of a pool with `max_queued`, and the submitters waiting for one.
    places: Places,
    /// What every job's promise tells of a `request_cancel` while it runs (`PoolCore::stop`).
    stop_hook: Arc<StopHook>,
}

/// Passes `request_cancel` on a running job's future to its pool (`PoolCore::stop`). Weak: a
/// future kept after its pool is gone must not keep the pool's threads alive.
struct StopHook(Weak<PoolCore>);

impl StopListener for StopHook {
    fn stop_requested(&self, job: usize) {
        if let Some(pool) = self.0.upgrade() {
            pool.stop(job);
        }
    }
}

impl PoolCore {
    pub(crate) fn new(config: Config) -> Arc<PoolCore> {
        Arc::new_cyclic(|me| PoolCore {
            state: Mutex::new(PoolState {
                queue: CallQueue::default(),
                workers: Vec::new(),
                idle: Vec::new(),
                live: 0,
                starting: 0,
                closed: Lifecycle::Open,
                terminating: None,
                timers: Timers::default(),
                next_seq: 0,
                detached: false,
                counts: EventCounts::default(),
                latency: Latencies::new(),
            }),
            crew: Crew::new("poolbridge-process", SPARE_KEEP_ALIVE, 0),
            ended_cv: Condvar::new(),
            timer_cv: Condvar::new(),
            spawner: Spawner::new(),
            places: Places::new(config.max_queued),
            stop_hook: Arc::new(StopHook(Weak::clone(me))),
            config,
        })
    }

    /// What a job's promise tells of a stop request (`Promise::with_hooks`): one reference
    /// count per job, no allocation.
    pub(crate) fn stop_listener(&self) -> Arc<dyn StopListener> {
        Arc::clone(&self.stop_hook) as Arc<dyn StopListener>
    }

    fn state(&self) -> MutexGuard<'_, PoolState> {
        lock(&self.state)
    }

    /// The error a job submitted now gets, if the pool is closed.
    pub(crate) fn closed_error(&self) -> Option<FutureError> {
        self.state().closed.error()
    }

    /// A place in the queue for a call about to be submitted (`Places::reserve_blocking`).
    pub(crate) fn reserve_blocking(&self) -> Result<Option<Arc<Reservation>>, FutureError> {
        self.places.reserve_blocking(|| self.closed_error())
    }

    /// A place in the queue, without waiting for one (`Places::try_reserve`).
    pub(crate) fn try_reserve(&self) -> Result<Option<Arc<Reservation>>, NoRoom> {
        self.places.try_reserve(|| self.closed_error())
    }

    /// A place in the queue, awaited without blocking the thread (`Places::reserve`).
    pub(crate) async fn reserve(&self) -> Result<Option<Arc<Reservation>>, FutureError> {
        self.places.reserve(|| self.closed_error()).await
    }

    /// Queues `job` (its `CALL` frame encoded), or hands it straight to an idle worker. The job
    /// holds its place (if the pool is bounded) until it leaves the queue.
    pub(crate) fn submit(self: &Arc<Self>, frame: Vec<u8>, mut job: Call) {
        let frame = Arc::new(frame);
        // Declared before the guard, so dropped after the lock is released.
        let purged;
        let mut st = self.state();
        if let Some(err) = st.closed.error() {
            drop(st);
            job.fail(err, &mut ());
            return;
        }
        if let Some(id) = st.idle.pop() {
            // It never waits in the queue: its place is free again once the lock is released.
            let place = job.take_place();
            if !job.done.start() {
                st.idle.push(id);
                st.counts.cancelled += 1;
                drop(st);
                drop(place);
                return;
            }
            let (conn, seq, frame) = self.dispatch(&mut st, id, job, frame);
            drop(st);
            drop(place);
            self.send(&conn, id, seq, &frame);
            return;
        }
        purged = st.queue.purge_cancelled(self.config.max_queued);
        st.counts.cancelled += purged.len() as u64;
        st.queue.push_back(QueuedCall { frame, call: job });
        if st.queue.len() > st.starting && st.live < self.config.max_workers {
            st.live += 1;
            st.starting += 1;
            if let Err(reason) = self.crew.post(self, Duty::Start) {
                let reason = BrokenReason::ThreadStart(reason);
                st.live -= 1;
                st.starting -= 1;
                if st.live == 0 {
                    // No worker will ever take the queue: fail it.
                    let failed = self.break_locked(&mut st, reason.clone());
                    drop(st);
                    self.places.refuse_waiting();
                    for queued in failed {
                        queued
                            .call
                            .fail(FutureError::BrokenPool(reason.clone()), &mut ());
                    }
                }
            }
        }
    }

    /// Gives `job` (started) to worker `id`, to run now or after the jobs it was already sent.
    /// Returns what to write, outside the lock: a call with a deadline carries the time it has
    /// left from now (written into its frame here), and the timer looks at it at the deadline.
    fn dispatch(
        self: &Arc<Self>,
        st: &mut PoolState,
        id: usize,
        mut job: Call,
        mut frame: CallFrame,
    ) -> (Arc<WorkerConn>, u64, CallFrame) {
        st.next_seq += 1;
        let seq = st.next_seq;
        if let Some(deadline) = job.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            // A copy only if another thread still writes this frame (a call queued again).
            wire::set_time_left(Arc::make_mut(&mut frame).as_mut_slice(), left);
            if left.is_zero() {
                // The worker skips it (no time left): it never runs.
                job.stop.get_or_insert(Stop::Deadline);
            } else if job.stop.is_none() {
                self.arm_at(st, deadline, id, seq, Due::Deadline);
            }
        }
        let runs_now = st.workers[id]
            .as_ref()
            .expect("a live worker")
            .jobs
            .is_empty();
        if runs_now {
            // It runs from now on (a job sent ahead starts when the one before it answers).
            let now = Instant::now();
            job.started = Some(now);
            let wait = now.saturating_duration_since(job.submitted);
            st.latency.queue_wait.record(now, wait);
        }
        let slot = st.workers[id].as_mut().expect("a live worker");
        let timeout = job.timeout;
        slot.phase = WorkerPhase::Busy;
        slot.sent += 1;
        let nth = slot.sent as u64;
        slot.jobs.push_back(SentCall {
            call: job,
            frame: Arc::clone(&frame),
            seq,
            nth,
        });
        let conn = Arc::clone(&slot.conn);
        if runs_now {
            self.arm_timer(st, id, seq, timeout);
        }
        (conn, seq, frame)
    }

    /// Starts the clock of job `seq`, which worker `id` starts running now.
    fn arm_timer(
        self: &Arc<Self>,
        st: &mut PoolState,
        id: usize,
        seq: u64,
        timeout: Option<Duration>,
    ) {
        let Some(earliest) = st.timers.arm(id, seq, timeout) else {
            return;
        };
        self.wake_timer(st, earliest);
    }

    /// Has the timer look at call `seq` of worker `id` at `when`, to do `what`.
    fn arm_at(self: &Arc<Self>, st: &mut PoolState, when: Instant, id: usize, seq: u64, what: Due) {
        let earliest = st.timers.arm_at(when, id, seq, what);
        self.wake_timer(st, earliest);
    }

    /// Starts the timer thread, or wakes it if a new entry is the earliest.
    fn wake_timer(self: &Arc<Self>, st: &mut PoolState, earliest: bool) {
        if !st.timers.thread {
            self.start_timer(st);
        } else if earliest {
            self.timer_cv.notify_one();
        }
    }

    /// The grace period of a call asked to stop: after it, the worker is killed if it still
    /// runs the call. `None` if too large for `Instant` (no kill).
    fn grace_end(&self) -> Option<Instant> {
        Instant::now().checked_add(self.config.cancel_grace)
    }

    /// `request_cancel` on the running future with identity `key` (on the requesting thread):
    /// if its call is the one a worker runs, the worker is told to stop it (its `cancelled()`
    /// turns `true`) and killed if it still runs it after the grace period; if the call was
    /// sent ahead, its future resolves to `Cancelled` now (the done callbacks run on this
    /// thread, as for a cancel before the start) and the worker is told to skip it.
    fn stop(self: &Arc<Self>, key: usize) {
        let mut st = self.state();
        let found = st.workers.iter().enumerate().find_map(|(id, slot)| {
            let slot = slot.as_ref()?;
            let pos = slot.jobs.iter().position(|sent| sent.call.key == key)?;
            Some((id, pos))
        });
        let Some((id, pos)) = found else {
            // Not with a worker (any more): it answered meanwhile, or its worker died and it
            // waits in the queue again (then it was started: it runs, as a queued job would).
            return;
        };
        let slot = st.workers[id].as_mut().expect("found live");
        if slot.phase == WorkerPhase::Dead {
            return;
        }
        let conn = Arc::clone(&slot.conn);
        let sent = &mut slot.jobs[pos];
        if sent.call.stop.is_some() || sent.call.answered {
            return;
        }
        sent.call.stop = Some(Stop::Cancel);
        let (nth, seq) = (sent.nth, sent.seq);
        let taken = (pos > 0).then(|| sent.call.take_back());
        if taken.is_some() {
            st.counts.cancelled += 1;
        } else if let Some(end) = self.grace_end() {
            self.arm_at(&mut st, end, id, seq, Due::Grace);
        }
        drop(st);
        conn.cancel(nth);
        if let Some(mut done) = taken {
            done.decode(Err(FutureError::Cancelled));
            if let Err(panic) = unwind::catch(move || done.publish(&mut ())) {
                unwind::report("a done callback of a cancelled process job", &panic);
            }
        }
    }

    /// Writes a dispatched call. On failure the worker is dead or broken: make sure its reader
    /// sees the end of its stream (a live worker that cannot be written to is killed).
    fn send(&self, conn: &WorkerConn, id: usize, seq: u64, frame: &[u8]) {
        if conn.send(seq, frame).is_err() {
            let st = self.state();
            if let Some(slot) = st.workers[id].as_ref() {
                if std::ptr::eq(Arc::as_ptr(&slot.conn), conn) && slot.phase != WorkerPhase::Dead {
                    // Not reaped yet (reaping happens after `Dead`): pid and group are its own.
                    child::kill_worker(conn.pid);
                }
            }
        }
    }

    /// Starts a worker process for a counted slot; then the slot takes a queued job or idles.
    fn start_worker(self: &Arc<Self>) -> Option<Duty> {
        {
            // Broken meanwhile, or shut down with nothing left to run: no worker is needed.
            let mut st = self.state();
            let needless = match st.closed {
                Lifecycle::Open => false,
                Lifecycle::ShutDown => st.queue.is_empty(),
                Lifecycle::Broken(_) => true,
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
                let err = st.closed.error().expect("broken");
                self.notify_ended(&st);
                drop(st);
                self.places.refuse_waiting();
                for queued in failed {
                    queued.call.fail(err.clone(), &mut ());
                }
                return None;
            }
        };
        st.counts.spawned += 1;
        let conn = Arc::new(WorkerConn::new(
            started.stream,
            started.control,
            started.child.id(),
            started.exit,
            started.reader,
        ));
        let slot = WorkerSlot::new(Arc::clone(&conn), started.child);
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
        let next = self.top_up(&mut st, id);
        drop(st);
        self.follow(id, &conn, next);
        Some(Duty::Read(id, conn))
    }

    /// Tops worker `id` up after it started or answered: queued jobs to send (the running one
    /// and `SEND_AHEAD` more), or idle, or retire. Decided under the lock, done outside it.
    fn top_up(self: &Arc<Self>, st: &mut PoolState, id: usize) -> TopUp {
        let mut next = TopUp::default();
        let (budget, doomed) = {
            let slot = st.workers[id].as_ref().expect("a live worker");
            let budget = self
                .config
                .max_tasks_per_child
                .map_or(usize::MAX, |max| max.saturating_sub(slot.sent));
            // A worker the timer killed just after it replied is as good as dead.
            let killed = slot.timed_out.is_some() || slot.stop_killed.is_some();
            (budget, killed || st.terminating.is_some())
        };
        if !doomed {
            let room = st.workers[id].as_ref().expect("live").room();
            for _ in 0..room.min(budget) {
                // Send ahead only what the workers being started will not take first: a job
                // waits behind another only when no worker is coming for it.
                let holds = st.workers[id].as_ref().expect("live").jobs.len();
                if holds > 0 && st.queue.len() <= st.starting {
                    break;
                }
                let (queued, cancelled) = st.queue.pop_started(&mut next.freed);
                st.counts.cancelled += cancelled;
                let Some(queued) = queued else {
                    break;
                };
                let (_, seq, frame) = self.dispatch(st, id, queued.call, queued.frame);
                next.sends.push((seq, frame));
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
        if doomed || exhausted || !st.closed.is_open() {
            slot.phase = WorkerPhase::Retiring;
            next.retire = true;
        } else {
            slot.phase = WorkerPhase::Idle;
            st.idle.push(id);
        }
        next
    }

    fn follow(&self, id: usize, conn: &WorkerConn, next: TopUp) {
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
    fn read_one(self: &Arc<Self>, id: usize, conn: &Arc<WorkerConn>) -> Option<Duty> {
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
        if kind == wire::PROGRESS {
            // The running call's progress: report it on its future, and keep reading.
            let Some((nth, done, total)) = wire::split_progress(reader.last_body()) else {
                drop(guard);
                return self.reap(id, conn, Death::Protocol(kind));
            };
            let st = self.state();
            let running = st.workers[id].as_ref().and_then(|slot| slot.jobs.front());
            if let Some(sent) = running.filter(|sent| sent.nth == nth && !sent.call.answered) {
                sent.call.done.progress(done, total);
            }
            drop(st);
            drop(guard);
            return Some(Duty::Read(id, Arc::clone(conn)));
        }
        #[cfg(feature = "tracing")]
        if kind == wire::LOG {
            // An event the running call logged: re-emit it under its span, and keep reading.
            let Some((nth, record)) = wire::split_log(reader.last_body()) else {
                drop(guard);
                return self.reap(id, conn, Death::Protocol(kind));
            };
            let st = self.state();
            let running = st.workers[id].as_ref().and_then(|slot| slot.jobs.front());
            let span = running
                .filter(|sent| sent.nth == nth)
                .map(|sent| sent.call.span.clone());
            drop(st);
            // The parent's subscriber runs here, outside the state lock.
            if let Some(span) = span {
                crate::trace::relay::emit(&span, &record);
            }
            drop(guard);
            return Some(Duty::Read(id, Arc::clone(conn)));
        }
        if kind != wire::DONE
            || status.is_none()
            || (status == Some(wire::SKIPPED) && reader.last_body().len() != 2)
        {
            drop(guard);
            return self.reap(id, conn, Death::Protocol(kind));
        }
        // The reply: take the job, give the worker more, then publish.
        let mut st = self.state();
        let Some(slot) = st.workers[id].as_mut() else {
            unreachable!("poolbridge bug: a reply from a reaped worker");
        };
        let Some(SentCall { call: mut job, .. }) = slot.jobs.pop_front() else {
            drop(st);
            drop(guard);
            return self.reap(id, conn, Death::Protocol(kind));
        };
        let now = Instant::now();
        slot.answered(now);
        // Its run time, and the queue wait of the job sent ahead (which runs from now on).
        let ran = job.started.filter(|_| status != Some(wire::SKIPPED));
        let waited = slot.jobs.front_mut().map(|f| {
            f.call.started = Some(now);
            f.call.submitted
        });
        if let Some(started) = ran {
            let run = now.saturating_duration_since(started);
            st.latency.run_time.record(now, run);
        }
        if let Some(submitted) = waited {
            let wait = now.saturating_duration_since(submitted);
            st.latency.queue_wait.record(now, wait);
        }
        let Some(slot) = st.workers[id].as_mut() else {
            unreachable!("poolbridge bug: a reply from a reaped worker");
        };
        // The job sent ahead, if any, runs from now on: start its clock (and, if it was asked
        // to stop meanwhile, its grace period: the worker skips it or stops it).
        let following = slot
            .jobs
            .front()
            .map(|f| (f.seq, f.call.timeout, f.call.stop));
        if let Some((seq, timeout, stop)) = following {
            if slot.timed_out.is_none() && slot.stop_killed.is_none() {
                self.arm_timer(&mut st, id, seq, timeout);
                if let (Some(_), Some(end)) = (stop, self.grace_end()) {
                    self.arm_at(&mut st, end, id, seq, Due::Grace);
                }
            }
        }
        let body = &reader.last_body()[1..];
        let outcome = match status {
            _ if job.answered => Err(FutureError::Cancelled),
            Some(wire::OK) => {
                st.counts.completed += 1;
                Ok(body)
            }
            Some(wire::PANICKED) => {
                st.counts.panicked += 1;
                Err(FutureError::Panicked(PanicError::new(
                    String::from_utf8_lossy(body).into_owned(),
                )))
            }
            Some(wire::CODEC) => Err(crate::seam::call::worker_codec_error(job.name, body)),
            Some(wire::STOPPED) => {
                let stop = job.stop.unwrap_or(Stop::Cancel);
                st.counts.stopped += 1;
                if stop == Stop::Deadline {
                    st.counts.deadline_exceeded += 1;
                }
                Err(stop.error(true))
            }
            Some(wire::SKIPPED) => {
                let stop = job.stop.unwrap_or(if body == [wire::SKIP_DEADLINE] {
                    Stop::Deadline
                } else {
                    Stop::Cancel
                });
                match stop {
                    Stop::Deadline => st.counts.deadline_exceeded += 1,
                    Stop::Cancel => st.counts.cancelled += 1,
                }
                Err(stop.error(false))
            }
            _ => Err(FutureError::Ipc(String::from_utf8_lossy(body).into_owned())),
        };
        let next = self.top_up(&mut st, id);
        drop(st);
        // Send first: the worker runs while this thread publishes.
        self.follow(id, conn, next);
        let duty = Duty::Read(id, Arc::clone(conn));
        if job.answered {
            // Its future already has its outcome (taken back while sent ahead).
            drop(guard);
            return Some(duty);
        }
        job.done.decode(outcome);
        drop(guard);
        self.publish(job, Some(duty))
    }

    /// Publishes a finished job. If it has callbacks, `duty` is handed to another thread first
    /// (a callback may block for any time, even on a later job of this worker). Returns this
    /// thread's next duty.
    fn publish(self: &Arc<Self>, job: Call, duty: Option<Duty>) -> Option<Duty> {
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
            Some(duty) if hooks.handed => self.crew.reclaim(|d| d.same(&duty)),
            other => other,
        }
    }

    /// Worker `id`'s stream ended (or broke): kill what is left of its group, reap it, charge its
    /// job, and start a replacement if jobs wait.
    fn reap(self: &Arc<Self>, id: usize, conn: &Arc<WorkerConn>, death: Death) -> Option<Duty> {
        let mut st = self.state();
        let slot = st.workers[id].as_mut().expect("a live worker");
        let was = slot.phase;
        slot.phase = WorkerPhase::Dead;
        let mut child = slot.child.take().expect("reaped once");
        if was == WorkerPhase::Idle {
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
        if let Some(SentCall {
            call: mut job,
            frame,
            seq,
            nth,
        }) = jobs.pop_front()
        {
            // Killed for the job before this one, which answered just in time: not this one's
            // fault.
            let killed_for_another = slot.timed_out.is_some_and(|(late, _)| late != seq)
                || slot.stop_killed.is_some_and(|late| late != seq);
            // `delivered` waits for a write in progress (to a dead peer: it fails at once).
            let undelivered = !conn.delivered(seq) && !job.retried;
            if job.answered {
                // Its future already has its outcome: nothing to charge or run again.
            } else if (killed_for_another || undelivered) && st.terminating.is_none() {
                // The worker died before it got or started the call: the job is not to blame.
                // Run it elsewhere, ahead of the queue.
                job.retried |= undelivered;
                jobs.push_front(SentCall {
                    call: job,
                    frame,
                    seq,
                    nth,
                });
            } else {
                let err = if let Some(reason) = &st.terminating {
                    FutureError::BrokenPool(reason.clone())
                } else if let Some((_, limit)) = slot.timed_out {
                    FutureError::JobTimeout(limit)
                } else if let (Some(_), Some(stop)) = (slot.stop_killed, job.stop) {
                    // Asked to stop, it ran on past the grace period: killed.
                    st.counts.killed += 1;
                    if stop == Stop::Deadline {
                        st.counts.deadline_exceeded += 1;
                    }
                    stop.error(true)
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
                        (Death::Eof(err), Err(wait_err)) => {
                            FutureError::BrokenPool(BrokenReason::Other(format!(
                                "lost worker process {} while it ran `{}` ({err}; its status \
                                 could not be read: {wait_err})",
                                conn.pid, job.name
                            )))
                        }
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
        while let Some(SentCall {
            call: job, frame, ..
        }) = jobs.pop_back()
        {
            if job.answered {
                continue;
            }
            if st.terminating.is_some() {
                cancelled.push(job);
                continue;
            }
            match st.idle.pop() {
                Some(other) => {
                    let (conn, seq, frame) = self.dispatch(&mut st, other, job, frame);
                    resend.push((other, conn, seq, frame));
                }
                None => st.queue.push_front(QueuedCall { frame, call: job }),
            }
        }
        // Also after `shutdown`: queued jobs still run (the worker may have retired after
        // `max_tasks_per_child` jobs, or died), only a broken pool gives up on them.
        let replace = !matches!(st.closed, Lifecycle::Broken(_))
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
            let reason = terminating_reason
                .clone()
                .unwrap_or_else(|| BrokenReason::Other(String::new()));
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
                    Some(duty) if hooks.handed => self.crew.reclaim(|d| d.same(&duty)),
                    other => other,
                }
            }
            None => next,
        }
    }

    /// Marks the pool broken (keeping the first reason) and takes the queued jobs, for the
    /// caller to fail outside the lock. Idle workers are told to exit.
    fn break_locked(&self, st: &mut PoolState, reason: BrokenReason) -> Vec<QueuedCall> {
        if !matches!(st.closed, Lifecycle::Broken(_)) {
            st.closed = Lifecycle::Broken(reason);
        }
        self.retire_idle(st);
        let failed = st.queue.take_all();
        let cancelled = failed.iter().filter(|q| q.call.done.is_cancelled()).count();
        st.counts.cancelled += cancelled as u64;
        failed
    }

    fn retire_idle(&self, st: &mut PoolState) {
        for id in std::mem::take(&mut st.idle) {
            let slot = st.workers[id].as_mut().expect("an idle worker is live");
            slot.phase = WorkerPhase::Retiring;
            slot.conn.close();
        }
    }

    fn notify_ended(&self, st: &PoolState) {
        if st.live == 0 {
            self.ended_cv.notify_all();
            if !st.closed.is_open() {
                self.crew.close();
                self.timer_cv.notify_all();
            }
        }
    }

    fn start_timer(self: &Arc<Self>, st: &mut PoolState) {
        st.timers.thread = true;
        let shared = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("poolbridge-timer".into())
            .stack_size(TIMER_STACK)
            .spawn(move || shared.timer_main());
        if spawned.is_err() {
            // Without a timer, timeouts are not enforced; the jobs still end normally.
            st.timers.thread = false;
        }
    }

    /// Kills the workers whose job ran past its deadline.
    fn timer_main(self: Arc<Self>) {
        let mut st = self.state();
        loop {
            if st.live == 0 && !st.closed.is_open() {
                break;
            }
            let now = Instant::now();
            let mut stops = Vec::new();
            let grace_end = self.grace_end();
            let state = &mut *st;
            while let Some((id, seq, what)) = state.timers.pop_due(now) {
                let Some(slot) = state.workers.get_mut(id).and_then(Option::as_mut) else {
                    continue;
                };
                if slot.phase != WorkerPhase::Busy {
                    continue;
                }
                let Some(pos) = slot.jobs.iter().position(|sent| sent.seq == seq) else {
                    continue;
                };
                let sent = &mut slot.jobs[pos];
                match what {
                    Due::Deadline => {
                        // Ask the worker to stop (or skip) it; kill it after the grace period
                        // if it runs it then (armed when it starts, if sent ahead).
                        if sent.call.stop.is_none() && !sent.call.answered {
                            sent.call.stop = Some(Stop::Deadline);
                            stops.push((Arc::clone(&slot.conn), sent.nth));
                            if let (0, Some(end)) = (pos, grace_end) {
                                state.timers.arm_at(end, id, seq, Due::Grace);
                            }
                        }
                        continue;
                    }
                    Due::Limit if pos == 0 => {
                        slot.timed_out = sent.call.timeout.map(|limit| (seq, limit));
                    }
                    Due::Grace if pos == 0 && sent.call.stop.is_some() => {
                        slot.stop_killed = Some(seq);
                    }
                    _ => continue,
                }
                // Under the lock and before `Dead`: the worker is not reaped, its pid and group
                // id are still its own. The pid too: the job may have moved the worker out of
                // its group.
                child::kill_worker(slot.conn.pid);
            }
            if !stops.is_empty() {
                // Written outside the lock (the writes never block).
                drop(st);
                for (conn, nth) in stops {
                    conn.cancel(nth);
                }
                st = self.state();
                continue;
            }
            st = match st.timers.next() {
                Some(deadline) => {
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
        st.timers.thread = false;
        self.ended_cv.notify_all();
    }

    /// Python's `shutdown(wait, cancel_futures)`.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let mut st = self.state();
        if st.closed.is_open() {
            st.closed = Lifecycle::ShutDown;
        }
        let cancelled = if cancel_futures {
            st.queue.take_all()
        } else {
            Vec::new()
        };
        st.counts.cancelled += cancelled.len() as u64;
        if st.queue.is_empty() {
            self.retire_idle(&mut st);
        }
        self.notify_ended(&st);
        drop(st);
        self.places.refuse_waiting();
        for queued in cancelled {
            queued.call.fail(FutureError::Cancelled, &mut ());
        }
        if wait {
            self.wait_ended(true);
        }
    }

    /// Dropped while panicking: cancel the queue, kill every worker (their running jobs fail
    /// with `BrokenPool`), and wait for them to be reaped, never for a job.
    pub(crate) fn terminate(&self, reason: &str) {
        let mut st = self.state();
        if st.closed.is_open() {
            st.closed = Lifecycle::ShutDown;
        }
        st.terminating = Some(BrokenReason::Abandoned(reason.to_owned()));
        let cancelled = st.queue.take_all();
        st.counts.cancelled += cancelled.len() as u64;
        self.retire_idle(&mut st);
        for slot in st.workers.iter().flatten() {
            if slot.phase != WorkerPhase::Dead {
                child::kill_worker(slot.conn.pid);
            }
        }
        self.notify_ended(&st);
        drop(st);
        self.places.refuse_waiting();
        for queued in cancelled {
            queued.call.fail(FutureError::Cancelled, &mut ());
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
        let st = self.state();
        let (st, ended) = unwind::wait_while_until(&self.ended_cv, st, deadline, |st| {
            st.live > 0 || (threads && st.timers.thread)
        });
        drop(st);
        if !ended {
            return false;
        }
        // The pool threads, but the caller's own (a done callback may shut its pool down).
        !threads || self.crew.wait_ended(deadline)
    }

    /// A snapshot for `ProcessPoolExecutor::metrics`, read under the state lock (so the gauges
    /// agree with each other, unlike the thread pool's).
    pub(crate) fn metrics(&self) -> PoolMetrics {
        let waiting_submits = self.places.waiting();
        let mut st = self.state();
        let mut m = PoolMetrics {
            idle: st.idle.len(),
            queued: st.queue.len(),
            completed: st.counts.completed,
            panicked: st.counts.panicked,
            cancelled: st.counts.cancelled,
            worker_died: st.counts.worker_died,
            timed_out: st.counts.timed_out,
            stopped: st.counts.stopped,
            killed: st.counts.killed,
            deadline_exceeded: st.counts.deadline_exceeded,
            spawned: st.counts.spawned,
            retired: st.counts.retired,
            waiting_submits,
            ..PoolMetrics::default()
        };
        (m.queue_wait, m.run_time) = st.latency.summaries();
        for slot in st.workers.iter().flatten() {
            if slot.phase != WorkerPhase::Dead {
                m.threads += 1;
            }
            m.running += slot.jobs.len();
            // The job running now (a job sent ahead has not started: it reports nothing yet).
            if let Some(sent) = slot.jobs.front().filter(|s| s.call.started.is_some()) {
                m.progress.extend(sent.call.done.latest_progress());
            }
        }
        m
    }

    /// EventCounts for `Debug` and the accessors: `(live workers, idle workers, queued jobs)`.
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
            .filter(|s| s.phase != WorkerPhase::Dead)
            .map(|s| s.conn.pid)
            .collect()
    }

    pub(crate) fn is_closed(&self) -> bool {
        !self.state().closed.is_open()
    }
}

/// Hands the thread's duty to another thread right before user code (done callbacks) runs.
struct Handoff<'a> {
    shared: &'a Arc<PoolCore>,
    duty: Option<Duty>,
    handed: bool,
}

impl RunHooks for Handoff<'_> {
    fn before_user_code(&mut self) {
        if let Some(duty) = &self.duty {
            // If no thread can be started, keep the duty: the callbacks run first (the only
            // risk is a callback that waits on this very worker).
            self.handed = self.shared.crew.post(self.shared, duty.clone()).is_ok();
        }
    }
}

impl Employer for PoolCore {
    type Duty = Duty;

    fn crew(&self) -> &Crew<Duty> {
        &self.crew
    }

    fn perform(self: &Arc<Self>, duty: Duty) -> Option<Duty> {
        match duty {
            Duty::Start => self.start_worker(),
            Duty::Read(id, conn) => self.read_one(id, &conn),
        }
    }
}
