//! Stress: four threads submit over 100k jobs while other threads cancel some of them; jobs panic
//! at random (some with a payload whose own `Drop` panics), some submit sub-jobs from inside the
//! pool, some have a done callback that blocks until a job submitted after them has run, some
//! return a value whose `Drop` is slow; outcomes are collected with `join`, `result`,
//! `as_completed`, `wait` and done callbacks. Drop counters prove every closure and every value
//! is dropped exactly once, and every future ends in a state consistent with what happened to
//! it. A stampede variant has many threads (and workers) wait on one future.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Once, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, Gate, HANG, Tracked, eventually};
use poolbridge::{
    FutureError, FutureState, PoolFuture, ReturnWhen, ThreadPoolExecutor, as_completed, wait,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SUBMITTERS: usize = 4;
const JOBS_PER_SUBMITTER: usize = 25_000;
const TOTAL: usize = SUBMITTERS * JOBS_PER_SUBMITTER;
const PANIC_PREFIX: &str = "stress job";

/// Keeps the thousands of expected job panics off stderr (and out of backtrace capture); any
/// other panic goes to the previous hook.
fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            let expected = msg.is_some_and(|m| m.starts_with(PANIC_PREFIX))
                || payload.downcast_ref::<BadDrop>().is_some();
            if !expected {
                previous(info);
            }
        }));
    });
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Normal,
    Panics,
    /// Panics with a payload whose own `Drop` panics (`panic_any(BadDrop)`).
    PanicsBadPayload,
    /// Submits sub-jobs from inside its worker and joins them.
    Spawner,
    /// Its done callback blocks until a job submitted after it (by the same submitter) has run,
    /// or 20 ms pass: the worker running that callback must not hold up the pool.
    BlockingCallback,
    /// Returns a value whose `Drop` sleeps.
    SlowDrop,
}

/// A panic payload whose own `Drop` panics, after its tracked field is dropped.
struct BadDrop {
    _tracked: Tracked,
}

impl Drop for BadDrop {
    fn drop(&mut self) {
        panic!("{PANIC_PREFIX}: a panic payload's drop panics");
    }
}

/// A job's value: its id, what it computed, and a drop-tracked payload.
struct Out {
    id: usize,
    value: u64,
    _payload: Tracked,
    slow_drop: bool,
}

impl Drop for Out {
    fn drop(&mut self) {
        if self.slow_drop {
            thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Opened by the job submitted after a `BlockingCallback` job.
type Latch = Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>;

fn open_latch(latch: &Latch) {
    *latch.0.lock().unwrap() = true;
    latch.1.notify_all();
}

/// Waits for the latch, up to `limit`. Returns whether it opened.
fn wait_latch(latch: &Latch, limit: Duration) -> bool {
    let guard = latch.0.lock().unwrap();
    let (guard, _) = latch
        .1
        .wait_timeout_while(guard, limit, |open| !*open)
        .unwrap();
    *guard
}

type Fut = PoolFuture<Arc<Out>>;

/// Shared bookkeeping, indexed by job id.
struct Book {
    kinds: Vec<Kind>,
    /// How many times each job's closure ran (must end as 0 or 1).
    ran: Vec<AtomicU8>,
    /// How many times each job's done callback ran (must end as exactly 1).
    callbacks: Vec<AtomicU8>,
    /// Some `cancel()` on the job returned true.
    cancel_won: Vec<AtomicBool>,
    /// Closures and values (top-level and sub-jobs).
    drops: DropCounter,
    sub_jobs_ran: AtomicUsize,
}

fn expected_value(id: usize) -> u64 {
    (id as u64).wrapping_mul(2_654_435_761) % 1_000_003
}

fn sub_value(id: usize, k: u64) -> u64 {
    id as u64 * 10 + k
}

fn kind_for(rng: &mut StdRng) -> Kind {
    match rng.random_range(0..1000) {
        0..30 => Kind::Panics,
        30..40 => Kind::PanicsBadPayload,
        40..140 => Kind::Spawner,
        140..145 => Kind::BlockingCallback,
        145..155 => Kind::SlowDrop,
        _ => Kind::Normal,
    }
}

/// The job's outcome for a `BadDrop` payload: its message is not a string.
const NOT_A_STRING: &str = "Box<dyn Any> (a panic payload that is not a string)";

/// Submits job `id`. A `BlockingCallback` job's callback waits for `latch`, which the caller
/// opens from the next job it submits.
fn submit_job(
    pool: &Arc<ThreadPoolExecutor>,
    book: &Arc<Book>,
    id: usize,
    latch: Option<Latch>,
) -> Fut {
    let tracked = book.drops.track();
    let b = Arc::clone(book);
    let p = Arc::clone(pool);
    let fut = pool.submit(move || {
        let _closure_payload = tracked;
        b.ran[id].fetch_add(1, Ordering::SeqCst);
        let mut value = expected_value(id);
        match b.kinds[id] {
            Kind::Normal | Kind::BlockingCallback | Kind::SlowDrop => {}
            Kind::Panics => panic!("{PANIC_PREFIX} {id} panics"),
            Kind::PanicsBadPayload => std::panic::panic_any(BadDrop {
                _tracked: b.drops.track(),
            }),
            Kind::Spawner => {
                // Sub-jobs, submitted from inside the worker (its local deque); one in seven
                // panics, which the spawner sees as a value.
                let subs: Vec<_> = (0..2u64)
                    .map(|k| {
                        let t = b.drops.track();
                        let bb = Arc::clone(&b);
                        p.submit(move || {
                            let _t = t;
                            bb.sub_jobs_ran.fetch_add(1, Ordering::SeqCst);
                            if (id + k as usize) % 7 == 0 {
                                panic!("{PANIC_PREFIX} sub-job of {id} panics");
                            }
                            (sub_value(id, k), bb.drops.track())
                        })
                    })
                    .collect();
                for (k, sub) in subs.into_iter().enumerate() {
                    match sub.join() {
                        Ok((v, _t)) => value += v,
                        Err(FutureError::Panicked(p)) => {
                            assert!(p.message().contains("sub-job"), "{p:?}");
                            assert_eq!((id + k) % 7, 0);
                        }
                        // The pool only shuts down after every job was consumed.
                        Err(other) => panic!("sub-job of {id}: unexpected {other:?}"),
                    }
                }
            }
        }
        Arc::new(Out {
            id,
            value,
            _payload: b.drops.track(),
            slow_drop: b.kinds[id] == Kind::SlowDrop,
        })
    });
    let b = Arc::clone(book);
    fut.add_done_callback(move |f| {
        assert!(f.done(), "a callback ran on a future that is not done");
        b.callbacks[id].fetch_add(1, Ordering::SeqCst);
        if let Some(latch) = latch {
            // Bounded: every worker could be in such a callback at once, and then nobody is left
            // to run the job that opens the latch (Python hangs there for good).
            wait_latch(&latch, Duration::from_millis(20));
        }
    });
    fut
}

/// Checks one future's final outcome against what happened to it. Returns which way it ended.
fn check(book: &Book, id: usize, outcome: Result<Arc<Out>, FutureError>) -> FutureState {
    let ran = book.ran[id].load(Ordering::SeqCst);
    let cancel_won = book.cancel_won[id].load(Ordering::SeqCst);
    match outcome {
        Ok(out) => {
            assert_eq!(out.id, id);
            assert!(!matches!(
                book.kinds[id],
                Kind::Panics | Kind::PanicsBadPayload
            ));
            if book.kinds[id] != Kind::Spawner {
                assert_eq!(out.value, expected_value(id), "job {id}");
            } else {
                let subs_ok: u64 = (0..2u64)
                    .filter(|&k| (id + k as usize) % 7 != 0)
                    .map(|k| sub_value(id, k))
                    .sum();
                assert_eq!(out.value, expected_value(id) + subs_ok, "job {id}");
            }
            assert_eq!(ran, 1, "job {id} finished but ran {ran} times");
            assert!(!cancel_won, "job {id} ran although cancel() returned true");
            FutureState::Finished
        }
        Err(FutureError::Panicked(p)) => {
            match book.kinds[id] {
                Kind::Panics => assert_eq!(p.message(), format!("{PANIC_PREFIX} {id} panics")),
                Kind::PanicsBadPayload => assert_eq!(p.message(), NOT_A_STRING),
                other => panic!("job {id} of kind {other:?}: {p:?}"),
            }
            assert_eq!(ran, 1, "job {id} panicked but ran {ran} times");
            assert!(!cancel_won);
            FutureState::Finished
        }
        Err(FutureError::Cancelled) => {
            assert_eq!(ran, 0, "job {id} was cancelled but its closure ran");
            assert!(
                cancel_won,
                "job {id} is cancelled but no cancel() returned true"
            );
            FutureState::Cancelled
        }
        Err(other) => panic!("job {id}: unexpected outcome {other:?}"),
    }
}

#[derive(Default)]
struct Tally {
    finished: usize,
    cancelled: usize,
}

impl Tally {
    fn add(&mut self, state: FutureState) {
        match state {
            FutureState::Finished => self.finished += 1,
            FutureState::Cancelled => self.cancelled += 1,
            other => panic!("a consumed future is {other:?}"),
        }
    }
}

#[test]
fn stress_submit_cancel_panic_nested_and_collect() {
    quiet_expected_panics();
    // Two rounds: more workers than cores, and as many as cores.
    run_stress(0x5EED_2024, 4);
    run_stress(0x5EED_2025, 2);
}

fn run_stress(seed: u64, workers: usize) {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let book = Arc::new(Book {
        kinds: (0..TOTAL).map(|_| kind_for(&mut rng)).collect(),
        ran: (0..TOTAL).map(|_| AtomicU8::new(0)).collect(),
        callbacks: (0..TOTAL).map(|_| AtomicU8::new(0)).collect(),
        cancel_won: (0..TOTAL).map(|_| AtomicBool::new(false)).collect(),
        drops: DropCounter::new(),
        sub_jobs_ran: AtomicUsize::new(0),
    });
    let pool = Arc::new(ThreadPoolExecutor::new(workers));

    // A canceller thread gets a share of the futures and cancels some, racing with the workers.
    let (to_canceller, canceller_rx) = mpsc::channel::<(usize, Arc<Fut>)>();
    let canceller = {
        let book = Arc::clone(&book);
        thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(seed ^ 77);
            let mut keep = Vec::new();
            for (id, fut) in canceller_rx {
                if rng.random_bool(0.5) && fut.cancel() {
                    book.cancel_won[id].store(true, Ordering::SeqCst);
                    assert!(fut.cancelled());
                    assert!(fut.done());
                }
                keep.push(fut);
                if keep.len() > 64 {
                    keep.clear(); // drop the canceller's handles as it goes
                }
            }
        })
    };

    let barrier = Arc::new(Barrier::new(SUBMITTERS));
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|t| {
            let pool = Arc::clone(&pool);
            let book = Arc::clone(&book);
            let barrier = Arc::clone(&barrier);
            let to_canceller = to_canceller.clone();
            thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed + 1000 + t as u64);
                barrier.wait();
                let ids = t * JOBS_PER_SUBMITTER..(t + 1) * JOBS_PER_SUBMITTER;
                let mut futures = Vec::with_capacity(JOBS_PER_SUBMITTER);
                // The latch of the last `BlockingCallback` job, opened by the next job.
                let mut open_next: Option<Latch> = None;
                for id in ids {
                    let latch = (book.kinds[id] == Kind::BlockingCallback).then(Latch::default);
                    let fut = Arc::new(submit_job(&pool, &book, id, latch.clone()));
                    if let Some(previous) = open_next.take() {
                        // Fire and forget: the pool runs it whether or not anyone waits.
                        drop(pool.submit(move || open_latch(&previous)));
                    }
                    open_next = latch;
                    if rng.random_bool(0.05) && fut.cancel() {
                        book.cancel_won[id].store(true, Ordering::SeqCst);
                    }
                    if rng.random_bool(0.2) {
                        to_canceller.send((id, Arc::clone(&fut))).unwrap();
                    }
                    futures.push((id, fut));
                }
                if let Some(last) = open_next {
                    open_latch(&last);
                }
                futures
            })
        })
        .collect();
    drop(to_canceller);
    let batches: Vec<Vec<(usize, Arc<Fut>)>> =
        submitters.into_iter().map(|t| t.join().unwrap()).collect();
    canceller.join().unwrap();

    // Four consumers, one way of collecting each, while the pool still works through the queue.
    let consumers: Vec<_> = batches
        .into_iter()
        .enumerate()
        .map(|(way, batch)| {
            let book = Arc::clone(&book);
            thread::spawn(move || {
                let mut tally = Tally::default();
                let deadline = Instant::now() + HANG * 2;
                match way {
                    0 => {
                        // join: moves the value out.
                        for (id, fut) in batch {
                            let fut = Arc::try_unwrap(fut).expect("a handle leaked");
                            assert!(
                                fut.wait_timeout(deadline - Instant::now()),
                                "job {id} hangs"
                            );
                            tally.add(check(&book, id, fut.join()));
                        }
                    }
                    1 => {
                        // result: clones (an Arc), twice, from the same handle.
                        for (id, fut) in batch {
                            let first = fut.result_timeout(deadline - Instant::now());
                            assert!(
                                !matches!(first, Err(FutureError::Timeout)),
                                "job {id} hangs"
                            );
                            let again = fut.result();
                            assert_eq!(
                                first.as_ref().map(Arc::as_ptr),
                                again.as_ref().map(Arc::as_ptr)
                            );
                            drop(again);
                            tally.add(check(&book, id, first));
                        }
                    }
                    2 => {
                        // as_completed over everything at once.
                        let index: std::collections::HashMap<usize, usize> = batch
                            .iter()
                            .map(|(id, fut)| (Arc::as_ptr(fut) as usize, *id))
                            .collect();
                        let mut seen = 0;
                        for fut in as_completed(batch.iter().map(|(_, f)| &**f)) {
                            let id = index[&(fut as *const Fut as usize)];
                            assert!(fut.done());
                            tally.add(check(&book, id, fut.result()));
                            seen += 1;
                        }
                        assert_eq!(seen, batch.len());
                    }
                    _ => {
                        // wait(AllCompleted) on chunks, then read each outcome.
                        for chunk in batch.chunks(997) {
                            let outcome =
                                wait(chunk.iter().map(|(_, f)| &**f), ReturnWhen::AllCompleted);
                            assert_eq!(outcome.done.len(), chunk.len());
                            assert!(outcome.not_done.is_empty());
                            for (id, fut) in chunk {
                                tally.add(check(&book, *id, fut.result()));
                            }
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for c in consumers {
        let t = c.join().unwrap();
        total.finished += t.finished;
        total.cancelled += t.cancelled;
    }

    // The counts add up.
    assert_eq!(total.finished + total.cancelled, TOTAL);
    let ran: usize = book
        .ran
        .iter()
        .map(|r| r.load(Ordering::SeqCst) as usize)
        .sum();
    assert_eq!(
        ran, total.finished,
        "every finished job ran once, no cancelled one ran"
    );
    let won = book
        .cancel_won
        .iter()
        .filter(|c| c.load(Ordering::SeqCst))
        .count();
    assert_eq!(won, total.cancelled);
    assert!(total.cancelled > 1_000, "too few cancels to mean anything");
    assert!(book.sub_jobs_ran.load(Ordering::SeqCst) > 1_000);
    // Every callback ran exactly once (a callback runs before the future counts as settled for
    // join, but result/wait may return first: give them time).
    assert!(
        eventually(|| book.callbacks.iter().all(|c| c.load(Ordering::SeqCst) == 1)),
        "a done callback ran {} times",
        book.callbacks
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .find(|&c| c != 1)
            .unwrap_or(1)
    );

    // Jobs' closures hold the pool; the last of them may still be on its way out.
    assert!(eventually(|| Arc::strong_count(&pool) == 1));
    Arc::try_unwrap(pool)
        .expect("the pool leaked")
        .shutdown(true, false);
    book.drops.wait_all_dropped();
    // Exactly the tracked values we expect were made, and each was dropped exactly once
    // (`Tracked` panics on a second drop): a closure per job, a value per job that returned,
    // a closure per sub-job and a value per sub-job that returned.
    let ran_kind = |kind: Kind| {
        (0..TOTAL)
            .filter(|&id| book.kinds[id] == kind && book.ran[id].load(Ordering::SeqCst) == 1)
            .count()
    };
    let bad_payloads = ran_kind(Kind::PanicsBadPayload);
    assert!(bad_payloads > 100, "too few bad payloads to mean anything");
    assert!(ran_kind(Kind::BlockingCallback) > 100);
    assert!(ran_kind(Kind::SlowDrop) > 100);
    let ok_values = total.finished - ran_kind(Kind::Panics) - bad_payloads;
    let spawners_ran: Vec<usize> = (0..TOTAL)
        .filter(|&id| book.kinds[id] == Kind::Spawner && book.ran[id].load(Ordering::SeqCst) == 1)
        .collect();
    let sub_values: usize = spawners_ran
        .iter()
        .map(|&id| (0..2).filter(|k| (id + k) % 7 != 0).count())
        .sum();
    assert_eq!(
        book.sub_jobs_ran.load(Ordering::SeqCst),
        2 * spawners_ran.len()
    );
    assert_eq!(
        book.drops.created(),
        TOTAL + ok_values + bad_payloads + 2 * spawners_ran.len() + sub_values
    );
    eprintln!(
        "stress ({workers} workers): {} finished, {} cancelled, {} sub-jobs, {} tracked drops, {:?}",
        total.finished,
        total.cancelled,
        book.sub_jobs_ran.load(Ordering::SeqCst),
        book.drops.dropped(),
        started.elapsed()
    );
}

/// How one stampede waiter waits.
fn wait_one_way(way: usize, fut: &PoolFuture<Arc<Out>>) -> u64 {
    match way % 6 {
        0 => fut.result().unwrap().value,
        1 => {
            fut.wait();
            fut.result().unwrap().value
        }
        2 => {
            assert!(fut.wait_timeout(HANG), "stampede waiter timed out");
            fut.result().unwrap().value
        }
        3 => {
            let outcome = wait([fut], ReturnWhen::FirstCompleted);
            assert_eq!(outcome.done.len(), 1);
            fut.result().unwrap().value
        }
        4 => as_completed([fut]).next().unwrap().result().unwrap().value,
        _ => {
            let (tx, rx) = mpsc::channel();
            fut.add_done_callback(move |f| tx.send(f.result().unwrap().value).unwrap());
            rx.recv_timeout(HANG).expect("stampede callback never ran")
        }
    }
}

// Many threads, and jobs on the pool's own workers, wait on the same future. Half the rounds
// hold the job until everyone waits; the other half let it finish while waiters arrive.
#[test]
fn stampede_many_waiters_on_one_future() {
    const ROUNDS: usize = 150;
    const THREADS: usize = 12;
    const WORKER_WAITERS: usize = 3;
    let drops = DropCounter::new();
    let pool = ThreadPoolExecutor::new(1 + WORKER_WAITERS);
    let mut rng = StdRng::seed_from_u64(42);
    for round in 0..ROUNDS {
        let held = round % 2 == 0;
        let gate = Gate::new();
        let payload = drops.track();
        let target = {
            let gate = gate.clone();
            let delay = rng.random_range(0..50u64);
            Arc::new(pool.submit(move || {
                if held {
                    gate.wait();
                } else {
                    thread::sleep(Duration::from_micros(delay));
                }
                Arc::new(Out {
                    id: round,
                    value: round as u64 * 3,
                    _payload: payload,
                    slow_drop: false,
                })
            }))
        };
        let arrived = Arc::new(AtomicUsize::new(0));
        let worker_waiters: Vec<_> = (0..WORKER_WAITERS)
            .map(|w| {
                let target = Arc::clone(&target);
                let arrived = Arc::clone(&arrived);
                pool.submit(move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    wait_one_way(w + round, &target)
                })
            })
            .collect();
        let threads: Vec<_> = (0..THREADS)
            .map(|w| {
                let target = Arc::clone(&target);
                let arrived = Arc::clone(&arrived);
                thread::spawn(move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    wait_one_way(w + round, &target)
                })
            })
            .collect();
        if held {
            assert!(eventually(
                || arrived.load(Ordering::SeqCst) == THREADS + WORKER_WAITERS
            ));
            assert!(!target.done());
            gate.open();
        }
        for t in threads {
            assert_eq!(t.join().unwrap(), round as u64 * 3, "round {round}");
        }
        for f in worker_waiters {
            assert_eq!(
                f.result_timeout(HANG),
                Ok(round as u64 * 3),
                "round {round}"
            );
        }
        let target = Arc::try_unwrap(target).expect("a handle leaked");
        let value = target.join().unwrap();
        assert_eq!(value.id, round);
        drop(value);
        assert_eq!(
            drops.dropped(),
            round + 1,
            "round {round}: value not dropped once"
        );
    }
    drop(pool);
    drops.wait_all_dropped();
}
