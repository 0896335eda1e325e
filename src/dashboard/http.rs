//! The dashboard's HTTP/1.1 server: `GET /` (the page), `GET /metrics.json` (the document),
//! 404 for any other path, 405 for any other method; every response `Connection: close`.
//!
//! One accept thread; each connection is answered on a short-lived thread of its own (at most
//! [`MAX_CONNECTIONS`] at once, a 503 past that), so that a browser's idle pre-connected socket
//! cannot hold up the next poll. A request head is read up to [`MAX_HEAD`] bytes within
//! [`IO_TIMEOUT`]; a body is never read. Nothing a client sends can panic the server: parsing is
//! slicing of bytes already checked, and every I/O error ends only its connection. Uses
//! `state.rs`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::state::State;

/// The page: one HTML file, its CSS and JS inline; it loads nothing else.
const PAGE: &str = include_str!("page.html");

/// The longest request head (request line and headers) read; longer gets a 431.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// How long a connection may take to send its head, and to take the response.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections answered at once; one more gets a 503 from the accept thread.
pub(crate) const MAX_CONNECTIONS: usize = 8;

/// What the page may load: nothing but itself and `/metrics.json`.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// A response: status line, content type, body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

impl Response {
    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Error",
        }
    }

    fn write_to(&self, stream: &mut impl Write) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
             Content-Security-Policy: {CSP}\r\nConnection: close\r\n",
            self.status,
            self.reason(),
            self.content_type,
            self.body.len()
        );
        if self.status == 405 {
            head.push_str("Allow: GET\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(self.body.as_bytes())?;
        stream.flush()
    }
}

/// The answer to a request head (the bytes up to and including the blank line).
pub(crate) fn respond(head: &[u8], state: &State) -> Response {
    // The request line: METHOD SP TARGET SP HTTP/1.x
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .or_else(|| head.iter().position(|&b| b == b'\n'))
        .unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Response::text(400, "bad request line");
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Response::text(400, "bad request line");
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Response::text(400, "bad request line");
    }
    if method != "GET" {
        return Response::text(405, "only GET");
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    match path {
        "/" | "/index.html" => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: PAGE.to_owned(),
        },
        "/metrics.json" => Response {
            status: 200,
            content_type: "application/json",
            body: state.snapshot_json(),
        },
        _ => Response::text(404, "not found: the dashboard serves / and /metrics.json"),
    }
}

/// Reads a request head: up to the blank line that ends it, within [`MAX_HEAD`] bytes and
/// [`IO_TIMEOUT`]. `Err` holds the response to send instead (`None`: send nothing, the client
/// left or sent nothing).
fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, Option<Response>> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err((!head.is_empty()).then(|| Response::text(408, "request head too slow")));
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => return Err(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                return Err(
                    (!head.is_empty()).then(|| Response::text(408, "request head too slow"))
                );
            }
        };
        // Search for the end of the head from just before the new bytes.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        let tail = &head[from..];
        if let Some(i) = tail.windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(from + i + 4);
            return Ok(head);
        }
        if let Some(i) = tail.windows(2).position(|w| w == b"\n\n") {
            head.truncate(from + i + 2);
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(Some(Response::text(431, "request head too large")));
        }
    }
}

/// Answers one connection, then closes it.
fn serve_connection(mut stream: TcpStream, state: &State) {
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let response = match read_head(&mut stream) {
        Ok(head) => respond(&head, state),
        Err(Some(response)) => response,
        Err(None) => return,
    };
    let _ = response.write_to(&mut stream);
    // Let the client read the response before the close: no reset of unread request bytes.
    let _ = stream.shutdown(Shutdown::Write);
}

/// A connection being answered: its thread, and a handle to its socket to cut it at stop.
type Live = Vec<(JoinHandle<()>, TcpStream)>;

/// The running server: its accept thread, stopped and joined by [`stop`](Self::stop).
pub(crate) struct Server {
    stop: Arc<AtomicBool>,
    wake: SocketAddr,
    accept: Option<JoinHandle<()>>,
    live: Arc<Mutex<Live>>,
}

impl Server {
    /// Starts the accept thread on `listener`.
    pub(crate) fn start(listener: TcpListener, state: Arc<State>) -> io::Result<Server> {
        let mut wake = listener.local_addr()?;
        if wake.ip().is_unspecified() {
            // Bound to every interface: wake it through loopback of the same family.
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let stop = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Live>> = Arc::default();
        let accept = std::thread::Builder::new()
            .name("poolbridge-dashboard".into())
            .spawn({
                let stop = Arc::clone(&stop);
                let live = Arc::clone(&live);
                move || accept_loop(&listener, &state, &stop, &live)
            })?;
        Ok(Server {
            stop,
            wake,
            accept: Some(accept),
            live,
        })
    }

    /// Stops accepting, cuts the connections being answered and joins every thread.
    pub(crate) fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // `accept` blocks: one connection of our own wakes it to see the flag.
        let woke = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1)).is_ok();
        if woke {
            let _ = accept.join();
        }
        // If the wake-up could not connect, the thread is left to the process's end rather
        // than blocking the drop.
        let live = std::mem::take(&mut *self.live.lock().unwrap_or_else(PoisonError::into_inner));
        for (thread, stream) in live {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, state: &Arc<State>, stop: &AtomicBool, live: &Mutex<Live>) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok((mut stream, _)) = accepted else {
            // Out of file descriptors or a connection reset before accept: wait a little.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let mut live = live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|(thread, _)| !thread.is_finished());
        if live.len() >= MAX_CONNECTIONS {
            drop(live);
            let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = Response::text(503, "too many connections").write_to(&mut stream);
            continue;
        }
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        let state = Arc::clone(state);
        let spawned = std::thread::Builder::new()
            .name("poolbridge-dashboard-conn".into())
            .spawn(move || serve_connection(stream, &state));
        if let Ok(thread) = spawned {
            live.push((thread, handle));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            started: Instant::now(),
            sample_every: Duration::from_millis(10),
            capacity: 4,
            sources: Vec::new(),
        }
    }

    #[test]
    fn routes() {
        let st = state();
        let r = respond(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &st);
        assert_eq!(
            (r.status, r.content_type),
            (200, "text/html; charset=utf-8")
        );
        assert!(r.body.contains("<html"));
        let r = respond(b"GET /metrics.json?t=1 HTTP/1.0\r\n\r\n", &st);
        assert_eq!(r.status, 200);
        assert!(r.body.starts_with(r#"{"version":1,"#), "{}", r.body);
        assert_eq!(respond(b"GET /nope HTTP/1.1\r\n\r\n", &st).status, 404);
        assert_eq!(respond(b"POST / HTTP/1.1\r\n\r\n", &st).status, 405);
    }

    #[test]
    fn bad_input_is_a_400_never_a_panic() {
        let st = state();
        for head in [
            &b""[..],
            b"\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"GET / SPDY/3\r\n\r\n",
            b"\xff\xfe / HTTP/1.1\r\n\r\n",
            b"GET \xc3 HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(respond(head, &st).status, 400, "{head:?}");
        }
    }
}
