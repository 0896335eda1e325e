//! `JoinSet` (issue 13, item 5): tokio's `JoinSet` for blocking jobs, the async `as_completed`.
//!
//! * outcomes come in completion order (checked with gates opened in a chosen order);
//! * `cancel_all` cancels the queued jobs, which stay in the set as `Cancelled` outcomes;
//!   dropping the set cancels them too; `detach_all` lets them run;
//! * `try_join_next`, `poll_join_next`, the `Stream` impl, `join_all` (re-raising a job's panic
//!   with its payload) and `shutdown`;
//! * no wakeup is lost with thousands of jobs completing while the set is polled from a
//!   multi-thread runtime, and the set is polled a bounded number of times;
//! * it works under any executor, with `PoolFuture`s of any pool and `Promise`s, and it never
//!   blocks the thread that polls it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use common::{
    DropCounter, Gate, HANG, busy_pool, current_thread_runtime, eventually, hold_every_worker,
    multi_thread_runtime,
};
use futures::{Stream, StreamExt};
use poolbridge::{FutureError, JoinSet, PoolFuture, Promise, ThreadPoolExecutor};

const fn assert_send<T: Send>() {}
const _: () = assert_send::<JoinSet<u8>>();

#[test]
fn outcomes_come_in_completion_order() {
    let rt = current_thread_runtime();
    let pool = ThreadPoolExecutor::new(4);
    let gates: Vec<Gate> = (0..4).map(|_| Gate::new()).collect();
    let mut set = JoinSet::new();
    for (i, gate) in gates.iter().enumerate() {
        let gate = gate.clone();
        set.spawn_blocking_on(
            move || {
                gate.wait();
                i
            },
            &pool,
        );
    }
    assert_eq!(set.len(), 4);
    let order = [2, 0, 3, 1];
    rt.block_on(async {
        for &i in &order {
            gates[i].open();
            assert_eq!(set.join_next().await, Some(Ok(i)));
        }
        assert!(set.is_empty());
        assert_eq!(set.join_next().await, None);
    });
}

#[test]
fn errors_are_outcomes_and_the_rest_go_on() {
    let rt = current_thread_runtime();
    let mut set = JoinSet::new();
    for i in 0..6u32 {
        set.spawn_blocking(move || {
            if i == 3 {
                panic!("item {i}");
            }
            i
        });
    }
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    rt.block_on(async {
        while let Some(outcome) = set.join_next().await {
            match outcome {
                Ok(i) => ok.push(i),
                Err(err) => failed.push(err),
            }
        }
    });
    ok.sort();
    assert_eq!(ok, [0, 1, 2, 4, 5]);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].as_panic().unwrap().message(), "item 3");
}

#[test]
fn cancel_all_leaves_cancelled_outcomes_in_the_set() {
    let rt = current_thread_runtime();
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let mut set = JoinSet::new();
    for _ in 0..5 {
        let tracked = counter.track();
        set.spawn_blocking_on(move || drop(tracked), &pool);
    }
    set.cancel_all();
    assert_eq!(counter.dropped(), 5, "closures dropped unrun at cancel");
    assert_eq!(set.len(), 5);
    gate.open();
    let outcomes: Vec<_> = rt.block_on(set.collect());
    assert_eq!(outcomes, vec![Err(FutureError::Cancelled); 5]);
}

#[test]
fn dropping_the_set_cancels_queued_jobs_detach_all_does_not() {
    let (pool, gate) = hold_every_worker(ThreadPoolExecutor::new(2));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let detached = Arc::new(AtomicUsize::new(0));
    let mut dropped_set = JoinSet::new();
    let mut kept_set = JoinSet::new();
    for _ in 0..10 {
        let c = Arc::clone(&cancelled);
        dropped_set.spawn_blocking_on(move || c.fetch_add(1, Ordering::SeqCst), &pool);
        let d = Arc::clone(&detached);
        kept_set.spawn_blocking_on(move || d.fetch_add(1, Ordering::SeqCst), &pool);
    }
    drop(dropped_set);
    kept_set.detach_all();
    assert!(kept_set.is_empty());
    drop(kept_set);
    gate.open();
    let last = pool.submit(|| ());
    assert_eq!(last.result_timeout(HANG), Ok(()));
    assert!(eventually(|| detached.load(Ordering::SeqCst) == 10));
    assert_eq!(cancelled.load(Ordering::SeqCst), 0);
}

#[test]
fn try_join_next_never_waits() {
    let (pool, gate) = busy_pool();
    let mut set = JoinSet::new();
    assert_eq!(set.try_join_next(), None);
    set.spawn_blocking_on(|| 5, &pool);
    assert_eq!(set.try_join_next(), None, "queued: nothing to take");
    gate.open();
    assert!(eventually(|| set.len() == 1 && {
        match set.try_join_next() {
            Some(outcome) => {
                assert_eq!(outcome, Ok(5));
                true
            }
            None => false,
        }
    }));
    assert!(set.is_empty());
}

/// Counts wakes.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn poll_join_next_registers_the_waker_and_is_woken_once_per_completion() {
    let (pool, gate) = busy_pool();
    let mut set = JoinSet::new();
    set.spawn_blocking_on(|| 1, &pool);
    let counting = Arc::new(Counting::default());
    let waker = Waker::from(Arc::clone(&counting));
    let mut cx = Context::from_waker(&waker);
    assert_eq!(set.poll_join_next(&mut cx), Poll::Pending);
    assert_eq!(
        set.poll_join_next(&mut cx),
        Poll::Pending,
        "polling never blocks"
    );
    assert_eq!(counting.0.load(Ordering::SeqCst), 0);
    gate.open();
    assert!(eventually(|| counting.0.load(Ordering::SeqCst) == 1));
    assert_eq!(set.poll_join_next(&mut cx), Poll::Ready(Some(Ok(1))));
    assert_eq!(set.poll_join_next(&mut cx), Poll::Ready(None));
}

#[test]
fn thousands_of_completions_under_a_multi_thread_runtime_lose_no_wakeup() {
    const N: usize = 5_000;
    let rt = multi_thread_runtime(2);
    let pool = Arc::new(ThreadPoolExecutor::new(4));
    let polls = Arc::new(AtomicUsize::new(0));
    let (sum, count) = {
        let (pool, polls) = (Arc::clone(&pool), Arc::clone(&polls));
        rt.block_on(async move {
            tokio::spawn(async move {
                let mut set = JoinSet::new();
                for i in 0..N {
                    set.spawn_blocking_on(move || i, &pool);
                }
                let (mut sum, mut count) = (0, 0);
                // A counting poll_fn, to bound the number of polls.
                while let Some(outcome) = std::future::poll_fn(|cx| {
                    polls.fetch_add(1, Ordering::SeqCst);
                    set.poll_join_next(cx)
                })
                .await
                {
                    sum += outcome.unwrap();
                    count += 1;
                }
                (sum, count)
            })
            .await
            .unwrap()
        })
    };
    assert_eq!(count, N);
    assert_eq!(sum, N * (N - 1) / 2);
    // One ready poll per outcome, plus at most one pending poll between completions.
    let polls = polls.load(Ordering::SeqCst);
    assert!(polls <= 2 * N + 1, "{polls} polls for {N} jobs");
}

#[test]
fn a_set_is_a_stream() {
    let rt = current_thread_runtime();
    let set: JoinSet<u64> = (1..=10u64)
        .map(|n| poolbridge::spawn_blocking(move || n))
        .map(|h| h.into_pool_future().unwrap())
        .collect();
    assert_eq!(set.size_hint(), (10, Some(10)));
    let total: u64 = rt.block_on(set.map(Result::unwrap).fold(0, |a, b| async move { a + b }));
    assert_eq!(total, 55);
}

#[test]
fn promises_and_futures_of_any_pool_mix() {
    let rt = current_thread_runtime();
    let a = ThreadPoolExecutor::new(1);
    let b = ThreadPoolExecutor::new(1);
    let (promise, manual) = Promise::new();
    let mut set: JoinSet<&str> = [a.submit(|| "a"), b.submit(|| "b")].into_iter().collect();
    set.extend([manual]);
    let setter = std::thread::spawn(move || promise.set_result("promise").unwrap());
    let mut got: Vec<&str> = rt.block_on(set.join_all());
    setter.join().unwrap();
    got.sort();
    assert_eq!(got, ["a", "b", "promise"]);
}

#[test]
fn join_all_resumes_a_jobs_panic_with_its_payload() {
    let rt = current_thread_runtime();
    let mut set = JoinSet::new();
    set.spawn_blocking(|| 1u8);
    set.spawn_blocking(|| -> u8 { std::panic::panic_any(17_u64) });
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(set.join_all())))
            .unwrap_err();
    assert_eq!(caught.downcast_ref::<u64>(), Some(&17));
}

#[test]
fn shutdown_cancels_queued_jobs_and_waits_for_running_ones() {
    let rt = current_thread_runtime();
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let (started_tx, started_rx) = mpsc::channel();
    let finished = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    {
        let (gate, finished) = (gate.clone(), Arc::clone(&finished));
        set.spawn_blocking_on(
            move || {
                started_tx.send(()).unwrap();
                gate.wait();
                finished.fetch_add(1, Ordering::SeqCst);
            },
            &pool,
        );
    }
    for _ in 0..3 {
        let finished = Arc::clone(&finished);
        set.spawn_blocking_on(
            move || {
                finished.fetch_add(1, Ordering::SeqCst);
            },
            &pool,
        );
    }
    started_rx.recv_timeout(HANG).unwrap();
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            gate.open();
        })
    };
    rt.block_on(set.shutdown());
    opener.join().unwrap();
    assert!(set.is_empty());
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the running job finished, the three queued ones were cancelled"
    );
}

#[test]
fn works_under_other_executors() {
    let mut set = JoinSet::new();
    for i in 0..8 {
        set.spawn_blocking(move || i);
    }
    let mut got = futures::executor::block_on(set.join_all());
    got.sort();
    assert_eq!(got, (0..8).collect::<Vec<_>>());

    let mut set = JoinSet::new();
    set.spawn_blocking(|| "smol");
    assert_eq!(smol::block_on(set.join_next()), Some(Ok("smol")));
}

// The set never blocks its thread: a current-thread runtime keeps running a ticker while the
// set waits for slow jobs.
#[test]
fn awaiting_a_set_keeps_the_runtime_responsive() {
    let rt = current_thread_runtime();
    let (pool, gate) = busy_pool();
    let started = Instant::now();
    let ticks = rt.block_on(async {
        let mut set = JoinSet::new();
        set.spawn_blocking_on(|| (), &pool);
        let ticker = tokio::spawn(async move {
            let mut ticks = 0;
            while ticks < 5 {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                ticks += 1;
            }
            gate.open();
            ticks
        });
        assert_eq!(set.join_next().await, Some(Ok(())));
        ticker.await.unwrap()
    });
    assert_eq!(ticks, 5, "the ticker ran while the set waited");
    assert!(started.elapsed() < HANG);
}

#[test]
fn a_futures_only_set_is_fine_too() {
    // FromIterator of plain futures, joined from sync code through block_on.
    let pool = ThreadPoolExecutor::new(2);
    let futures: Vec<PoolFuture<u32>> = (0..4).map(|i| pool.submit(move || i * 2)).collect();
    let set: JoinSet<u32> = futures.into_iter().collect();
    let mut got = futures::executor::block_on(set.join_all());
    got.sort();
    assert_eq!(got, [0, 2, 4, 6]);
}
