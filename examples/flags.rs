//! Fluent Python's flags examples in Rust: twenty small downloads (one flag image per country)
//! from an embedded HTTP server that takes 80-200 ms to answer each request, done three ways:
//! one after another, with `ThreadPoolExecutor::map` (results in input order), and with `submit`
//! plus `as_completed` under a progress bar (results in completion order). The country codes
//! are printed in the order each way gets them, then the three times side by side. Each flag is
//! saved to a temp folder and its size checked. Runs offline; run it with
//! `cargo run --release --example flags`.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use poolbridge::{ThreadPoolExecutor, as_completed};
use reqwest::blocking::Client;

use support::{LocalServer, ServedFile};

/// The twenty most populous countries, as in Fluent Python.
const CODES: [&str; 20] = [
    "CN", "IN", "US", "ID", "BR", "PK", "NG", "BD", "RU", "JP", "MX", "PH", "VN", "ET", "EG", "DE",
    "IR", "TR", "CD", "FR",
];

/// Fluent Python's `MAX_WORKERS`: downloads wait on the network, so more threads than cores.
const MAX_WORKERS: usize = 20;

fn main() {
    // Flags of 2-14 KB, answered after 80-200 ms, at 1 MB/s.
    let files: Vec<ServedFile> = CODES
        .iter()
        .enumerate()
        .map(|(i, cc)| {
            let size = 2_000 + (i * 7_919) % 12_000;
            let latency_ms = 80 + (i as u64 * 37) % 120;
            ServedFile::new(&flag_name(cc), size, latency_ms, 1.0)
        })
        .collect();
    let server = LocalServer::start(&files).expect("start the embedded HTTP server");
    let client = support::local_client_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build the HTTP client");
    let out = support::temp_output_dir("flags");
    std::fs::create_dir_all(&out).expect("create the output folder");
    println!(
        "{} flags from the embedded server at {} (80-200 ms per request)",
        CODES.len(),
        server.base_url()
    );
    println!("saving to {}\n", out.display());
    let base = server.base_url().to_owned();
    let expected = |cc: &str| {
        files
            .iter()
            .find(|f| f.name == flag_name(cc))
            .map(|f| f.size)
    };

    let mut rows = Vec::new();

    // 1. Sequential: flags.py.
    let started = Instant::now();
    let mut codes = Vec::new();
    for cc in CODES {
        if let Some(got) = report(cc, download_one(&client, &base, &out, cc), &expected) {
            codes.push(got);
        }
    }
    rows.push(("sequential", codes, started.elapsed()));

    // 2. `executor.map(download_one, cc_list)`: flags_threadpool.py. Results come in input
    //    order, each as soon as it and the ones before it are done.
    let started = Instant::now();
    let pool = ThreadPoolExecutor::new(MAX_WORKERS);
    let job = {
        let (client, base, out) = (client.clone(), base.clone(), out.clone());
        move |cc: &'static str| download_one(&client, &base, &out, cc)
    };
    let mut codes = Vec::new();
    for (cc, outcome) in CODES.iter().zip(pool.map(job, CODES)) {
        let outcome = outcome.unwrap_or_else(|err| Err(err.to_string()));
        if let Some(got) = report(cc, outcome, &expected) {
            codes.push(got);
        }
    }
    drop(pool); // `with` exit: waits for the workers
    rows.push(("ThreadPoolExecutor::map", codes, started.elapsed()));

    // 3. `submit` + `as_completed`, with a progress bar: flags2_threadpool.py. Results come in
    //    completion order.
    let started = Instant::now();
    let pool = ThreadPoolExecutor::new(MAX_WORKERS);
    let futures: Vec<_> = CODES
        .iter()
        .map(|&cc| {
            let (client, base, out) = (client.clone(), base.clone(), out.clone());
            pool.submit(move || (cc, download_one(&client, &base, &out, cc)))
        })
        .collect();
    let bar = ProgressBar::new(CODES.len() as u64).with_style(
        ProgressStyle::with_template("  [{bar:40.cyan/blue}] {pos:>2}/{len} flags  {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut codes = Vec::new();
    for future in as_completed(futures) {
        match future.join() {
            Ok((cc, outcome)) => {
                if let Some(got) = report(cc, outcome, &expected) {
                    bar.set_message(got);
                    codes.push(got);
                }
            }
            Err(err) => bar.suspend(|| println!("  a download job failed: {err}")),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    drop(pool);
    rows.push(("submit + as_completed", codes, started.elapsed()));

    let sequential = rows[0].2;
    for (how, codes, _) in &rows {
        println!("  {how:<24} {}", codes.join(" "));
    }
    println!(
        "\n  {:<24} {:>5}  {:>7}  {:>7}",
        "", "flags", "time", "speedup"
    );
    for (how, codes, took) in &rows {
        println!(
            "  {how:<24} {:>5}  {:>5.2} s  {:>6.1}x",
            codes.len(),
            took.as_secs_f64(),
            sequential.as_secs_f64() / took.as_secs_f64()
        );
    }
}

fn flag_name(cc: &str) -> String {
    format!("{}.gif", cc.to_lowercase())
}

/// Downloads one flag and saves it: plain blocking code, as in Fluent Python.
fn download_one(client: &Client, base: &str, out: &Path, cc: &str) -> Result<PathBuf, String> {
    let url = format!("{base}/{}", flag_name(cc));
    let response = client
        .get(&url)
        .send()
        .and_then(|r| r.error_for_status())
        .map_err(|err| err.to_string())?;
    let image = response.bytes().map_err(|err| err.to_string())?;
    let path = out.join(flag_name(cc));
    std::fs::write(&path, &image)
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    Ok(path)
}

/// Checks a download's size; returns its country code if it is fine, after saying why not.
fn report(
    cc: &'static str,
    outcome: Result<PathBuf, String>,
    expected: &dyn Fn(&str) -> Option<usize>,
) -> Option<&'static str> {
    let path = match outcome {
        Ok(path) => path,
        Err(err) => {
            println!("  {cc}: FAILED: {err}");
            return None;
        }
    };
    let size = std::fs::metadata(&path).map(|m| m.len() as usize).ok();
    if size != expected(cc) {
        println!(
            "  {cc}: wrong size: {size:?} bytes, expected {:?}",
            expected(cc)
        );
        return None;
    }
    Some(cc)
}
