//! RemoteExecutor against a real `nats-server -js` started by each test (see
//! `tests/remote_support`): results and panics across two hosts, a killed host's job delivered
//! again, `max_deliver`, a re-sent job stored once, cancel before pickup, a server restart with
//! jobs queued, futures of three executors in one `as_completed`, a graceful host stop.
//!
//! This binary is also the worker host (`POOLBRIDGE_TEST_HOST_URL`) and the hosts' worker
//! program, so `main` calls `process::init()` and `host_main()` first (no libtest harness).
//! Without a `nats-server` the tests that need one print how to install it and pass, unless
//! `POOLBRIDGE_REQUIRE_NATS=1` (CI).

mod process_support;
mod remote_support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use poolbridge::remote::{RemoteExecutor, async_nats};
use poolbridge::{
    FutureError, FutureState, MapOptions, ProcessPoolExecutor, SubmitOptions, ThreadPoolExecutor,
    as_completed,
};
use process_support::{HANG, eventually, temp_dir};
use remote_support::{Host, HostConfig, NatsServer, lines};

/// Short, so a lost host's job moves on quickly.
const ACK_WAIT: Duration = Duration::from_millis(1000);

/// `(i, the host's pid)`: a worker process's parent is its host.
#[poolbridge::job]
fn where_am_i(i: u64, ms: u64) -> (u64, u32) {
    std::thread::sleep(Duration::from_millis(ms));
    (i, std::os::unix::process::parent_id())
}

#[poolbridge::job]
fn boom(msg: String) -> u64 {
    panic!("{msg}")
}

#[poolbridge::job]
fn abort_worker() {
    std::process::abort();
}

/// Appends `tag` to `file` (one line per run), sleeps, returns the host's pid.
#[poolbridge::job]
fn record(file: String, tag: String, ms: u64) -> u32 {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .unwrap();
    writeln!(f, "{tag} {}", std::os::unix::process::parent_id()).unwrap();
    drop(f);
    std::thread::sleep(Duration::from_millis(ms));
    std::os::unix::process::parent_id()
}

/// An output of `n` bytes.
#[poolbridge::job]
fn bytes_out(n: usize) -> Vec<u8> {
    vec![7; n]
}

/// Kills the host that runs it (the worker process's parent).
#[poolbridge::job]
fn kill_my_host() {
    let host = rustix::process::Pid::from_raw(std::os::unix::process::parent_id() as i32).unwrap();
    let _ = rustix::process::kill_process(host, rustix::process::Signal::KILL);
    std::thread::sleep(Duration::from_secs(5));
}

fn host(url: &str, stream: &str, name: &str) -> Host {
    Host::start(&HostConfig {
        url,
        stream,
        name,
        workers: 2,
        concurrency: 2,
    })
}

fn client(server: &NatsServer, stream: &str) -> RemoteExecutor {
    RemoteExecutor::builder()
        .stream(stream)
        .ack_wait(ACK_WAIT)
        .connect(&server.url())
        .expect("connect")
}

fn tmp_file(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// A raw async-nats client, for looking at the server's side of things.
fn inspect<T>(url: &str, f: impl AsyncFnOnce(async_nats::jetstream::Context) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        f(async_nats::jetstream::new(client)).await
    })
}

/// `(pending, ack pending)` of the hosts' consumer.
fn consumer_state(url: &str, stream: &str) -> (u64, usize) {
    inspect(url, async |js| {
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
            .get_consumer_from_stream(format!("{stream}_hosts"), stream)
            .await
            .unwrap();
        let info = consumer.info().await.unwrap();
        (info.num_pending, info.num_ack_pending)
    })
}

fn results_and_panics_across_two_hosts() {
    let Some(server) = NatsServer::start("two_hosts") else {
        return;
    };
    let url = server.url();
    let ex = client(&server, "TWO");
    let a = host(&url, "TWO", "host-a");
    let b = host(&url, "TWO", "host-b");
    let futures: Vec<_> = (0..40).map(|i| ex.submit(where_am_i, (i, 20))).collect();
    let panic = ex.submit(boom, ("remote boom".into(),));
    let crash = ex.submit(abort_worker, ());
    let mut hosts = HashSet::new();
    for (i, f) in futures.iter().enumerate() {
        let (n, pid) = f.result_timeout(HANG).expect("a result");
        assert_eq!(n, i as u64);
        hosts.insert(pid);
    }
    assert_eq!(
        hosts,
        HashSet::from([a.pid(), b.pid()]),
        "both hosts ran jobs"
    );
    let err = panic.result_timeout(HANG).unwrap_err();
    assert_eq!(err.as_panic().map(|p| p.message()), Some("remote boom"));
    let err = crash.result_timeout(HANG).unwrap_err();
    let exit = err.as_worker_exit().expect("WorkerDied");
    assert_eq!(exit.signal_name(), Some("SIGABRT"));
    assert!(matches!(exit.host(), Some("host-a" | "host-b")), "{err}");
    assert!(err.to_string().contains("on worker host `host-"), "{err}");
    let m = ex.metrics();
    assert_eq!(
        (m.completed, m.failed, m.redelivered, m.pending),
        (40, 2, 0, 0),
        "{m:?}"
    );
    // The hosts go on after the crash.
    assert_eq!(
        ex.submit(where_am_i, (7, 0))
            .result_timeout(HANG)
            .unwrap()
            .0,
        7
    );
}

fn a_killed_hosts_job_is_delivered_again_with_one_result() {
    let Some(server) = NatsServer::start("killed_host") else {
        return;
    };
    let url = server.url();
    let dir = temp_dir("killed_host");
    let runs = tmp_file(&dir, "runs");
    let ex = client(&server, "KILL");
    let mut first = host(&url, "KILL", "first");
    let fut = ex.submit(record, (runs.clone(), "run".into(), 1500));
    let callbacks = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&callbacks);
    fut.add_done_callback(move |_| *counter.lock().unwrap() += 1);
    assert!(
        eventually(HANG, || lines(Path::new(&runs)).len() == 1),
        "the job started"
    );
    assert!(
        eventually(HANG, || fut.running()),
        "a started job is Running"
    );
    assert!(!fut.cancel(), "a running job cannot be cancelled");
    first.kill();
    let started = Instant::now();
    let second = host(&url, "KILL", "second");
    let pid = fut
        .result_timeout(HANG)
        .expect("delivered again, to the second host");
    assert_eq!(pid, second.pid());
    assert!(
        started.elapsed() >= ACK_WAIT / 2,
        "redelivered only after ack_wait"
    );
    let runs = lines(Path::new(&runs));
    assert_eq!(runs.len(), 2, "{runs:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(*callbacks.lock().unwrap(), 1, "one result");
    assert_eq!(ex.metrics().redelivered, 1);
    assert_eq!(consumer_state(&url, "KILL"), (0, 0), "acknowledged once");
}

fn max_deliver_exhaustion_fails_with_worker_died() {
    let Some(server) = NatsServer::start("max_deliver") else {
        return;
    };
    let url = server.url();
    let ex = RemoteExecutor::builder()
        .stream("MAXD")
        .ack_wait(ACK_WAIT)
        .max_deliver(2)
        .connect(&url)
        .unwrap();
    let fut = ex.submit(kill_my_host, ());
    let mut hosts = Vec::new();
    // Each host the job kills is replaced, until the job gives up.
    for n in 0..4 {
        let mut h = host(&url, "MAXD", &format!("doomed-{n}"));
        let deadline = Instant::now() + HANG;
        loop {
            if fut.done() || matches!(h.child.try_wait(), Ok(Some(_))) {
                break;
            }
            assert!(Instant::now() < deadline, "nothing happened");
            std::thread::sleep(Duration::from_millis(20));
        }
        hosts.push(h);
        if fut.done() {
            break;
        }
    }
    let err = fut.result_timeout(HANG).unwrap_err();
    let exit = err.as_worker_exit().expect("WorkerDied");
    assert_eq!(exit.attempts(), Some(2), "{err}");
    assert_eq!(exit.host(), Some("doomed-1"), "{err}");
    assert!(exit.job().unwrap().ends_with("kill_my_host"));
    assert!(
        err.to_string()
            .contains("was delivered 2 times and its host was lost each time: max_deliver (2)"),
        "{err}"
    );
    assert_eq!(hosts.len(), 3, "two hosts lost, a third gives up");
}

fn a_job_published_again_is_stored_and_run_once() {
    let Some(server) = NatsServer::start("dedup") else {
        return;
    };
    let url = server.url();
    let dir = temp_dir("dedup");
    let runs = tmp_file(&dir, "runs");
    let ex = RemoteExecutor::builder()
        .stream("DEDUP")
        .publish_timeout(Duration::from_millis(200))
        .connect(&url)
        .unwrap();
    // The server is frozen: the first publication is not confirmed in time, so the client
    // publishes the job again with the same Nats-Msg-Id; both reach the server when it thaws.
    server.freeze(true);
    let fut = ex.submit(record, (runs.clone(), "once".into(), 0));
    assert!(
        eventually(HANG, || ex.metrics().republished >= 2),
        "the job was not published again while the server was frozen: {:?}; state {:?}",
        ex.metrics(),
        fut.state()
    );
    server.freeze(false);
    let _h = host(&url, "DEDUP", "dedup");
    fut.result_timeout(HANG).expect("a result");
    assert!(eventually(HANG, || consumer_state(&url, "DEDUP") == (0, 0)));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(Path::new(&runs)).len(), 1, "ran once");
    let stored = inspect(&url, async |js| {
        let mut stream = js.get_stream("DEDUP").await.unwrap();
        stream.info().await.unwrap().state.last_sequence
    });
    assert_eq!(stored, 1, "one copy stored");
}

fn a_job_cancelled_before_pickup_is_skipped() {
    let Some(server) = NatsServer::start("cancel") else {
        return;
    };
    let url = server.url();
    let dir = temp_dir("cancel");
    let runs = tmp_file(&dir, "runs");
    let ex = client(&server, "CANCEL");
    let doomed = ex.submit(record, (runs.clone(), "cancelled".into(), 0));
    let kept = ex.submit(record, (runs.clone(), "kept".into(), 0));
    assert!(doomed.cancel());
    assert_eq!(doomed.state(), FutureState::Cancelled);
    assert_eq!(doomed.result(), Err(FutureError::Cancelled));
    // Wait until the cancel is in the bucket the hosts read.
    assert!(eventually(HANG, || ex.metrics().cancelled == 1));
    assert!(eventually(HANG, || inspect(&url, async |js| {
        let kv = js.get_key_value("CANCEL_cancelled").await.unwrap();
        kv.status().await.unwrap().values() == 1
    })));
    let mut h = host(&url, "CANCEL", "canceller");
    kept.result_timeout(HANG).expect("the other job runs");
    assert!(eventually(HANG, || consumer_state(&url, "CANCEL") == (0, 0)));
    assert_eq!(lines(Path::new(&runs)).len(), 1);
    assert!(lines(Path::new(&runs))[0].starts_with("kept"));
    let (status, report) = h.terminate();
    assert!(status.success());
    assert!(report.contains("skipped_cancelled: 1"), "{report}");
}

fn a_restarted_server_loses_no_queued_job() {
    let Some(mut server) = NatsServer::start("restart") else {
        return;
    };
    let url = server.url();
    let ex = RemoteExecutor::builder()
        .stream("RESTART")
        .ack_wait(ACK_WAIT)
        .publish_timeout(Duration::from_millis(500))
        .connect(&url)
        .unwrap();
    let mut futures: Vec<_> = (0..20).map(|i| ex.submit(where_am_i, (i, 0))).collect();
    assert!(eventually(HANG, || inspect(&url, async |js| {
        let mut stream = js.get_stream("RESTART").await.unwrap();
        stream.info().await.unwrap().state.messages == 20
    })));
    server.stop();
    // Submitted while the server is down: stored once it is back.
    futures.push(ex.submit(where_am_i, (20, 0)));
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    let h = host(&url, "RESTART", "after-restart");
    for (i, f) in futures.iter().enumerate() {
        let (n, pid) = f.result_timeout(HANG).expect("nothing lost");
        assert_eq!((n, pid), (i as u64, h.pid()));
    }
}

fn futures_of_three_executors_in_one_as_completed() {
    let Some(server) = NatsServer::start("mixed") else {
        return;
    };
    let url = server.url();
    let ex = client(&server, "MIXED");
    let _h = host(&url, "MIXED", "mixed");
    let threads = ThreadPoolExecutor::new(2);
    let processes = ProcessPoolExecutor::new(1);
    let futures = vec![
        ex.submit(where_am_i, (1, 200)),
        threads.submit(|| (2, 0)),
        processes.submit(where_am_i, (3, 50)),
        ex.submit(where_am_i, (4, 0)),
    ];
    let order: Vec<u64> = as_completed(&futures)
        .map(|f| f.result().unwrap().0)
        .collect();
    assert_eq!(order.len(), 4);
    assert_eq!(
        order.last(),
        Some(&1),
        "the slow remote job ends last: {order:?}"
    );
    // `.await` from another runtime, and a callback that blocks on a later remote job: the
    // executor's completer hands off, so the later answer still arrives.
    let (value, callback_thread) = {
        let first = ex.submit(where_am_i, (5, 0));
        let (tx, rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<poolbridge::PoolFuture<(u64, u32)>>();
        first.add_done_callback(move |_| {
            let later = go_rx.recv().unwrap();
            let got = later.result_timeout(HANG).map(|(n, _)| n);
            tx.send((got, std::thread::current().name().map(str::to_owned)))
                .unwrap();
        });
        let later = ex.submit(where_am_i, (6, 100));
        go_tx.send(later).unwrap();
        let awaited = futures::executor::block_on(async { first.await })
            .unwrap()
            .0;
        assert_eq!(awaited, 5);
        rx.recv_timeout(HANG).unwrap()
    };
    assert_eq!(value, Ok(6));
    assert_eq!(
        callback_thread.as_deref(),
        Some("poolbridge-remote-complete")
    );
}

fn sigterm_finishes_the_running_job_and_takes_no_new_one() {
    let Some(server) = NatsServer::start("sigterm") else {
        return;
    };
    let url = server.url();
    let dir = temp_dir("sigterm");
    let runs = tmp_file(&dir, "runs");
    let ex = client(&server, "TERM");
    let mut h = host(&url, "TERM", "leaving");
    let running = ex.submit(record, (runs.clone(), "long".into(), 800));
    assert!(eventually(HANG, || lines(Path::new(&runs)).len() == 1));
    let leaving = h.pid();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| tx.send(h.terminate()).unwrap());
        std::thread::sleep(Duration::from_millis(100));
        let queued = ex.submit(where_am_i, (9, 0));
        let (status, report) = rx.recv_timeout(HANG).unwrap();
        assert!(status.success(), "{status:?}");
        assert!(report.contains("ok: 1"), "{report}");
        assert_eq!(
            running.result_timeout(HANG),
            Ok(leaving),
            "finished and answered"
        );
        assert!(!queued.done(), "not taken by the leaving host");
        let next = host(&url, "TERM", "next");
        assert_eq!(queued.result_timeout(HANG).unwrap(), (9, next.pid()));
    });
}

fn submit_errors_need_no_server() {
    // Unregistered jobs, bad names and no server: clear errors, no hang.
    let err = RemoteExecutor::connect("nats://127.0.0.1:1").unwrap_err();
    assert!(
        err.to_string()
            .contains("could not connect to NATS at nats://127.0.0.1:1"),
        "{err}"
    );
    let err = RemoteExecutor::builder()
        .stream("a b")
        .connect("nats://127.0.0.1:1")
        .unwrap_err();
    assert!(err.to_string().contains("stream name"), "{err}");
}

fn a_timeout_and_shutdown_semantics() {
    let Some(server) = NatsServer::start("timeout") else {
        return;
    };
    let url = server.url();
    let ex = client(&server, "TIMEOUT");
    let _h = host(&url, "TIMEOUT", "timer");
    let options = SubmitOptions::default().timeout(Duration::from_millis(200));
    let err = ex
        .submit_with(where_am_i, (1, 5_000), options)
        .result_timeout(HANG)
        .unwrap_err();
    assert_eq!(err, FutureError::JobTimeout(Duration::from_millis(200)));
    let results: Vec<_> = ex.map(where_am_i, (0..5).map(|i| (i, 0))).collect();
    let values: Vec<u64> = results.into_iter().map(|r| r.unwrap().0).collect();
    assert_eq!(values, [0, 1, 2, 3, 4]);
    // At most two in flight, pulled lazily from an endless input.
    let lazy = ex.map_with(
        where_am_i,
        (0..).map(|i| (i, 0)),
        MapOptions::default().buffersize(2),
    );
    let firsts: Vec<u64> = lazy.take(6).map(|r| r.unwrap().0).collect();
    assert_eq!(firsts, [0, 1, 2, 3, 4, 5]);
    // Over the server's max_payload (1 MiB by default): an error that says so, at once for
    // arguments, from the host for an output; never a hang or a retry loop.
    let err = ex
        .submit(bytes_out, (0,))
        .result_timeout(HANG)
        .map(|v| v.len());
    assert_eq!(err, Ok(0));
    let big = ex.submit(record, ("x".repeat(2 << 20), String::new(), 0));
    let err = big.result_timeout(HANG).unwrap_err();
    assert!(
        err.is_ipc() && err.to_string().contains("max_payload"),
        "{err}"
    );
    let err = ex
        .submit(bytes_out, (2 << 20,))
        .result_timeout(HANG)
        .unwrap_err();
    assert!(
        err.is_ipc() && err.to_string().contains("output of job"),
        "{err}"
    );
    ex.shutdown(true, false);
    assert_eq!(
        ex.submit(where_am_i, (1, 0)).join(),
        Err(FutureError::Shutdown)
    );
}

fn a_stream_made_by_hand_keeps_its_settings() {
    let Some(server) = NatsServer::start("by_hand") else {
        return;
    };
    let url = server.url();
    use async_nats::jetstream::stream::{Config, RetentionPolicy};
    inspect(&url, async |js| {
        // An operator's stream: a work queue with a limit poolbridge does not set.
        js.create_stream(Config {
            name: "HAND".into(),
            subjects: vec!["poolbridge.jobs".into()],
            retention: RetentionPolicy::WorkQueue,
            max_messages: 1_000,
            ..Default::default()
        })
        .await
        .unwrap();
        // And a stream that is no job queue.
        js.create_stream(Config {
            name: "LOG".into(),
            subjects: vec!["logs.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    });
    let ex = RemoteExecutor::builder()
        .stream("HAND")
        .dedup_window(Duration::from_secs(60))
        .connect(&url)
        .unwrap();
    let (max_messages, window) = inspect(&url, async |js| {
        let mut stream = js.get_stream("HAND").await.unwrap();
        let config = &stream.info().await.unwrap().config;
        (config.max_messages, config.duplicate_window)
    });
    assert_eq!((max_messages, window), (1_000, Duration::from_secs(60)));
    drop(ex);
    let err = RemoteExecutor::builder()
        .stream("LOG")
        .connect(&url)
        .unwrap_err();
    assert!(
        err.to_string().contains("is not a poolbridge job queue"),
        "{err}"
    );
}

fn main() {
    poolbridge::process::init();
    remote_support::host_main();
    process_support::run(tests![
        submit_errors_need_no_server,
        results_and_panics_across_two_hosts,
        a_killed_hosts_job_is_delivered_again_with_one_result,
        max_deliver_exhaustion_fails_with_worker_died,
        a_job_published_again_is_stored_and_run_once,
        a_job_cancelled_before_pickup_is_skipped,
        a_restarted_server_loses_no_queued_job,
        futures_of_three_executors_in_one_as_completed,
        sigterm_finishes_the_running_job_and_takes_no_new_one,
        a_timeout_and_shutdown_semantics,
        a_stream_made_by_hand_keeps_its_settings,
    ]);
}
