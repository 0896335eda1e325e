//! `as_completed` and `as_completed_timeout`: done futures come first, then the others in the
//! order they complete; duplicates come once; the `future → input` `HashMap` idiom; a timeout
//! yields one `Err(Timeout)` and ends (after CPython's `AsCompletedTests`); dropping the iterator
//! early leaves the futures intact.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{
    Gate, HANG, OpenOnDrop, done_futures, drain_checking_size_hint, submit_gated,
    submit_gated_with, submit_held,
};
use poolbridge::{FutureError, PoolFuture, ThreadPoolExecutor, as_completed, as_completed_timeout};

/// How long to give an iterator that must stay blocked; the assertions hold whatever the timing.
const SHORT: Duration = Duration::from_millis(50);

/// A finished job.
fn finished(pool: &ThreadPoolExecutor, value: i32) -> PoolFuture<i32> {
    let fut = pool.submit(move || value);
    fut.wait();
    fut
}

fn identities<'a>(
    fs: impl IntoIterator<Item = &'a PoolFuture<i32>>,
) -> HashSet<*const PoolFuture<i32>> {
    fs.into_iter().map(|f| f as *const _).collect()
}

/// A job that waits for `gate`, then counts its run.
fn gated_counting(
    pool: &ThreadPoolExecutor,
    gate: &Gate,
    ran: Arc<AtomicUsize>,
) -> PoolFuture<i32> {
    submit_gated_with(pool, gate, move || {
        ran.fetch_add(1, Ordering::SeqCst);
        0
    })
}

#[test]
fn done_futures_come_first_then_completion_order() {
    let pool = ThreadPoolExecutor::new(2);
    let (gate0, gate1) = (Gate::new(), Gate::new());
    let done_a = finished(&pool, 10);
    let done_b = finished(&pool, 20);
    let held0 = submit_gated(&pool, &gate0, 0);
    let held1 = submit_gated(&pool, &gate1, 1);
    let futures = [&held0, &done_a, &held1, &done_b];

    let mut completed = as_completed(futures);
    let first_two = [completed.next().unwrap(), completed.next().unwrap()];
    assert_eq!(identities(first_two), identities([&done_a, &done_b]));

    // Only held1 can complete now, so it must come next, then held0.
    gate1.open();
    assert_eq!(completed.next(), Some(&held1));
    gate0.open();
    assert_eq!(completed.next(), Some(&held0));
    assert_eq!(completed.next(), None);
    assert_eq!(completed.next(), None);
}

#[test]
fn yields_in_the_order_jobs_complete() {
    let pool = ThreadPoolExecutor::new(4);
    let gates: Vec<Gate> = (0..4).map(|_| Gate::new()).collect();
    let futures: Vec<PoolFuture<i32>> = gates
        .iter()
        .enumerate()
        .map(|(i, gate)| submit_gated(&pool, gate, i as i32))
        .collect();

    let mut completed = as_completed(&futures);
    for i in [2, 0, 3, 1] {
        gates[i].open();
        let fut = completed.next().expect("as_completed ended early");
        assert_eq!(fut, &futures[i], "expected job {i} to come next");
        assert_eq!(fut.result(), Ok(i as i32));
    }
    assert!(completed.next().is_none());
}

// CPython's test_duplicate_futures (issue 20367).
#[test]
fn duplicates_are_yielded_once() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let held = submit_gated(&pool, &gate, 1);
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(SHORT);
            gate.open();
        });
        let completed: Vec<_> = as_completed(std::iter::repeat_n(&held, 3)).collect();
        assert_eq!(completed, [&held]);
    });

    let done = finished(&pool, 2);
    let completed: Vec<_> = as_completed([&done, &held, &done, &held]).collect();
    assert_eq!(completed.len(), 2);
    assert_eq!(identities(completed), identities([&done, &held]));
}

// Python's documented `future_to_url` pattern.
#[test]
fn future_to_input_map_keys() {
    let pool = ThreadPoolExecutor::new(4);
    let mut future_to_input = HashMap::new();
    for n in 0..16u64 {
        future_to_input.insert(pool.submit(move || n * n), n);
    }

    let mut seen = Vec::new();
    for fut in as_completed(future_to_input.keys()) {
        let n = future_to_input[fut];
        assert_eq!(fut.result(), Ok(n * n));
        seen.push(n);
    }
    seen.sort();
    assert_eq!(seen, (0..16).collect::<Vec<_>>());
}

#[test]
fn futures_by_value_are_handed_over() {
    let pool = ThreadPoolExecutor::new(2);
    let futures: Vec<PoolFuture<String>> = (0..5)
        .map(|n| pool.submit(move || format!("job {n}")))
        .collect();
    let mut outputs: Vec<String> = as_completed(futures).map(|f| f.join().unwrap()).collect();
    outputs.sort();
    assert_eq!(outputs, ["job 0", "job 1", "job 2", "job 3", "job 4"]);
}

#[test]
fn blocks_until_a_future_completes() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let held = submit_gated(&pool, &gate, 3);
    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let held = &held;
        scope.spawn(move || {
            for fut in as_completed([held]) {
                tx.send(fut.result()).unwrap();
            }
        });
        thread::sleep(SHORT);
        assert!(rx.try_recv().is_err(), "yielded a future that was not done");
        gate.open();
        assert_eq!(rx.recv_timeout(HANG), Ok(Ok(3)));
    });
}

#[test]
fn a_cancellation_counts_as_a_completion() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let running = submit_held(&pool, &gate, 1);
    let queued = pool.submit(|| 2);
    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let futures = [&running, &queued];
        scope.spawn(move || {
            for fut in as_completed(futures) {
                tx.send(fut).unwrap();
            }
        });
        thread::sleep(SHORT);
        assert!(queued.cancel());
        assert_eq!(rx.recv_timeout(HANG), Ok(&queued));
        gate.open();
        assert_eq!(rx.recv_timeout(HANG), Ok(&running));
    });
}

#[test]
fn timeout_yields_one_error_then_ends() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let done = finished(&pool, 1);
    let held = submit_gated(&pool, &gate, 2);

    let mut completed = as_completed_timeout([&done, &held], SHORT);
    assert_eq!(completed.next(), Some(Ok(&done)));
    assert_eq!(completed.next(), Some(Err(FutureError::Timeout)));
    assert_eq!(completed.next(), None);
    assert_eq!(completed.next(), None);
    drop(completed);

    // The timeout did not touch the job.
    gate.open();
    assert_eq!(held.result_timeout(HANG), Ok(2));
}

// CPython's test_zero_timeout: the done futures, then the timeout.
#[test]
fn zero_timeout_yields_the_done_futures_then_times_out() {
    let done = done_futures().into_array();
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let held = submit_gated(&pool, &gate, 0);

    let mut yielded = Vec::new();
    let mut timeouts = 0;
    for item in as_completed_timeout([&done[0], &done[1], &done[2], &held], Duration::ZERO) {
        match item {
            Ok(fut) => yielded.push(fut),
            Err(err) => {
                assert_eq!(err, FutureError::Timeout);
                timeouts += 1;
            }
        }
    }
    assert_eq!(identities(yielded), identities(&done));
    assert_eq!(timeouts, 1);
    gate.open();
}

#[test]
fn zero_timeout_with_everything_done_does_not_time_out() {
    let done = done_futures().into_array();
    let items: Vec<_> = as_completed_timeout(&done, Duration::ZERO).collect();
    assert_eq!(items.len(), 3, "got {items:?}");
    let yielded: Vec<_> = items
        .into_iter()
        .map(|item| item.expect("timed out although every future was done"))
        .collect();
    assert_eq!(identities(yielded), identities(&done));
}

#[test]
fn timeout_not_reached_yields_everything() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let held = submit_gated(&pool, &gate, 9);
    thread::scope(|scope| {
        scope.spawn(|| {
            thread::sleep(SHORT);
            gate.open();
        });
        let items: Vec<_> = as_completed_timeout([&held], HANG).collect();
        assert_eq!(items, [Ok(&held)]);
    });
}

#[test]
fn empty_input_ends_at_once() {
    assert!(as_completed(Vec::<PoolFuture<i32>>::new()).next().is_none());
    let mut timed = as_completed_timeout(std::iter::empty::<&PoolFuture<i32>>(), Duration::ZERO);
    assert_eq!(
        timed.next(),
        None,
        "nothing was pending, so nothing can time out"
    );
}

// Dropping the iterator early neither cancels the jobs nor breaks later waits on them.
#[test]
fn dropping_the_iterator_early_leaves_the_futures_intact() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let first_done = finished(&pool, 100);
    let futures: Vec<PoolFuture<i32>> = (0..4)
        .map(|n| {
            let gate = gate.clone();
            let ran = Arc::clone(&ran);
            let fut = pool.submit(move || {
                if n > 0 {
                    gate.wait();
                }
                ran.fetch_add(1, Ordering::SeqCst);
                n
            });
            if n == 0 {
                // Done before the held jobs take both workers.
                fut.wait();
            }
            fut
        })
        .collect();

    let mut completed = as_completed(&futures);
    assert_eq!(completed.next(), Some(&futures[0]));
    drop(completed);

    // The same by value: the handles dropped with the iterator must not cancel their jobs.
    let more: Vec<PoolFuture<i32>> = (0..3)
        .map(|_| {
            let ran = Arc::clone(&ran);
            gated_counting(&pool, &gate, ran)
        })
        .collect();
    let mut by_value = as_completed(std::iter::once(first_done).chain(more));
    assert_eq!(by_value.next().map(|f| f.join()), Some(Ok(100)));
    drop(by_value);

    gate.open();
    for fut in &futures {
        assert!(fut.wait_timeout(HANG));
    }
    let results: Vec<_> = futures.iter().map(PoolFuture::result).collect();
    assert_eq!(results, [Ok(0), Ok(1), Ok(2), Ok(3)]);
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 4 + 3);
}

// `Iterator::size_hint` must stay truthful: once the timeout has ended the iteration, nothing
// more comes.
#[test]
fn size_hint_holds_through_a_timeout() {
    let pool = ThreadPoolExecutor::new(2);
    let gate = Gate::new();
    let _release = OpenOnDrop(gate.clone());
    let done = finished(&pool, 1);
    let held = submit_gated(&pool, &gate, 2);
    let items = drain_checking_size_hint(as_completed_timeout([&done, &held], SHORT));
    assert_eq!(items, [Ok(&done), Err(FutureError::Timeout)]);
    gate.open();
}

#[test]
fn size_hint_of_as_completed_is_exact() {
    let pool = ThreadPoolExecutor::new(2);
    let futures: Vec<_> = (0..5).map(|n| pool.submit(move || n)).collect();
    let items = drain_checking_size_hint(as_completed(&futures));
    assert_eq!(items.len(), 5);
}
