//! Completer threads: where a remote job's outcome is decoded and published, off the thread that
//! drives the NATS client.
//!
//! Publishing an outcome runs user code: a `Deserialize` impl, then the future's done callbacks,
//! which may block for any time (even on another remote future of the same executor). The NATS
//! runtime thread must never wait for them, so it only queues work here. A completer thread that
//! is about to run done callbacks first makes sure another thread serves the queue (the
//! `before_user_code` hook), as the process pool hands its read duty to a spare thread: one
//! blocking callback never stalls the delivery of other results.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use crate::future::RunHooks;
use crate::unwind;

/// One item of work: decode and publish an outcome, or record a notice.
pub(crate) type Work = Box<dyn FnOnce(&mut dyn RunHooks) + Send>;

/// How long a completer thread beyond the first waits for work before it exits. Extra threads
/// exist only after a done callback blocked one of them.
const SPARE_KEEP_ALIVE: Duration = Duration::from_secs(5);

pub(crate) struct Completer {
    state: Mutex<State>,
    work_cv: Condvar,
}

struct State {
    queue: VecDeque<Work>,
    /// Completer threads alive.
    threads: usize,
    /// Of `threads`, those waiting for work.
    idle: usize,
    /// Of `threads`, those running user code (done callbacks).
    in_user_code: usize,
    closed: bool,
}

impl State {
    /// Threads that will take the next item without being woken: busy with an item that runs
    /// no user code.
    fn working(&self) -> usize {
        self.threads - self.idle - self.in_user_code
    }
}

fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Completer {
    pub(crate) fn new() -> Arc<Completer> {
        Arc::new(Completer {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                in_user_code: 0,
                closed: false,
            }),
            work_cv: Condvar::new(),
        })
    }

    /// Queues `work`. Never blocks on user code: at worst it starts a thread.
    pub(crate) fn push(self: &Arc<Self>, work: Work) {
        let mut st = lock(&self.state);
        st.queue.push_back(work);
        self.serve_queue(&mut st);
    }

    /// Makes sure a thread that runs no user code will take the queue's head: wakes an idle
    /// thread, or relies on one that is working, or starts one.
    fn serve_queue(self: &Arc<Self>, st: &mut State) {
        if st.queue.is_empty() {
            return;
        }
        if st.idle > 0 {
            self.work_cv.notify_one();
        } else if st.working() == 0 {
            self.spawn(st);
        }
    }

    fn spawn(self: &Arc<Self>, st: &mut State) {
        st.threads += 1;
        let completer = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("poolbridge-remote-complete".into())
            .spawn(move || completer.thread_main());
        if spawned.is_err() {
            st.threads -= 1;
            // No thread could be started: a thread that finishes its user code will take the
            // queue (the results wait, nothing is lost).
        }
    }

    fn thread_main(self: Arc<Self>) {
        let mut st = lock(&self.state);
        loop {
            if let Some(work) = st.queue.pop_front() {
                drop(st);
                let mut hooks = Hooks {
                    completer: &self,
                    in_user_code: false,
                };
                if let Err(panic) = unwind::catch(|| work(&mut hooks)) {
                    unwind::report("publishing the outcome of a remote job", &panic);
                }
                let was_in_user_code = hooks.in_user_code;
                st = lock(&self.state);
                if was_in_user_code {
                    st.in_user_code -= 1;
                }
                continue;
            }
            if st.closed {
                break;
            }
            st.idle += 1;
            let (guard, timeout) = self
                .work_cv
                .wait_timeout(st, SPARE_KEEP_ALIVE)
                .unwrap_or_else(PoisonError::into_inner);
            st = guard;
            st.idle -= 1;
            // Keep one thread for the next result; spares go.
            if timeout.timed_out() && st.queue.is_empty() && st.threads > 1 {
                break;
            }
        }
        st.threads -= 1;
    }

    /// No more work will come: threads exit once the queue is empty.
    pub(crate) fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        self.work_cv.notify_all();
    }
}

/// Marks the thread as running user code, and hands the queue to another thread first.
struct Hooks<'a> {
    completer: &'a Arc<Completer>,
    in_user_code: bool,
}

impl RunHooks for Hooks<'_> {
    fn before_user_code(&mut self) {
        if self.in_user_code {
            return;
        }
        self.in_user_code = true;
        let mut st = lock(&self.completer.state);
        st.in_user_code += 1;
        self.completer.serve_queue(&mut st);
    }
}
