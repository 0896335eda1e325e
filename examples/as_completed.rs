//! The `future -> input` map from Python's `concurrent.futures` documentation: submit one job
//! per URL, keep `HashMap<PoolFuture, url>`, and handle each result as it completes with
//! `as_completed(future_to_url.keys())`. Some jobs fail on purpose — a 404 and a refused
//! connection (the job returns `Err`), and a malformed URL that makes the job panic (the future
//! resolves to `FutureError::Panicked`) — and each failure is reported while the other jobs go
//! on. The pages come from an embedded HTTP server, so it runs offline; run it with
//! `cargo run --release --example as_completed`.

mod support;

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use poolbridge::{FutureError, PoolFuture, ThreadPoolExecutor, as_completed};
use reqwest::blocking::Client;

use support::{LocalServer, ServedFile};

/// Retrieves a page and returns its size: Python's `load_url`. Panics on a malformed URL (a bug
/// in the caller, as far as this function is concerned).
fn load_url(client: &Client, url: &str, timeout: Duration) -> Result<usize, String> {
    let url = reqwest::Url::parse(url).expect("load_url needs an absolute URL");
    let response = client
        .get(url)
        .timeout(timeout)
        .send()
        .map_err(|err| root_cause(&err))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let page = response.bytes().map_err(|err| root_cause(&err))?;
    Ok(page.len())
}

fn main() {
    support::one_line_panic_reports();
    let pages = [
        ServedFile::new("index.html", 48_000, 250, 2.0),
        ServedFile::new("news.html", 210_000, 100, 2.0),
        ServedFile::new("about.html", 12_000, 400, 2.0),
        ServedFile::new("docs/guide.html", 120_000, 50, 2.0),
        ServedFile::new("blog/2024/rust.html", 64_000, 150, 2.0),
    ];
    let server = LocalServer::start(&pages).expect("start the embedded HTTP server");
    let client = support::local_client_builder()
        .build()
        .expect("build the HTTP client");

    let mut urls: Vec<String> = pages.iter().map(|p| server.url(&p.name)).collect();
    urls.push(server.url("old/page.html")); // 404
    urls.push(format!("http://127.0.0.1:{}/", closed_port())); // connection refused
    urls.push("not a url".to_owned()); // the job panics

    let started = Instant::now();
    let pool = ThreadPoolExecutor::new(5);
    // `{executor.submit(load_url, url, 60): url for url in URLS}`
    let future_to_url: HashMap<PoolFuture<Result<usize, String>>, &str> = urls
        .iter()
        .map(|url| {
            let (client, job_url) = (client.clone(), url.clone());
            let future = pool.submit(move || load_url(&client, &job_url, Duration::from_secs(5)));
            (future, url.as_str())
        })
        .collect();

    let (mut pages_ok, mut errors, mut panics) = (0, 0, 0);
    for future in as_completed(future_to_url.keys()) {
        let url = future_to_url[future];
        let at = started.elapsed().as_secs_f64();
        // Two layers: the pool's (did the job complete?) and the job's own (did it work?).
        match future.result() {
            Ok(Ok(size)) => {
                pages_ok += 1;
                println!("  {at:4.2} s  {url:?} page is {size} bytes");
            }
            Ok(Err(err)) => {
                errors += 1;
                println!("  {at:4.2} s  {url:?} returned an error: {err}");
            }
            Err(FutureError::Panicked(panic)) => {
                panics += 1;
                println!("  {at:4.2} s  {url:?} panicked: {}", panic.message());
            }
            Err(err) => {
                errors += 1;
                println!("  {at:4.2} s  {url:?} did not run: {err}");
            }
        }
    }
    println!(
        "\n{} jobs on 5 workers in {:.2} s: {pages_ok} pages, {errors} errors, {panics} panic",
        future_to_url.len(),
        started.elapsed().as_secs_f64()
    );
    println!("each failure was reported as it came; none stopped the other jobs or a worker");
}

/// A local port nobody listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("a bound address").port()
}

/// The innermost error: "Connection refused (os error 111)" says more than "error sending request".
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut root = err;
    while let Some(source) = root.source() {
        root = source;
    }
    root.to_string()
}
