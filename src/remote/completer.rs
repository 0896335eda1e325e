//! The completer: where a remote job's outcome is decoded and published, off the thread that
//! drives the NATS client.
//!
//! Publishing an outcome runs user code: a `Deserialize` impl, then the future's done callbacks,
//! which may block for any time (even on another remote future of the same executor). The NATS
//! runtime thread must never wait for them, so it only queues work here ([`Completer::push`]).
//! The queue is served by the threads of a crew (`seam/crew.rs`, the process pool's pool threads
//! are another crew): the duty "serve the queue" is held by at least one thread while work
//! waits, and a thread about to run done callbacks gives it up first (posting it for another
//! thread if work is waiting), so one blocking callback never stalls the delivery of the other
//! results.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::future::RunHooks;
use crate::seam::crew::{Crew, Employer};
use crate::unwind::{self, lock};

/// One item of work: decode and publish an outcome, or record a notice.
pub(crate) type Work = Box<dyn FnOnce(&mut dyn RunHooks) + Send>;

/// How long a completer thread beyond the first waits for work before it exits. Extra threads
/// exist only after a done callback blocked one of them; the first stays, so that the next
/// result does not pay for a thread start.
const SPARE_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The duty of a completer thread: serve the queue until it is empty.
pub(crate) struct Serve;

pub(crate) struct Completer {
    queue: Mutex<Queue>,
    crew: Crew<Serve>,
}

struct Queue {
    items: VecDeque<Work>,
    /// `Serve` duties in existence (held by a thread, or posted): threads that will take the
    /// queue's head without being asked. Threads running done callbacks do not count.
    servers: usize,
}

impl Completer {
    pub(crate) fn new() -> Arc<Completer> {
        Arc::new(Completer {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                servers: 0,
            }),
            crew: Crew::new("poolbridge-remote-complete", SPARE_KEEP_ALIVE, 1),
        })
    }

    /// Queues `work`. Never blocks on user code: at worst it starts a thread.
    pub(crate) fn push(self: &Arc<Self>, work: Work) {
        let mut q = lock(&self.queue);
        q.items.push_back(work);
        self.ensure_server(&mut q);
    }

    /// Posts a `Serve` duty if work waits and no thread serves the queue.
    fn ensure_server(self: &Arc<Self>, q: &mut Queue) {
        if q.items.is_empty() || q.servers > 0 {
            return;
        }
        q.servers += 1;
        if self.crew.post(self, Serve).is_err() {
            // No thread could be started: a thread that finishes its done callbacks serves the
            // queue again (the results wait, nothing is lost).
            q.servers -= 1;
        }
    }

    /// No more work will come: threads exit once the queue is empty.
    pub(crate) fn close(&self) {
        self.crew.close();
    }
}

impl Employer for Completer {
    type Duty = Serve;

    fn crew(&self) -> &Crew<Serve> {
        &self.crew
    }

    fn perform(self: &Arc<Self>, _serve: Serve) -> Option<Serve> {
        loop {
            let work = {
                let mut q = lock(&self.queue);
                match q.items.pop_front() {
                    Some(work) => work,
                    None => {
                        q.servers -= 1;
                        return None;
                    }
                }
            };
            let mut hooks = Hooks {
                completer: self,
                away: false,
            };
            if let Err(panic) = unwind::catch(|| work(&mut hooks)) {
                unwind::report("publishing the outcome of a remote job", &panic);
            }
            if hooks.away {
                // Back from user code: serve again (beside the thread that took over, if any).
                lock(&self.queue).servers += 1;
            }
        }
    }
}

/// Gives the `Serve` duty up before user code runs, to another thread if work waits.
struct Hooks<'a> {
    completer: &'a Arc<Completer>,
    away: bool,
}

impl RunHooks for Hooks<'_> {
    fn before_user_code(&mut self) {
        if self.away {
            return;
        }
        self.away = true;
        let mut q = lock(&self.completer.queue);
        q.servers -= 1;
        self.completer.ensure_server(&mut q);
    }
}
