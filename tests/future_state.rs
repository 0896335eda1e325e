//! The four states of a `PoolFuture` (Pending, Running, Finished, Cancelled) and the predicates
//! that report them; `Debug` showing the state like Python's repr; `Hash`/`Eq` by identity, so a
//! future can key a `HashMap`; and dropping a handle, which must not cancel its job.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{DropCounter, Gate, submit_held, submit_held_with};
use poolbridge::{FutureState, PoolFuture, ThreadPoolExecutor};

/// `(running(), cancelled(), done())`.
fn predicates<T>(fut: &PoolFuture<T>) -> (bool, bool, bool) {
    (fut.running(), fut.cancelled(), fut.done())
}

/// The state names as Python's repr spells them.
const STATE_NAMES: [&str; 4] = ["pending", "running", "finished", "cancelled"];

/// Asserts that `debug` names `expected` and none of the other states.
fn assert_debug_shows(debug: &str, expected: &str) {
    let lower = debug.to_lowercase();
    assert!(
        lower.contains(expected),
        "Debug output {debug:?} does not show the state {expected:?}"
    );
    for other in STATE_NAMES.iter().filter(|name| **name != expected) {
        assert!(
            !lower.contains(other),
            "Debug output {debug:?} of a {expected} future mentions {other:?}"
        );
    }
}

#[test]
fn queued_job_is_pending() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, ());

    let fut = pool.submit(|| 7);
    assert_eq!(fut.state(), FutureState::Pending);
    assert_eq!(predicates(&fut), (false, false, false));

    gate.open();
    assert_eq!(fut.result(), Ok(7));
}

#[test]
fn started_job_is_running() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let fut = submit_held(&pool, &gate, ());

    assert_eq!(fut.state(), FutureState::Running);
    assert_eq!(predicates(&fut), (true, false, false));

    gate.open();
    fut.wait();
    assert_eq!(fut.state(), FutureState::Finished);
}

#[test]
fn completed_job_is_finished() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(|| "value");
    fut.wait();
    assert_eq!(fut.state(), FutureState::Finished);
    assert_eq!(predicates(&fut), (false, false, true));
}

#[test]
fn panicked_job_is_finished_not_cancelled() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(|| -> u8 { panic!("state test panic") });
    fut.wait();
    assert_eq!(fut.state(), FutureState::Finished);
    assert_eq!(predicates(&fut), (false, false, true));
}

#[test]
fn cancelled_job_is_cancelled_and_done() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, ());

    let fut = pool.submit(|| 1);
    assert!(fut.cancel());
    assert_eq!(fut.state(), FutureState::Cancelled);
    assert_eq!(predicates(&fut), (false, true, true));

    gate.open();
    pool.shutdown(true, false);
    // Terminal: the state never changes again, even after the pool has drained.
    assert_eq!(fut.state(), FutureState::Cancelled);
}

#[test]
fn debug_shows_each_state() {
    /// A value type without `Debug`: formatting a future must not require it.
    struct Opaque;

    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let running = submit_held(&pool, &gate, ());
    let pending = pool.submit(|| Opaque);
    let cancelled = pool.submit(|| Opaque);
    assert!(cancelled.cancel());

    assert_debug_shows(&format!("{running:?}"), "running");
    assert_debug_shows(&format!("{pending:?}"), "pending");
    assert_debug_shows(&format!("{cancelled:?}"), "cancelled");

    gate.open();
    pending.wait();
    assert_debug_shows(&format!("{pending:?}"), "finished");

    let failed = pool.submit(|| -> Opaque { panic!("debug test panic") });
    failed.wait();
    assert_debug_shows(&format!("{failed:?}"), "finished");
}

#[test]
fn equality_is_identity_not_value() {
    let pool = ThreadPoolExecutor::new(2);
    let a = pool.submit(|| 1);
    let b = pool.submit(|| 1);
    a.wait();
    b.wait();

    assert_eq!(a, a);
    assert_ne!(
        a, b,
        "two jobs with equal values are still different futures"
    );
    let set: HashSet<&PoolFuture<i32>> = [&a, &b, &a].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert!(set.contains(&a) && set.contains(&b));
}

// The hash must not depend on the state: keys inserted while pending are found once finished.
#[test]
fn future_keys_a_hashmap_across_state_changes() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let blocker = submit_held(&pool, &gate, ());

    let mut future_to_input = HashMap::new();
    for n in 0..20u64 {
        future_to_input.insert(pool.submit(move || n * n), n);
    }
    assert_eq!(future_to_input.len(), 20);
    assert!(
        future_to_input
            .keys()
            .all(|f| f.state() == FutureState::Pending)
    );

    gate.open();
    blocker.wait();
    for fut in future_to_input.keys() {
        fut.wait();
    }
    for fut in future_to_input.keys() {
        assert_eq!(fut.state(), FutureState::Finished);
        let n = *future_to_input
            .get(fut)
            .expect("a finished future no longer finds its own entry");
        assert_eq!(fut.result(), Ok(n * n));
    }
}

#[test]
fn dropping_a_pending_future_does_not_cancel_its_job() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let _blocker = submit_held(&pool, &gate, ());
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = DropCounter::new();

    let job_ran = Arc::clone(&ran);
    let tracked = drops.track();
    let fut = pool.submit(move || {
        let _tracked = tracked;
        job_ran.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(fut.state(), FutureState::Pending);
    drop(fut);

    gate.open();
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn dropping_a_running_future_lets_its_job_finish() {
    let pool = ThreadPoolExecutor::new(1);
    let gate = Gate::new();
    let finished = Arc::new(AtomicUsize::new(0));

    let job_finished = Arc::clone(&finished);
    let fut = submit_held_with(&pool, &gate, move || {
        job_finished.fetch_add(1, Ordering::SeqCst);
    });
    drop(fut);

    gate.open();
    pool.shutdown(true, false);
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_a_finished_future_drops_its_value_once() {
    let pool = ThreadPoolExecutor::new(1);
    let drops = DropCounter::new();
    let value = drops.track();
    let fut = pool.submit(move || value);
    fut.wait();
    assert_eq!(drops.dropped(), 0, "the value was dropped while still held");
    drop(fut);
    drops.wait_all_dropped();
}
