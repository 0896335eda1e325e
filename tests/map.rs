//! `ThreadPoolExecutor::map` and `map_with`: results in input order, eager submission, a timeout
//! measured from the `map_with` call (one `Err(Timeout)`, then the end, unstarted jobs
//! cancelled), `buffersize` (at most `n` jobs in flight, items pulled lazily, infinite input, 0
//! refused), panicking items, and dropping a `Map`, which cancels its unstarted jobs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, Gate, HANG, OpenOnDrop, drain_checking_size_hint, eventually};
use poolbridge::{FutureError, MapOptions, ThreadPoolExecutor};

/// How long to let a wrong implementation misbehave; the assertions hold whatever the timing.
const SHORT: Duration = Duration::from_millis(50);

/// A shared counter.
fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn get(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// Tracks how many jobs run at once, and the most that ever did.
#[derive(Clone, Default)]
struct Concurrency {
    running: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Concurrency {
    fn enter(&self) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }

    fn exit(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn results_come_in_input_order() {
    let pool = ThreadPoolExecutor::new(4);
    let results: Vec<u64> = pool
        .map(|n: u64| n * n, 0..100)
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, (0..100).map(|n| n * n).collect::<Vec<_>>());
}

// The jobs finish in reverse input order, yet the results come in input order.
#[test]
fn input_order_holds_when_jobs_finish_in_reverse() {
    let pool = ThreadPoolExecutor::new(4);
    let gates: Arc<Vec<Gate>> = Arc::new((0..4).map(|_| Gate::new()).collect());
    let (finished_tx, finished_rx) = mpsc::channel();

    let job_gates = Arc::clone(&gates);
    let map = pool.map(
        move |i: usize| {
            job_gates[i].wait();
            finished_tx.send(i).unwrap();
            i * 10
        },
        0..4,
    );
    thread::scope(|scope| {
        let gates = &gates;
        scope.spawn(move || {
            for i in (0..4).rev() {
                gates[i].open();
                assert_eq!(finished_rx.recv_timeout(HANG), Ok(i));
            }
        });
        let results: Vec<usize> = map.map(Result::unwrap).collect();
        assert_eq!(results, [0, 10, 20, 30]);
    });
}

#[test]
fn empty_input_yields_nothing() {
    let pool = ThreadPoolExecutor::new(1);
    assert!(pool.map(|n: u8| n, Vec::new()).next().is_none());
    let mut buffered = pool.map_with(|n: u8| n, Vec::new(), MapOptions::default().buffersize(2));
    assert!(buffered.next().is_none());
}

// Python semantics: `map` pulls and submits every item before returning, and the jobs run
// whether or not the results are read.
#[test]
fn map_submits_every_item_at_once() {
    let pool = ThreadPoolExecutor::new(2);
    let pulled = counter();
    let ran = counter();

    let pulled_in = Arc::clone(&pulled);
    let ran_in = Arc::clone(&ran);
    let items = (0..5).inspect(move |_| {
        pulled_in.fetch_add(1, Ordering::SeqCst);
    });
    let mut map = pool.map(
        move |n: i32| {
            ran_in.fetch_add(1, Ordering::SeqCst);
            n + 1
        },
        items,
    );
    assert_eq!(get(&pulled), 5, "map returned before pulling every item");
    assert!(
        eventually(|| get(&ran) == 5),
        "the jobs did not all run before iteration"
    );
    assert_eq!(map.next(), Some(Ok(1)));
    assert_eq!(map.collect::<Vec<_>>(), [Ok(2), Ok(3), Ok(4), Ok(5)]);
}

#[test]
fn a_panicking_item_yields_its_error_and_iteration_goes_on() {
    let pool = ThreadPoolExecutor::new(2);
    let job = |n: u32| {
        if n == 2 {
            panic!("item {n} is bad");
        }
        n
    };
    for options in [MapOptions::default(), MapOptions::default().buffersize(2)] {
        let results: Vec<_> = pool.map_with(job, 0..5, options).collect();
        assert_eq!(results.len(), 5, "got {results:?}");
        assert_eq!(results[..2], [Ok(0), Ok(1)]);
        let err = results[2].clone().unwrap_err();
        assert_eq!(err.as_panic().map(|p| p.message()), Some("item 2 is bad"));
        assert_eq!(results[3..], [Ok(3), Ok(4)]);
    }
}

// One worker: item 0 finishes, item 1 is held, items 2..5 wait in the queue when time runs out.
#[test]
fn timeout_yields_one_error_then_ends_and_cancels_unstarted_jobs() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let started = counter();

    let job_gate = gate.clone();
    let job_started = Arc::clone(&started);
    let mut map = pool.map_with(
        move |n: u32| {
            job_started.fetch_add(1, Ordering::SeqCst);
            if n > 0 {
                job_gate.wait();
            }
            n
        },
        0..5,
        MapOptions::default().timeout(SHORT),
    );
    assert!(eventually(|| get(&started) == 2));

    assert_eq!(map.next(), Some(Ok(0)));
    assert_eq!(map.next(), Some(Err(FutureError::Timeout)));
    assert_eq!(map.next(), None);
    assert_eq!(map.next(), None);

    gate.open();
    pool.shutdown(true, false);
    assert_eq!(
        get(&started),
        2,
        "jobs that had not started ran after the timeout"
    );
}

// The deadline counts from `map_with`, not from the first `next`: once it has passed, `next`
// on a held job times out without waiting the whole timeout again. A wrong implementation
// waits at least TIMEOUT here; a correct one returns at once, so TIMEOUT is a generous bound.
#[test]
fn timeout_is_measured_from_the_map_with_call() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();

    let job_gate = gate.clone();
    let mut map = pool.map_with(
        move |n: u32| {
            job_gate.wait();
            n
        },
        0..3,
        MapOptions::default().timeout(TIMEOUT),
    );
    thread::sleep(TIMEOUT + SHORT);

    let before_next = Instant::now();
    assert_eq!(map.next(), Some(Err(FutureError::Timeout)));
    let waited = before_next.elapsed();
    gate.open();
    assert!(
        waited < TIMEOUT,
        "next() waited {waited:?}: the deadline was measured from the first next(), not from map_with"
    );
    assert_eq!(map.next(), None);
}

#[test]
fn results_within_the_timeout_are_all_yielded() {
    let pool = ThreadPoolExecutor::new(2);
    let results: Vec<_> = pool
        .map_with(|n: u8| n * 3, 0..10, MapOptions::default().timeout(HANG))
        .collect();
    assert_eq!(results, (0..10).map(|n| Ok(n * 3)).collect::<Vec<_>>());
}

// Four workers could run four jobs at once; buffersize(2) must keep it to two, even while the
// consumer waits for the first result (pulling ahead there would put a third job in flight).
#[test]
fn buffersize_bounds_jobs_in_flight() {
    const BUFFER: usize = 2;
    const ITEMS: usize = 10;
    let pool = ThreadPoolExecutor::new(4);
    let gate = Gate::new();
    let pulled = counter();
    let concurrency = Concurrency::default();

    let pulled_in = Arc::clone(&pulled);
    let items = (0..ITEMS).inspect(move |_| {
        pulled_in.fetch_add(1, Ordering::SeqCst);
    });
    let job_gate = gate.clone();
    let job_concurrency = concurrency.clone();
    let map = pool.map_with(
        move |n: usize| {
            job_concurrency.enter();
            job_gate.wait();
            job_concurrency.exit();
            n
        },
        items,
        MapOptions::default().buffersize(BUFFER),
    );
    assert!(
        get(&pulled) <= BUFFER,
        "pulled {} items up front",
        get(&pulled)
    );
    assert!(eventually(|| get(&concurrency.running) == BUFFER));

    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let pulled = &pulled;
        scope.spawn(move || {
            for result in map {
                tx.send((result, get(pulled))).unwrap();
            }
        });
        // The consumer now waits for item 0, which is held.
        thread::sleep(SHORT);
        assert_eq!(
            get(pulled),
            BUFFER,
            "items were pulled while the buffer was full"
        );
        assert_eq!(get(&concurrency.max), BUFFER);

        gate.open();
        for consumed in 1..=ITEMS {
            let (result, pulled_now) = rx.recv_timeout(HANG).expect("the map ended early");
            assert_eq!(result, Ok(consumed - 1));
            assert!(
                pulled_now <= BUFFER + consumed,
                "{pulled_now} items pulled after {consumed} results: more than {BUFFER} in flight"
            );
        }
        assert!(
            rx.recv_timeout(HANG).is_err(),
            "the map yielded too many results"
        );
    });
    assert_eq!(get(&pulled), ITEMS);
    assert!(
        get(&concurrency.max) <= BUFFER,
        "{} jobs ran at once with buffersize {BUFFER}",
        get(&concurrency.max)
    );
}

// Finished jobs do not make room by themselves: the next item is pulled when a result is taken.
#[test]
fn buffersize_pulls_an_item_only_when_a_result_is_consumed() {
    const BUFFER: usize = 2;
    let pool = ThreadPoolExecutor::new(4);
    let pulled = counter();
    let ran = counter();

    let pulled_in = Arc::clone(&pulled);
    let items = (0..6).inspect(move |_| {
        pulled_in.fetch_add(1, Ordering::SeqCst);
    });
    let ran_in = Arc::clone(&ran);
    let mut map = pool.map_with(
        move |n: i32| {
            ran_in.fetch_add(1, Ordering::SeqCst);
            n
        },
        items,
        MapOptions::default().buffersize(BUFFER),
    );

    assert!(eventually(|| get(&ran) == BUFFER));
    thread::sleep(SHORT);
    assert_eq!(
        get(&pulled),
        BUFFER,
        "items were pulled before any result was consumed"
    );
    assert_eq!(get(&ran), BUFFER);

    assert_eq!(map.next(), Some(Ok(0)));
    assert!(eventually(|| get(&ran) == BUFFER + 1));
    thread::sleep(SHORT);
    assert_eq!(get(&pulled), BUFFER + 1);
    assert_eq!(get(&ran), BUFFER + 1);

    assert_eq!(map.collect::<Vec<_>>(), [Ok(1), Ok(2), Ok(3), Ok(4), Ok(5)]);
    assert_eq!(get(&pulled), 6);
}

#[test]
fn buffersize_works_on_an_infinite_iterator() {
    let pool = ThreadPoolExecutor::new(2);
    let pulled = counter();
    let pulled_in = Arc::clone(&pulled);
    // An eager implementation would pull forever; fail loudly instead of exhausting memory.
    let naturals = (0u64..).inspect(move |n| {
        assert!(*n < 1_000, "pulled item {n}: the input is not read lazily");
        pulled_in.fetch_add(1, Ordering::SeqCst);
    });

    let map = pool.map_with(|n| n * 2, naturals, MapOptions::default().buffersize(3));
    let first: Vec<u64> = map.take(10).map(Result::unwrap).collect();
    assert_eq!(first, (0..10).map(|n| n * 2).collect::<Vec<_>>());
    assert!(get(&pulled) <= 3 + 10, "pulled {} items", get(&pulled));
}

#[test]
#[should_panic(expected = "buffersize")]
fn buffersize_zero_is_refused() {
    let pool = ThreadPoolExecutor::new(1);
    let _map = pool.map_with(|n: u8| n, 0..3, MapOptions::default().buffersize(0));
}

// One worker; item 0 is read, item 1 runs (held); dropping the iterated Map must cancel items
// 2..6, whose items are then dropped unrun, each exactly once.
#[test]
fn dropping_an_iterated_map_cancels_unstarted_jobs() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let started = counter();
    let drops = DropCounter::new();
    let items: Vec<_> = (0..6).map(|i| (i, drops.track())).collect();

    let job_gate = gate.clone();
    let job_started = Arc::clone(&started);
    let mut map = pool.map(
        move |(i, item)| {
            job_started.fetch_add(1, Ordering::SeqCst);
            if i > 0 {
                job_gate.wait();
            }
            drop(item);
        },
        items,
    );
    assert_eq!(map.next(), Some(Ok(())));
    assert!(eventually(|| get(&started) == 2));
    drop(map);

    gate.open();
    pool.shutdown(true, false);
    assert_eq!(
        get(&started),
        2,
        "jobs of a dropped, iterated Map still ran"
    );
    assert_eq!(drops.created(), 6);
    assert_eq!(drops.dropped(), 6);
}

// The same Map never iterated: dropping it lets every job run (Python runs them too: its map
// cancels in a generator's `finally`, which only runs once iteration has started).
#[test]
fn dropping_a_map_never_iterated_lets_its_jobs_run() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let started = counter();
    let drops = DropCounter::new();
    let items: Vec<_> = (0..6).map(|_| drops.track()).collect();

    let job_gate = gate.clone();
    let job_started = Arc::clone(&started);
    let map = pool.map(
        move |item| {
            job_started.fetch_add(1, Ordering::SeqCst);
            job_gate.wait();
            drop(item);
        },
        items,
    );
    assert!(eventually(|| get(&started) == 1));
    drop(map);

    gate.open();
    pool.shutdown(true, false);
    assert_eq!(
        get(&started),
        6,
        "jobs of a dropped, never iterated Map did not run"
    );
    assert_eq!(drops.dropped(), 6);
}

#[test]
fn dropping_a_partly_consumed_buffered_map_stops_pulling_and_cancels() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let started = counter();
    let pulled = counter();

    let pulled_in = Arc::clone(&pulled);
    let items = (0u32..).inspect(move |_| {
        pulled_in.fetch_add(1, Ordering::SeqCst);
    });
    let job_gate = gate.clone();
    let job_started = Arc::clone(&started);
    let mut map = pool.map_with(
        move |n| {
            job_started.fetch_add(1, Ordering::SeqCst);
            if n > 0 {
                job_gate.wait();
            }
            n
        },
        items,
        MapOptions::default().buffersize(4),
    );
    assert_eq!(map.next(), Some(Ok(0)));
    assert!(eventually(|| get(&started) == 2));
    let pulled_before_drop = get(&pulled);
    drop(map);

    gate.open();
    pool.shutdown(true, false);
    assert_eq!(get(&started), 2, "queued jobs of a dropped Map still ran");
    assert_eq!(
        get(&pulled),
        pulled_before_drop,
        "items were pulled after the drop"
    );
    assert!(pulled_before_drop <= 4 + 1);
}

// `Iterator::size_hint` must not promise more items than come: a timeout ends the Map early.
#[test]
fn size_hint_allows_for_a_timeout() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _release = OpenOnDrop(gate.clone());
    for options in [
        MapOptions::default().timeout(SHORT),
        MapOptions::default().timeout(SHORT).buffersize(4),
    ] {
        let job_gate = gate.clone();
        let map = pool.map_with(
            move |n: u32| {
                job_gate.wait();
                n
            },
            0..10,
            options.clone(),
        );
        let items = drain_checking_size_hint(map);
        assert_eq!(items, [Err(FutureError::Timeout)], "with {options:?}");
    }
    gate.open();
}

#[test]
fn size_hint_matches_what_is_yielded() {
    let pool = ThreadPoolExecutor::new(2);
    for options in [MapOptions::default(), MapOptions::default().buffersize(3)] {
        let items = drain_checking_size_hint(pool.map_with(|n: u8| n, 0..7, options));
        assert_eq!(items.len(), 7);
    }
}

/// A buffered map whose executor shuts down mid-iteration yields the jobs already submitted, then
/// one `Err(Shutdown)` for the next item (Python's `submit` raises there), then ends instead of
/// pulling the rest of an infinite input.
#[test]
fn buffered_map_reports_shutdown_once() {
    let pool = ThreadPoolExecutor::new(2);
    let mut results = pool.map_with(|n: u64| n, 0.., MapOptions::default().buffersize(2));
    assert_eq!(results.next(), Some(Ok(0)));
    pool.shutdown(true, false);
    let rest: Vec<_> = results.collect();
    assert_eq!(rest.last(), Some(&Err(FutureError::Shutdown)));
    assert!(rest[..rest.len() - 1].iter().all(Result::is_ok), "{rest:?}");
    assert!(
        rest.len() <= 3,
        "stops pulling after the shutdown: {rest:?}"
    );
}
