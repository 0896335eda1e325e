//! Concurrent downloads from async code: each download is a plain blocking `reqwest::blocking`
//! call, run on the thread pool with `run_in_executor(None, ..)` inside `#[tokio::main]`, and the
//! downloads are awaited together with `join_all` (asyncio's `gather`). With no arguments the
//! example starts an embedded HTTP server on `127.0.0.1` (first-byte latency and bandwidth
//! throttling included, plus one deliberately missing file that answers 404), so it runs offline;
//! it downloads every file once one at a time and once all at once, with a live progress bar per
//! file and an overall one, checks the sizes, and prints both times and the speedup. Each file's
//! bar is driven by the job's own `poolbridge::progress(bytes, length)` reports, followed from
//! async code through `PoolFuture::progress_updates()` (coalesced: a bar redraws as often as it
//! is polled, not once per 64 KiB chunk).
//! Run it with `cargo run --release --example download`, or give it your own URLs and an output
//! folder: `cargo run --release --example download -- --out DIR URL...`.
//!
//! The URLs must be `http://`: the examples' reqwest is built without TLS, so that the first
//! build compiles no C crypto library (rustls's default provider, aws-lc-rs, is one). An
//! `https://` URL is refused up front with the one line to change in Cargo.toml to allow it.
//!
//! `--limit N` bounds the concurrent round the way the asyncio seeds do with a `Semaphore(N)`,
//! but as pool settings: at most N downloads run at once (`max_workers(N)`) and at most N more
//! wait in the pool's queue (`max_queued(N)`); the submitting loop is held back by
//! `submit_async` instead of submitting every download at once.

mod support;

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::join_all;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};
use poolbridge::{
    FutureError, PoolFuture, ThreadPoolExecutor, default_executor, run_in_executor,
    set_default_executor, to_thread, wrap_future,
};
use reqwest::blocking::Client;

use support::{LocalServer, ServedFile};

/// What the embedded server serves: name, size, first-byte latency (ms), bandwidth (MB/s).
const SERVED: &[(&str, usize, u64, f64)] = &[
    ("report-2024.pdf", 2_400_000, 150, 6.0),
    ("photos.zip", 3_600_000, 200, 8.0),
    ("dataset.csv", 1_800_000, 250, 5.0),
    ("preview.mp4", 3_000_000, 120, 6.0),
    ("fonts.tar.gz", 900_000, 300, 3.0),
    ("logo.png", 350_000, 100, 2.0),
    ("manual.html", 500_000, 180, 2.5),
    ("backup.sql.gz", 2_000_000, 220, 8.0),
];

/// Not on the embedded server: shows how one failed download is reported while the others go on.
const MISSING: &str = "missing.iso";

/// One file to fetch.
struct Job {
    url: String,
    /// File name in the output folder.
    name: String,
    /// The size the embedded server serves (unknown for user URLs).
    expected: Option<u64>,
}

/// A finished download.
struct Downloaded {
    bytes: u64,
    content_length: Option<u64>,
    /// From the request to the last byte.
    elapsed: Duration,
    /// When the last byte arrived.
    finished: Instant,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(code) => return code,
    };

    // No URLs: serve our own files, so the example works with no network at all. The server
    // lives until the end of `main` (and is never started when the user gives URLs).
    let server;
    let jobs = if args.urls.is_empty() {
        let files: Vec<ServedFile> = SERVED
            .iter()
            .map(|&(name, size, latency_ms, mb_per_sec)| {
                ServedFile::new(name, size, latency_ms, mb_per_sec)
            })
            .collect();
        server = match LocalServer::start(&files) {
            Ok(server) => server,
            Err(err) => {
                eprintln!("error: cannot start the embedded HTTP server: {err}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "embedded server at {} (100-300 ms to first byte, 2-8 MB/s per connection)",
            server.base_url()
        );
        let mut jobs: Vec<Job> = files
            .iter()
            .map(|f| Job {
                url: server.url(&f.name),
                name: f.name.clone(),
                expected: Some(f.size as u64),
            })
            .collect();
        jobs.push(Job {
            url: server.url(MISSING),
            name: MISSING.to_owned(),
            expected: None,
        });
        jobs
    } else {
        jobs_for_urls(&args.urls)
    };
    let embedded = args.urls.is_empty();

    let out = args
        .out
        .unwrap_or_else(|| support::temp_output_dir("download"));
    if let Err(err) = std::fs::create_dir_all(&out) {
        // Not fatal: every download reports that it cannot write its file.
        eprintln!(
            "warning: cannot create the output folder {}: {err}",
            out.display()
        );
    }
    println!("output folder: {}", out.display());

    // Downloads wait on the network, not the CPU: give the default executor more threads than
    // cores (asyncio: `loop.set_default_executor(ThreadPoolExecutor(16))`).
    set_default_executor(
        ThreadPoolExecutor::builder()
            .max_workers(16)
            .thread_name_prefix("download")
            .build()
            .expect("16 workers is a valid setting"),
    );
    // reqwest's blocking client starts its own runtime thread: build it off the async thread.
    let client = match to_thread(move || build_client(embedded)).await {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => {
            eprintln!("error: cannot build the HTTP client: {err}");
            return ExitCode::FAILURE;
        }
        Err(err) => {
            eprintln!("error: cannot build the HTTP client: {err}");
            return ExitCode::FAILURE;
        }
    };
    let table = Table::new(&jobs, &out, embedded);
    let count = match jobs.len() {
        1 => "1 download".to_owned(),
        n => format!("{n} downloads"),
    };

    // Round 1: one at a time. Each download still runs on the pool (the runtime never blocks),
    // but it is awaited before the next one is submitted.
    println!("\nsequential: {count}, each awaited before the next");
    table.header();
    let started = Instant::now();
    let mut tally = Tally::default();
    // The sizes this round learns size the overall bar of the next one up front, so that bar
    // never jumps backwards as each file's size becomes known.
    let mut known_sizes = Vec::new();
    for job in &jobs {
        let args = (
            client.clone(),
            job.url.clone(),
            out.join(&job.name),
            Overall::new(ProgressBar::hidden(), &[]),
            None,
        );
        let outcome = run_in_executor(None, download, args).await;
        known_sizes.push(match &outcome {
            Ok(Ok(d)) => Some(d.bytes),
            _ => None,
        });
        table.row(job, outcome, started, &mut tally);
    }
    let sequential = started.elapsed();

    // Round 2: all at once. Each job is submitted to the default executor at once (what
    // `run_in_executor(None, ..)` does, keeping the future to follow its progress); `join_all`
    // awaits them together, like
    // `await asyncio.gather(*(loop.run_in_executor(None, download, url) ...))`.
    match args.limit {
        None => println!("\nconcurrent: {count} on the default executor + join_all"),
        Some(n) => println!(
            "\nconcurrent, --limit {n}: {count} through submit_async on a pool with \
             max_workers({n}) and max_queued({n})"
        ),
    }
    let multi = MultiProgress::new();
    let overall = Overall::new(
        multi.add(
            ProgressBar::new(0)
                .with_style(overall_style())
                .with_prefix("all files"),
        ),
        &known_sizes,
    );
    let started = Instant::now();
    let downloads = jobs.iter().zip(&known_sizes).map(|(job, &known)| {
        // No length until the size is known: an empty bar, not a full one (0 of 0 bytes).
        let bar = multi.add(
            ProgressBar::no_length()
                .with_style(file_style())
                .with_prefix(job.name.clone()),
        );
        (
            client.clone(),
            job.url.clone(),
            out.join(&job.name),
            bar,
            overall.clone(),
            known,
        )
    });
    let outcomes = match args.limit {
        None => {
            let pool = default_executor();
            join_all(downloads.map(|(client, url, dest, bar, overall, known)| {
                let fut = pool.submit(move || download(client, url, dest, overall, known));
                follow(fut, bar)
            }))
            .await
        }
        Some(limit) => limited(limit, downloads).await,
    };
    let concurrent = started.elapsed();
    overall.bar.finish();
    // The bars were the live view; the table is the record, and all that a CI log shows
    // (indicatif draws nothing when stderr is not a terminal).
    let _ = multi.clear();
    table.header();
    let mut tally = Tally::default();
    for (job, outcome) in jobs.iter().zip(outcomes) {
        table.row(job, outcome, started, &mut tally);
    }
    if embedded {
        println!("  ({MISSING} is missing on purpose: its failure does not stop the others)");
    }

    println!("\nsummary");
    println!(
        "  downloaded   {} of {} files, {}; {} failed, {} with a wrong size",
        tally.ok,
        jobs.len(),
        HumanBytes(tally.bytes),
        tally.failed,
        tally.bad_sizes,
    );
    println!("  sequential   {:>6.2} s", sequential.as_secs_f64());
    println!("  concurrent   {:>6.2} s", concurrent.as_secs_f64());
    println!(
        "  speedup      {:>6.1}x",
        sequential.as_secs_f64() / concurrent.as_secs_f64()
    );
    println!("  files in     {}", out.display());

    if tally.unexpected {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The arguments of [`download`].
type DownloadArgs = (Client, String, PathBuf, ProgressBar, Overall, Option<u64>);

/// `--limit N`: at most `limit` downloads run at once and at most `limit` more wait in the
/// pool's queue. `submit_async` suspends this loop (never the runtime's thread) while the queue
/// is full, so downloads are submitted as room appears: asyncio's
/// `async with Semaphore(N): await loop.run_in_executor(None, download, ...)`, as two settings.
async fn limited(
    limit: usize,
    downloads: impl Iterator<Item = DownloadArgs>,
) -> Vec<Result<Result<Downloaded, String>, FutureError>> {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(limit)
        .max_queued(limit)
        .thread_name_prefix("download-limited")
        .build()
        .expect("--limit is at least 1");
    let mut submitted = Vec::new();
    for (client, url, dest, bar, overall, known) in downloads {
        let job = move || download(client, url, dest, overall, known);
        submitted.push(follow(pool.submit_async(job).await, bar));
    }
    join_all(submitted).await
}

/// Drives `bar` from the job's `poolbridge::progress()` reports (bytes received of the length,
/// 0 while unknown) and leaves the job's verdict on it; returns the job's awaitable.
async fn follow(
    fut: PoolFuture<Result<Downloaded, String>>,
    bar: ProgressBar,
) -> Result<Result<Downloaded, String>, FutureError> {
    let mut updates = fut.progress_updates();
    let outcome = wrap_future(fut);
    let driver = tokio::spawn({
        let bar = bar.clone();
        async move {
            // Coalesced: one item per poll after a change, the last one always.
            while let Some((done, total)) = updates.next().await {
                if total > 0 {
                    bar.set_length(total);
                }
                bar.set_position(done);
            }
        }
    });
    let outcome = outcome.await;
    // The stream ends with the job: the bar shows its last report before the verdict.
    let _ = driver.await;
    match &outcome {
        Ok(Ok(_)) => bar.finish_with_message("done"),
        Ok(Err(err)) => {
            // No bar for a failed file (an empty length would draw a full one).
            bar.set_style(failed_style());
            bar.abandon_with_message(format!("FAILED: {err}"));
        }
        Err(err) => bar.abandon_with_message(format!("FAILED: {err}")),
    }
    outcome
}

/// Prints one aligned line per download.
struct Table<'a> {
    out: &'a Path,
    embedded: bool,
    width: usize,
}

/// What a round came to.
#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    bytes: u64,
    bad_sizes: usize,
    /// A failure other than the deliberate 404, or a wrong size.
    unexpected: bool,
}

impl<'a> Table<'a> {
    fn new(jobs: &[Job], out: &'a Path, embedded: bool) -> Table<'a> {
        let width = jobs.iter().map(|j| j.name.len()).max().unwrap_or(0).max(4);
        Table {
            out,
            embedded,
            width,
        }
    }

    fn header(&self) {
        println!(
            "  {:<w$}  {:>10}  {:>14}  {:>6}  {:>7}  size check",
            "file",
            "size",
            "Content-Length",
            "took",
            "done at",
            w = self.width
        );
    }

    /// Prints the outcome of `job` (a `FutureError` from the pool, or the job's own `Err`).
    fn row(
        &self,
        job: &Job,
        outcome: Result<Result<Downloaded, String>, FutureError>,
        round_start: Instant,
        tally: &mut Tally,
    ) {
        let w = self.width;
        let deliberate = self.embedded && job.name == MISSING;
        match outcome {
            Ok(Ok(d)) => {
                let check = check_size(&self.out.join(&job.name), &d, job.expected);
                println!(
                    "  {:<w$}  {:>10}  {:>14}  {:>4.2} s  {:>5.2} s  {check}",
                    job.name,
                    HumanBytes(d.bytes).to_string(),
                    d.content_length
                        .map_or("none".to_owned(), |n| n.to_string()),
                    d.elapsed.as_secs_f64(),
                    (d.finished - round_start).as_secs_f64(),
                );
                tally.ok += 1;
                tally.bytes += d.bytes;
                if check != "ok" {
                    tally.bad_sizes += 1;
                    tally.unexpected = true;
                }
                tally.unexpected |= deliberate;
            }
            Ok(Err(err)) => {
                println!("  {:<w$}  FAILED: {err}", job.name);
                tally.failed += 1;
                tally.unexpected |= !deliberate;
            }
            // The job itself did not complete (a panic, or the executor was shut down).
            Err(err) => {
                println!("  {:<w$}  FAILED: {err}", job.name);
                tally.failed += 1;
                tally.unexpected = true;
            }
        }
    }
}

/// The overall bar of a round: its length is the sum of what each download promises, so that
/// it ends at 100% even when a download fails or its size was not known in advance.
#[derive(Clone)]
struct Overall {
    bar: ProgressBar,
    total: Arc<AtomicU64>,
}

impl Overall {
    /// A bar whose length starts as the sum of the `known` sizes.
    fn new(bar: ProgressBar, known: &[Option<u64>]) -> Overall {
        let total: u64 = known.iter().flatten().sum();
        bar.set_length(total);
        Overall {
            bar,
            total: Arc::new(AtomicU64::new(total)),
        }
    }

    /// One download now promises `new` bytes instead of `*promised`.
    fn repromise(&self, promised: &mut u64, new: u64) {
        if new == *promised {
            return;
        }
        // ORDERING: Relaxed: the total is only ever read back here, for display; each update is
        // one atomic step, so concurrent downloads never lose one another's changes.
        let total = if new > *promised {
            self.total.fetch_add(new - *promised, Ordering::Relaxed) + (new - *promised)
        } else {
            self.total.fetch_sub(*promised - new, Ordering::Relaxed) - (*promised - new)
        };
        *promised = new;
        self.bar.set_length(total);
    }
}

/// Downloads `url` into `dest`: plain blocking code, run on a pool thread.
///
/// Reports its progress as bytes arrive (`poolbridge::progress(received, length)`: whoever holds
/// the future draws this file's bar from it) and updates `overall` (all files). `known`: the
/// size learned by an earlier round, already counted in the overall bar's length. Errors are
/// messages a user can act on.
fn download(
    client: Client,
    url: String,
    dest: PathBuf,
    overall: Overall,
    known: Option<u64>,
) -> Result<Downloaded, String> {
    let mut promised = known.unwrap_or(0);
    let mut received = 0;
    let outcome = fetch(&client, &url, &dest, &overall, &mut promised, &mut received);
    match &outcome {
        Ok(d) => overall.repromise(&mut promised, d.bytes),
        // What will not come no longer counts in the overall total.
        Err(_) => overall.repromise(&mut promised, received),
    }
    outcome
}

fn fetch(
    client: &Client,
    url: &str,
    dest: &Path,
    overall: &Overall,
    promised: &mut u64,
    received: &mut u64,
) -> Result<Downloaded, String> {
    let started = Instant::now();
    let mut response = client.get(url).send().map_err(|err| describe(&err))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status} for {url}"));
    }
    let content_length = response.content_length();
    if let Some(len) = content_length {
        poolbridge::progress(0, len);
        overall.repromise(promised, len);
    }
    let mut file =
        File::create(dest).map_err(|err| format!("cannot write {}: {err}", dest.display()))?;
    let mut buf = vec![0; 64 * 1024];
    let mut bytes = 0;
    loop {
        let n = response
            .read(&mut buf)
            .map_err(|err| format!("connection lost after {bytes} bytes: {err}"))?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])
            .map_err(|err| format!("cannot write {}: {err}", dest.display()))?;
        bytes += n as u64;
        *received = bytes;
        poolbridge::progress(bytes, content_length.unwrap_or(0));
        overall.bar.inc(n as u64);
        if bytes > *promised {
            // More than announced (no Content-Length): the total grows with what arrives.
            overall.repromise(promised, bytes);
        }
    }
    Ok(Downloaded {
        bytes,
        content_length,
        elapsed: started.elapsed(),
        finished: Instant::now(),
    })
}

/// Compares the file on disk with what was received, the `Content-Length` and the known size.
fn check_size(path: &Path, d: &Downloaded, expected: Option<u64>) -> String {
    let on_disk = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(err) => return format!("cannot read back {}: {err}", path.display()),
    };
    if on_disk != d.bytes {
        return format!("MISMATCH: {on_disk} bytes on disk, {} received", d.bytes);
    }
    if let Some(len) = d.content_length.filter(|&len| len != on_disk) {
        return format!("MISMATCH: Content-Length said {len}");
    }
    if let Some(size) = expected.filter(|&size| size != on_disk) {
        return format!("MISMATCH: the server has {size} bytes");
    }
    "ok".to_owned()
}

/// `error sending request for url (..): Connection refused (os error 111)`: the top-level error
/// and its root cause, which is the part that says what to fix.
fn describe(err: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = err;
    while let Some(source) = root.source() {
        root = source;
    }
    if std::ptr::addr_eq(root, err as &dyn std::error::Error) {
        err.to_string()
    } else {
        format!("{err}: {root}")
    }
}

fn build_client(embedded: bool) -> reqwest::Result<Client> {
    let builder = if embedded {
        support::local_client_builder()
    } else {
        Client::builder()
    };
    builder
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .user_agent("poolbridge-download-example")
        .build()
}

// Bars fit in 80 columns; `wide_msg` takes what is left and is cut to fit.
fn file_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:<15!} [{bar:20.cyan/blue}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {wide_msg}",
    )
    .expect("a valid template")
    .progress_chars("=> ")
}

/// A failed file: its name and the reason, no bar.
fn failed_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:<15!} {wide_msg}").expect("a valid template")
}

fn overall_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:<15!} [{bar:20.green}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {elapsed}",
    )
    .expect("a valid template")
    .progress_chars("=> ")
}

/// One job per URL, named after the last segment of its path (made unique).
fn jobs_for_urls(urls: &[String]) -> Vec<Job> {
    let mut taken = HashSet::new();
    urls.iter()
        .enumerate()
        .map(|(i, url)| {
            // The last non-empty segment of the URL's path, or `index.html` for a bare host.
            let parsed = reqwest::Url::parse(url).ok();
            let last = parsed
                .as_ref()
                .and_then(|u| u.path_segments()?.rfind(|s| !s.is_empty()))
                .unwrap_or("index.html");
            let clean: String = last
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let mut name = clean.clone();
            if !taken.insert(name.clone()) {
                name = format!("{}-{clean}", i + 1);
                taken.insert(name.clone());
            }
            Job {
                url: url.clone(),
                name,
                expected: None,
            }
        })
        .collect()
}

/// Command-line arguments: `[--out DIR] [--limit N] [URL...]`.
struct Args {
    out: Option<PathBuf>,
    /// `--limit N`: at most N concurrent downloads (and N waiting) in the concurrent round.
    limit: Option<usize>,
    urls: Vec<String>,
}

impl Args {
    /// The exit code after printing the usage (asked for, or bad arguments).
    fn parse() -> Result<Args, ExitCode> {
        let mut args = Args {
            out: None,
            limit: None,
            urls: Vec::new(),
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--out" | "-o" => match it.next() {
                    Some(dir) => args.out = Some(PathBuf::from(dir)),
                    None => return Err(usage("--out needs a folder")),
                },
                "--limit" | "-l" => match it.next().map(|n| n.parse::<usize>()) {
                    Some(Ok(n)) if n > 0 => args.limit = Some(n),
                    _ => return Err(usage("--limit needs a number of downloads, at least 1")),
                },
                "--help" | "-h" => return Err(usage("")),
                _ if arg.starts_with('-') => return Err(usage(&format!("unknown option {arg}"))),
                _ if is_https(&arg) => return Err(https_refused(&arg)),
                _ => args.urls.push(arg),
            }
        }
        Ok(args)
    }
}

/// `true` for an `https://` URL, which the examples' reqwest (no TLS) cannot fetch.
fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The error for an `https://` URL: why it cannot be fetched, and what to change so it can.
fn https_refused(url: &str) -> ExitCode {
    eprintln!(
        "error: {url}: this example downloads http:// URLs only.\n\
         Its reqwest is built without TLS, so that the first build compiles no C crypto library.\n\
         To download over https, give reqwest a TLS backend in Cargo.toml's [dev-dependencies]:\n    \
         reqwest = {{ version = \"0.13\", default-features = false, features = [\"blocking\", \"rustls\"] }}"
    );
    ExitCode::FAILURE
}

/// Prints the usage, after `problem` if any; the exit code says whether there was one.
fn usage(problem: &str) -> ExitCode {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    eprintln!(
        "usage: cargo run --release --example download -- [--out DIR] [--limit N] [URL...]\n\
         With no URL, downloads from an embedded local server (works offline).\n\
         URL: an http:// URL (this example is built without TLS).\n\
         --limit N: at most N downloads at once in the concurrent round (N workers, N queued).\n\
         DIR defaults to a new folder under {}.",
        std::env::temp_dir().display()
    );
    if problem.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
