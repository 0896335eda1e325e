//! Loom models of the waker hand-off between a worker finishing a job and a task polling its
//! `ExecutorFuture` (`Core::poll_take` against `Core::settle`), and between workers finishing the
//! jobs of a `JoinSet` and the task awaiting the set (the entry wakers' ready list).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom_bridge` (see `.ci/run`).

#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use poolbridge::__loom::task;
use poolbridge::{JoinSet, wrap_future};

/// Register-versus-complete. `loom::future::block_on` parks until the waker of its latest poll is
/// woken. Catches: a completion that lands between the poll's "not settled yet" and its storing
/// of the waker, and so never wakes it (loom reports the deadlock).
#[test]
fn completion_races_poll() {
    loom::model(|| {
        let (job, fut) = task(|| 11u32);
        let worker = thread::spawn(move || job.run());
        let out = loom::future::block_on(wrap_future(fut));
        assert_eq!(out, Ok(11));
        worker.join().unwrap();
    });
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Only the waker of the latest poll matters. Catches: the completer waking a stale waker (the
/// task moved to another waker and would never be woken).
#[test]
fn latest_waker_is_woken() {
    loom::model(|| {
        let (job, fut) = task(|| 1u8);
        let mut fut = wrap_future(fut);
        let first = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let second = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let worker = thread::spawn(move || job.run());

        let waker = Waker::from(first.clone());
        let mut polls = vec![Pin::new(&mut fut).poll(&mut Context::from_waker(&waker))];
        if polls[0].is_pending() {
            let waker = Waker::from(second.clone());
            polls.push(Pin::new(&mut fut).poll(&mut Context::from_waker(&waker)));
        }
        worker.join().unwrap();

        if let Some(Poll::Pending) = polls.get(1) {
            // Pending twice: the job ended after the second poll stored its waker.
            assert_eq!(
                second.0.load(Ordering::SeqCst),
                1,
                "latest waker woken once"
            );
            assert_eq!(first.0.load(Ordering::SeqCst), 0, "stale waker not woken");
        }
    });
}

/// Two jobs of a `JoinSet` finish on two threads while the set's task awaits `join_next`. Catches:
/// an entry waker that pushes its key after the set found the ready list empty but before it
/// stored its waker (the task never woken: loom reports the deadlock), and a key lost when two
/// entry wakers push at once.
#[test]
fn join_set_completions_race_join_next() {
    loom::model(|| {
        let (first, a) = task(|| 1u32);
        let (second, b) = task(|| 2u32);
        let mut set: JoinSet<u32> = [a, b].into_iter().collect();
        let workers = [
            thread::spawn(move || first.run()),
            thread::spawn(move || second.run()),
        ];
        let sum = loom::future::block_on(async move {
            let mut sum = 0;
            while let Some(outcome) = set.join_next().await {
                sum += outcome.unwrap();
            }
            sum
        });
        assert_eq!(sum, 3);
        for worker in workers {
            worker.join().unwrap();
        }
    });
}
