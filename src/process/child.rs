//! A worker process as a resource of the parent: spawned into its own process group, killed with
//! that group, reaped with its exit status decoded.

use std::io;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::thread;

use rustix::process::{Pid, Signal};

use crate::error::WorkerExit;
use crate::process::wire::PROTOCOL;
use crate::process::worker::ENV_MARKER;

/// The command that starts a worker: `program` with the environment marker, the child's end of
/// the socket as its standard input, in a new process group (its pid is the group id).
pub(crate) fn worker_command(program: &Path, socket: UnixStream) -> Command {
    let mut cmd = Command::new(program);
    cmd.env(ENV_MARKER, format!("{PROTOCOL}:{}", std::process::id()))
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(socket)))
        .process_group(0);
    cmd
}

/// Kills the process group of worker `pid` (the worker and everything its jobs started).
///
/// Only call it before the worker is reaped: until then the group id cannot be reused.
pub(crate) fn kill_group(pid: u32) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        // ESRCH (the group is already empty) is fine.
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    }
}

/// The exit of a reaped worker, as [`WorkerExit`].
pub(crate) fn exit_of(pid: u32, status: ExitStatus) -> WorkerExit {
    WorkerExit::new(pid, status.code(), status.signal(), status.core_dumped())
}

/// "exited with code 3", "was killed by signal 11 (SIGSEGV)": for messages about a worker that
/// died outside a job.
pub(crate) fn describe_exit(status: io::Result<ExitStatus>, pid: u32) -> String {
    match status {
        Ok(status) => exit_of(pid, status).status_text(),
        Err(err) => format!("ended (its status could not be read: {err})"),
    }
}

type Request = (Command, mpsc::SyncSender<io::Result<Child>>);

/// Starts worker processes from one long-lived thread.
///
/// On Linux a worker asks the kernel for `SIGKILL` when its parent dies (`PR_SET_PDEATHSIG`),
/// and "parent" there means the *thread* that forked it: forking from a pool thread that later
/// retires would kill a healthy worker. This thread lives as long as the pool's state, which
/// outlives every worker (each is reaped by a pool thread first).
pub(crate) struct Spawner {
    requests: Mutex<Option<mpsc::Sender<Request>>>,
}

impl Spawner {
    pub(crate) fn new() -> Spawner {
        Spawner {
            requests: Mutex::new(None),
        }
    }

    /// Spawns `cmd` (on the spawner thread) and drops it there, closing the parent's copy of the
    /// child's socket end.
    pub(crate) fn spawn(&self, cmd: Command) -> io::Result<Child> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        {
            let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            if requests.is_none() {
                let (tx, rx) = mpsc::channel::<Request>();
                thread::Builder::new()
                    .name("poolbridge-spawner".into())
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        for (mut cmd, reply) in rx {
                            let child = cmd.spawn();
                            drop(cmd);
                            let _ = reply.send(child);
                        }
                    })?;
                *requests = Some(tx);
            }
            let sender = requests.as_ref().expect("started above");
            sender
                .send((cmd, reply_tx))
                .map_err(|_| io::Error::other("the poolbridge spawner thread is gone"))?;
        }
        reply_rx
            .recv()
            .map_err(|_| io::Error::other("the poolbridge spawner thread is gone"))?
    }
}
