//! Where and when done callbacks run, as with Python's `Future.add_done_callback`. Callbacks
//! added before the job ends run in order on the worker thread that finishes it; one of them
//! panics, the panic is caught and reported on stderr, and the next callback still runs. A
//! callback added after completion runs at once, on the thread that adds it (`main`). Cancelling
//! a queued job runs its callbacks on the cancelling thread. Finally the worker that ran the
//! panicking callback runs another job, to show it survived. Each line names the thread it was
//! printed from. Run it with `cargo run --release --example callbacks`.

mod support;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use poolbridge::ThreadPoolExecutor;

fn here() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_owned()
}

fn main() {
    support::one_line_panic_reports();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("worker")
        .build()
        .expect("valid settings");

    println!("1. three callbacks added while the job runs (it sleeps 200 ms)");
    let future = pool.submit(|| {
        thread::sleep(Duration::from_millis(200));
        42
    });
    let (last_ran, wait_for_last) = mpsc::channel();
    future.add_done_callback(|f| {
        println!("   [{}] callback 1: result() = {:?}", here(), f.result());
    });
    future.add_done_callback(|_| panic!("callback 2 is broken"));
    future.add_done_callback(move |f| {
        println!(
            "   [{}] callback 3: still runs; done() = {}",
            here(),
            f.done()
        );
        last_ran.send(()).unwrap();
    });
    println!(
        "   [{}] callbacks added; done() = {}",
        here(),
        future.done()
    );
    wait_for_last.recv().unwrap();

    println!("\n2. a callback added after the job is done runs at once, on the caller's thread");
    future.add_done_callback(|f| {
        println!("   [{}] callback 4: result() = {:?}", here(), f.result());
    });
    println!("   [{}] add_done_callback returned", here());

    println!("\n3. cancelling a queued job runs its callbacks on the cancelling thread");
    let busy = pool.submit(|| thread::sleep(Duration::from_millis(100)));
    let queued = pool.submit(|| "never runs");
    queued.add_done_callback(|f| {
        println!(
            "   [{}] callback 5: cancelled() = {}, result() = {:?}",
            here(),
            f.cancelled(),
            f.result()
        );
    });
    println!("   [{}] cancel() = {}", here(), queued.cancel());
    busy.wait();

    println!("\n4. the worker survived callback 2's panic");
    let name = pool.submit(here).join().unwrap();
    println!("   [{}] the next job ran on {name}", here());
}
