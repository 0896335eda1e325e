//! `futures::future::join_all` over 100 000 `ExecutorFuture`s (trivial jobs) completes, and the
//! work is linear in the count: every future is wrapped in a poll-counting wrapper and the total
//! number of polls must stay within 3 per future (one poll that finds the job unfinished, one
//! after the wake, and slack). Deterministic: counts, not timing.
//!
//! Run under `futures::executor::block_on` and inside tokio runtimes (current-thread and
//! multi-thread). Tokio's cooperative budget makes `join_all` over tokio `JoinHandle`s quadratic
//! (handles return `Pending` once the budget is spent and are re-polled); the bridge's futures do
//! not consume the budget and must stay linear there too. A wrong wake (waking every waiter, or
//! waking before the outcome is readable) would show up as extra polls.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use common::{Gate, current_thread_runtime, hold_workers, multi_thread_runtime};
use poolbridge::{ExecutorFuture, FutureError, ThreadPoolExecutor, run_in_executor};

const COUNT: usize = 100_000;
/// Polls allowed per future.
const POLLS_PER_FUTURE: usize = 3;
const WORKERS: usize = 4;

/// Counts the polls of the future it wraps.
struct PollCounted<'a, F> {
    inner: F,
    polls: &'a AtomicUsize,
}

impl<F: Future + Unpin> Future for PollCounted<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // ORDERING: a plain counter; read on the polling task, or after `block_on` returned
        // (which synchronizes with the runtime's threads).
        self.polls.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A pool whose every worker is held at the returned gate (returns once all of them are), so
/// that jobs submitted next stay queued until the gate opens.
fn held_pool() -> (ThreadPoolExecutor, Gate) {
    let pool = ThreadPoolExecutor::new(WORKERS);
    let gate = Gate::new();
    let _blockers = hold_workers(&pool, &gate, WORKERS, ());
    (pool, gate)
}

fn submit_all(pool: &ThreadPoolExecutor) -> Vec<ExecutorFuture<usize>> {
    (0..COUNT)
        .map(|i| run_in_executor(Some(pool), move || i, ()))
        .collect()
}

/// Awaits all `futs` through `join_all`, each wrapped in a poll counter; checks the results and
/// returns the total number of polls.
///
/// With a `gate`, the gate is opened only once every future was polled (and, its job being held
/// queued, found `Pending`): each future then must be woken and polled exactly once more.
async fn join_all_counted(futs: Vec<ExecutorFuture<usize>>, gate: Option<Gate>) -> usize {
    let polls = AtomicUsize::new(0);
    let counted = futs.into_iter().map(|inner| PollCounted {
        inner,
        polls: &polls,
    });
    let opener = std::future::poll_fn(|cx| {
        if let Some(gate) = &gate {
            if polls.load(Ordering::Relaxed) < COUNT {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            gate.open();
        }
        Poll::Ready(())
    });
    let (results, ()) = futures::future::join(futures::future::join_all(counted), opener).await;
    let results: Vec<Result<usize, FutureError>> = results;
    assert_eq!(results.len(), COUNT);
    for (i, result) in results.into_iter().enumerate() {
        assert_eq!(result, Ok(i));
    }
    polls.load(Ordering::Relaxed)
}

fn check(label: &str, polls: usize, started: Instant, held: bool) {
    println!(
        "{label}: {COUNT} futures, {polls} polls ({:.2} per future), {:?}",
        polls as f64 / COUNT as f64,
        started.elapsed()
    );
    if held {
        // Every future found its job queued once, then was woken: the pending path was taken.
        assert!(polls >= 2 * COUNT, "{label}: only {polls} polls");
    } else {
        assert!(polls >= COUNT, "every future is polled at least once");
    }
    assert!(
        polls <= POLLS_PER_FUTURE * COUNT,
        "{label}: {polls} polls for {COUNT} futures; join_all should stay linear \
         (at most {POLLS_PER_FUTURE} polls per future)"
    );
}

#[test]
fn join_all_100k_finished_jobs_under_futures_block_on() {
    // Nothing held: most jobs have finished before their first poll (the ready-at-once path).
    let pool = ThreadPoolExecutor::new(WORKERS);
    let started = Instant::now();
    let futs = submit_all(&pool);
    let polls = futures::executor::block_on(join_all_counted(futs, None));
    check("block_on, not held", polls, started, false);
}

#[test]
fn join_all_100k_queued_jobs_under_futures_block_on() {
    let (pool, gate) = held_pool();
    let started = Instant::now();
    let futs = submit_all(&pool);
    let polls = futures::executor::block_on(join_all_counted(futs, Some(gate)));
    check("block_on, held", polls, started, true);
}

#[test]
fn join_all_100k_queued_jobs_in_tokio_current_thread() {
    let (pool, gate) = held_pool();
    let rt = current_thread_runtime();
    let started = Instant::now();
    // Submitted from inside the runtime, as a user would.
    let polls = rt.block_on(async { join_all_counted(submit_all(&pool), Some(gate)).await });
    check("tokio current-thread, held", polls, started, true);
}

#[test]
fn join_all_100k_queued_jobs_in_a_tokio_multi_thread_task() {
    let (pool, gate) = held_pool();
    let rt = multi_thread_runtime(2);
    let started = Instant::now();
    let futs = submit_all(&pool);
    // Inside a spawned task, where tokio's coop budget applies.
    let polls = rt.block_on(async {
        tokio::spawn(join_all_counted(futs, Some(gate)))
            .await
            .expect("the join task panicked")
    });
    check(
        "tokio multi-thread spawned task, held",
        polls,
        started,
        true,
    );
}
