//! [`Crew`]: the elastic group of helper threads of a transport, the one place that solves "hand
//! my work off before user code runs".
//!
//! A transport's threads perform *duties*: the process pool's threads start workers and read
//! their answers (one duty per worker), the remote executor's completer threads serve the queue
//! of outcomes the NATS thread hands them. Publishing an outcome may run done callbacks, user
//! code that can block for any time (even on a later job of the same transport). So a thread
//! about to run user code first gives its duty to another thread ([`Crew::post`]: a spare
//! waiting for one, or a new thread), and takes it back afterwards if no thread took it
//! meanwhile ([`Crew::reclaim`]). Without done callbacks nothing is handed over: the common
//! completion costs no thread switch.
//!
//! Threads beyond those with a duty are spares: they wait [`Crew::new`]'s `keep_alive` for a
//! posted duty, then exit, except the `keep_spares` youngest. [`Crew::close`] makes every spare
//! exit; [`Crew::wait_ended`] waits for the threads to exit.
//!
//! The crew's lock is taken after its employer's own lock, never before it: an employer may
//! post under its state lock, and nothing here calls back into the employer under the crew's.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::unwind;

/// The owner of a crew: gives its threads their duties and performs them.
pub(crate) trait Employer: Send + Sync + Sized + 'static {
    /// What a thread of the crew does: a unit of ongoing work (read worker 3's answers), which
    /// may be handed over to another thread and taken back.
    type Duty: Send + 'static;

    /// The crew of this employer.
    fn crew(&self) -> &Crew<Self::Duty>;

    /// Performs `duty` once, on a thread of the crew; returns the thread's next duty (`None`:
    /// the thread becomes a spare).
    fn perform(self: &Arc<Self>, duty: Self::Duty) -> Option<Self::Duty>;
}

/// The helper threads of one employer. See the module docs.
pub(crate) struct Crew<D> {
    state: Mutex<CrewState<D>>,
    /// Spares wait here for a posted duty.
    spare_cv: Condvar,
    /// [`Crew::wait_ended`] waits here for threads to exit.
    ended_cv: Condvar,
    name: &'static str,
    keep_alive: Duration,
    keep_spares: usize,
}

struct CrewState<D> {
    /// Threads alive.
    threads: usize,
    /// Of `threads`, those waiting for a duty.
    spares: usize,
    /// Duties posted for a spare (or a thread being started) to take.
    duties: VecDeque<D>,
    closed: bool,
}

thread_local! {
    /// The crew (address) whose thread this is; 0 for other threads.
    static CREW_THREAD: Cell<usize> = const { Cell::new(0) };
}

fn lock<D>(mutex: &Mutex<CrewState<D>>) -> MutexGuard<'_, CrewState<D>> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<D: Send + 'static> Crew<D> {
    /// A crew without threads yet; they are named `name`. A spare waits `keep_alive` for a duty
    /// before it exits, but the last `keep_spares` spares stay until [`close`](Self::close).
    pub(crate) fn new(name: &'static str, keep_alive: Duration, keep_spares: usize) -> Crew<D> {
        Crew {
            state: Mutex::new(CrewState {
                threads: 0,
                spares: 0,
                duties: VecDeque::new(),
                closed: false,
            }),
            spare_cv: Condvar::new(),
            ended_cv: Condvar::new(),
            name,
            keep_alive,
            keep_spares,
        }
    }

    /// Gives `duty` to a spare, or to a new thread. Fails only if no thread can be started
    /// (the duty is dropped; the message says why).
    pub(crate) fn post<E>(&self, employer: &Arc<E>, duty: D) -> Result<(), String>
    where
        E: Employer<Duty = D>,
    {
        let mut st = lock(&self.state);
        if st.spares > st.duties.len() {
            st.duties.push_back(duty);
            self.spare_cv.notify_one();
            return Ok(());
        }
        st.threads += 1;
        // Queued before the thread starts, so that a spare woken meanwhile may take it too: the
        // duty is performed by whichever thread comes first.
        st.duties.push_back(duty);
        let owner = Arc::clone(employer);
        let spawned = thread::Builder::new()
            .name(self.name.into())
            .spawn(move || thread_main(owner));
        match spawned {
            Ok(_) => Ok(()),
            Err(err) => {
                st.threads -= 1;
                st.duties.pop_back();
                Err(format!("could not start a thread ({}): {err}", self.name))
            }
        }
    }

    /// Takes back a posted duty that no thread took yet: the first one for which `is_it` holds.
    pub(crate) fn reclaim(&self, is_it: impl Fn(&D) -> bool) -> Option<D> {
        let mut st = lock(&self.state);
        let at = st.duties.iter().position(is_it)?;
        st.duties.remove(at)
    }

    /// Spares exit (now and from now on) instead of waiting for a duty; posted duties are still
    /// performed, by a new thread if need be.
    pub(crate) fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        self.spare_cv.notify_all();
    }

    /// `true` if the calling thread is one of this crew's.
    pub(crate) fn is_mine(&self) -> bool {
        CREW_THREAD.with(Cell::get) == self.addr()
    }

    /// Threads alive.
    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        lock(&self.state).threads
    }

    /// Waits until no thread of the crew is alive, except the calling thread if it is one (a
    /// done callback may wait for its own transport to end), giving up at `deadline`. Returns
    /// `true` if they all ended.
    pub(crate) fn wait_ended(&self, deadline: Option<Instant>) -> bool {
        let allowed = usize::from(self.is_mine());
        let st = lock(&self.state);
        unwind::wait_while_until(&self.ended_cv, st, deadline, |st| st.threads > allowed).1
    }

    fn addr(&self) -> usize {
        self as *const Crew<D> as *const () as usize
    }

    /// Waits for a posted duty. `None`: exit (closed, or idle for `keep_alive` while enough
    /// spares remain).
    fn wait_for_duty(&self) -> Option<D> {
        let mut st = lock(&self.state);
        loop {
            if let Some(duty) = st.duties.pop_front() {
                return Some(duty);
            }
            if st.closed {
                return None;
            }
            st.spares += 1;
            let (guard, timeout) = self
                .spare_cv
                .wait_timeout(st, self.keep_alive)
                .unwrap_or_else(PoisonError::into_inner);
            st = guard;
            st.spares -= 1;
            if timeout.timed_out() && st.duties.is_empty() && st.spares >= self.keep_spares {
                return None;
            }
        }
    }
}

/// Counts the thread out when it ends, even by a panic that escaped a duty.
struct Alive<'a, D> {
    crew: &'a Crew<D>,
}

impl<D> Drop for Alive<'_, D> {
    fn drop(&mut self) {
        let mut st = lock(&self.crew.state);
        st.threads -= 1;
        self.crew.ended_cv.notify_all();
    }
}

/// A crew thread: performs duties until none is left for it.
fn thread_main<E: Employer>(employer: Arc<E>) {
    let crew = employer.crew();
    CREW_THREAD.with(|c| c.set(crew.addr()));
    let _alive = Alive { crew };
    let mut duty = None;
    loop {
        let current = match duty.take() {
            Some(d) => d,
            None => match crew.wait_for_duty() {
                Some(d) => d,
                None => break,
            },
        };
        duty = match unwind::catch(|| employer.perform(current)) {
            Ok(next) => next,
            Err(panic) => {
                // A bug of the employer: its duty is lost, but the thread is counted out and
                // the crew goes on.
                unwind::report("a helper thread's duty", &panic);
                None
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    /// Runs each posted closure; a closure's own "user code" blocks until released.
    struct Boss {
        crew: Crew<Box<dyn FnOnce() + Send>>,
        done: AtomicUsize,
    }

    impl Employer for Boss {
        type Duty = Box<dyn FnOnce() + Send>;
        fn crew(&self) -> &Crew<Self::Duty> {
            &self.crew
        }
        fn perform(self: &Arc<Self>, duty: Self::Duty) -> Option<Self::Duty> {
            duty();
            self.done.fetch_add(1, Ordering::SeqCst);
            None
        }
    }

    fn boss(keep_alive: Duration, keep_spares: usize) -> Arc<Boss> {
        Arc::new(Boss {
            crew: Crew::new("poolbridge-test-crew", keep_alive, keep_spares),
            done: AtomicUsize::new(0),
        })
    }

    #[test]
    fn a_blocked_thread_does_not_stall_the_next_duty() {
        let b = boss(Duration::from_secs(5), 0);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (ran_tx, ran_rx) = mpsc::channel();
        b.crew
            .post(
                &b,
                Box::new(move || {
                    release_rx.recv().unwrap();
                }),
            )
            .unwrap();
        b.crew
            .post(&b, Box::new(move || ran_tx.send(()).unwrap()))
            .unwrap();
        ran_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the second duty ran while the first blocked");
        release_tx.send(()).unwrap();
        b.crew.close();
        assert!(
            b.crew
                .wait_ended(Some(Instant::now() + Duration::from_secs(10)))
        );
        assert_eq!(b.done.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn spares_expire_but_the_kept_ones_stay_until_closed() {
        let b = boss(Duration::from_millis(20), 1);
        for _ in 0..3 {
            let (tx, rx) = mpsc::channel::<()>();
            // Three duties that run at once: three threads.
            b.crew
                .post(
                    &b,
                    Box::new(move || {
                        let _ = rx.recv();
                    }),
                )
                .unwrap();
            drop(tx);
        }
        let until = Instant::now() + Duration::from_secs(10);
        while b.crew.threads() > 1 && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(b.crew.threads(), 1, "one spare is kept");
        b.crew.close();
        assert!(
            b.crew
                .wait_ended(Some(Instant::now() + Duration::from_secs(10)))
        );
        assert_eq!(b.crew.threads(), 0);
    }

    #[test]
    fn a_posted_duty_is_performed_or_taken_back_never_both() {
        for _ in 0..50 {
            let b = boss(Duration::from_secs(5), 0);
            let (started_tx, started_rx) = mpsc::channel::<()>();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            b.crew
                .post(
                    &b,
                    Box::new(move || {
                        started_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                    }),
                )
                .unwrap();
            started_rx.recv().unwrap();
            // No spare: this starts a thread, which may or may not take it before `reclaim`.
            b.crew.post(&b, Box::new(|| {})).unwrap();
            let reclaimed = b.crew.reclaim(|_| true).is_some();
            release_tx.send(()).unwrap();
            b.crew.close();
            assert!(
                b.crew
                    .wait_ended(Some(Instant::now() + Duration::from_secs(10)))
            );
            let expected = if reclaimed { 1 } else { 2 };
            assert_eq!(b.done.load(Ordering::SeqCst), expected);
        }
    }

    #[test]
    fn a_panicking_duty_does_not_leak_the_thread() {
        let b = boss(Duration::from_secs(5), 0);
        // Reported on standard error (the test's output): the thread is counted out anyway.
        b.crew
            .post(&b, Box::new(|| panic!("employer bug")))
            .unwrap();
        b.crew.close();
        assert!(
            b.crew
                .wait_ended(Some(Instant::now() + Duration::from_secs(10)))
        );
        assert_eq!(b.crew.threads(), 0);
    }
}
