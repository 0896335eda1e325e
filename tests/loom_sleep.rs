//! Loom models of the worker sleep protocol (`src/pool/sleep/`): idle workers announcing sleep
//! and re-checking the queue, against submitters pushing and deciding whom to call.
//!
//! Both halves are the pool's own code, reached through `poolbridge::__loom::SleepModel`:
//! `Sleep::job_pushed` (what `Registry::submit` runs after its push), `Sleep::more_work` (the
//! cascade), and the worker's transitions (`found_job`, `before_publish`, `before_user_code`,
//! `sleep`). Only the queue and the thread start are stand-ins: the queue is an atomic job count
//! pushed with `Release` and taken with `Acquire` (no stronger than crossbeam's deques), and a
//! lazily started worker is a loom thread. The worker loop below is `WorkerCtx::run` step for
//! step; its search before parking is the real `Search::run`, one round under loom.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom_sleep` (see `.ci/run`).

#![cfg(loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread::{self, JoinHandle};
use poolbridge::__loom::{SearchModel, Searching, SleepModel, Spawned};

struct Pool {
    sleep: SleepModel,
    queued: AtomicUsize,
    /// Jobs run, under a lock so a test can block until a count is reached: a lost wakeup then
    /// leaves every thread blocked, which loom reports as a deadlock.
    ran: Mutex<usize>,
    ran_cond: Condvar,
    closed: AtomicBool,
    /// The registry's slot table: which worker indices are taken. `threads` grows only under
    /// this lock, `closed` is set under it, and an exiting worker frees its slot under it.
    slots: Mutex<Vec<bool>>,
    /// Workers started by `spawn`, to join at the end.
    spawned: Mutex<Vec<JoinHandle<()>>>,
    /// New threads run an initializer first: they start busy, not searching.
    initializer: bool,
    /// The first job has a done callback that blocks until the second job has run.
    blocking_callback: bool,
}

impl Pool {
    fn new(max_workers: usize) -> Pool {
        Pool {
            sleep: SleepModel::new(max_workers, 1),
            queued: AtomicUsize::new(0),
            ran: Mutex::new(0),
            ran_cond: Condvar::new(),
            closed: AtomicBool::new(false),
            slots: Mutex::new(vec![false; max_workers]),
            spawned: Mutex::new(Vec::new()),
            initializer: false,
            blocking_callback: false,
        }
    }

    /// Starts `n` workers up front, as if earlier jobs had started them.
    fn with_workers(self, n: usize) -> Arc<Pool> {
        let pool = Arc::new(self);
        for _ in 0..n {
            assert_eq!(pool.spawn(), Spawned::Yes);
        }
        pool
    }

    fn take(&self) -> bool {
        let mut n = self.queued.load(Ordering::Acquire);
        while n > 0 {
            match self
                .queued
                .compare_exchange(n, n - 1, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
        false
    }

    fn queued(&self) -> bool {
        self.queued.load(Ordering::Acquire) > 0
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// `Registry::try_spawn`: under the slot lock, refuse once closed, count the thread, take a
    /// free slot, then start the thread.
    fn spawn(self: &Arc<Self>) -> Spawned {
        let mut slots = self.slots.lock().unwrap();
        if self.is_closed() {
            return Spawned::Failed;
        }
        let searching = !self.initializer;
        if !self.sleep.try_add_thread(searching) {
            return Spawned::AtMax;
        }
        let index = slots
            .iter()
            .position(|taken| !taken)
            .expect("fewer than max_workers threads but no free slot");
        slots[index] = true;
        drop(slots);
        let pool = Arc::clone(self);
        let handle = thread::spawn(move || pool.worker(index, searching));
        self.spawned.lock().unwrap().push(handle);
        Spawned::Yes
    }

    /// `Registry::submit`: push, then the real `Sleep::job_pushed`.
    fn submit(self: &Arc<Self>) {
        self.queued.fetch_add(1, Ordering::Release);
        let refused = self
            .sleep
            .job_pushed(|| self.is_closed(), || self.queued(), || self.spawn());
        assert!(
            refused.is_ok(),
            "no submit in these models races a shutdown"
        );
    }

    /// `Registry::more_work`: the real `Sleep::more_work`. Its fan-out (one more sleeper woken,
    /// or a job handed to a new thread, for bursts of long jobs) needs more than twice as many
    /// queued jobs as searchers; these models queue at most two, so it never triggers and the
    /// hand-off is not modelled. (The extra wake-up only turns a sleeper into a searcher, as
    /// any wake-up does; it cannot take a wake-up away from anyone.)
    fn more_work(self: &Arc<Self>) {
        self.sleep.more_work(
            || self.queued.load(Ordering::Acquire),
            || self.spawn(),
            || unreachable!("a hand-off with at most two jobs queued"),
        );
    }

    /// Blocks until `n` jobs have run.
    fn wait_ran(&self, n: usize) {
        let mut ran = self.ran.lock().unwrap();
        while *ran < n {
            ran = self.ran_cond.wait(ran).unwrap();
        }
    }

    /// `Registry::shutdown`: flag (under the slot lock), fence, wake everyone; then join every
    /// worker.
    fn close_and_join(&self) {
        {
            let _slots = self.slots.lock().unwrap();
            self.closed.store(true, Ordering::SeqCst);
        }
        loom::sync::atomic::fence(Ordering::SeqCst);
        self.sleep.wake_all();
        let handles: Vec<_> = self.spawned.lock().unwrap().drain(..).collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let (searching, sleeping, threads) = self.sleep.counts();
        assert_eq!(
            (searching, sleeping, threads),
            (0, 0, 0),
            "counts after exit"
        );
    }

    /// `WorkerCtx::run`.
    fn worker(self: &Arc<Self>, index: usize, searching: bool) {
        let mut me = Searching(searching);
        let mut search = SearchModel::default();
        loop {
            let took = self.take() || {
                if !me.0 {
                    me.0 = self.sleep.try_start_searching();
                }
                me.0 && search
                    .run(|| self.take().then_some(()), || self.is_closed())
                    .is_some()
            };
            if took {
                let more = self.queued();
                if self.sleep.found_job(&mut me, more) {
                    self.more_work();
                }
                // The job's closure ran; publish its outcome (`Availability::before_publish`).
                self.sleep.before_publish(&mut me);
                let job = {
                    let mut ran = self.ran.lock().unwrap();
                    *ran += 1;
                    *ran
                };
                self.ran_cond.notify_all();
                if self.blocking_callback && job == 1 {
                    // A done callback (`Availability::before_user_code`) waiting on a later job.
                    if self.sleep.before_user_code(&mut me) {
                        self.more_work();
                    }
                    self.wait_ran(2);
                }
                continue;
            }
            if self.is_closed() && !self.queued() {
                // `Registry::exit_worker`.
                let mut slots = self.slots.lock().unwrap();
                self.sleep.remove_thread(me.0);
                slots[index] = false;
                return;
            }
            let _ = self
                .sleep
                .sleep(index, me.0, || self.queued() || self.is_closed());
            me.0 = true;
        }
    }
}

/// `loom::model`, with the preemption bound of the environment (`LOOM_MAX_PREEMPTIONS`) capped at
/// `cap`: the models with lazily started threads grow too fast for CI at 3.
fn model(cap: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(cap, |b| b.min(cap)));
    builder.check(f);
}

/// One worker, two jobs pushed while it goes idle. Catches the classic lost wakeup: the worker
/// checks the queue, the submitter pushes and sees nobody asleep, the worker then sleeps.
#[test]
fn submit_races_sleep() {
    model(3, || {
        let pool = Pool::new(1).with_workers(1);
        pool.submit();
        pool.submit();
        // Wait for both jobs before closing (closing wakes everyone and would hide the bug).
        pool.wait_ran(2);
        pool.close_and_join();
    });
}

/// Submit, wait for the outcome, submit again: the pattern of an async task awaiting one job at a
/// time. The second submit sees the worker searching (announced before the first outcome was
/// published) and wakes nobody. Catches: a searcher that then parks without seeing that job.
#[test]
fn submit_wait_submit() {
    model(3, || {
        let pool = Pool::new(1).with_workers(1);
        pool.submit();
        pool.wait_ran(1);
        pool.submit();
        pool.wait_ran(2);
        pool.close_and_join();
    });
}

/// Two workers, one job, then shutdown. Catches: a job left queued when workers exit, and a
/// sleeper that shutdown fails to wake (it would never join).
#[test]
fn two_workers_and_shutdown() {
    model(3, || {
        let pool = Pool::new(2).with_workers(2);
        pool.submit();
        pool.close_and_join();
        assert_eq!(
            *pool.ran.lock().unwrap(),
            1,
            "the job ran before the workers left"
        );
    });
}

/// The first job's done callback blocks until a second job, submitted after the first one's
/// outcome was published, has run; a second worker sleeps. Catches the hardening issue's
/// defect 1: a worker that stays counted as searching while it runs the callback, so the second
/// submit relies on it and wakes nobody (loom reports the deadlock). Making
/// `Sleep::before_user_code` a no-op makes this model fail.
#[test]
fn blocking_callback_calls_another_worker() {
    model(2, || {
        let mut pool = Pool::new(2);
        pool.blocking_callback = true;
        let pool = pool.with_workers(2);
        pool.submit();
        pool.wait_ran(1);
        pool.submit();
        pool.wait_ran(2);
        pool.close_and_join();
    });
}

/// No thread yet: two submits start workers lazily, through the real `job_pushed` and the
/// cascade. Catches: a job that nobody comes for, and more threads than `max_workers`.
#[test]
fn lazy_start() {
    model(2, || {
        let pool = Pool::new(2).with_workers(0);
        pool.submit();
        pool.submit();
        pool.wait_ran(2);
        pool.close_and_join();
    });
}

/// Lazily started threads that run an initializer first count as busy, not searching, so that
/// a second submit starts a thread of its own. Catches: a job left waiting because its submitter
/// counted on a thread that never searches, or a thread that leaves its counts wrong.
#[test]
fn lazy_start_with_initializer() {
    model(2, || {
        let mut pool = Pool::new(2);
        pool.initializer = true;
        let pool = pool.with_workers(0);
        pool.submit();
        pool.submit();
        pool.wait_ran(2);
        pool.close_and_join();
    });
}
