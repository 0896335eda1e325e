//! Per-worker state (issue 13, item 6): `ThreadPoolBuilder::build_with_state` and
//! `StatefulPool::submit_with_state`, a connection (here a stand-in) per worker thread.
//!
//! * the initializer runs once per worker thread, on that thread, with the worker's index (the
//!   `_{index}` of its name), and every job of that thread borrows the same state;
//! * `Err` from the initializer breaks the pool with a message naming the worker and the error,
//!   and so does a panic; nothing hangs;
//! * the state is dropped on its thread when the worker exits: after the keep-alive (idle
//!   connections close by themselves) and at shutdown, before `shutdown(wait = true)` returns;
//! * the state need not be `Send`; a panicking drop of it is reported, not fatal;
//! * a stateful job that runs inline inside another stateful job (a blocking wait on the same
//!   worker) fails with a clear panic message instead of aliasing the state.

mod common;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Gate, HANG, eventually, thread_name};
use poolbridge::{BrokenReason, FutureError, ThreadPoolExecutor};

/// A stand-in for a database connection: opened once per worker, counts its queries, must stay
/// on its thread (an `Rc`), and reports when it closes.
struct Connection {
    worker: usize,
    thread: String,
    queries: Rc<RefCell<u32>>,
    closed: Arc<Mutex<Vec<usize>>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        assert_eq!(
            thread_name(),
            self.thread,
            "a state was dropped off its thread"
        );
        self.closed.lock().unwrap().push(self.worker);
    }
}

struct Opened {
    opened: Arc<Mutex<Vec<(usize, String)>>>,
    closed: Arc<Mutex<Vec<usize>>>,
}

impl Opened {
    fn new() -> Opened {
        Opened {
            opened: Arc::default(),
            closed: Arc::default(),
        }
    }

    fn init(&self) -> impl Fn(usize) -> Result<Connection, String> + Send + Sync + 'static {
        let (opened, closed) = (Arc::clone(&self.opened), Arc::clone(&self.closed));
        move |index| {
            opened.lock().unwrap().push((index, thread_name()));
            Ok(Connection {
                worker: index,
                thread: thread_name(),
                queries: Rc::default(),
                closed: Arc::clone(&closed),
            })
        }
    }

    fn opened(&self) -> usize {
        self.opened.lock().unwrap().len()
    }

    fn closed(&self) -> usize {
        self.closed.lock().unwrap().len()
    }
}

#[test]
fn one_state_per_worker_built_on_its_thread_with_its_index() {
    let opened = Opened::new();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .thread_name_prefix("db")
        .keep_alive(None)
        .build_with_state(opened.init())
        .unwrap();
    assert_eq!(opened.opened(), 0, "no thread, no state");
    // Hold three jobs together so that three workers start.
    let gate = Gate::new();
    let held: Vec<_> = (0..3)
        .map(|_| {
            let gate = gate.clone();
            pool.submit_with_state(move |conn: &mut Connection| {
                gate.wait();
                *conn.queries.borrow_mut() += 1;
                (conn.worker, conn.thread.clone(), *conn.queries.borrow())
            })
        })
        .collect();
    assert!(eventually(|| held.iter().all(|f| f.running())));
    gate.open();
    let mut per_worker: HashMap<usize, u32> = HashMap::new();
    for f in held {
        let (index, thread, count) = f.join().unwrap();
        assert_eq!(thread, format!("db_{index}"), "the index is the thread's");
        assert_eq!(count, 1);
        per_worker.insert(index, count);
    }
    let mut opened_on: Vec<_> = opened.opened.lock().unwrap().clone();
    opened_on.sort();
    assert_eq!(
        opened_on,
        [(0, "db_0".into()), (1, "db_1".into()), (2, "db_2".into())],
        "each initializer ran on its own worker thread"
    );
    // Many more jobs: each sees its thread's connection, and no connection is opened again.
    let futures: Vec<_> = (0..300)
        .map(|_| {
            pool.submit_with_state(|conn: &mut Connection| {
                *conn.queries.borrow_mut() += 1;
                (conn.worker, thread_name(), *conn.queries.borrow())
            })
        })
        .collect();
    for f in futures {
        let (index, thread, count) = f.join().unwrap();
        assert_eq!(thread, format!("db_{index}"));
        let seen = per_worker.entry(index).or_default();
        *seen = (*seen).max(count);
    }
    let total: u32 = per_worker.values().sum();
    assert_eq!(
        total, 303,
        "every query counted on its worker's own connection"
    );
    assert_eq!(opened.opened(), 3);
    // Plain jobs run on the same pool, without the state.
    assert_eq!(pool.submit(|| 5).join(), Ok(5));
    // Shutdown drops every state, on its thread, before it returns.
    pool.shutdown(true, false);
    assert_eq!(opened.closed(), 3);
}

#[test]
fn a_failing_initializer_breaks_the_pool_with_its_message() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("db")
        .build_with_state(|index| -> Result<u8, std::io::Error> {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!("connection refused for worker {index}"),
            ))
        })
        .unwrap();
    let fut = pool.submit_with_state(|state: &mut u8| *state);
    let reason = match fut.result_timeout(HANG) {
        Err(FutureError::BrokenPool(reason)) => reason,
        other => panic!("expected BrokenPool, got {other:?}"),
    };
    assert!(
        matches!(reason, BrokenReason::InitializerFailed(_)),
        "{reason:?}"
    );
    let reason = reason.to_string();
    assert!(reason.contains("worker db_0"), "{reason}");
    assert!(
        reason.contains("connection refused for worker 0"),
        "{reason}"
    );
    assert!(eventually(|| pool.is_shutdown()));
    assert!(pool.submit(|| 1).join().unwrap_err().is_broken_pool());
    let refused = pool.try_submit(|| 1).unwrap_err();
    assert!(refused.is_broken_pool());
}

#[test]
fn a_panicking_initializer_breaks_the_pool_too() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build_with_state(|_| -> Result<u8, String> { panic!("driver bug") })
        .unwrap();
    let err = pool
        .submit_with_state(|state: &mut u8| *state)
        .result_timeout(HANG)
        .unwrap_err();
    assert!(err.is_broken_pool());
    assert!(err.to_string().contains("driver bug"), "{err}");
}

#[test]
fn the_plain_initializer_runs_first() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let (first, second) = (Arc::clone(&order), Arc::clone(&order));
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(move || first.lock().unwrap().push("initializer"))
        .build_with_state(move |_| {
            second.lock().unwrap().push("state");
            Ok::<_, String>(())
        })
        .unwrap();
    pool.submit_with_state(|()| ()).join().unwrap();
    assert_eq!(*order.lock().unwrap(), ["initializer", "state"]);
}

#[test]
fn keep_alive_closes_idle_states_and_a_new_burst_reopens_them() {
    let opened = Opened::new();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .keep_alive(Some(Duration::from_millis(50)))
        .build_with_state(opened.init())
        .unwrap();
    let fut = pool.submit_with_state(|conn: &mut Connection| conn.worker);
    assert!(fut.join().unwrap() < 2);
    let first = opened.opened();
    assert!(first >= 1);
    assert!(
        eventually(|| pool.num_threads() == 0 && opened.closed() == first),
        "idle workers retired and closed their connections"
    );
    let fut = pool.submit_with_state(|conn: &mut Connection| conn.worker);
    assert!(fut.join().unwrap() < 2);
    assert!(
        opened.opened() > first,
        "the next job opened a new connection"
    );
}

#[test]
fn indices_are_unique_among_running_workers() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .build_with_state(Ok::<_, String>)
        .unwrap();
    let gate = Gate::new();
    let held: Vec<_> = (0..4)
        .map(|_| {
            let gate = gate.clone();
            pool.submit_with_state(move |index: &mut usize| {
                gate.wait();
                *index
            })
        })
        .collect();
    assert!(eventually(|| held.iter().all(|f| f.running())));
    gate.open();
    let indices: HashSet<usize> = held.into_iter().map(|f| f.join().unwrap()).collect();
    assert_eq!(indices, (0..4).collect());
}

#[test]
fn a_stateful_job_run_inline_in_another_fails_clearly() {
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .build_with_state(|_| Ok::<_, String>(0u32))
            .unwrap(),
    );
    let inner_pool = Arc::clone(&pool);
    let outer = pool.submit_with_state(move |n: &mut u32| {
        *n += 1;
        // The only worker waits for a stateful job of its own pool: it runs it inline, and the
        // state is borrowed by this very job.
        inner_pool.submit_with_state(|n: &mut u32| *n).join()
    });
    let inner = outer.result_timeout(HANG).unwrap();
    let err = inner.unwrap_err();
    let message = err.as_panic().expect("a panic").message();
    assert!(message.contains("in use by another job"), "{message}");
    // A plain inner job is fine, and the state survived.
    let inner_pool = Arc::clone(&pool);
    let fine = pool.submit_with_state(move |n: &mut u32| {
        let plain = inner_pool.submit(|| 10).join().unwrap();
        *n + plain
    });
    assert_eq!(fine.result_timeout(HANG), Ok(11));
}

/// A state whose drop panics.
struct BadState;

impl Drop for BadState {
    fn drop(&mut self) {
        panic!("closing the connection failed");
    }
}

#[test]
fn a_state_whose_drop_panics_is_reported_not_fatal() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build_with_state(|_| Ok::<_, String>(BadState))
        .unwrap();
    assert_eq!(pool.submit_with_state(|_: &mut BadState| 1).join(), Ok(1));
    // Shutdown drops the state on the worker, which must still exit cleanly.
    let dropped_at = std::time::Instant::now();
    pool.shutdown(true, false);
    assert!(dropped_at.elapsed() < HANG);
    assert!(pool.is_shutdown());
}

#[test]
fn stateful_jobs_can_be_awaited() {
    let counter = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&counter);
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build_with_state(move |index| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(index * 100)
        })
        .unwrap();
    let value =
        futures::executor::block_on(async { pool.submit_with_state(|v: &mut usize| *v + 1).await });
    assert!(matches!(value, Ok(1) | Ok(101)), "{value:?}");
    assert!(counter.load(Ordering::SeqCst) >= 1);
    assert!(format!("{pool:?}").contains("StatefulPool"));
}
