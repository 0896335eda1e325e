//! asyncio's `gather` over `run_in_executor`, from tokio: the same ten blocking calls (each
//! sleeps 300 ms, standing in for a blocking client or driver) awaited one after another, then
//! all together with `futures::future::join_all`, on the default executor (`None`) and on a pool
//! of ten, and finally three different calls with `tokio::join!`. Every job is submitted when
//! `run_in_executor` is called, so the jobs overlap as soon as they exist; awaiting only
//! collects them. Run it with `cargo run --release --example gather`.

use std::thread;
use std::time::{Duration, Instant};

use futures::future::join_all;
use poolbridge::{ThreadPoolExecutor, default_max_workers, run_in_executor, to_thread};

const CALLS: u64 = 10;
const CALL_TIME: Duration = Duration::from_millis(300);

/// A blocking call: sleeps, then returns a value derived from its argument.
fn lookup(id: u64) -> u64 {
    thread::sleep(CALL_TIME);
    id * id
}

#[tokio::main]
async fn main() {
    println!(
        "{CALLS} blocking calls of {} ms each, from #[tokio::main]\n",
        CALL_TIME.as_millis()
    );

    // 1. One at a time: each call runs on the pool (the runtime stays free), but the next one
    //    is only submitted once the previous one is awaited.
    let started = Instant::now();
    let mut one_by_one = Vec::new();
    for id in 0..CALLS {
        one_by_one.push(run_in_executor(None, lookup, (id,)).await.unwrap());
    }
    let sequential = started.elapsed();
    report("awaited one by one", sequential, sequential, &one_by_one);

    // 2. All together on the default executor: asyncio's
    //    `await asyncio.gather(*(loop.run_in_executor(None, lookup, i) for i in range(10)))`.
    //    It has min(32, cores + 4) workers, so on a small machine the calls come in waves.
    let started = Instant::now();
    let calls = (0..CALLS).map(|id| run_in_executor(None, lookup, (id,)));
    let gathered: Vec<u64> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    report(
        &format!(
            "join_all, default executor ({} workers)",
            default_max_workers()
        ),
        started.elapsed(),
        sequential,
        &gathered,
    );

    // 3. All together on our own pool, one worker per call.
    let pool = ThreadPoolExecutor::new(CALLS as usize);
    let started = Instant::now();
    let calls = (0..CALLS).map(|id| run_in_executor(Some(&pool), lookup, (id,)));
    let gathered: Vec<u64> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    report(
        &format!("join_all, own pool ({} workers)", pool.max_workers()),
        started.elapsed(),
        sequential,
        &gathered,
    );

    // 4. Different calls with different result types: `tokio::join!` (or `futures::join!`).
    let started = Instant::now();
    let (square, text, sum) = tokio::join!(
        run_in_executor(Some(&pool), lookup, (12,)),
        to_thread(|| {
            thread::sleep(CALL_TIME);
            String::from("hello from a pool thread")
        }),
        run_in_executor(
            Some(&pool),
            |a: u64, b: u64| {
                thread::sleep(CALL_TIME);
                a + b
            },
            (40, 2)
        ),
    );
    println!(
        "  {:<42} {:>5.2} s   {:?}, {:?}, {:?}",
        "tokio::join! of three different calls",
        started.elapsed().as_secs_f64(),
        square.unwrap(),
        text.unwrap(),
        sum.unwrap()
    );
}

fn report(how: &str, took: Duration, sequential: Duration, results: &[u64]) {
    println!(
        "  {how:<42} {:>5.2} s  {:>5.1}x   results {:?}",
        took.as_secs_f64(),
        sequential.as_secs_f64() / took.as_secs_f64(),
        results
    );
}
