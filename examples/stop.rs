//! Stopping runaway work on every executor. Each job here would run for a minute; the caller
//! awaits it with `tokio::time::timeout(100 ms, ..)`. When the timeout drops the awaitable, the
//! job is asked to stop, and the example prints how long after the timeout the executor's only
//! slot ran the next job:
//!
//! * a thread job that checks `poolbridge::cancelled()` returns at its next check;
//! * a process job that checks it returns the same way, on the same worker process; one that
//!   never checks is killed with its worker after the pool's grace period
//!   (`ProcessPoolBuilder::cancel_grace`), and the next job runs on a fresh worker;
//! * a remote job is stopped on the host that runs it, the same two ways, with the host's
//!   process pool's grace (needs `nats-server` on `PATH` and the `nats` feature; skipped
//!   otherwise).
//!
//! Run it with `cargo run --release --features nats --example stop` (about three seconds).

#[cfg(feature = "nats")]
#[path = "support/nats.rs"]
mod nats;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use poolbridge::{PoolFuture, ProcessPoolExecutor, ThreadPoolExecutor};

/// How long the caller waits for an answer.
const TIMEOUT: Duration = Duration::from_millis(100);
/// How long a runaway job would run if nobody stopped it.
const RUNAWAY_MS: u64 = 60_000;
/// How long a process job that does not check `cancelled()` is given before it is killed.
const GRACE: Duration = Duration::from_millis(200);

/// Busy work for up to `ms`, checking `cancelled()` every millisecond or so (`polling`), or
/// never. Returns how many rounds it did.
fn runaway(ms: u64, polling: bool) -> u64 {
    let until = Instant::now() + Duration::from_millis(ms);
    let mut rounds = 0u64;
    while Instant::now() < until {
        if polling && poolbridge::cancelled() {
            return rounds; // resolves to Err(Cancelled) anyway: a partial result
        }
        rounds = rounds.wrapping_add(std::hint::black_box(rounds) % 7 + 1);
    }
    rounds
}

#[poolbridge::job]
fn polite(ms: u64) -> u64 {
    runaway(ms, true)
}

#[poolbridge::job]
fn deaf(ms: u64) -> u64 {
    runaway(ms, false)
}

#[poolbridge::job]
fn whoami() -> u32 {
    std::process::id()
}

/// Awaits `runaway` for at most [`TIMEOUT`], then awaits `next` and says how long after the
/// timeout it finished.
async fn stop_then_next<T: Send + 'static, U: std::fmt::Debug + Send + 'static>(
    what: &str,
    runaway: PoolFuture<T>,
    next: impl FnOnce() -> PoolFuture<U>,
) {
    let timed_out = tokio::time::timeout(TIMEOUT, runaway.into_future()).await;
    assert!(
        timed_out.is_err(),
        "{what}: the runaway job ended on its own"
    );
    let stopped_at = Instant::now();
    let answer = next().await;
    println!(
        "{what:<46} next job done {:>7.1} ms after the timeout: {answer:?}",
        stopped_at.elapsed().as_secs_f64() * 1e3
    );
}

fn main() {
    poolbridge::process::init(); // the worker processes serve jobs here
    #[cfg(feature = "nats")]
    nats::host_main(|options| options); // `stop host URL NAME`: a worker host

    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        // Threads: a job cannot be killed, only asked.
        let threads = ThreadPoolExecutor::new(1);
        stop_then_next(
            "thread job, checks cancelled()",
            threads.submit(|| runaway(RUNAWAY_MS, true)),
            || threads.submit(|| "free"),
        )
        .await;

        // Processes: asked first; killed with its worker after the grace if it does not listen.
        let procs = ProcessPoolExecutor::builder()
            .max_workers(1)
            .cancel_grace(GRACE)
            .build()
            .expect("a process pool");
        let first = procs.submit(whoami, ()).await.expect("a worker");
        println!("process pool: one worker, pid {first}, grace {GRACE:?}");
        stop_then_next(
            "process job, checks cancelled()",
            procs.submit(polite, (RUNAWAY_MS,)),
            || procs.submit(whoami, ()),
        )
        .await;
        stop_then_next(
            "process job, never checks (killed)",
            procs.submit(deaf, (RUNAWAY_MS,)),
            || procs.submit(whoami, ()),
        )
        .await;
        println!("  (the same pid: the worker was kept; another pid: it was replaced)");

        #[cfg(feature = "nats")]
        remote().await;
    });
}

/// The same two jobs on a worker host with one slot, through a local NATS server.
#[cfg(feature = "nats")]
async fn remote() {
    let Some(binary) = nats::server_binary() else {
        println!("remote: skipped ({})", nats::INSTALL_HINT);
        return;
    };
    let server = nats::LocalNats::start(&binary).expect("start nats-server");
    let ex = poolbridge::RemoteExecutor::connect(&server.url).expect("connect");
    let _host = nats::HostProcess::start(&server.url, "host-1", 1).expect("start a host");
    let host_pid = ex.submit(whoami, ()).await.expect("the host answers");
    println!(
        "remote: one host, one worker process (pid {host_pid}), the host's grace {:?}",
        poolbridge::process::DEFAULT_CANCEL_GRACE
    );
    stop_then_next(
        "remote job, checks cancelled()",
        ex.submit(polite, (RUNAWAY_MS,)),
        || ex.submit(whoami, ()),
    )
    .await;
    stop_then_next(
        "remote job, never checks (killed on its host)",
        ex.submit(deaf, (RUNAWAY_MS,)),
        || ex.submit(whoami, ()),
    )
    .await;
}
