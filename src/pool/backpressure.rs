//! Back-pressure: the reservations of a pool built with
//! [`ThreadPoolBuilder::max_queued`](crate::ThreadPoolBuilder::max_queued).
//!
//! A job holds a reservation from its submit until it leaves `PENDING`: when a thread starts it,
//! or it is cancelled or refused (`Task::call` and `Task::discard` give it back, and exactly one
//! of them runs per job). So at most `max_queued` jobs wait for a worker, whatever happens to
//! them, and cancelling a queued job makes room at once.
//!
//! # The protocol
//!
//! * `used` counts the reservations held; `try_take` raises it with a CAS while it is below
//!   `max`. The fast path of a submit is that CAS alone, taken only when nobody waits
//!   (`waiting == 0`), so newcomers do not overtake the queue of waiters.
//! * A submitter that finds no room queues a [`Waiter`] under the `queue` lock, in arrival
//!   order, raises `waiting`, then calls `grant` (still under the lock): room that appeared in
//!   between goes to the front waiter, maybe itself.
//! * `release` lowers `used`, then reads `waiting`; if anyone waits, it takes the lock and
//!   `grant`s: the front waiters get the free reservations *directly* (`used` is raised on
//!   their behalf and their status set to `GRANTED`), then are woken outside the lock. Waiters
//!   are served strictly first come, first served, and a woken waiter never finds its room
//!   taken by someone else.
//!
//! **No lost wakeup.** A waiter does *`waiting += 1` → `fence(SeqCst)` → `try_take` (reads
//! `used`)*; a releaser does *`used -= 1` → `fence(SeqCst)` → read `waiting`*: the Dekker pair of
//! the sleep protocol (`sleep/README.md`). The two fences are totally ordered, so either the
//! releaser reads `waiting > 0` (and grants under the lock, after the waiter queued itself,
//! since the waiter raised `waiting` under that lock) or the waiter's `try_take` sees the lower
//! `used` and takes the room itself. (Fences rather than `SeqCst` accesses alone: loom models
//! only the fences' total order, and `tests/loom_backpressure.rs` checks exactly this race.) A granted waiter's wake-up is not lost either: the granter
//! sets `GRANTED` before taking the waiter's waker or thread, and the waiter registers a new
//! waker before re-reading its status (register, then re-check).
//!
//! **Cancel safety.** A waiter that gives up (a dropped `submit_async` future) removes itself
//! from the queue under the lock if it is still `WAITING`; if it was granted meanwhile, it owns a
//! reservation and releases it, which grants the next waiter. No reservation is ever left behind.
//!
//! **Closing.** `close` (shutdown, broken pool) marks every queued waiter `CLOSED` and wakes it;
//! the submit then refuses its job. Later submits see the pool closed before they reserve.
//!
//! Model-checked by `tests/loom_backpressure.rs`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::loom::lock;
use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use crate::loom::thread::{self, Thread};

/// [`Waiter`] status: queued, no reservation yet.
const WAITING: usize = 0;
/// [`Waiter`] status: a reservation was granted to it (`used` already counts it).
const GRANTED: usize = 1;
/// [`Waiter`] status: the pool closed while it waited; it holds nothing.
const CLOSED: usize = 2;

/// The pool closed while a submitter waited for room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Closed;

/// The reservations of one bounded pool.
pub(crate) struct Permits {
    max: usize,
    /// Reservations held: queued jobs that have not left `PENDING`, plus grants not yet used.
    used: AtomicUsize,
    /// How many waiters are queued (`queue.waiters.len()`), readable without the lock.
    waiting: AtomicUsize,
    queue: Mutex<Queue>,
}

struct Queue {
    /// Waiters in arrival order.
    waiters: VecDeque<Arc<Waiter>>,
    closed: bool,
}

/// One submitter waiting for room.
pub(crate) struct Waiter {
    /// `WAITING`, `GRANTED` or `CLOSED`; leaves `WAITING` once, under the queue lock.
    status: AtomicUsize,
    /// How to wake it: its thread (blocking `submit`) or the latest poll's waker.
    wake: Mutex<Option<Wake>>,
}

enum Wake {
    Thread(Thread),
    Waker(Waker),
}

impl Permits {
    pub(crate) fn new(max: usize) -> Permits {
        Permits {
            max,
            used: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            queue: Mutex::new(Queue {
                waiters: VecDeque::new(),
                closed: false,
            }),
        }
    }

    /// Reservations held now (the loom models check that none is left behind).
    #[cfg(loom)]
    pub(crate) fn used(&self) -> usize {
        // ORDERING: SeqCst: read at the end of a model, after every thread was joined.
        self.used.load(Ordering::SeqCst)
    }

    /// Submitters waiting for room now (a statistic).
    pub(crate) fn waiting(&self) -> usize {
        // ORDERING: Relaxed: a statistic.
        self.waiting.load(Ordering::Relaxed)
    }

    /// Raises `used` if it is below `max`.
    fn try_take(&self) -> bool {
        // ORDERING: SeqCst, like every access to `used`; for a waiter this is the read after its
        // Dekker fence (`enqueue`), which must not see a `used == max` older than a release
        // whose own fence came first.
        let mut used = self.used.load(Ordering::SeqCst);
        while used < self.max {
            // ORDERING: SeqCst, as above; Relaxed on failure (we retry with the fresh value).
            match self.used.compare_exchange_weak(
                used,
                used + 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
        false
    }

    /// The fast path: a reservation now, if there is room and nobody is queued for it.
    pub(crate) fn try_acquire(&self) -> bool {
        // ORDERING: SeqCst: waiters queued first are served first; a waiter that queues just
        // after this read races fairly with us.
        self.waiting.load(Ordering::SeqCst) == 0 && self.try_take()
    }

    /// Gives a reservation back (the job left `PENDING`, or a granted waiter gave up) and
    /// grants it to the front waiter, if any.
    pub(crate) fn release(&self) {
        // ORDERING: SeqCst, then the releaser's Dekker fence: `used -= 1` → fence → read
        // `waiting`, against the waiter's `waiting += 1` → fence → read `used` (module docs).
        let prev = self.used.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(prev > 0, "a reservation released twice");
        fence(Ordering::SeqCst);
        // ORDERING: SeqCst, after the fence above.
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let granted = self.grant(&mut lock(&self.queue));
        wake_all(granted);
    }

    /// Gives free reservations to the front waiters, in order. Called under the queue lock; the
    /// caller wakes the returned waiters after releasing it.
    fn grant(&self, queue: &mut Queue) -> Vec<Arc<Waiter>> {
        let mut granted = Vec::new();
        while !queue.waiters.is_empty() && self.try_take() {
            let waiter = queue.waiters.pop_front().expect("checked non-empty");
            // ORDERING: SeqCst like every change of `waiting` (it pairs with `try_acquire`).
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            // ORDERING: Release: the waiter that reads GRANTED (Acquire) owns the reservation.
            waiter.status.store(GRANTED, Ordering::Release);
            granted.push(waiter);
        }
        granted
    }

    /// The slow path: queues a waiter woken through `wake`. `Ok(None)`: a reservation was taken
    /// at once; `Ok(Some(waiter))`: wait for its status to leave `WAITING`.
    fn enqueue(&self, wake: Wake) -> Result<Option<Arc<Waiter>>, Closed> {
        let mut queue = lock(&self.queue);
        if queue.closed {
            return Err(Closed);
        }
        if queue.waiters.is_empty() && self.try_take() {
            return Ok(None);
        }
        let waiter = Arc::new(Waiter {
            status: AtomicUsize::new(WAITING),
            wake: Mutex::new(Some(wake)),
        });
        queue.waiters.push_back(Arc::clone(&waiter));
        // ORDERING: SeqCst, then the waiter's Dekker fence: `waiting += 1` → fence → `try_take`
        // (in `grant`) reads `used`. See `release` and the module docs.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // Room that a release left while `waiting` still read 0 goes to the front now.
        let mut granted = self.grant(&mut queue);
        drop(queue);
        // We need no wake-up: the caller checks the status next.
        granted.retain(|w| !Arc::ptr_eq(w, &waiter));
        wake_all(granted);
        Ok(Some(waiter))
    }

    /// Blocks the calling thread until it holds a reservation.
    pub(crate) fn acquire_blocking(&self) -> Result<(), Closed> {
        if self.try_acquire() {
            return Ok(());
        }
        let Some(waiter) = self.enqueue(Wake::Thread(thread::current()))? else {
            return Ok(());
        };
        loop {
            // ORDERING: Acquire, pairs with the Release in `grant` and `close`.
            match waiter.status.load(Ordering::Acquire) {
                // A spurious or stale unpark only makes us look again; the granter unparks us
                // after setting the status, and an unpark before the park is not lost.
                WAITING => thread::park(),
                GRANTED => return Ok(()),
                _ => return Err(Closed),
            }
        }
    }

    /// Waits without blocking the thread until the caller holds a reservation; see
    /// [`Acquire`].
    pub(crate) fn acquire(self: &Arc<Self>) -> Acquire {
        Acquire {
            permits: Arc::clone(self),
            waiter: None,
            done: false,
        }
    }

    /// A waiter gives up. If it was granted meanwhile, its reservation goes to the next waiter.
    fn cancel(&self, waiter: &Arc<Waiter>) {
        let mut queue = lock(&self.queue);
        // ORDERING: Relaxed: the status only leaves WAITING under the queue lock, which we hold.
        match waiter.status.load(Ordering::Relaxed) {
            WAITING => {
                let position = queue.waiters.iter().position(|w| Arc::ptr_eq(w, waiter));
                let removed = position.and_then(|i| queue.waiters.remove(i));
                debug_assert!(removed.is_some(), "a waiting waiter is queued");
                // ORDERING: SeqCst like every change of `waiting`.
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                drop(queue);
                drop(removed);
            }
            GRANTED => {
                drop(queue);
                self.release();
            }
            _ => {}
        }
    }

    /// Refuses every waiter and every later slow-path wait (shutdown, broken pool).
    pub(crate) fn close(&self) {
        let mut queue = lock(&self.queue);
        queue.closed = true;
        let refused: Vec<Arc<Waiter>> = queue.waiters.drain(..).collect();
        // ORDERING: SeqCst like every change of `waiting`.
        self.waiting.fetch_sub(refused.len(), Ordering::SeqCst);
        for waiter in &refused {
            // ORDERING: Release, see `grant`.
            waiter.status.store(CLOSED, Ordering::Release);
        }
        drop(queue);
        wake_all(refused);
    }
}

fn wake_all(waiters: Vec<Arc<Waiter>>) {
    for waiter in waiters {
        // Taken under the waiter's own lock, woken outside it (a waker is the runtime's code).
        let wake = lock(&waiter.wake).take();
        match wake {
            Some(Wake::Thread(thread)) => thread.unpark(),
            Some(Wake::Waker(waker)) => waker.wake(),
            None => {}
        }
    }
}

/// The future of [`Permits::acquire`]: ready with `Ok(())` once the caller holds a reservation,
/// or `Err(Closed)`. Dropping it before then gives up the place in the queue, or the reservation
/// if it was granted meanwhile (cancel-safe).
pub(crate) struct Acquire {
    permits: Arc<Permits>,
    waiter: Option<Arc<Waiter>>,
    /// The outcome was returned: the reservation, if any, is the caller's.
    done: bool,
}

impl Future for Acquire {
    type Output = Result<(), Closed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.done, "`Acquire` polled after completion");
        if self.waiter.is_none() {
            if self.permits.try_acquire() {
                return self.ready(Ok(()));
            }
            // The waker is cloned before `enqueue` takes the lock: it is the runtime's code.
            match self.permits.enqueue(Wake::Waker(cx.waker().clone())) {
                Err(Closed) => return self.ready(Err(Closed)),
                Ok(None) => return self.ready(Ok(())),
                Ok(Some(waiter)) => self.waiter = Some(waiter),
            }
        }
        self.poll_waiter(cx)
    }
}

impl Acquire {
    fn ready(&mut self, outcome: Result<(), Closed>) -> Poll<Result<(), Closed>> {
        self.done = true;
        Poll::Ready(outcome)
    }

    fn poll_waiter(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        let waiter = Arc::clone(self.waiter.as_ref().expect("queued"));
        // ORDERING: Acquire, pairs with the Release in `grant` and `close`.
        let mut status = waiter.status.load(Ordering::Acquire);
        if status == WAITING {
            // Register the latest waker, then re-check: a granter sets the status before it
            // takes the waker, so either it finds this waker or we see its status.
            let stale = !matches!(
                &*lock(&waiter.wake),
                Some(Wake::Waker(w)) if w.will_wake(cx.waker())
            );
            if stale {
                // Cloned outside the lock: it is the runtime's code.
                let waker = cx.waker().clone();
                let old = lock(&waiter.wake).replace(Wake::Waker(waker));
                drop(old);
            }
            // ORDERING: Acquire, as above.
            status = waiter.status.load(Ordering::Acquire);
        }
        match status {
            WAITING => Poll::Pending,
            GRANTED => self.ready(Ok(())),
            _ => self.ready(Err(Closed)),
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if !self.done {
            if let Some(waiter) = &self.waiter {
                self.permits.cancel(waiter);
            }
        }
    }
}

/// A reservation held by a queued job (`Task`'s permit), given back once.
pub(crate) struct Reservation {
    permits: Arc<Permits>,
    held: AtomicBool,
}

impl Reservation {
    /// Wraps a reservation the caller just acquired from `permits`.
    pub(crate) fn new(permits: &Arc<Permits>) -> Reservation {
        Reservation {
            permits: Arc::clone(permits),
            held: AtomicBool::new(true),
        }
    }
}

/// The trait lives with the state machine that calls it (`future`); re-exported for the pools.
pub(crate) use crate::future::Permit;

impl Permit for Reservation {
    fn release(&self) {
        // ORDERING: Relaxed: the swap alone makes the release happen once; `Permits::release`
        // orders itself.
        if self.held.swap(false, Ordering::Relaxed) {
            self.permits.release();
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // A job dropped while still pending (never run, cancelled or refused) gives it back too.
        Permit::release(self);
    }
}

impl std::fmt::Debug for Permits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permits")
            .field("max", &self.max)
            // ORDERING: Relaxed: a statistic.
            .field("used", &self.used.load(Ordering::Relaxed))
            .field("waiting", &self.waiting())
            .finish()
    }
}
