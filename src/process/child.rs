//! A worker process as a resource of the parent: spawned into its own process group, watched for
//! its exit apart from its socket, killed with that group, reaped with its exit status decoded.

use std::io;
use std::os::fd::BorrowedFd;
#[cfg(target_os = "linux")]
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::thread;

use rustix::process::{Pid, Signal};

use crate::error::WorkerExit;
use crate::process::wire::{ENV_MARKER, PROTOCOL};

/// The command that starts a worker: `program` with the environment marker, the child's end of
/// the socket as its standard input, in a new process group (its pid is the group id).
pub(crate) fn worker_command(program: &Path, socket: UnixStream) -> Command {
    let mut cmd = Command::new(program);
    cmd.env(ENV_MARKER, format!("{PROTOCOL}:{}", std::process::id()))
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(socket)))
        .process_group(0);
    cmd
}

/// Kills worker `pid` and the process group it was started in (its pid is the group id):
/// everything its jobs started there. The worker itself is signalled by pid too, since a job may
/// have moved it to another group (`setpgid`); that other group is not touched (it may be the
/// parent's own). Processes that left the worker's group (`setsid`, `setpgid`) survive.
///
/// Only call it before the worker is reaped: until then neither its pid nor its group id can be
/// reused.
pub(crate) fn kill_worker(pid: u32) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        // ESRCH (already dead, or the group is empty) is fine.
        let _ = rustix::process::kill_process(pid, Signal::KILL);
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    }
}

/// How often a worker's exit is checked where no pidfd can say it at once (not Linux, or a
/// kernel or sandbox without `pidfd_open`): the longest a death goes unnoticed while a process
/// the worker started holds its socket open. Each check is one `waitid` per waiting reader, so
/// a tenth of a second costs nothing measurable and is shorter than any worker start.
pub(crate) const EXIT_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Tells when a worker process has exited, apart from its socket: a process its job started
/// (a forked child, or one that inherited the socket) may hold the socket open long after the
/// worker died, so end-of-file alone would see the death late, or never.
///
/// On Linux, a pidfd: readable once the worker has exited, polled with the socket. Elsewhere
/// (and where `pidfd_open` fails), [`exited`](Self::exited) every [`EXIT_CHECK`]. Neither reaps
/// the worker: it stays a zombie until its reader `wait`s for it, so its pid and group id stay
/// its own until then.
pub(crate) struct ExitWatch {
    pid: Option<Pid>,
    #[cfg(target_os = "linux")]
    pidfd: Option<OwnedFd>,
}

impl ExitWatch {
    /// Watches child `pid`, which must not be reaped yet.
    pub(crate) fn new(pid: u32) -> ExitWatch {
        let pid = Pid::from_raw(pid as i32);
        ExitWatch {
            pid,
            #[cfg(target_os = "linux")]
            pidfd: pid.and_then(|pid| {
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
            }),
        }
    }

    /// [`new`](Self::new) without the pidfd: the `waitid` checks of other platforms.
    #[cfg(test)]
    pub(crate) fn polling(pid: u32) -> ExitWatch {
        ExitWatch {
            pid: Pid::from_raw(pid as i32),
            #[cfg(target_os = "linux")]
            pidfd: None,
        }
    }

    /// A descriptor that turns readable when the worker exits, if the platform has one.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        #[cfg(target_os = "linux")]
        return self.pidfd.as_ref().map(AsFd::as_fd);
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// `true` once the worker has exited (it may still wait to be reaped). Reaps nothing.
    #[cfg(not(target_os = "openbsd"))]
    pub(crate) fn exited(&self) -> bool {
        use rustix::process::{WaitId, WaitIdOptions, waitid};
        let Some(pid) = self.pid else { return true };
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        match waitid(WaitId::Pid(pid), options) {
            Ok(status) => status.is_some(),
            // ECHILD: already reaped, so gone.
            Err(err) => err == rustix::io::Errno::CHILD,
        }
    }

    /// No `waitid` here: only the end of the socket tells a worker's death.
    #[cfg(target_os = "openbsd")]
    pub(crate) fn exited(&self) -> bool {
        self.pid.is_none()
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
/// A worker that cannot start its parent watch thread falls back, on Linux, to asking the kernel
/// for `SIGKILL` when its parent dies (`PR_SET_PDEATHSIG`, see `worker.rs`), and "parent" there
/// means the *thread* that forked it: forking from a pool thread that later retires would kill a
/// healthy worker. This thread lives as long as the pool's state, which outlives every worker
/// (each is reaped by a pool thread first).
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
