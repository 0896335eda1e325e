//! Loom models of the worker sleep protocol (`src/pool/sleep/`): idle workers announcing sleep
//! and re-checking the queue against submitters pushing and deciding whom to wake.
//!
//! The queue is modelled by an atomic job count pushed with `Release` and taken with `Acquire`,
//! like crossbeam's deques; the protocol's correctness must not depend on anything stronger.
//! Workers loop exactly like `worker.rs`: find work, else start searching, else sleep.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom_sleep` (see `.ci/run`).

#![cfg(loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use loom::sync::{Condvar, Mutex};
use loom::thread;
use poolbridge::__loom::SleepModel;

struct Pool {
    sleep: SleepModel,
    queued: AtomicUsize,
    /// Jobs run, under a lock so a test can block until a count is reached: a lost wakeup then
    /// leaves every thread blocked, which loom reports as a deadlock.
    ran: Mutex<usize>,
    ran_cond: Condvar,
    closed: AtomicBool,
}

impl Pool {
    fn new(workers: usize) -> Arc<Pool> {
        let sleep = SleepModel::new(workers, 1);
        for _ in 0..workers {
            assert!(sleep.try_add_thread(workers));
        }
        Arc::new(Pool {
            sleep,
            queued: AtomicUsize::new(0),
            ran: Mutex::new(0),
            ran_cond: Condvar::new(),
            closed: AtomicBool::new(false),
        })
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

    fn has_work(&self) -> bool {
        self.queued.load(Ordering::Acquire) > 0 || self.closed.load(Ordering::SeqCst)
    }

    /// `Registry::submit`: push, fence, then leave it to a searcher or wake a sleeper.
    fn submit(&self) {
        self.queued.fetch_add(1, Ordering::Release);
        fence(Ordering::SeqCst);
        let (searching, sleeping, _) = self.sleep.counts();
        if searching == 0 && sleeping > 0 {
            self.sleep.wake_one();
        }
    }

    /// Blocks until `n` jobs have run.
    fn wait_ran(&self, n: usize) {
        let mut ran = self.ran.lock().unwrap();
        while *ran < n {
            ran = self.ran_cond.wait(ran).unwrap();
        }
    }

    /// `Registry::shutdown`: flag, fence, wake everyone.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.sleep.wake_all();
    }

    /// `WorkerCtx::run`, without spinning (spinning only retries `take`).
    fn worker(&self, index: usize) {
        // A new thread starts out searching (`Sleep::try_add_thread` counts it so).
        let mut searching = true;
        loop {
            if self.take() {
                // Call the next worker if more is queued or we were the last searcher.
                let mut cascade = self.queued.load(Ordering::Acquire) > 0;
                if searching {
                    searching = false;
                    cascade |= self.sleep.stop_searching();
                }
                if cascade {
                    // `notify_if_more_work`
                    fence(Ordering::SeqCst);
                    let (searching, sleeping, _) = self.sleep.counts();
                    if searching == 0 && sleeping > 0 && self.queued.load(Ordering::Acquire) > 0 {
                        self.sleep.wake_one();
                    }
                }
                // The job's closure ran; like `worker.rs`, count ourselves searching again before
                // publishing the outcome (the waiter may submit its next job at once).
                searching = self.sleep.try_start_searching();
                *self.ran.lock().unwrap() += 1;
                self.ran_cond.notify_all();
                continue;
            }
            if !searching {
                searching = self.sleep.try_start_searching();
            }
            if self.closed.load(Ordering::SeqCst) && self.queued.load(Ordering::Acquire) == 0 {
                return;
            }
            let _ = self.sleep.sleep(index, searching, || self.has_work());
            searching = true;
        }
    }
}

/// One worker, two jobs pushed while it goes idle. Catches the classic lost wakeup: the worker
/// checks the queue, the submitter pushes and sees nobody asleep, the worker then sleeps.
#[test]
fn submit_races_sleep() {
    loom::model(|| {
        let pool = Pool::new(1);
        let worker = {
            let pool = pool.clone();
            thread::spawn(move || pool.worker(0))
        };
        pool.submit();
        pool.submit();
        // Wait for both jobs before closing (closing wakes everyone and would hide the bug).
        pool.wait_ran(2);
        pool.close();
        worker.join().unwrap();
    });
}

/// Submit, wait for the outcome, submit again: the pattern of an async task awaiting one job at a
/// time. The second submit sees the worker searching (announced before the first outcome was
/// published) and wakes nobody. Catches: a searcher that then parks without seeing that job.
#[test]
fn submit_wait_submit() {
    loom::model(|| {
        let pool = Pool::new(1);
        let worker = {
            let pool = pool.clone();
            thread::spawn(move || pool.worker(0))
        };
        pool.submit();
        pool.wait_ran(1);
        pool.submit();
        pool.wait_ran(2);
        pool.close();
        worker.join().unwrap();
    });
}

/// Two workers, one job, then shutdown. Catches: a job left queued when workers exit, and a
/// sleeper that shutdown fails to wake (it would never join).
#[test]
fn two_workers_and_shutdown() {
    loom::model(|| {
        let pool = Pool::new(2);
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let pool = pool.clone();
                thread::spawn(move || pool.worker(i))
            })
            .collect();
        pool.submit();
        pool.close();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(
            *pool.ran.lock().unwrap(),
            1,
            "the job ran before the workers left"
        );
    });
}
