//! Reading a worker's socket with a short, adaptive spin before blocking.
//!
//! A blocking `read` that finds no data puts the thread to sleep in the kernel, and the write
//! that ends the wait must wake it. On a VM whose idle vCPUs halt at once (guest halt-polling
//! off, like this project's), a wake-up that crosses vCPUs costs tens of µs: more than a
//! trivial job's whole round trip. So both ends of a worker's socket (the worker waiting for
//! its next call, the parent's reader waiting for an answer) first try non-blocking reads for a
//! while, and block only then; a roundtrip then pays one wake-up (the waiting user thread's)
//! instead of three.
//!
//! How long is the thread pool's rule (`src/spin.rs`, the same code): each end keeps an
//! average of how long its waits lasted; while they are short (≤ 100 µs) it spins for
//! `SEARCH_GAPS` (8) times that (5–100 µs), otherwise 5 µs. A worker running long jobs, or one fed now and then, spins
//! next to nothing; a stream of small jobs never sleeps between them. Measured both ways
//! (docs/benchmarks.md, "Process pool"): on the quiet 2-vCPU VM the roundtrip's median went from
//! ~33 to ~8 µs; with the other vCPU kept busy, where wake-ups are cheap anyway, from 12 to 17 µs,
//! as the spinning ends take turns with the working threads. The quiet case is the one chosen.
//!
//! The parent's blocking wait also watches the worker's life ([`ExitWatch`]): a process the
//! worker's job started may hold the socket open after the worker died, and the parent must
//! not wait for that process to let go ([`read_watching`]).

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};

use crate::process::child::{EXIT_CHECK, ExitWatch};
use crate::spin::Search;

/// A [`Read`] over a worker's socket that spins (for as long as `search` says) before it
/// blocks. End of stream and errors come back as from a plain read. With `exit`, the blocking
/// wait ends with an error as soon as that worker has exited and no data is left
/// ([`read_watching`]).
pub(crate) struct SpinRead<'a> {
    pub(crate) stream: &'a UnixStream,
    pub(crate) search: &'a mut Search,
    pub(crate) exit: Option<&'a ExitWatch>,
}

impl Read for SpinRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Data already there (a job sent ahead, the rest of a frame): no wait to learn from.
        if let Some(read) = recv_now(self.stream, buf) {
            return read;
        }
        self.search.went_idle();
        let stream = self.stream;
        let read = match self.search.run(|| recv_now(stream, buf), || false) {
            Some(read) => read,
            None => match self.exit {
                Some(exit) => read_watching(stream, exit, None, buf),
                None => (&*self.stream).read(buf),
            },
        };
        self.search.found_job();
        read
    }
}

/// A blocking [`Read`] over a worker's socket that ends with an error once the worker has
/// exited (and no data is left), or at `deadline` (an error of kind `TimedOut`): the handshake.
pub(crate) struct WatchedRead<'a> {
    pub(crate) stream: &'a UnixStream,
    pub(crate) exit: &'a ExitWatch,
    pub(crate) deadline: Option<Instant>,
}

impl Read for WatchedRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_watching(self.stream, self.exit, self.deadline, buf)
    }
}

/// Reads from a worker's socket, blocking until data, its end, the worker's exit or `deadline`.
/// Data the worker wrote before it exited is read first; then its exit is an error (the worker
/// is dead whether or not some other process still holds the socket).
pub(crate) fn read_watching(
    stream: &UnixStream,
    exit: &ExitWatch,
    deadline: Option<Instant>,
    buf: &mut [u8],
) -> io::Result<usize> {
    loop {
        if let Some(read) = recv_now(stream, buf) {
            return read;
        }
        match wait_for(stream, PollFlags::IN, exit, deadline)? {
            // Data, the end of the stream or an error: the read says which.
            Ready::Socket => {}
            // Whatever it wrote before it died comes first.
            Ready::Exited => return recv_now(stream, buf).unwrap_or_else(|| Err(exited())),
            Ready::TimedOut => return Err(io::ErrorKind::TimedOut.into()),
        }
    }
}

/// Writes all of `buf` to a worker's socket, blocking while it is full, until the worker
/// exits: then an error, even if another process (one its job started) still holds the socket
/// and would never read. Raises no `SIGPIPE` where the platform allows it (the peer may be
/// dead).
pub(crate) fn write_watching(
    stream: &UnixStream,
    exit: &ExitWatch,
    mut buf: &[u8],
) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = SendFlags::DONTWAIT;
    while !buf.is_empty() {
        match rustix::net::send(stream, buf, flags) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => match wait_for(stream, PollFlags::OUT, exit, None)? {
                Ready::Socket => {}
                Ready::Exited | Ready::TimedOut => return Err(exited()),
            },
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// Why [`wait_for`] returned.
enum Ready {
    /// The socket has the polled event, or an error or hang-up: the next call says which.
    Socket,
    /// The worker has exited.
    Exited,
    /// `deadline` passed.
    TimedOut,
}

/// Waits until `stream` is ready for `events`, the worker exits, or `deadline` passes.
fn wait_for(
    stream: &UnixStream,
    events: PollFlags,
    exit: &ExitWatch,
    deadline: Option<Instant>,
) -> io::Result<Ready> {
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Ok(Ready::TimedOut);
        }
        let pidfd = exit.fd();
        // With a pidfd the poll says when the worker exits; without, look every EXIT_CHECK.
        let wait = match (pidfd, left) {
            (Some(_), left) => left,
            (None, Some(left)) => Some(left.min(EXIT_CHECK)),
            (None, None) => Some(EXIT_CHECK),
        };
        // Longer waits are cut into days: a `Timespec` holds them, and the loop goes on.
        let wait = wait.map(|w| w.min(Duration::from_secs(86_400)));
        let timeout = wait.map(|w| Timespec::try_from(w).expect("at most a day"));
        let mut fds = [
            PollFd::new(stream, events),
            // Without a pidfd, a placeholder outside the polled slice.
            PollFd::from_borrowed_fd(pidfd.unwrap_or(stream.as_fd()), PollFlags::IN),
        ];
        let watched = if pidfd.is_some() { 2 } else { 1 };
        match poll(&mut fds[..watched], timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
        if !fds[0].revents().is_empty() {
            return Ok(Ready::Socket);
        }
        let exited = if watched == 2 {
            !fds[1].revents().is_empty()
        } else {
            exit.exited()
        };
        if exited {
            return Ok(Ready::Exited);
        }
    }
}

fn exited() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the worker process exited while another process (one its job started) still holds its \
         socket",
    )
}

/// A non-blocking read: `None` while no data is there.
fn recv_now(stream: &UnixStream, buf: &mut [u8]) -> Option<io::Result<usize>> {
    match rustix::net::recv(stream, buf, RecvFlags::DONTWAIT) {
        Ok((n, _)) => Some(Ok(n)),
        Err(Errno::AGAIN | Errno::INTR) => None,
        Err(err) => Some(Err(err.into())),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    fn read_all(stream: &UnixStream, search: &mut Search) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = SpinRead {
                stream,
                search,
                exit: None,
            }
            .read(&mut buf)
            .unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn reads_what_was_there_what_comes_during_the_spin_and_after_it_then_the_end() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut search = Search::new();
        let writer = std::thread::spawn(move || {
            b.write_all(b"now").unwrap();
            // Short gaps (caught spinning), then one long one (after the spin: a blocking read).
            for chunk in [&b"abc"[..], b"def", b"ghi"] {
                std::thread::sleep(Duration::from_micros(20));
                b.write_all(chunk).unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
            b.write_all(b"late").unwrap();
            // Dropping `b` closes the stream: the reader sees the end.
        });
        let got = read_all(&a, &mut search);
        writer.join().unwrap();
        assert_eq!(got, b"nowabcdefghilate");
    }

    /// A socket pair whose far end this test keeps open (as a process a job started would), and
    /// a short-lived child process to play the worker.
    fn held_socket_and_exiting_worker() -> (UnixStream, UnixStream, std::process::Child) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let worker = std::process::Command::new("true").spawn().unwrap();
        (ours, theirs, worker)
    }

    #[test]
    fn a_watched_read_gets_the_data_then_the_exit_although_the_socket_is_held() {
        for pidfd in [true, false] {
            let (ours, mut theirs, mut worker) = held_socket_and_exiting_worker();
            let exit = if pidfd {
                ExitWatch::new(worker.id())
            } else {
                ExitWatch::polling(worker.id())
            };
            theirs.write_all(b"last words").unwrap();
            let mut buf = [0u8; 64];
            let n = read_watching(&ours, &exit, None, &mut buf).unwrap();
            assert_eq!(&buf[..n], b"last words", "data first");
            // `theirs` stays open: only the exit can end this read.
            let err = read_watching(&ours, &exit, None, &mut buf).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");
            assert!(exit.exited());
            worker.wait().unwrap();
            drop(theirs);
        }
    }

    #[test]
    fn a_watched_write_to_a_full_socket_ends_when_the_worker_exits() {
        let (ours, theirs, mut worker) = held_socket_and_exiting_worker();
        let exit = ExitWatch::new(worker.id());
        // Far more than a socket buffer, and nobody reads.
        let err = write_watching(&ours, &exit, &vec![0u8; 16 << 20]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");
        worker.wait().unwrap();
        drop(theirs);
    }

    #[test]
    fn a_watched_read_ends_at_its_deadline_while_the_worker_lives() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let mut worker = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        for exit in [ExitWatch::new(worker.id()), ExitWatch::polling(worker.id())] {
            let deadline = Instant::now() + Duration::from_millis(30);
            let err = read_watching(&ours, &exit, Some(deadline), &mut [0u8; 4]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            assert!(Instant::now() >= deadline);
            assert!(!exit.exited());
        }
        worker.kill().unwrap();
        worker.wait().unwrap();
    }

    #[test]
    fn a_closed_stream_reads_as_its_end() {
        let (a, b) = UnixStream::pair().unwrap();
        a.shutdown(std::net::Shutdown::Read).unwrap();
        drop(b);
        let mut search = Search::new();
        let n = SpinRead {
            stream: &a,
            search: &mut search,
            exit: None,
        }
        .read(&mut [0u8; 4])
        .unwrap();
        assert_eq!(n, 0, "a closed stream reads as its end");
    }
}
