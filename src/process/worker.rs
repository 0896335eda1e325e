//! The worker side: [`init`] turns a process started by a pool into a server of jobs.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::context;
use crate::error::CodecSide;
use crate::future::ProgressCell;
use crate::process::spin::SpinRead;
use crate::process::wire::{self, FrameReader};
use crate::seam::job::{Registry, registry};
use crate::spin::Search;
use crate::unwind;
use crate::unwind::lock;

/// Exit code of a worker that found itself unable to talk to its parent (its socket is gone or
/// is not a socket): nothing else can be reported.
const EXIT_NO_PARENT: i32 = 70;

/// Set once `init()` ran in this process (worker or not).
static INIT_CALLED: AtomicBool = AtomicBool::new(false);

/// If this process was started as a worker by a [`ProcessPoolExecutor`], serves its jobs and
/// never returns; otherwise returns at once (a few nanoseconds: one environment lookup).
///
/// Call it first in `main`, before anything else runs: a worker is the same program re-run with
/// an environment marker, and everything before `init()` runs again in every worker. A worker
/// registers its jobs (link time, plus [`register`](crate::process::register) calls made before
/// `init()`), introduces itself over the socket it inherited as its standard input (its standard
/// input is then `/dev/null`; its standard output and error are the parent's, so a job's prints
/// show), runs jobs one at a time on the main thread, and exits when the pool retires it or when
/// the parent process goes away, killing its own process group then (anything a job started).
///
/// A program that builds a `ProcessPoolExecutor` without calling `init()` first (or a
/// [`program`](crate::process::ProcessPoolBuilder::program) that is not a worker) gets a
/// [`FutureError::BrokenPool`](crate::FutureError::BrokenPool) for its jobs, never a hang:
///
/// ```text
/// the pool cannot run jobs: the worker process 4242 (`/path/to/app`) exited with code 0 before
/// reaching poolbridge::process::init(): call poolbridge::process::init() as the first line of
/// main (a worker is this program re-run, and init() is where it starts serving jobs), or point
/// ProcessPoolBuilder::program at a binary that does
/// ```
///
/// A worker that neither exits nor reaches `init()` is killed after
/// [`start_timeout`](crate::process::ProcessPoolBuilder::start_timeout) ("did not reach
/// poolbridge::process::init() within 10s and was killed: ..."), and the forgetful worker's own
/// pools refuse to start workers, so the mistake cannot multiply into a fork bomb.
///
/// [`ProcessPoolExecutor`]: crate::ProcessPoolExecutor
///
/// # Examples
///
/// ```no_run
/// #[poolbridge::job]
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// fn main() {
///     poolbridge::process::init(); // a worker never gets past this line
///     let pool = poolbridge::ProcessPoolExecutor::new(2);
///     assert_eq!(pool.submit(square, (7,)).join(), Ok(49));
/// }
/// ```
pub fn init() {
    // ORDERING: Relaxed: read by this process's own later pool builds; no data hangs on it.
    INIT_CALLED.store(true, Ordering::Relaxed);
    if !is_worker() {
        return;
    }
    let code = serve();
    std::process::exit(code);
}

/// `true` if this process was started by a pool of its parent as a worker.
fn is_worker() -> bool {
    let Some(marker) = std::env::var_os(wire::ENV_MARKER) else {
        return false;
    };
    let Some(marker) = marker.to_str() else {
        return false;
    };
    let Some((protocol, parent)) = marker.split_once(':') else {
        return false;
    };
    let parent_now = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    protocol == wire::PROTOCOL.to_string() && parent.parse::<i32>().ok() == Some(parent_now)
}

/// `true` once [`init`] was called in this process (a worker host checks it: its local pool's
/// workers are this program re-run).
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) fn init_called() -> bool {
    // ORDERING: Relaxed: set at the top of main, on this thread or before this thread was
    // spawned (the spawn orders it), or never.
    INIT_CALLED.load(Ordering::Relaxed)
}

/// `true` if this process was started as a worker but did not call [`init`] before building a
/// pool: it must not start workers of its own (they would do the same, without end).
pub(crate) fn is_uninitialized_worker() -> bool {
    // ORDERING: Relaxed: set earlier on this same thread or never.
    !INIT_CALLED.load(Ordering::Relaxed) && is_worker()
}

/// Serves jobs until the parent closes the connection. Returns the exit code.
fn serve() -> i32 {
    let stream = match take_socket() {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!(
                "poolbridge worker {}: started as a worker, but its standard input is not the \
                 pool's socket ({err}); exiting",
                std::process::id()
            );
            return EXIT_NO_PARENT;
        }
    };
    let registry = registry();
    let mut conn = ParentConn {
        stream,
        reader: FrameReader::new(),
        search: Search::new(),
        out: Vec::with_capacity(256),
    };
    match conn.run(registry) {
        // The parent closed the connection: retired, or the pool shut down.
        Ok(()) => 0,
        Err(err) => {
            // The parent went away mid-frame or sent nonsense: nobody is left to tell.
            if err.kind() != io::ErrorKind::UnexpectedEof {
                eprintln!(
                    "poolbridge worker {}: connection to the pool failed: {err}",
                    std::process::id()
                );
            }
            EXIT_NO_PARENT
        }
    }
}

/// Takes the pool's socket from standard input (a close-on-exec copy, so processes a job starts
/// do not hold it) and puts `/dev/null` in its place.
fn take_socket() -> io::Result<UnixStream> {
    let stdin = io::stdin();
    let fd: OwnedFd = rustix::io::fcntl_dupfd_cloexec(stdin.as_fd(), 3)?;
    let stream = UnixStream::from(fd);
    // Fails with ENOTSOCK if standard input is not a socket (someone set the marker by hand).
    stream.peer_addr()?;
    let null = std::fs::File::open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    Ok(stream)
}

/// How often the parent watch looks at `getppid()`, where nothing else tells the parent's death
/// at once (a parent whose socket some other process holds, on a platform without pidfds). Each
/// look is one system call per worker; half a second bounds how long a job's processes outlive
/// the parent there.
const PARENT_CHECK: Duration = Duration::from_millis(500);

/// Ends this worker, and everything its jobs started in its process group, when the parent
/// process dies, even while a job runs (the main thread is busy then): a thread waits for the
/// parent's exit (on Linux a pidfd of the parent, readable when it exits), for the socket to
/// hang up (the kernel closes the parent's end when it dies), and looks at `getppid()` every
/// [`PARENT_CHECK`]. Then it kills the group the worker was started in, itself included.
///
/// No `PR_SET_PDEATHSIG = SIGKILL` while the watch runs: that signal would kill the worker before
/// the watch kills its group, and the processes its jobs started would survive it. Only a worker
/// that cannot start the watch thread asks for it, as the next best thing.
fn watch_parent(stream: &UnixStream, control: Option<UnixStream>) {
    let parent = rustix::process::getppid();
    // The pool starts the worker as the leader of a new group: its pid is the group id. Kept
    // now: a job may move the worker to another group, which may be the parent's.
    let group = rustix::process::getpid();
    #[cfg(target_os = "linux")]
    let parent_fd = parent.and_then(|parent| {
        rustix::process::pidfd_open(parent, rustix::process::PidfdFlags::empty()).ok()
    });
    // Opened before this check: if the parent is still this process's parent now, the pidfd is
    // the parent's (a dead parent's pid would read as another here), and it tells the death
    // from now on. If it already died, end now.
    if rustix::process::getppid() != parent {
        end_with_group(group);
    }
    let watch = stream.try_clone();
    let spawned = watch.and_then(|watch| {
        std::thread::Builder::new()
            .name("poolbridge-watch".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut control = control.map(ControlReader::new);
                loop {
                    #[cfg(target_os = "linux")]
                    let parent_fd = parent_fd.as_ref().map(AsFd::as_fd);
                    #[cfg(not(target_os = "linux"))]
                    let parent_fd = None;
                    let seen = watch_once(&watch, parent_fd, control.as_ref().map(|c| &c.stream));
                    if seen.gone || rustix::process::getppid() != parent {
                        end_with_group(group);
                    }
                    if seen.control {
                        let open = control.as_mut().is_some_and(ControlReader::read);
                        if !open {
                            // The parent closed it (it reaps this worker): nothing more to read.
                            control = None;
                        }
                    }
                }
            })
    });
    if spawned.is_err() {
        // No watch: let the kernel kill this worker with its parent (what its jobs started may
        // survive). End-of-file still ends the worker between jobs.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::KILL,
            ));
            if rustix::process::getppid() != parent {
                end_with_group(group);
            }
        }
    }
}

/// The parent is gone: takes down the group the worker was started in (what its jobs started,
/// and the worker itself unless a job moved it out), then exits.
fn end_with_group(group: rustix::process::Pid) -> ! {
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    std::process::exit(EXIT_NO_PARENT);
}

/// What one wait of the watch thread saw.
struct Seen {
    /// The parent died.
    gone: bool,
    /// The control socket has something to read (or hung up).
    control: bool,
}

/// Waits up to [`PARENT_CHECK`] for a sign that the parent died (`parent`, a pidfd, readable,
/// or the socket `stream` hung up) or for a frame on the `control` socket.
fn watch_once(
    stream: &UnixStream,
    parent: Option<BorrowedFd<'_>>,
    control: Option<&UnixStream>,
) -> Seen {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    // No POLLIN on the socket: the main thread reads the data; only the hang-up (always
    // reported) matters. A missing descriptor is the socket again, with no events asked.
    let mut fds = [
        PollFd::new(stream, PollFlags::empty()),
        match parent {
            Some(fd) => PollFd::from_borrowed_fd(fd, PollFlags::IN),
            None => PollFd::new(stream, PollFlags::empty()),
        },
        match control {
            Some(control) => PollFd::new(control, PollFlags::IN),
            None => PollFd::new(stream, PollFlags::empty()),
        },
    ];
    let timeout = Timespec::try_from(PARENT_CHECK).expect("a short timeout");
    match poll(&mut fds, Some(&timeout)) {
        Ok(0) | Err(_) => Seen {
            gone: false,
            control: false,
        },
        Ok(_) => {
            let hung_up = |fd: &PollFd<'_>| {
                fd.revents()
                    .intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL)
            };
            Seen {
                gone: hung_up(&fds[0])
                    || (parent.is_some() && !fds[1].revents().is_empty())
                    || (parent.is_none() && hung_up(&fds[1])),
                control: control.is_some() && !fds[2].revents().is_empty(),
            }
        }
    }
}

/// The worker's end of the control socket, read by the watch thread: `CANCEL` frames, all of
/// [`wire::CANCEL_FRAME`] bytes.
struct ControlReader {
    stream: UnixStream,
    /// Bytes of a frame read in part.
    partial: Vec<u8>,
}

impl ControlReader {
    fn new(stream: UnixStream) -> ControlReader {
        ControlReader {
            stream,
            partial: Vec::with_capacity(wire::CANCEL_FRAME),
        }
    }

    /// Reads what the control socket has (it is readable) and acts on each whole frame.
    /// Returns `false` once the socket is closed or broken.
    fn read(&mut self) -> bool {
        let mut buf = [0u8; 16 * wire::CANCEL_FRAME];
        let n = match (&self.stream).read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return true,
            Err(_) => return false,
        };
        self.partial.extend_from_slice(&buf[..n]);
        let whole = self.partial.len() / wire::CANCEL_FRAME * wire::CANCEL_FRAME;
        for raw in self.partial[..whole].chunks_exact(wire::CANCEL_FRAME) {
            let frame = wire::Frame {
                kind: raw[4],
                body: &raw[5..],
            };
            match wire::split_cancel(&frame) {
                Some(nth) => stop_call(nth),
                // Not a frame this worker knows: the stream is out of step, stop reading it.
                None => return false,
            }
        }
        self.partial.drain(..whole);
        true
    }
}

/// What the watch thread and the main thread share about stopping calls.
struct StopState {
    /// The ordinal of the call running now (0: none).
    running: u64,
    /// The highest ordinal that was started or skipped: a `CANCEL` for it or an earlier one
    /// came too late.
    reached: u64,
    /// The index of the job cell of the call running now.
    cell: u32,
    /// `CANCEL`s for calls not reached yet (calls sent ahead, still in the socket).
    requested: Vec<u64>,
}

static STOPS: Mutex<StopState> = Mutex::new(StopState {
    running: 0,
    reached: 0,
    cell: 0,
    requested: Vec::new(),
});

/// A `CANCEL` for call `nth` arrived: the call running now sees `cancelled()` turn `true`; a
/// call not reached yet will be skipped.
fn stop_call(nth: u64) {
    let st = lock(&STOPS);
    if st.running == nth {
        // Under the lock: the main thread clears `running` (under it) before the cell can go to
        // the next call, so the request cannot land on another call.
        if let Some(cell) = context::job_cell(st.cell) {
            cell.request(context::Stop::Requested);
        }
    } else if nth > st.reached {
        let mut st = st;
        st.requested.push(nth);
    }
}

/// The main thread reaches call `nth`, to run it with job cell `cell` (its claim, after the
/// cell was cleared). Returns `false` if a `CANCEL` came first: skip it.
fn begin_call(nth: u64, cell: u32) -> bool {
    let mut st = lock(&STOPS);
    st.reached = nth;
    if !st.requested.is_empty() {
        let before = st.requested.len();
        st.requested.retain(|&n| n > nth);
        let was_requested = before != st.requested.len();
        if was_requested {
            return false;
        }
    }
    st.running = nth;
    st.cell = cell;
    true
}

/// The main thread skips call `nth` without running it (its deadline passed).
fn skip_call(nth: u64) {
    let mut st = lock(&STOPS);
    st.reached = nth;
    st.requested.retain(|&n| n > nth);
}

/// The call running now returned.
fn end_call() {
    lock(&STOPS).running = 0;
}

/// What was sent of the running call's progress, and where to send it. Locked by the main
/// thread at a call's start and end, and by the progress thread for each frame: a frame of a
/// call is always written before the call's `DONE`, and never for another call.
struct ProgressSender {
    /// A second handle to the main socket.
    stream: UnixStream,
    /// The running call's ordinal; 0 between calls (nothing is sent).
    nth: u64,
    /// The version of [`LATEST`] when the call started: later versions are its reports.
    base: u64,
    /// The version last sent.
    sent: u64,
    sent_at: Option<Instant>,
}

impl ProgressSender {
    /// Sends the running call's latest report if it has one not sent yet.
    fn flush(&mut self) {
        let (version, value) = latest().get();
        let Some((done, total)) = value else {
            return;
        };
        if self.nth == 0 || version <= self.base || version == self.sent {
            return;
        }
        // A write error means the parent is gone: the main loop finds out on its next read.
        let _ = (&self.stream).write_all(&wire::progress_frame(self.nth, done, total));
        self.sent = version;
        self.sent_at = Some(Instant::now());
    }
}

static SENDER: Mutex<Option<ProgressSender>> = Mutex::new(None);
/// The running call's latest report (written by the main thread only, lock-free).
static LATEST: OnceLock<ProgressCell> = OnceLock::new();
/// A report came that the progress thread has not looked at yet.
static DIRTY: AtomicBool = AtomicBool::new(false);
/// The progress thread, unparked by the first report after each frame.
static FLUSHER: OnceLock<std::thread::Thread> = OnceLock::new();

thread_local! {
    /// The main thread runs a call (its `progress()` reports are the call's).
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
}

fn latest() -> &'static ProgressCell {
    LATEST.get_or_init(ProgressCell::default)
}

/// The progress hook (`poolbridge::progress()` on a thread that runs no pool job): on the main
/// thread inside a call, records the value and wakes the progress thread if it is not awake
/// yet. A few stores: the sending (at most every [`wire::PROGRESS_EVERY`]) is that thread's.
fn report_progress(done: u64, total: u64) {
    if !IN_CALL.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    latest().set(done, total);
    // ORDERING: Relaxed load, AcqRel swap: the value is read by the flusher after it clears
    // the flag (SeqCst) and re-reads the cell; a report that finds the flag up is covered by
    // that read.
    if !DIRTY.load(Ordering::Relaxed) && !DIRTY.swap(true, Ordering::AcqRel) {
        if let Some(flusher) = FLUSHER.get() {
            flusher.unpark();
        }
    }
}

/// The progress thread: sends the running call's latest report at most every
/// [`wire::PROGRESS_EVERY`], coalescing the reports between two frames.
fn flush_progress() {
    loop {
        std::thread::park();
        while DIRTY.load(Ordering::Acquire) {
            let last = lock(&SENDER).as_ref().and_then(|s| s.sent_at);
            if let Some(wait) = last
                .and_then(|at| (at + wire::PROGRESS_EVERY).checked_duration_since(Instant::now()))
            {
                std::thread::sleep(wait);
            }
            DIRTY.store(false, Ordering::SeqCst);
            if let Some(sender) = lock(&SENDER).as_mut() {
                sender.flush();
            }
        }
    }
}

/// Sets up progress reports for this worker: the hook `poolbridge::progress()` calls and the
/// thread that sends them. Without the thread (it could not start), reports are only sent when
/// the call ends.
fn start_progress(stream: &UnixStream) {
    let Ok(stream) = stream.try_clone() else {
        return;
    };
    *lock(&SENDER) = Some(ProgressSender {
        stream,
        nth: 0,
        base: 0,
        sent: 0,
        sent_at: None,
    });
    let flusher = std::thread::Builder::new()
        .name("poolbridge-progress".into())
        .stack_size(64 * 1024)
        .spawn(flush_progress);
    if let Ok(flusher) = flusher {
        let _ = FLUSHER.set(flusher.thread().clone());
    }
    crate::future::set_child_hook(report_progress);
}

/// Call `nth` starts: its reports go to the parent from now on.
fn begin_progress(nth: u64) {
    if let Some(sender) = lock(&SENDER).as_mut() {
        sender.nth = nth;
        sender.base = latest().get().0;
    }
    let _ = IN_CALL.try_with(|c| c.set(true));
}

/// The call ended: sends its last report if it was not sent yet (before its `DONE`: the parent
/// sees the last value before the outcome); later reports are dropped.
fn finish_progress() {
    let _ = IN_CALL.try_with(|c| c.set(false));
    if let Some(sender) = lock(&SENDER).as_mut() {
        sender.flush();
        sender.nth = 0;
    }
}

/// A call's trace while it runs (feature `tracing`): the `poolbridge.run` span under the
/// received context, entered, that context as the thread's `TraceContext::current()`, and its
/// events forwarded to the parent. Dropped when the job returns, before its `DONE`.
#[cfg(feature = "tracing")]
struct Traced {
    _span: tracing::span::EnteredSpan,
    _context: crate::trace::context::Entered,
}

#[cfg(feature = "tracing")]
impl Traced {
    fn enter(job: Option<&'static str>, trace: Option<&[u8]>) -> Traced {
        crate::trace::forward::begin_job();
        let received = trace.and_then(crate::trace::TraceContext::from_bytes);
        let job = job.unwrap_or("<unknown job>");
        let (span, ctx) = crate::trace::run_span(job, "process", received);
        Traced {
            _context: crate::trace::enter(ctx),
            _span: span.entered(),
        }
    }
}

#[cfg(feature = "tracing")]
impl Drop for Traced {
    fn drop(&mut self) {
        // The dropped-events note, while the call's ordinal is still set.
        crate::trace::forward::end_job();
    }
}

/// Sends one record of the running call's events as a `LOG` frame (feature `tracing`), under
/// the progress lock: never after the call's `DONE`, never for another call.
#[cfg(feature = "tracing")]
fn send_log(record: &crate::trace::relay::LogRecord) {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut sender = lock(&SENDER);
    let Some(sender) = sender.as_mut().filter(|s| s.nth != 0) else {
        return;
    };
    let _ = BUF.try_with(|buf| {
        let mut buf = buf.borrow_mut();
        if wire::log_frame(sender.nth, record, &mut buf).is_ok() {
            // A write error means the parent is gone: the main loop finds out on its next read.
            let _ = (&sender.stream).write_all(&buf);
        }
        if buf.capacity() > 1 << 16 {
            *buf = Vec::new();
        }
    });
}

/// The worker's end of its connection to the parent: the socket it reads calls from and
/// writes answers to.
struct ParentConn {
    stream: UnixStream,
    reader: FrameReader,
    /// How long to spin for the next call before blocking (`spin.rs`).
    search: Search,
    out: Vec<u8>,
}

impl ParentConn {
    fn run(&mut self, registry: &Registry) -> io::Result<()> {
        self.hello(registry)?;
        // The parent answers with SETUP (or closes: a handshake mismatch), which carries the
        // worker's end of the control socket.
        let mut src = FdRead {
            stream: &self.stream,
            fds: Vec::new(),
        };
        let setup = self.reader.read(&mut src);
        let control = src.fds.pop().map(|fd| {
            // Not inherited by the processes a job starts.
            let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
            UnixStream::from(fd)
        });
        let initializer = match setup {
            Ok(frame) if frame.kind == wire::SETUP => match frame.body {
                [a, b, c, d] => Some(u32::from_le_bytes([*a, *b, *c, *d])),
                _ => None,
            },
            Ok(frame) => return Err(unexpected(frame.kind)),
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(err) => return Err(err),
        };
        watch_parent(&self.stream, control);
        self.setup(registry, initializer)?;
        start_progress(&self.stream);
        // The job's events go to the parent (if this program set no subscriber of its own).
        #[cfg(feature = "tracing")]
        crate::trace::forward::install(send_log);
        // Jobs run through `context::run_job` with this cell, so `cancelled()` reads it.
        let cell = context::OwnCell::new();
        let counters = context::JobCounters::default();
        let runner = context::Runner {
            cell: &cell,
            counters: &counters,
        };
        // The ordinal of the call being served (counted from 1), as the parent counts them.
        let mut nth = 0u64;
        loop {
            // No exit watch: this end learns of the parent's death from the watch thread.
            let mut src = SpinRead {
                stream: &self.stream,
                search: &mut self.search,
                exit: None,
            };
            let frame = match self.reader.read(&mut src) {
                Ok(frame) => frame,
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(err) => return Err(err),
            };
            let Some(call) = wire::split_call(&frame) else {
                return Err(unexpected(frame.kind));
            };
            nth += 1;
            wire::start_frame(&mut self.out, wire::DONE);
            let status_at = self.out.len();
            // A deadline that passed before the parent sent the call (time left 0): not run.
            let run = if call.time_left == Some(Duration::ZERO) {
                skip_call(nth);
                Err(wire::SKIP_DEADLINE)
            } else {
                context::run_job(Some(runner), |index| begin_call(nth, index))
                    .ok_or(wire::SKIP_CANCELLED)
            };
            let run = match run {
                Ok(run) => run,
                Err(reason) => {
                    self.out.push(wire::SKIPPED);
                    self.out.push(reason);
                    self.send()?;
                    continue;
                }
            };
            self.out.push(wire::OK);
            // The clock of the deadline starts when the call is read: a call sent ahead waited
            // in the socket meanwhile, so it sees a later deadline than the parent enforces.
            let deadline = call
                .time_left
                .and_then(|left| Instant::now().checked_add(left));
            let scope = context::enter_deadline(deadline);
            begin_progress(nth);
            #[cfg(feature = "tracing")]
            let traced = Traced::enter(registry.name(call.index), call.trace);
            let outcome = unwind::catch(|| registry.invoke(call.index, call.args, &mut self.out));
            #[cfg(feature = "tracing")]
            drop(traced);
            finish_progress();
            drop(scope);
            let stopped = run.end(outcome.is_err()).is_some();
            end_call();
            match outcome {
                Ok(Ok(())) if stopped => {
                    // It saw `cancelled()` and returned: its output is not the answer asked for.
                    self.out.truncate(status_at);
                    self.out.push(wire::STOPPED);
                }
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    self.out.truncate(status_at);
                    match err.side {
                        None => self.out.push(wire::IPC),
                        Some(side) => {
                            self.out.push(wire::CODEC);
                            self.out.push(match side {
                                CodecSide::Arguments => crate::seam::call::CODEC_ARGUMENTS,
                                _ => crate::seam::call::CODEC_OUTPUT,
                            });
                        }
                    }
                    self.out.extend_from_slice(err.message.as_bytes());
                }
                Err(panic) => {
                    self.out.truncate(status_at);
                    self.out.push(wire::PANICKED);
                    self.out.extend_from_slice(panic.message().as_bytes());
                }
            }
            self.send()?;
        }
    }

    fn hello(&mut self, registry: &Registry) -> io::Result<()> {
        let hello = wire::Hello {
            build_id: wire::build_id(),
            pid: std::process::id(),
            fingerprint: registry.fingerprint(),
            jobs: registry.describe(),
        };
        let mut raw = Vec::with_capacity(64);
        raw.extend_from_slice(&wire::MAGIC);
        raw.extend_from_slice(&wire::PROTOCOL.to_le_bytes());
        (&self.stream).write_all(&raw)?;
        wire::start_frame(&mut self.out, wire::HELLO);
        wire::encode_into(&hello, &mut self.out).map_err(io::Error::other)?;
        self.send()
    }

    fn setup(&mut self, registry: &Registry, initializer: Option<u32>) -> io::Result<()> {
        wire::start_frame(&mut self.out, wire::READY);
        let mut scratch = Vec::new();
        let outcome = match initializer {
            None => Ok(Ok(())),
            // An initializer takes `()`: its encoding is empty.
            Some(index) => unwind::catch(|| registry.invoke(index, &[], &mut scratch)),
        };
        match outcome {
            Ok(Ok(())) => self.out.push(wire::OK),
            Ok(Err(err)) => {
                self.out.push(wire::IPC);
                self.out.extend_from_slice(err.message.as_bytes());
            }
            Err(panic) => {
                self.out.push(wire::PANICKED);
                self.out.extend_from_slice(panic.message().as_bytes());
            }
        }
        self.send()
    }

    fn send(&mut self) -> io::Result<()> {
        if let Err(too_large) = wire::finish_frame(&mut self.out) {
            // Only an answer can be this large: answer with the reason instead.
            let kind = self.out[4];
            wire::start_frame(&mut self.out, kind);
            self.out.push(wire::IPC);
            self.out.extend_from_slice(
                format!("the worker could not send the job's output: {too_large}").as_bytes(),
            );
            wire::finish_frame(&mut self.out).map_err(io::Error::other)?;
        }
        (&self.stream).write_all(&self.out)?;
        if self.out.capacity() > 1 << 20 {
            self.out = Vec::with_capacity(256);
        }
        Ok(())
    }
}

/// Reads the socket with `recvmsg`, keeping the descriptors that come with the bytes (the
/// control socket, with `SETUP`).
struct FdRead<'a> {
    stream: &'a UnixStream,
    fds: Vec<OwnedFd>,
}

impl Read for FdRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
        use std::mem::MaybeUninit;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = recvmsg(
            self.stream,
            &mut [io::IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::empty(),
        )?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                self.fds.extend(fds);
            }
        }
        Ok(got.bytes)
    }
}

fn unexpected(kind: u8) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected frame kind {kind} from the pool"),
    )
}
