//! The worker thread: its main loop, its local deque and spinning. Its identity as a worker of
//! its pool is entered in [`crate::context`] (a blocking wait there may run the awaited job
//! inline); its deque is this thread's in `local.rs`, for `submit` from a job.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use crossbeam_deque::{Stealer, Worker};

use crate::context::{self, JobCounters, OwnCell, Runner};
use crate::future::RunHooks;
use crate::pool::local::LocalDeque;
use crate::pool::registry::{Registry, Retire};
use crate::pool::sleep::Wake;
use crate::pool::state;
use crate::pool::task::QueueEntry;
use crate::spin::Search;
use crate::trace;
use crate::unwind;

/// Per-thread state of a worker.
pub(crate) struct WorkerCtx {
    registry: Arc<Registry>,
    /// This worker's deque, also this thread's in `local.rs` (`submit` from a job pushes there).
    local: Rc<LocalDeque>,
    /// The other workers' deques, with the registry's `stealers_version` they were read at.
    victims: RefCell<(usize, Vec<Stealer<QueueEntry>>)>,
    /// xorshift state, to start stealing at a different victim each time.
    rng: Cell<u32>,
    /// The job cell of the jobs this worker's loop runs (`context`: what `cancelled()` reads).
    own_cell: OwnCell,
}

/// The body of a worker thread. `searching`: whether the thread was counted as searching when it
/// was started (see `Sleep::try_add_thread`).
pub(crate) fn main(
    registry: Arc<Registry>,
    index: usize,
    local: Worker<QueueEntry>,
    searching: bool,
) {
    let probe = Arc::clone(&registry);
    let _entered = context::enter(
        registry.id(),
        Arc::clone(registry.counters(index)),
        Box::new(move || probe.another_worker_can_take_jobs()),
    );
    trace::thread_started(registry.id(), index);
    let victims = RefCell::new(registry.victims(index));
    let local = LocalDeque::enter(registry.id(), index, local);
    let ctx = WorkerCtx {
        registry,
        local,
        victims,
        rng: Cell::new((index as u32).wrapping_mul(0x9E37_79B9) | 1),
        own_cell: OwnCell::new(),
    };

    match state::start_worker(ctx.registry.id(), ctx.registry.config(), index) {
        Ok(()) => ctx.run(searching),
        Err(reason) => {
            ctx.registry.break_pool(reason);
            ctx.registry.exit_worker(index, searching);
        }
    }
    state::stop_worker(ctx.registry.config(), index);
    LocalDeque::leave();
}

impl WorkerCtx {
    fn index(&self) -> usize {
        self.local.index()
    }

    /// The main loop: run jobs; when there are none, search, then sleep, then maybe retire.
    /// `searching`: whether this thread is counted as searching now.
    fn run(&self, searching: bool) {
        let registry = &self.registry;
        let sleep = &registry.sleep;
        let mut me = Availability {
            ctx: self,
            runner: Runner {
                cell: &self.own_cell,
                counters: self.counters(),
            },
            searching,
        };
        // How long to search before parking (`src/spin.rs`).
        let mut search = Search::new();
        loop {
            if let Some((job, more)) = self.find_work().or_else(|| {
                search.went_idle();
                if !me.searching {
                    me.searching = sleep.try_start_searching();
                }
                if me.searching {
                    search.run(|| self.find_work(), || registry.is_closed())
                } else {
                    None
                }
            }) {
                search.found_job();
                // Call another worker if the queue we took from holds more (the jobs pushed while
                // one worker searched all counted on it), or if we were the last searcher.
                if sleep.found_job(&mut me.searching, more) {
                    registry.more_work(|| self.queued());
                }
                self.run_job(job, &mut me);
                continue;
            }
            if registry.is_closed() && !self.has_work() {
                registry.exit_worker(self.index(), me.searching);
                return;
            }
            let keep_alive = registry.config().keep_alive;
            let wake = sleep.sleep(self.index(), me.searching, keep_alive, || {
                self.has_work() || registry.is_closed()
            });
            me.searching = true;
            if wake == Wake::TimedOut {
                search.reset();
                match registry.try_retire(self.index()) {
                    Retire::Exited => return,
                    Retire::Stay => {}
                }
            }
        }
    }

    /// The next job: own deque first, then the injector, then the other workers; and whether more
    /// work waits (in the queue it came from, or in the injector).
    fn find_work(&self) -> Option<(QueueEntry, bool)> {
        if let Some(job) = self.local.pop() {
            // Work waiting in the injector counts as "more": a thread started with a job in its
            // deque (`Registry::hand_off`) must go on with the fan-out.
            return Some((job, self.registry.injector_has_work()));
        }
        let start = self.next_random() as usize;
        let (job, more, stolen) =
            self.with_victims(|victims| self.registry.steal(victims, start))?;
        if stolen {
            JobCounters::bump(&self.counters().stolen);
        }
        Some((job, more))
    }

    /// This worker's job counters (its slot's).
    fn counters(&self) -> &JobCounters {
        self.registry.counters(self.index())
    }

    /// How many jobs wait where this worker could take them from (an estimate).
    fn queued(&self) -> usize {
        self.local.len() + self.with_victims(|victims| self.registry.queued_in(victims))
    }

    /// `true` if a job is queued anywhere this worker could take it from.
    fn has_work(&self) -> bool {
        !self.local.is_empty() || self.with_victims(|victims| self.registry.has_work_in(victims))
    }

    /// Calls `f` with the other workers' deques, re-reading the registry's list first if it
    /// changed (a worker started or exited): one atomic load, no lock, in the common case.
    fn with_victims<R>(&self, f: impl FnOnce(&[Stealer<QueueEntry>]) -> R) -> R {
        if self.victims.borrow().0 != self.registry.stealers_version() {
            *self.victims.borrow_mut() = self.registry.victims(self.index());
        }
        f(&self.victims.borrow().1)
    }

    /// Runs one job, or cancels it if `shutdown(cancel_futures = true)` came first. The job's own
    /// panic is already caught by the job; what can still unwind here is user code dropped with
    /// the job (a value or closure whose `Drop` panics), and that must not take the worker down.
    ///
    /// The job counts itself (`context::JobRun::end`) if it runs; a cancelled job's entry is
    /// counted once, when the worker drops it (`Availability::dropped_cancelled`).
    fn run_job(&self, job: QueueEntry, me: &mut Availability<'_>) {
        let outcome = if self.registry.is_cancelling() {
            unwind::catch(|| {
                if job.cancel() {
                    me.dropped_cancelled();
                }
            })
        } else {
            unwind::catch(|| job.run(me))
        };
        if let Err(err) = outcome {
            unwind::report(
                "user code run after a job (a waker, or the drop of its value or closure)",
                &err,
            );
        }
    }

    fn next_random(&self) -> u32 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }
}

/// A worker's availability to new jobs around the completion of the job it runs (the
/// [`RunHooks`] of `sleep/README.md`, "Finishing a job").
struct Availability<'a> {
    ctx: &'a WorkerCtx,
    /// The worker's own job cell and counters, for the jobs of its loop.
    runner: Runner<'a>,
    /// Counted as searching in the sleep word.
    searching: bool,
}

impl RunHooks for Availability<'_> {
    fn runner(&self) -> Option<Runner<'_>> {
        Some(self.runner)
    }

    fn dropped_cancelled(&mut self) {
        JobCounters::bump(&self.runner.counters.cancelled);
    }

    fn before_publish(&mut self) {
        self.ctx.registry.sleep.before_publish(&mut self.searching);
    }

    fn before_user_code(&mut self) {
        if self
            .ctx
            .registry
            .sleep
            .before_user_code(&mut self.searching)
        {
            self.ctx.registry.more_work(|| self.ctx.queued());
        }
    }
}
