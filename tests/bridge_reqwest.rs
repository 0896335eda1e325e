//! What users came for: a blocking HTTP client (`reqwest::blocking`) driven from async code
//! through `run_in_executor(None, ..)`, downloading concurrently without stalling the runtime.
//!
//! The test starts its own `tiny_http` server on 127.0.0.1:0 in background threads (one per
//! request) and never touches the internet; the client ignores proxy settings. The server serves
//! files of 100 KB to 1 MiB of deterministic bytes after a per-request delay, and counts the
//! requests in flight.
//!
//! Covered: sizes and contents of concurrent downloads; real concurrency (more than one request in
//! flight at the server, and a wall time below the sum of the delays); HTTP and connection errors
//! come back as values of the job; `tokio::time::timeout` over queued downloads cancels those not
//! started (they never reach the server).

mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{Gate, HANG, current_thread_runtime};
use poolbridge::{ThreadPoolExecutor, run_in_executor};
use reqwest::blocking::Client;

const FILE_SIZES: [usize; 8] = [
    100_000, 150_000, 250_000, 400_000, 600_000, 800_000, 1_000_000, 1_048_576,
];

/// The deterministic contents of file `i` (an xorshift stream seeded by `i`).
fn file_bytes(i: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64 + 1);
    (0..FILE_SIZES[i])
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

#[derive(Default)]
struct Stats {
    /// Requests received for a file (any route but the 404).
    hits: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A local HTTP server:
/// * `GET /file/{i}?delay_ms={d}`: file `i` after a delay of `d` ms;
/// * `GET /gated/{i}`: file `i` once the server's gate is open;
/// * anything else: 404.
struct TestServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stats: Arc<Stats>,
    gate: Gate,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start() -> TestServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let addr = server.server_addr().to_ip().unwrap();
        let files: Arc<Vec<Vec<u8>>> = Arc::new((0..FILE_SIZES.len()).map(file_bytes).collect());
        let stats = Arc::new(Stats::default());
        let gate = Gate::new();
        let thread = {
            let (server, stats, gate) = (Arc::clone(&server), Arc::clone(&stats), gate.clone());
            thread::spawn(move || {
                for request in server.incoming_requests() {
                    let (files, stats, gate) =
                        (Arc::clone(&files), Arc::clone(&stats), gate.clone());
                    thread::spawn(move || handle(request, &files, &stats, &gate));
                }
            })
        };
        TestServer {
            addr,
            server,
            stats,
            gate,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.gate.open();
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn handle(request: tiny_http::Request, files: &[Vec<u8>], stats: &Stats, gate: &Gate) {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let route = path
        .strip_prefix("/file/")
        .map(|i| (i, false))
        .or_else(|| path.strip_prefix("/gated/").map(|i| (i, true)));
    let Some((index, gated)) = route else {
        let _ =
            request.respond(tiny_http::Response::from_string("not found").with_status_code(404));
        return;
    };
    let index: usize = index.parse().unwrap();
    let delay_ms: u64 = query
        .strip_prefix("delay_ms=")
        .map_or(0, |d| d.parse().unwrap());

    stats.hits.fetch_add(1, Ordering::SeqCst);
    let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
    if gated {
        gate.wait();
    }
    thread::sleep(Duration::from_millis(delay_ms));
    stats.in_flight.fetch_sub(1, Ordering::SeqCst);
    let _ = request.respond(tiny_http::Response::from_data(files[index].clone()));
}

/// Built outside any async runtime (reqwest's blocking client owns a runtime thread of its own).
///
/// `Connection: close` works around a race in tiny_http 0.12's connection thread pool
/// (`util::TaskPool::spawn` trusts a stale count of idle threads, so when several connections
/// arrive at once some are queued behind the 4 initial threads instead of getting a thread of
/// their own). With keep-alive those threads never finish their connections and the queued
/// requests are not even read until the client gives up; closing each connection after its
/// response frees the threads.
fn client() -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONNECTION,
        reqwest::header::HeaderValue::from_static("close"),
    );
    Client::builder()
        .no_proxy() // never route 127.0.0.1 through an environment proxy
        .default_headers(headers)
        .pool_max_idle_per_host(0)
        .timeout(HANG)
        .build()
        .unwrap()
}

/// The blocking download, as a user would write it: a plain `fn` given to `run_in_executor`.
fn download(client: Client, url: String) -> reqwest::Result<(u16, Vec<u8>)> {
    let response = client.get(url).send()?;
    let status = response.status().as_u16();
    Ok((status, response.bytes()?.to_vec()))
}

#[test]
fn concurrent_downloads_through_the_default_executor() {
    const DELAY_MS: u64 = 200;
    let server = TestServer::start();
    let client = client();
    let n = FILE_SIZES.len();

    let start = Instant::now();
    let results = current_thread_runtime().block_on(async {
        let futs = (0..n).map(|i| {
            let url = server.url(&format!("/file/{i}?delay_ms={DELAY_MS}"));
            run_in_executor(None, download, (client.clone(), url))
        });
        futures::future::join_all(futs).await
    });
    let elapsed = start.elapsed();
    drop(client);

    for (i, result) in results.into_iter().enumerate() {
        let (status, body) = result
            .expect("the job ran")
            .unwrap_or_else(|e| panic!("download {i} failed: {e:?}"));
        assert_eq!(status, 200);
        assert_eq!(body.len(), FILE_SIZES[i], "size of file {i}");
        assert!(body == file_bytes(i), "contents of file {i} differ");
    }

    let stats = &server.stats;
    let max_in_flight = stats.max_in_flight.load(Ordering::SeqCst);
    println!("{n} downloads in {elapsed:?}, at most {max_in_flight} in flight at the server");
    assert_eq!(stats.hits.load(Ordering::SeqCst), n);
    // Deterministic evidence of concurrency: requests overlapped at the server.
    assert!(
        max_in_flight >= 2,
        "the downloads reached the server one at a time"
    );
    // A contrast by construction, not a speed assumption: the server holds every response for
    // DELAY_MS, so one after another the downloads cannot take less than n * DELAY_MS (1.6 s) on
    // any machine, however fast; only running them concurrently beats that.
    let sequential = Duration::from_millis(DELAY_MS * n as u64);
    assert!(
        elapsed < sequential,
        "{n} concurrent downloads took {elapsed:?}, as long as running them one by one ({sequential:?})"
    );
}

#[test]
fn http_and_connection_errors_are_values_of_the_job() {
    let server = TestServer::start();
    let client = client();
    // A port nobody listens on: bound, then closed.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };

    let (missing, refused) = current_thread_runtime().block_on(async {
        let missing = run_in_executor(None, download, (client.clone(), server.url("/nope")));
        let refused = run_in_executor(
            None,
            download,
            (client.clone(), format!("http://{closed}/")),
        );
        tokio::join!(missing, refused)
    });
    drop(client);

    let (status, body) = missing.expect("the job ran").expect("a 404 is a response");
    assert_eq!(status, 404);
    assert_eq!(body, b"not found");
    let err = refused
        .expect("the job ran")
        .expect_err("nobody listens there");
    assert!(err.is_connect(), "expected a connection error, got {err}");
}

#[test]
fn timeout_cancels_queued_downloads() {
    // Two workers, ten downloads held at the server's gate: at most two can start before the
    // timeout, and dropping the rest (by the timeout) must cancel them, so they never reach the
    // server.
    const N: usize = 10;
    let server = TestServer::start();
    let client = client();
    let pool = ThreadPoolExecutor::new(2);
    let started = Arc::new(AtomicUsize::new(0));

    let res = current_thread_runtime().block_on(async {
        let futs = (0..N).map(|i| {
            let (client, started) = (client.clone(), Arc::clone(&started));
            let url = server.url(&format!("/gated/{}", i % FILE_SIZES.len()));
            run_in_executor(
                Some(&pool),
                move |url: String| {
                    started.fetch_add(1, Ordering::SeqCst);
                    download(client, url)
                },
                (url,),
            )
        });
        tokio::time::timeout(Duration::from_millis(100), futures::future::join_all(futs)).await
    });
    assert!(
        res.is_err(),
        "the gated downloads cannot finish before the gate opens"
    );

    server.gate.open();
    pool.shutdown(true, false); // the started downloads finish
    drop(client);
    let started = started.load(Ordering::SeqCst);
    let hits = server.stats.hits.load(Ordering::SeqCst);
    println!("{started} of {N} downloads started before the timeout");
    assert!(
        started <= 2,
        "{started} downloads ran; the queued ones were not cancelled"
    );
    assert_eq!(
        hits, started,
        "the server saw a download that was cancelled"
    );
}
