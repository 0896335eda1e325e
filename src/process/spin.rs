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
//! How long is the thread pool's rule (`pool/sleep/search.rs`, the same code): each end keeps an
//! average of how long its waits lasted; while they are short (≤ 100 µs) it spins for twice
//! that (5–100 µs), otherwise 5 µs. A worker running long jobs, or one fed now and then, spins
//! next to nothing; a stream of small jobs never sleeps between them. Measured both ways
//! (docs/benchmarks.md, "Process pool"): on the quiet 2-vCPU VM the roundtrip's median went from
//! ~33 to ~8 µs; with the other vCPU kept busy, where wake-ups are cheap anyway, from 12 to 17 µs,
//! as the spinning ends take turns with the working threads. The quiet case is the one chosen.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;

use rustix::io::Errno;
use rustix::net::RecvFlags;

use crate::pool::sleep::Search;

/// A [`Read`] over a worker's socket that spins (for as long as `search` says) before it
/// blocks. End of stream and errors come back as from a plain read.
pub(crate) struct SpinRead<'a> {
    pub(crate) stream: &'a UnixStream,
    pub(crate) search: &'a mut Search,
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
            None => (&*self.stream).read(buf),
        };
        self.search.found_job();
        read
    }
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
            let n = SpinRead { stream, search }.read(&mut buf).unwrap();
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

    #[test]
    fn a_closed_stream_reads_as_its_end() {
        let (a, b) = UnixStream::pair().unwrap();
        a.shutdown(std::net::Shutdown::Read).unwrap();
        drop(b);
        let mut search = Search::new();
        let n = SpinRead {
            stream: &a,
            search: &mut search,
        }
        .read(&mut [0u8; 4])
        .unwrap();
        assert_eq!(n, 0, "a closed stream reads as its end");
    }
}
