//! Starting a worker: spawn, handshake, initializer. Every failure is a `BrokenPool` reason that
//! says what went wrong and what to change: `WorkerStart`, or an initializer's
//! `InitializerPanicked` / `InitializerFailed`.

use std::io;
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::error::{BrokenReason, PanicError};
use crate::process::child::{self, ExitWatch, Spawner};
use crate::process::config::Config;
use crate::process::spin::WatchedRead;
use crate::process::wire::{self, FrameReader};
use crate::process::worker;

/// What fixes a worker that never reached `init()`: the sentence every such message ends with.
pub(crate) const INIT_HINT: &str = "call poolbridge::process::init() as the first line of main \
     (a worker is this program re-run, and init() is where it starts serving jobs), or point \
     ProcessPoolBuilder::program at a binary that does";

/// A started worker: its end of the socket, its process and what tells its exit, and the reader
/// holding any bytes read past the handshake.
pub(crate) struct Started {
    pub(crate) stream: UnixStream,
    /// The parent's end of the control socket (`CANCEL` frames), non-blocking.
    pub(crate) control: UnixStream,
    pub(crate) child: Child,
    pub(crate) exit: ExitWatch,
    pub(crate) reader: FrameReader,
}

/// Spawns a worker and completes the handshake (and the initializer).
pub(crate) fn start(config: &Config, spawner: &Spawner) -> Result<Started, BrokenReason> {
    if worker::is_uninitialized_worker() {
        return Err(BrokenReason::WorkerStart(format!(
            "this process was started as a poolbridge worker but runs main instead of serving \
             jobs, so it may not start workers of its own: {INIT_HINT}"
        )));
    }
    let program = config.program.display().to_string();
    let (stream, theirs) = UnixStream::pair().map_err(|err| {
        BrokenReason::WorkerStart(format!("could not create a socket pair: {err}"))
    })?;
    let (control, control_theirs) = UnixStream::pair().map_err(|err| {
        BrokenReason::WorkerStart(format!("could not create a socket pair: {err}"))
    })?;
    let cmd = child::worker_command(&config.program, theirs);
    let child = spawner.spawn(cmd).map_err(|err| {
        BrokenReason::WorkerStart(format!(
            "could not start the worker program `{program}`: {err} (set \
             ProcessPoolBuilder::program to an executable that calls poolbridge::process::init())"
        ))
    })?;
    let pid = child.id();
    let mut started = Started {
        stream,
        control,
        child,
        // Not reaped yet: the pid is still the worker's.
        exit: ExitWatch::new(pid),
        reader: FrameReader::new(),
    };
    match handshake(config, &mut started, pid, &program, control_theirs) {
        Ok(()) => Ok(started),
        Err(failure) => {
            // Not reaped yet: the pid and group id are still the worker's.
            child::kill_worker(pid);
            let status = started.child.wait();
            Err(failure.message(child::describe_exit(status, pid)))
        }
    }
}

/// Why a handshake failed; the message is completed with the worker's exit status once reaped.
enum Failure {
    /// It ended (or broke the connection) before introducing itself.
    NoHello { pid: u32, program: String },
    /// It did not introduce itself in time.
    Silent {
        pid: u32,
        program: String,
        limit: Duration,
    },
    /// Anything else: the full message.
    Other(String),
    /// It died running the initializer.
    InitializerDied { pid: u32, name: &'static str },
    /// Its initializer panicked, with this message.
    InitializerPanicked {
        pid: u32,
        name: &'static str,
        message: String,
    },
    /// Its initializer could not run (the full message).
    InitializerFailed(String),
}

impl Failure {
    fn message(self, status: String) -> BrokenReason {
        let text = match self {
            Failure::InitializerPanicked { pid, name, message } => {
                return BrokenReason::initializer_panicked(
                    format!("the initializer `{name}` of worker process {pid}"),
                    PanicError::new(message),
                );
            }
            Failure::InitializerFailed(message) => return BrokenReason::InitializerFailed(message),
            Failure::NoHello { pid, program } => format!(
                "the worker process {pid} (`{program}`) {status} before reaching \
                 poolbridge::process::init(): {INIT_HINT}"
            ),
            Failure::Silent {
                pid,
                program,
                limit,
            } => format!(
                "the worker process {pid} (`{program}`) did not reach poolbridge::process::init() \
                 within {limit:?} and was killed: {INIT_HINT} (ProcessPoolBuilder::start_timeout \
                 sets this limit)"
            ),
            Failure::Other(message) => message,
            Failure::InitializerDied { pid, name } => {
                format!("the worker process {pid} {status} while running the initializer `{name}`")
            }
        };
        BrokenReason::WorkerStart(text)
    }
}

fn handshake(
    config: &Config,
    w: &mut Started,
    pid: u32,
    program: &str,
    control_theirs: UnixStream,
) -> Result<(), Failure> {
    let registry = config.registry;
    // A limit too large for `Instant` (`Duration::MAX`) is no limit.
    let deadline = Instant::now().checked_add(config.start_timeout);
    let no_hello = |err: io::Error| {
        if matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            Failure::Silent {
                pid,
                program: program.to_owned(),
                limit: config.start_timeout,
            }
        } else {
            Failure::NoHello {
                pid,
                program: program.to_owned(),
            }
        }
    };
    // Reads end at the deadline, or when the worker exits, even if a process it started holds
    // the socket open.
    let mut src = WatchedRead {
        stream: &w.stream,
        exit: &w.exit,
        deadline,
    };
    let magic = w
        .reader
        .read_raw(&mut src, wire::MAGIC.len())
        .map_err(no_hello)?;
    if magic != wire::MAGIC {
        return Err(Failure::Other(format!(
            "the worker program `{program}` (process {pid}) is not a poolbridge worker: it wrote \
             {magic:?} where a worker introduces itself; {INIT_HINT}"
        )));
    }
    let protocol = w.reader.read_raw(&mut src, 4).map_err(no_hello)?;
    let protocol = u32::from_le_bytes(protocol.try_into().expect("four bytes"));
    if protocol != wire::PROTOCOL {
        return Err(Failure::Other(format!(
            "the worker program `{program}` speaks poolbridge protocol {protocol}, this program \
             protocol {}: build the worker program against the same poolbridge version",
            wire::PROTOCOL
        )));
    }
    let hello = w.reader.read(&mut src).map_err(no_hello)?;
    if hello.kind != wire::HELLO {
        return Err(Failure::Other(format!(
            "the worker program `{program}` sent frame kind {} instead of its introduction",
            hello.kind
        )));
    }
    let hello: wire::Hello = postcard::from_bytes(hello.body).map_err(|err| {
        Failure::Other(format!(
            "could not read the introduction of worker `{program}`: {err}"
        ))
    })?;
    let ours = wire::build_id();
    if hello.build_id != ours {
        return Err(Failure::Other(format!(
            "the worker program `{program}` runs {}, this program {ours}: build both against the \
             same poolbridge",
            hello.build_id
        )));
    }
    if hello.fingerprint != registry.fingerprint() {
        return Err(Failure::Other(registry_mismatch(
            program,
            &hello.jobs,
            &registry.describe(),
        )));
    }
    // The worker is in `init()`: no time limit from now on (the initializer may take long).
    src.deadline = None;
    let mut setup = Vec::new();
    wire::start_frame(&mut setup, wire::SETUP);
    if let Some((index, _)) = config.initializer {
        setup.extend_from_slice(&index.to_le_bytes());
    }
    wire::finish_frame(&mut setup).map_err(Failure::Other)?;
    // SETUP carries the worker's end of the control socket (see `wire.rs`).
    send_with_fd(&w.stream, &setup, &control_theirs).map_err(|_| Failure::NoHello {
        pid,
        program: program.to_owned(),
    })?;
    drop(control_theirs);
    w.control.set_nonblocking(true).map_err(|err| {
        Failure::Other(format!(
            "could not make the control socket non-blocking: {err}"
        ))
    })?;
    let initializer = config.initializer.map_or("", |(_, name)| name);
    let ready = w
        .reader
        .read(&mut src)
        .map_err(|_| Failure::InitializerDied {
            pid,
            name: initializer,
        })?;
    let (status, message) = match ready.body.split_first() {
        Some((status, message)) if ready.kind == wire::READY => {
            (*status, String::from_utf8_lossy(message).into_owned())
        }
        _ => {
            return Err(Failure::Other(format!(
                "the worker program `{program}` sent frame kind {} instead of READY",
                ready.kind
            )));
        }
    };
    match status {
        wire::OK => Ok(()),
        wire::PANICKED => Err(Failure::InitializerPanicked {
            pid,
            name: initializer,
            message,
        }),
        _ => Err(Failure::InitializerFailed(format!(
            "the initializer `{initializer}` failed in worker process {pid}: {message}"
        ))),
    }
}

/// Writes `frame` to `stream` with `fd` attached (`SCM_RIGHTS`): the worker receives a copy of
/// the descriptor with the frame's first bytes.
fn send_with_fd(stream: &UnixStream, frame: &[u8], fd: &UnixStream) -> io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    use std::mem::MaybeUninit;
    use std::os::fd::AsFd;
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other(
            "no room for a descriptor in the ancillary buffer",
        ));
    }
    let sent = loop {
        match sendmsg(
            stream,
            &[io::IoSlice::new(frame)],
            &mut control,
            SendFlags::empty(),
        ) {
            Ok(n) => break n,
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    };
    let mut dst = stream;
    io::Write::write_all(&mut dst, &frame[sent..])
}

/// The message for two processes that register different jobs: which names differ.
fn registry_mismatch(program: &str, theirs: &[String], ours: &[String]) -> String {
    const SHOWN: usize = 5;
    let list = |names: Vec<&String>| {
        let mut text = names
            .iter()
            .take(SHOWN)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > SHOWN {
            text.push_str(&format!(" and {} more", names.len() - SHOWN));
        }
        if text.is_empty() {
            text.push_str("none");
        }
        text
    };
    let only_theirs: Vec<&String> = theirs.iter().filter(|j| !ours.contains(j)).collect();
    let only_ours: Vec<&String> = ours.iter().filter(|j| !theirs.contains(j)).collect();
    format!(
        "the worker program `{program}` registers other jobs than this program (only in the \
         worker: {}; only here: {}): build the worker from the same source, and make the same \
         poolbridge::process::register calls before poolbridge::process::init() in both",
        list(only_theirs),
        list(only_ours)
    )
}
