//! Worker slots and their life: the connection to a worker process ([`WorkerConn`]), what the
//! pool knows of it ([`WorkerSlot`]: its phase, the calls it holds, its pace), how many calls it
//! is sent ahead, the duties of the pool threads ([`Duty`]) and why a worker's stream ended
//! ([`Death`]). The pool (`pool.rs`) keeps the slots under its state lock and moves workers
//! between phases; nothing here locks except [`WorkerConn`]'s own write and read locks.
//!
//! ```text
//! handshake ──▶ Idle ──call sent──▶ Busy ──answer, calls left or queued──▶ Busy
//!                ▲                   │
//!                └───answer, none────┤
//!                                    └──answer, max_tasks_per_child or pool closed──▶ Retiring
//! Idle ──shutdown, broken pool──▶ Retiring
//! any phase ──end of stream (exit, crash, killed by the timer)──▶ Dead ──reaped──▶ slot free
//! ```

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::process::child::ExitWatch;
use crate::process::queue::{Call, CallFrame, Place};
use crate::process::spin;
use crate::process::wire::{self, FrameReader};
use crate::spin::Search;
use crate::unwind::lock;

/// Jobs a worker is sent beyond the one it runs, so it never waits for the parent between two
/// queued jobs (CPython's `EXTRA_QUEUED_CALLS`, per worker). A job sent ahead is marked running
/// (it can no longer be cancelled, as in CPython) but its time limit starts only when the worker
/// reaches it, and if the worker dies first it is queued again, not charged: a death is charged
/// to the job the worker was running, the oldest unanswered one.
///
/// Measured (`cargo bench --bench process -- --quick`, 2 busy shared cores, trivial jobs on 2
/// workers): without sending ahead, 58k jobs/s; with one job, 100–190k jobs/s; with
/// [`SEND_AHEAD_SHORT`] for a stream of short jobs, 200–270k jobs/s (the load of the machine
/// moved the numbers as much as the setting).
const SEND_AHEAD: usize = 1;

/// Jobs sent ahead to a worker whose answers come less than [`SHORT_JOB`] apart: a stream of
/// short jobs. The worker then answers several per wake-up of its reader and reads several calls
/// per wake-up of its own. A job waits behind at most this many short ones (under 1 ms), while a
/// worker busy with long jobs keeps [`SEND_AHEAD`], so a job never waits long behind another
/// while a worker could take it.
const SEND_AHEAD_SHORT: usize = 4;

/// Answers closer together than this mark a worker as running short jobs.
const SHORT_JOB: Duration = Duration::from_micros(200);

/// The connection to one worker process.
pub(crate) struct WorkerConn {
    pub(crate) stream: UnixStream,
    pub(crate) pid: u32,
    /// Tells the worker's exit apart from the socket (a process its job started may hold it).
    pub(crate) exit: ExitWatch,
    /// Held while a frame is written; holds the `seq` of the last call fully written, so the
    /// reaper of a dead worker can tell whether its call was delivered.
    written: Mutex<u64>,
    /// Used only by the thread holding this worker's read duty: the frames, and how long to
    /// spin for the next one before blocking (`spin.rs`).
    pub(crate) reader: Mutex<(FrameReader, Search)>,
    /// The parent's end of the control socket (`CANCEL` frames), non-blocking; `None` once a
    /// write failed (the worker is dying, or its watch thread stopped reading).
    control: Mutex<Option<UnixStream>>,
}

impl WorkerConn {
    /// The connection to a worker that completed its handshake; its reader keeps any bytes
    /// read past the handshake.
    pub(crate) fn new(
        stream: UnixStream,
        control: UnixStream,
        pid: u32,
        exit: ExitWatch,
        reader: FrameReader,
    ) -> WorkerConn {
        WorkerConn {
            stream,
            pid,
            exit,
            written: Mutex::new(0),
            reader: Mutex::new((reader, Search::new())),
            control: Mutex::new(Some(control)),
        }
    }

    /// Asks the worker to stop call number `nth` (its ordinal at this worker): one `CANCEL`
    /// frame on the control socket, which the worker's watch thread reads even while a job
    /// runs. Never blocks: a frame that does not fit at once is not sent (nor any later one),
    /// and the grace period's kill stops the call instead.
    pub(crate) fn cancel(&self, nth: u64) {
        let mut control = lock(&self.control);
        let frame = wire::cancel_frame(nth);
        let sent = control
            .as_ref()
            .is_some_and(|stream| matches!((&*stream).write(&frame), Ok(n) if n == frame.len()));
        if !sent {
            // A frame written in part would put the stream out of step: close it.
            *control = None;
        }
    }

    /// Writes a `CALL` frame. A failure means the worker is dead or dying; its reader sees the
    /// end of the stream (or the exit) and handles the call. A write blocked on the full socket
    /// (the worker runs a job and reads its next call after it) ends when the worker exits,
    /// even if a process its job started holds the socket and never reads.
    pub(crate) fn send(&self, seq: u64, frame: &[u8]) -> io::Result<()> {
        let mut written = lock(&self.written);
        spin::write_watching(&self.stream, &self.exit, frame)?;
        *written = seq;
        Ok(())
    }

    /// `true` if call `seq` was fully written (calls to one worker are written in order).
    pub(crate) fn delivered(&self, seq: u64) -> bool {
        *lock(&self.written) >= seq
    }

    /// Tells the worker to exit once idle: it reads end-of-file and exits.
    pub(crate) fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// Where a worker is in its life.
pub(crate) enum WorkerPhase {
    /// Waiting for a job; its reader is blocked on its socket.
    Idle,
    /// Running `jobs[0]`, with `jobs[1..]` sent ahead.
    Busy,
    /// Told to exit (max_tasks_per_child, shutdown); its reader waits for the end of file.
    Retiring,
    /// Its connection ended: being reaped.
    Dead,
}

/// A worker process and what the pool knows of it, under the state lock.
pub(crate) struct WorkerSlot {
    pub(crate) conn: Arc<WorkerConn>,
    pub(crate) child: Option<Child>,
    pub(crate) phase: WorkerPhase,
    /// Sent and not answered, oldest (running) first.
    pub(crate) jobs: VecDeque<SentCall>,
    /// Jobs sent to this worker (for `max_tasks_per_child`).
    pub(crate) sent: usize,
    /// When its last answer came, and whether it came less than `SHORT_JOB` after the one before.
    pub(crate) last_answer: Option<Instant>,
    pub(crate) short_jobs: bool,
    /// Set by the timer when it killed the worker because job `.0` ran past its limit `.1`.
    pub(crate) timed_out: Option<(u64, Duration)>,
    /// Set by the timer when it killed the worker because job `seq` did not stop within the
    /// grace period after it was asked to (`Call::stop`).
    pub(crate) stop_killed: Option<u64>,
}

impl WorkerSlot {
    /// The slot of a worker that just completed its handshake: idle, nothing sent yet.
    pub(crate) fn new(conn: Arc<WorkerConn>, child: Child) -> WorkerSlot {
        WorkerSlot {
            conn,
            child: Some(child),
            phase: WorkerPhase::Idle,
            jobs: VecDeque::with_capacity(1 + SEND_AHEAD),
            sent: 0,
            last_answer: None,
            short_jobs: false,
            timed_out: None,
            stop_killed: None,
        }
    }

    /// An answer came at `now`: it marks the worker as running short jobs if it came less than
    /// [`SHORT_JOB`] after the one before.
    pub(crate) fn answered(&mut self, now: Instant) {
        self.short_jobs = self
            .last_answer
            .is_some_and(|last| now.duration_since(last) < SHORT_JOB);
        self.last_answer = Some(now);
    }

    /// How many more calls this worker may hold now: the one it runs and [`SEND_AHEAD`] more,
    /// or [`SEND_AHEAD_SHORT`] more for a stream of short jobs.
    pub(crate) fn room(&self) -> usize {
        let ahead = if self.short_jobs {
            SEND_AHEAD_SHORT
        } else {
            SEND_AHEAD
        };
        (1 + ahead).saturating_sub(self.jobs.len())
    }
}

/// A call sent to a worker and not answered yet: the one it runs, or one sent ahead.
pub(crate) struct SentCall {
    pub(crate) call: Call,
    pub(crate) frame: CallFrame,
    /// Distinguishes this dispatch from the worker's earlier ones (timer, delivery).
    pub(crate) seq: u64,
    /// Its ordinal among the calls sent to this worker (from 1): how a `CANCEL` names it.
    pub(crate) nth: u64,
}

/// A pool thread's one duty at a time.
#[derive(Clone)]
pub(crate) enum Duty {
    /// Start a worker (its slot is already counted in `live`).
    Start,
    /// Read the next frame of worker `id`: the reply to its job, or the end of its stream.
    Read(usize, Arc<WorkerConn>),
}

impl Duty {
    pub(crate) fn same(&self, other: &Duty) -> bool {
        match (self, other) {
            (Duty::Start, Duty::Start) => true,
            (Duty::Read(a, x), Duty::Read(b, y)) => a == b && Arc::ptr_eq(x, y),
            _ => false,
        }
    }
}

/// Why a worker's stream ended.
pub(crate) enum Death {
    Eof(io::Error),
    Protocol(u8),
}

/// What a worker is given after it started or answered (see `PoolCore::top_up`), done outside
/// the lock: calls to send, then maybe retire, and the places of the calls taken from the queue
/// to give back.
#[derive(Default)]
pub(crate) struct TopUp {
    pub(crate) sends: Vec<(u64, CallFrame)>,
    pub(crate) retire: bool,
    pub(crate) freed: Vec<Place>,
}
