//! `poolbridge::progress()` inside a thread-pool job: `PoolFuture::progress` and the coalesced
//! `progress_updates` stream.

use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use futures::executor::block_on_stream;
use poolbridge::{FutureState, ProgressUpdates, ThreadPoolExecutor};

const HANG: Duration = Duration::from_secs(20);

/// Collects a stream on another thread, sending each item as it comes (and `None` at the end).
fn forward(updates: ProgressUpdates) -> mpsc::Receiver<Option<(u64, u64)>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for update in block_on_stream(updates) {
            let _ = tx.send(Some(update));
        }
        let _ = tx.send(None);
    });
    rx
}

#[test]
fn progress_is_visible_while_the_job_runs_and_stays_after() {
    let pool = ThreadPoolExecutor::new(1);
    let (release, held) = mpsc::channel::<()>();
    let fut = pool.submit(move || {
        poolbridge::progress(5, 10);
        held.recv().unwrap();
        poolbridge::progress(10, 10);
    });
    let start = Instant::now();
    while fut.progress() != Some((5, 10)) {
        assert!(
            start.elapsed() < HANG,
            "the running job's progress never showed"
        );
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(fut.state(), FutureState::Running);
    release.send(()).unwrap();
    fut.wait();
    assert_eq!(
        fut.progress(),
        Some((10, 10)),
        "the last value stays after the end"
    );
}

#[test]
fn a_job_that_never_reports_has_no_progress_and_an_empty_stream() {
    let pool = ThreadPoolExecutor::new(1);
    let fut = pool.submit(|| 7);
    let updates = fut.progress_updates();
    assert_eq!(fut.result(), Ok(7));
    assert_eq!(fut.progress(), None);
    assert_eq!(block_on_stream(updates).count(), 0);
    assert_eq!(block_on_stream(fut.progress_updates()).count(), 0);
}

#[test]
fn the_stream_wakes_on_each_change_while_the_job_runs() {
    // The job reports, then waits until the stream has delivered that value: a stream woken
    // only at the job's end would never deliver it, and the test would time out.
    let pool = ThreadPoolExecutor::new(1);
    let (ack, acked) = mpsc::channel::<()>();
    let fut = pool.submit(move || {
        for i in 1..=3 {
            poolbridge::progress(i, 3);
            acked
                .recv_timeout(HANG)
                .expect("the stream delivered the value");
        }
    });
    let rx = forward(fut.progress_updates());
    for i in 1..=3 {
        let update = rx.recv_timeout(HANG).expect("an update while the job runs");
        assert_eq!(update, Some((i, 3)));
        ack.send(()).unwrap();
    }
    assert_eq!(rx.recv_timeout(HANG).unwrap(), None, "it ends with the job");
    assert!(fut.done());
}

#[test]
fn a_million_reports_arrive_coalesced_in_order_with_the_last_one() {
    let pool = ThreadPoolExecutor::new(2);
    const N: u64 = 1_000_000;
    let (go, gate) = mpsc::channel::<()>();
    let fut = pool.submit(move || {
        gate.recv().unwrap();
        for i in 1..=N {
            poolbridge::progress(i, N);
        }
        N
    });
    // Made while the job waits: the stream is there before the first report.
    let rx = forward(fut.progress_updates());
    go.send(()).unwrap();
    let mut seen = Vec::new();
    while let Some(update) = rx.recv_timeout(HANG).unwrap() {
        seen.push(update);
    }
    assert!(fut.done(), "the stream ends when the job ends");
    assert_eq!(
        seen.last(),
        Some(&(N, N)),
        "the last value is always delivered"
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "in order, never an older value after a newer one"
    );
    assert!(
        (seen.len() as u64) < N / 10,
        "coalesced: {} items for {N} reports",
        seen.len()
    );
}

#[test]
fn a_stream_of_a_queued_job_sees_it_run() {
    let pool = ThreadPoolExecutor::new(1);
    let (release, held) = mpsc::channel::<()>();
    let busy = pool.submit(move || held.recv().unwrap());
    let queued = pool.submit(|| poolbridge::progress(1, 1));
    let rx = forward(queued.progress_updates());
    assert_eq!(queued.state(), FutureState::Pending);
    release.send(()).unwrap();
    assert_eq!(rx.recv_timeout(HANG).unwrap(), Some((1, 1)));
    assert_eq!(rx.recv_timeout(HANG).unwrap(), None);
    busy.join().unwrap();
}

#[test]
fn a_stream_of_a_cancelled_job_ends() {
    let pool = ThreadPoolExecutor::new(1);
    let (release, held) = mpsc::channel::<()>();
    let busy = pool.submit(move || held.recv().unwrap());
    let queued = pool.submit(|| poolbridge::progress(1, 1));
    let rx = forward(queued.progress_updates());
    assert!(queued.cancel());
    assert_eq!(rx.recv_timeout(HANG).unwrap(), None);
    assert_eq!(queued.progress(), None);
    release.send(()).unwrap();
    busy.join().unwrap();
}

#[test]
fn progress_outside_a_job_and_in_a_nested_job_reports_where_it_should() {
    poolbridge::progress(1, 2); // nothing to report to: no effect, no panic
    let pool = Arc::new(ThreadPoolExecutor::new(1));
    let inner_pool = Arc::clone(&pool);
    let outer = pool.submit(move || {
        poolbridge::progress(1, 4);
        // Run inline on this worker (its only one): its reports are its own.
        let inner = inner_pool.submit(|| poolbridge::progress(9, 9));
        inner.wait();
        poolbridge::progress(2, 4);
        inner
    });
    outer.wait();
    assert_eq!(outer.progress(), Some((2, 4)));
    let inner = outer.join().unwrap();
    assert_eq!(inner.progress(), Some((9, 9)));
}

#[test]
fn many_jobs_on_one_thread_never_share_a_cell() {
    // Jobs on one worker reuse allocations (and so identities): each sees only its own value.
    let pool = ThreadPoolExecutor::new(1);
    for round in 0..200u64 {
        let fut = pool.submit(move || {
            if round % 2 == 0 {
                poolbridge::progress(round, 200);
            }
        });
        fut.wait();
        let expected = (round % 2 == 0).then_some((round, 200));
        assert_eq!(fut.progress(), expected, "round {round}");
    }
}

#[test]
fn two_streams_of_one_job_both_follow_it() {
    let pool = ThreadPoolExecutor::new(1);
    let (ack, acked) = mpsc::channel::<()>();
    let fut = pool.submit(move || {
        for i in 1..=3 {
            poolbridge::progress(i, 3);
            // Both streams delivered this value before the next one.
            acked
                .recv_timeout(HANG)
                .expect("the first stream delivered the value");
            acked
                .recv_timeout(HANG)
                .expect("the second stream delivered the value");
        }
    });
    let first = forward(fut.progress_updates());
    let second = forward(fut.progress_updates());
    for i in 1..=3 {
        assert_eq!(first.recv_timeout(HANG).unwrap(), Some((i, 3)));
        ack.send(()).unwrap();
        assert_eq!(second.recv_timeout(HANG).unwrap(), Some((i, 3)));
        ack.send(()).unwrap();
    }
    assert_eq!(first.recv_timeout(HANG).unwrap(), None);
    assert_eq!(second.recv_timeout(HANG).unwrap(), None);
}
