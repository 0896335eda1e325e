//! Loom models of the back-pressure reservations (`src/pool/backpressure.rs`): submitters
//! waiting for room in the queue of a pool with `max_queued`, against jobs giving their
//! reservations back, waiters giving up, and shutdown.
//!
//! The reservations are the pool's own code, reached through `poolbridge::__loom::PermitsModel`;
//! a job leaving `PENDING` is a call to `release`.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom_backpressure` (see
//! `.ci/run`).

#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use loom::thread;
use poolbridge::__loom::PermitsModel;

/// A release racing a submitter that finds the queue full. Catches the lost wakeup of the
/// Dekker pair (`used -= 1` → read `waiting` against `waiting += 1` → read `used`): without it
/// the waiter parks forever, which loom reports as a deadlock.
#[test]
fn release_races_a_blocked_submitter() {
    loom::model(|| {
        let permits = PermitsModel::new(1);
        assert!(permits.try_acquire(), "the queued job holds the only place");
        let waiter = {
            let permits = permits.clone();
            thread::spawn(move || {
                assert!(permits.acquire_blocking());
                permits.release(); // its job starts
            })
        };
        permits.release(); // the queued job starts
        waiter.join().unwrap();
        assert_eq!((permits.used(), permits.waiting()), (0, 0));
    });
}

/// The same through `submit_async`'s future and its waker (register, then re-check). Catches a
/// grant whose wake-up goes to a waker replaced by a later poll, or no wake-up at all.
#[test]
fn release_races_an_async_submitter() {
    loom::model(|| {
        let permits = PermitsModel::new(1);
        assert!(permits.try_acquire());
        let waiter = {
            let permits = permits.clone();
            thread::spawn(move || {
                assert!(loom::future::block_on(permits.acquire()));
                permits.release();
            })
        };
        permits.release();
        waiter.join().unwrap();
        assert_eq!((permits.used(), permits.waiting()), (0, 0));
    });
}

/// Polls a future once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(std::task::Waker::noop()))
}

/// An async submitter that queues, then gives up (its future dropped by a timeout), racing the
/// release that may grant it the place, while a third submitter waits behind it. Catches a
/// phantom reservation (a place granted to a waiter that is gone, never given back: the third
/// submitter then waits forever) and a double release (`used` wraps).
#[test]
fn a_submitter_that_gives_up_leaves_no_reservation() {
    loom::model(|| {
        let permits = PermitsModel::new(1);
        assert!(permits.try_acquire());
        let quitter = {
            let permits = permits.clone();
            thread::spawn(move || {
                let mut attempt = permits.acquire();
                if poll_once(&mut attempt).is_ready() {
                    permits.release(); // it got the place at once: its job starts
                }
                drop(attempt);
            })
        };
        let patient = {
            let permits = permits.clone();
            thread::spawn(move || {
                assert!(permits.acquire_blocking());
                permits.release();
            })
        };
        permits.release();
        quitter.join().unwrap();
        patient.join().unwrap();
        assert_eq!((permits.used(), permits.waiting()), (0, 0));
    });
}

/// Shutdown racing a blocked submitter. Catches a waiter that `close` misses (it parks forever)
/// and a refused waiter left counted in `waiting`.
#[test]
fn close_wakes_a_blocked_submitter() {
    loom::model(|| {
        let permits = PermitsModel::new(1);
        assert!(permits.try_acquire());
        let waiter = {
            let permits = permits.clone();
            thread::spawn(move || {
                if permits.acquire_blocking() {
                    permits.release();
                }
            })
        };
        permits.close();
        waiter.join().unwrap();
        assert_eq!(permits.waiting(), 0);
        permits.release();
        assert_eq!(permits.used(), 0);
    });
}
