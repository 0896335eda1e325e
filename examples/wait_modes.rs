//! What `wait` returns in each mode, as Python's `concurrent.futures.wait` does: five jobs that
//! take 100 to 500 ms, the third of which panics, waited on with `ReturnWhen::FirstCompleted`,
//! `FirstException` and `AllCompleted`, then with `wait_timeout` (250 ms), and finally with
//! `FirstException` when nothing fails (it then waits for all). Each line shows when `wait`
//! returned and which futures were in `done` and in `not_done` (`!` marks a failed one); the
//! futures left in `not_done` keep running. Run it with
//! `cargo run --release --example wait_modes`.

use std::thread;
use std::time::{Duration, Instant};

use poolbridge::{DoneAndNotDone, PoolFuture, ReturnWhen, ThreadPoolExecutor, wait, wait_timeout};

/// The jobs: name, duration, and whether it panics (when failures are on).
const JOBS: [(&str, u64, bool); 5] = [
    ("a", 100, false),
    ("b", 200, false),
    ("c", 300, true),
    ("d", 400, false),
    ("e", 500, false),
];

fn main() {
    // Job c's panic is caught by the pool and shown in the errors column: keep the default
    // panic hook from also printing it (and a backtrace) in the middle of the table.
    std::panic::set_hook(Box::new(|_| {}));
    println!("jobs: a 100 ms, b 200 ms, c 300 ms (panics), d 400 ms, e 500 ms; 5 workers\n");
    println!(
        "  {:<44} {:>7}  {:<16} {:<12} errors",
        "call", "after", "done", "not_done"
    );
    let first_completed = ReturnWhen::FirstCompleted;
    let first_exception = ReturnWhen::FirstException;
    let all_completed = ReturnWhen::AllCompleted;
    show("wait(&fs, FirstCompleted)", first_completed, None, true);
    show("wait(&fs, FirstException)", first_exception, None, true);
    show("wait(&fs, AllCompleted)", all_completed, None, true);
    let timeout = Some(Duration::from_millis(250));
    show(
        "wait_timeout(&fs, 250 ms, AllCompleted)",
        all_completed,
        timeout,
        true,
    );
    show(
        "wait(&fs, FirstException), none fails",
        first_exception,
        None,
        false,
    );
}

/// Submits the jobs to a fresh pool, waits as told, prints what came back.
fn show(call: &str, return_when: ReturnWhen, timeout: Option<Duration>, failures: bool) {
    let pool = ThreadPoolExecutor::new(JOBS.len());
    let started = Instant::now();
    let futures: Vec<PoolFuture<&'static str>> = JOBS
        .iter()
        .map(|&(name, ms, panics)| {
            pool.submit(move || {
                thread::sleep(Duration::from_millis(ms));
                if panics && failures {
                    panic!("disk full");
                }
                name
            })
        })
        .collect();

    let DoneAndNotDone { done, not_done } = match timeout {
        Some(timeout) => wait_timeout(&futures, timeout, return_when),
        None => wait(&futures, return_when),
    };
    let after = started.elapsed();

    // `done` and `not_done` hold the same kind of item we passed in: here `&PoolFuture`.
    let name_of = |f: &PoolFuture<&'static str>| -> &'static str {
        let index = futures.iter().position(|g| g == f).expect("one of ours");
        JOBS[index].0
    };
    let list = |fs: &[&PoolFuture<&'static str>]| -> String {
        let names: Vec<String> = fs
            .iter()
            .map(|f| {
                // `exception()` blocks until done; these are done, so it returns at once.
                let failed = f.done() && f.exception().is_some();
                format!("{}{}", name_of(f), if failed { "!" } else { "" })
            })
            .collect();
        if names.is_empty() {
            "0".to_owned()
        } else {
            format!("{}: {}", fs.len(), names.join(" "))
        }
    };
    let errors: Vec<String> = done
        .iter()
        .filter_map(|f| f.exception().map(|err| format!("{}: {err}", name_of(f))))
        .collect();
    let line = format!(
        "  {call:<44} {:>5.2} s  {:<16} {:<12} {}",
        after.as_secs_f64(),
        list(&done),
        list(&not_done),
        errors.join("; ")
    );
    println!("{}", line.trim_end());
    // Dropping the pool waits for the jobs still in `not_done`, like leaving a `with` block.
}
