//! Shared by the examples, not an example itself (cargo builds only `examples/*.rs` and
//! `examples/*/main.rs`): an embedded HTTP server that makes the download examples work offline
//! and behave like a real, slow server.
//!
//! [`LocalServer`] listens on `127.0.0.1` on a free port and serves a fixed set of files with
//! deterministic contents ([`contents`]), each after its own first-byte latency and throttled to
//! its own bandwidth per connection. Any other path gets a `404 Not Found`. Every request is
//! answered on its own thread, so concurrent clients really are served concurrently.

// Every example uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long the server takes to answer a path it does not have.
pub const NOT_FOUND_LATENCY: Duration = Duration::from_millis(120);

/// A file served by [`LocalServer`].
#[derive(Clone, Debug)]
pub struct ServedFile {
    /// The path under the server root, without the leading `/`.
    pub name: String,
    /// Size in bytes; the contents are [`contents`]`(name, size)`.
    pub size: usize,
    /// Time to the first byte (the response headers).
    pub latency: Duration,
    /// Bandwidth of one connection, in bytes per second.
    pub bytes_per_sec: u64,
}

impl ServedFile {
    /// A file of `size` bytes, answered after `latency_ms` and sent at `mb_per_sec` (10^6 B/s).
    pub fn new(name: &str, size: usize, latency_ms: u64, mb_per_sec: f64) -> ServedFile {
        ServedFile {
            name: name.to_owned(),
            size,
            latency: Duration::from_millis(latency_ms),
            bytes_per_sec: (mb_per_sec * 1e6) as u64,
        }
    }
}

/// A local HTTP server with simulated latency and bandwidth; stops accepting when dropped.
pub struct LocalServer {
    server: Arc<tiny_http::Server>,
    base_url: String,
}

impl LocalServer {
    /// Starts serving `files` on `127.0.0.1` on a free port, from background threads.
    pub fn start(files: &[ServedFile]) -> io::Result<LocalServer> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?;
        let server = Arc::new(server);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the server is not listening on an IP address"))?;
        let files: Arc<Catalog> = Arc::new(
            files
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        (f.clone(), contents(&f.name, f.size).into()),
                    )
                })
                .collect(),
        );
        let acceptor = Arc::clone(&server);
        thread::Builder::new()
            .name("local-http-server".into())
            .spawn(move || {
                // Ends when `LocalServer` is dropped (`unblock`).
                for request in acceptor.incoming_requests() {
                    let files = Arc::clone(&files);
                    thread::spawn(move || answer(request, &files));
                }
            })?;
        Ok(LocalServer {
            server,
            base_url: format!("http://{addr}"),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL of `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base_url)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// The served files by name, with their contents.
type Catalog = HashMap<String, (ServedFile, Arc<[u8]>)>;

fn answer(request: tiny_http::Request, files: &Catalog) {
    let path = request.url().trim_start_matches('/');
    let path = path.split('?').next().unwrap_or_default();
    // A client that went away is not the server's problem: ignore `respond` errors.
    match files.get(path) {
        Some((file, data)) => {
            thread::sleep(file.latency);
            let body = Throttled {
                data: Arc::clone(data),
                pos: 0,
                bytes_per_sec: file.bytes_per_sec.max(1),
                start: None,
            };
            let header = tiny_http::Header::from_bytes("Content-Type", "application/octet-stream")
                .expect("a valid header");
            let response =
                tiny_http::Response::new(200.into(), vec![header], body, Some(data.len()), None)
                    // Send a Content-Length instead of switching to chunked encoding above 32 KiB.
                    .with_chunked_threshold(usize::MAX);
            let _ = request.respond(response);
        }
        None => {
            thread::sleep(NOT_FOUND_LATENCY);
            let _ = request
                .respond(tiny_http::Response::from_string("not found").with_status_code(404));
        }
    }
}

/// A response body that trickles out at `bytes_per_sec`.
struct Throttled {
    data: Arc<[u8]>,
    pos: usize,
    bytes_per_sec: u64,
    start: Option<Instant>,
}

impl Read for Throttled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.data.len() - self.pos);
        if n == 0 {
            return Ok(0);
        }
        let start = *self.start.get_or_insert_with(Instant::now);
        // This chunk is due once the connection has had the time to send everything up to its end.
        let due =
            start + Duration::from_secs_f64((self.pos + n) as f64 / self.bytes_per_sec as f64);
        if let Some(early) = due.checked_duration_since(Instant::now()) {
            thread::sleep(early);
        }
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The deterministic contents of a served file: `size` pseudo-random bytes seeded by `name`.
pub fn contents(name: &str, size: usize) -> Vec<u8> {
    // FNV-1a of the name seeds a xorshift64 generator.
    let mut state = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) | 1;
    let mut data = Vec::with_capacity(size + 8);
    while data.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(size);
    data
}

/// The folder for an example's output: `$TMPDIR/poolbridge-{example}`, reused (files
/// overwritten) by every run so that runs do not pile up.
pub fn temp_output_dir(example: &str) -> PathBuf {
    std::env::temp_dir().join(format!("poolbridge-{example}"))
}

/// A `reqwest` blocking client builder for talking to a [`LocalServer`].
///
/// * No proxy: the server is local, whatever `HTTP_PROXY` says.
/// * `Connection: close` on every request. tiny_http 0.12 serves each connection on a thread of
///   a small internal pool that grows only when it sees no idle thread, and a kept-alive
///   connection holds its thread until the client closes it; a burst of new connections can then
///   queue behind idle kept-alive ones for minutes. With `close`, a connection gives its thread
///   back as soon as its request is read.
pub fn local_client_builder() -> reqwest::blocking::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONNECTION,
        reqwest::header::HeaderValue::from_static("close"),
    );
    reqwest::blocking::Client::builder()
        .no_proxy()
        .default_headers(headers)
}

/// Replaces the default panic hook's report (message, then a backtrace if `RUST_BACKTRACE` is
/// set) with one line on stderr, for examples that panic on purpose. The panics are still
/// caught by the pool and handed to the program as `FutureError::Panicked`; this only keeps the
/// output readable.
pub fn one_line_panic_reports() {
    std::panic::set_hook(Box::new(|info| {
        let thread = thread::current();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(a non-string payload)");
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "  [panic hook] thread '{}' panicked{location}: {message}",
            thread.name().unwrap_or("<unnamed>")
        );
    }));
}
