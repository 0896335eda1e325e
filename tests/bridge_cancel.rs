//! Cancellation and waking of `ExecutorFuture`.
//!
//! Covered: dropping a polled `ExecutorFuture` before its job starts cancels the job (the closure
//! and its arguments are dropped unrun, exactly once, and the future's state becomes `Cancelled`,
//! seen by a done callback added through `pool_future()`), while dropping one that was never
//! polled lets the job run; dropping it while the job runs lets the job finish and drops the
//! returned value exactly once; `tokio::time::timeout` and `tokio::select!` cancel queued work; the waker of the latest poll is the one woken, exactly once, and only when
//! the job finishes (wakes by the poll itself, the await's bounded look, are counted apart);
//! polling never blocks; no wakeup is lost when completion races with the poll.
//!
//! Jobs are kept queued deterministically: a one-worker pool is held busy by a job waiting at a
//! `Gate`, so no timing decides whether a job has started.

mod common;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use common::{
    DropCounter, Gate, HANG, OpenOnDrop, Tracked, busy_pool, current_thread_runtime, eventually,
};
use poolbridge::{ExecutorFuture, FutureError, FutureState, ThreadPoolExecutor, run_in_executor};

/// Sends the state the future has when its done callbacks run.
fn watch_state<T: 'static>(fut: &ExecutorFuture<T>) -> mpsc::Receiver<FutureState> {
    let (tx, rx) = mpsc::channel();
    fut.pool_future().add_done_callback(move |f| {
        let _ = tx.send(f.state());
    });
    rx
}

thread_local! {
    /// Set while [`poll_with`] polls on this thread. A wake then is the poll's own: an await
    /// that finds its job pending may wake its task itself for a short while, so that the
    /// runtime polls it again at once (`ExecutorFuture`, "How an await waits"). The wakers here
    /// count those apart from the wake-ups the job's end sends, which these tests are about.
    static POLLING: Cell<bool> = const { Cell::new(false) };
}

/// Whether a wake now comes from a poll on this thread (see [`POLLING`]).
fn woken_by_the_poll() -> bool {
    POLLING.with(Cell::get)
}

/// A waker that counts its wakes: those the job's end (or a cancel) sends, and apart from them
/// those of the poll itself.
#[derive(Default)]
struct CountingWaker {
    wakes: AtomicUsize,
    self_wakes: AtomicUsize,
}

impl CountingWaker {
    fn new() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    /// Wakes from outside a poll: the job's end, a cancel.
    fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }

    /// Wakes by the poll itself (the await's look).
    fn self_wakes(&self) -> usize {
        self.self_wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if woken_by_the_poll() {
            self.self_wakes.fetch_add(1, Ordering::SeqCst);
        } else {
            self.wakes.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A waker that sends a message per wake, so a test can block until it is woken.
struct SignalWaker(Mutex<mpsc::Sender<()>>);

impl SignalWaker {
    /// The waker and the receiver of its wakes.
    fn channel() -> (mpsc::Receiver<()>, Waker) {
        let (tx, rx) = mpsc::channel();
        (rx, Waker::from(Arc::new(SignalWaker(Mutex::new(tx)))))
    }
}

impl Wake for SignalWaker {
    /// Sends, unless the poll itself wakes (see [`POLLING`]).
    fn wake(self: Arc<Self>) {
        if !woken_by_the_poll() {
            let _ = self.0.lock().unwrap().send(());
        }
    }
}

fn poll_with<T>(fut: &mut ExecutorFuture<T>, waker: &Waker) -> Poll<Result<T, FutureError>> {
    POLLING.with(|polling| polling.set(true));
    let poll = Pin::new(fut).poll(&mut Context::from_waker(waker));
    POLLING.with(|polling| polling.set(false));
    poll
}

/// A job that counts its runs and owns a tracked closure capture and a tracked argument.
fn counted_job(
    pool: &ThreadPoolExecutor,
    counter: &DropCounter,
    runs: &Arc<AtomicUsize>,
) -> ExecutorFuture<()> {
    let capture = counter.track();
    let runs = Arc::clone(runs);
    run_in_executor(
        Some(pool),
        move |_arg: Tracked| {
            let _capture = &capture;
            runs.fetch_add(1, Ordering::SeqCst);
        },
        (counter.track(),),
    )
}

/// Polls `fut` once (it stays pending: its job is queued), as `timeout` or `select!` would.
fn poll_once<T>(fut: &mut ExecutorFuture<T>) {
    assert!(poll_with(fut, Waker::noop()).is_pending());
}

#[test]
fn drop_before_a_poll_lets_the_job_run() {
    // Nobody ever awaited it (`let _ = run_in_executor(..)`): the job runs, as in asyncio and
    // tokio.
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let runs = Arc::new(AtomicUsize::new(0));

    let fut = counted_job(&pool, &counter, &runs);
    let state = watch_state(&fut);
    assert_eq!(fut.pool_future().state(), FutureState::Pending);
    drop(fut);
    assert_eq!(state.try_recv(), Err(mpsc::TryRecvError::Empty));
    assert_eq!(counter.dropped(), 0, "a detached job lost its closure");

    gate.open();
    assert_eq!(state.recv_timeout(HANG), Ok(FutureState::Finished));
    pool.shutdown(true, false);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(counter.dropped(), 2);
}

#[test]
fn cancel_then_drop_before_a_poll_cancels_the_job() {
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let runs = Arc::new(AtomicUsize::new(0));

    let fut = counted_job(&pool, &counter, &runs);
    let state = watch_state(&fut);
    assert!(fut.cancel());
    drop(fut);

    // Cancelled synchronously: the callback has run and the closure (its capture and its
    // argument) is dropped, once each.
    assert_eq!(state.try_recv(), Ok(FutureState::Cancelled));
    assert_eq!(counter.created(), 2);
    assert_eq!(counter.dropped(), 2);

    gate.open();
    pool.shutdown(true, false);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "a cancelled, queued job ran"
    );
    assert_eq!(counter.dropped(), 2);
}

#[test]
fn drop_after_a_pending_poll_cancels_the_job() {
    // Same as above, but the future was polled (it holds a waker) before it is dropped.
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let runs = Arc::new(AtomicUsize::new(0));

    let mut fut = counted_job(&pool, &counter, &runs);
    let state = watch_state(&fut);
    let (_wakes, waker) = CountingWaker::new();
    assert!(poll_with(&mut fut, &waker).is_pending());
    drop(fut);

    assert_eq!(state.try_recv(), Ok(FutureState::Cancelled));
    assert_eq!(counter.dropped(), 2);
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(runs.load(Ordering::SeqCst), 0, "a dropped, queued job ran");
}

#[test]
fn dropping_many_polled_queued_futures_cancels_them_all() {
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let futs: Vec<_> = (0..100)
        .map(|_| {
            let mut fut = counted_job(&pool, &counter, &runs);
            poll_once(&mut fut);
            fut
        })
        .collect();
    // One of them is kept: proves the others were not cancelled wholesale by accident.
    let (kept_tx, kept_rx) = mpsc::channel();
    let kept = run_in_executor(Some(&pool), move || kept_tx.send(()).unwrap(), ());
    drop(futs);
    assert_eq!(counter.dropped(), 200);

    gate.open();
    assert_eq!(futures::executor::block_on(kept), Ok(()));
    kept_rx.recv_timeout(HANG).unwrap();
    pool.shutdown(true, false);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(counter.dropped(), counter.created());
}

#[test]
fn drop_while_running_lets_the_job_finish_and_drops_its_value_once() {
    let pool = ThreadPoolExecutor::new(1);
    let counter = DropCounter::new();
    let gate = OpenOnDrop(Gate::new());
    let (started_tx, started_rx) = mpsc::channel();

    let job_counter = counter.clone();
    let job_gate = gate.clone();
    let mut fut = run_in_executor(
        Some(&pool),
        move || {
            started_tx.send(()).unwrap();
            job_gate.wait();
            job_counter.track() // the value, created by the job
        },
        (),
    );
    let state = watch_state(&fut);
    let (wakes, waker) = CountingWaker::new();
    assert!(poll_with(&mut fut, &waker).is_pending());
    started_rx.recv_timeout(HANG).unwrap();
    assert_eq!(fut.pool_future().state(), FutureState::Running);
    // `wakes` and `waker` hold the counter, and the poll stored a clone of `waker`.
    assert_eq!(Arc::strong_count(&wakes), 3);
    drop(fut);
    // The waker is released at once: a dropped task is not kept alive until the job ends.
    assert_eq!(
        Arc::strong_count(&wakes),
        2,
        "a dropped ExecutorFuture kept its waker"
    );

    // Not cancelled: the job finishes, then its value is dropped, exactly once.
    assert_eq!(state.try_recv(), Err(mpsc::TryRecvError::Empty));
    gate.open();
    assert_eq!(state.recv_timeout(HANG), Ok(FutureState::Finished));
    assert!(eventually(
        || counter.created() == 1 && counter.dropped() == 1
    ));
    pool.shutdown(true, false);
    assert_eq!(counter.created(), 1);
    assert_eq!(counter.dropped(), 1);
    // Nobody awaits any more: the dropped future's waker is not woken.
    assert_eq!(
        wakes.wakes(),
        0,
        "a dropped ExecutorFuture's waker was woken"
    );
}

#[test]
fn drop_after_finish_without_polling_drops_the_value_once() {
    let pool = ThreadPoolExecutor::new(1);
    let counter = DropCounter::new();
    let job_counter = counter.clone();
    let fut = run_in_executor(Some(&pool), move || job_counter.track(), ());
    assert!(fut.pool_future().wait_timeout(HANG));
    assert_eq!(fut.pool_future().state(), FutureState::Finished);
    assert_eq!(
        counter.dropped(),
        0,
        "the value is kept until someone takes it"
    );
    drop(fut);
    assert!(eventually(|| counter.dropped() == 1));

    // And a value that was awaited belongs to the caller: dropped once, by the caller.
    let job_counter = counter.clone();
    let value = futures::executor::block_on(run_in_executor(
        Some(&pool),
        move || job_counter.track(),
        (),
    ))
    .unwrap();
    pool.shutdown(true, false);
    assert_eq!(counter.dropped(), 1);
    drop(value);
    assert_eq!(counter.dropped(), 2);
    assert_eq!(counter.created(), 2);
}

#[test]
fn tokio_timeout_cancels_queued_work() {
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let rt = current_thread_runtime();

    rt.block_on(async {
        // One queued job.
        let fut = counted_job(&pool, &counter, &runs);
        let state = watch_state(&fut);
        let res = tokio::time::timeout(Duration::from_millis(20), fut).await;
        assert!(res.is_err(), "the timeout should fire: {res:?}");
        assert_eq!(state.try_recv(), Ok(FutureState::Cancelled));
        assert_eq!(counter.dropped(), 2);

        // Fifty queued jobs under one timeout.
        let futs: Vec<_> = (0..50)
            .map(|_| counted_job(&pool, &counter, &runs))
            .collect();
        let res =
            tokio::time::timeout(Duration::from_millis(20), futures::future::join_all(futs)).await;
        assert!(res.is_err());
        assert_eq!(counter.dropped(), 102);
    });

    gate.open();
    pool.shutdown(true, false);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "work cancelled by timeout ran"
    );
    assert_eq!(counter.dropped(), counter.created());
}

#[test]
fn tokio_select_cancels_queued_work() {
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let rt = current_thread_runtime();

    let unpolled = rt.block_on(async {
        let fut = counted_job(&pool, &counter, &runs);
        let state = watch_state(&fut);
        tokio::select! {
            res = fut => panic!("a queued job completed: {res:?}"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        assert_eq!(state.try_recv(), Ok(FutureState::Cancelled));

        // `biased` with a ready branch first: the bridge future is never polled, so its drop
        // lets the job run (the documented corner); `cancel()` in the arm stops it.
        let fut = counted_job(&pool, &counter, &runs);
        let unpolled = watch_state(&fut);
        tokio::select! {
            biased;
            _ = std::future::ready(()) => {}
            res = fut => panic!("a queued job completed: {res:?}"),
        }
        assert_eq!(unpolled.try_recv(), Err(mpsc::TryRecvError::Empty));
        let mut fut = counted_job(&pool, &counter, &runs);
        let state = watch_state(&fut);
        tokio::select! {
            biased;
            _ = std::future::ready(()) => { fut.cancel(); }
            res = &mut fut => panic!("a queued job completed: {res:?}"),
        }
        drop(fut);
        assert_eq!(state.try_recv(), Ok(FutureState::Cancelled));
        assert_eq!(counter.dropped(), 4);
        unpolled
    });

    gate.open();
    pool.shutdown(true, false);
    assert_eq!(unpolled.try_recv(), Ok(FutureState::Finished));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "work cancelled by select! ran, or the unpolled job did not"
    );
}

#[test]
fn timeout_does_not_cancel_a_job_that_finishes_in_time() {
    // The counterpart of the tests above: the same code path with a long timeout runs the job.
    let pool = ThreadPoolExecutor::new(1);
    let rt = current_thread_runtime();
    let res = rt.block_on(async {
        tokio::time::timeout(HANG, run_in_executor(Some(&pool), |x: u8| x + 1, (1,))).await
    });
    assert_eq!(res.expect("no timeout"), Ok(2));
}

#[test]
fn the_waker_of_the_latest_poll_is_woken() {
    let (pool, gate) = busy_pool();
    let mut fut = run_in_executor(Some(&pool), || 99u8, ());
    let (a, waker_a) = CountingWaker::new();
    let (b, waker_b) = CountingWaker::new();

    assert!(poll_with(&mut fut, &waker_a).is_pending());
    assert!(poll_with(&mut fut, &waker_b).is_pending());
    // Not woken before the job finishes.
    assert_eq!((a.wakes(), b.wakes()), (0, 0));

    gate.open();
    assert!(eventually(|| b.wakes() >= 1), "waker B was never woken");
    pool.shutdown(true, false); // every completion is over
    assert_eq!(b.wakes(), 1, "waker B woken more than once");
    assert_eq!(a.wakes(), 0, "the replaced waker A was woken");
    assert_eq!(poll_with(&mut fut, &waker_b), Poll::Ready(Ok(99)));
}

#[test]
fn switching_back_to_an_earlier_waker_wakes_that_one() {
    // A, then B, then A again: A is the latest. Also polls A twice in a row (same waker).
    let (pool, gate) = busy_pool();
    let mut fut = run_in_executor(Some(&pool), || "done", ());
    let (a, waker_a) = CountingWaker::new();
    let (b, waker_b) = CountingWaker::new();

    assert!(poll_with(&mut fut, &waker_a).is_pending());
    assert!(poll_with(&mut fut, &waker_b).is_pending());
    assert!(poll_with(&mut fut, &waker_a).is_pending());
    assert!(poll_with(&mut fut, &waker_a.clone()).is_pending());

    gate.open();
    assert!(eventually(|| a.wakes() >= 1), "waker A was never woken");
    pool.shutdown(true, false);
    assert_eq!(a.wakes(), 1);
    assert_eq!(b.wakes(), 0);
    assert_eq!(poll_with(&mut fut, &waker_a), Poll::Ready(Ok("done")));
}

#[test]
fn polling_never_blocks() {
    let (pool, gate) = busy_pool();
    let mut fut = run_in_executor(Some(&pool), || 7u32, ());

    // If a poll blocked until the job finished, it could only return once this opener opens the
    // gate (after 5 s at the latest), and then it would return `Ready`: so `Pending` proves the
    // poll did not wait. The opener is released early once polling is over.
    let (polled_tx, polled_rx) = mpsc::channel::<()>();
    let opener_gate = gate.clone();
    let opener = thread::spawn(move || {
        let _ = polled_rx.recv_timeout(Duration::from_secs(5));
        opener_gate.open();
    });

    let (wakes, waker) = CountingWaker::new();
    for _ in 0..1000 {
        assert!(poll_with(&mut fut, &waker).is_pending());
    }
    // With fresh wakers too (each replaces the stored one).
    for _ in 0..100 {
        let (_, other) = CountingWaker::new();
        assert!(poll_with(&mut fut, &other).is_pending());
    }
    assert!(poll_with(&mut fut, &waker).is_pending());
    assert_eq!(wakes.wakes(), 0);
    // The first polls looked (woke the task themselves), on a machine with a core to spare.
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        wakes.self_wakes() > 0,
        cores > 1,
        "{} self-wakes",
        wakes.self_wakes()
    );
    // The await's look is bounded (at most 100 µs of re-polls): long after it, a poll stores the
    // waker and only waits for the job's end.
    thread::sleep(Duration::from_millis(5));
    let looked = wakes.self_wakes();
    assert!(poll_with(&mut fut, &waker).is_pending());
    assert_eq!(
        wakes.self_wakes(),
        looked,
        "a poll woke its task after the look"
    );
    polled_tx.send(()).unwrap();
    opener.join().unwrap();

    assert!(eventually(|| wakes.wakes() == 1));
    assert_eq!(poll_with(&mut fut, &waker), Poll::Ready(Ok(7)));
    // A noop waker works too.
    let mut fut = run_in_executor(Some(&pool), || 8u32, ());
    let noop = futures::task::noop_waker();
    assert!(eventually(|| fut.pool_future().done()));
    assert_eq!(poll_with(&mut fut, &noop), Poll::Ready(Ok(8)));
}

#[test]
fn no_wakeup_is_lost_when_completion_races_the_poll() {
    // Trivial jobs on a pool: the job often completes during or right after the first poll. Every
    // `Pending` must be followed by exactly one wake.
    let pool = ThreadPoolExecutor::new(2);
    let mut pendings = 0;
    for i in 0..1000u32 {
        let mut fut = run_in_executor(Some(&pool), move || i, ());
        let (wakes, waker) = SignalWaker::channel();
        match poll_with(&mut fut, &waker) {
            Poll::Ready(res) => assert_eq!(res, Ok(i)),
            Poll::Pending => {
                pendings += 1;
                assert_eq!(
                    wakes.recv_timeout(HANG),
                    Ok(()),
                    "iteration {i}: a pending future was never woken"
                );
                assert_eq!(poll_with(&mut fut, &waker), Poll::Ready(Ok(i)));
            }
        }
        assert_eq!(
            wakes.try_recv(),
            Err(mpsc::TryRecvError::Empty),
            "woken twice"
        );
    }
    // Not an assertion on speed, just that the racy path was exercised at all.
    assert!(pendings > 0, "no poll ever found a job unfinished");
}

#[test]
fn cancellation_by_someone_else_wakes_the_awaiting_task() {
    // The awaiting task must be woken when its job is cancelled elsewhere, not only when it runs.
    let (pool, gate) = busy_pool();
    let mut by_handle = run_in_executor(Some(&pool), || 1u8, ());
    let mut by_shutdown = run_in_executor(Some(&pool), || 2u8, ());
    let (a, waker_a) = CountingWaker::new();
    let (b, waker_b) = CountingWaker::new();
    assert!(poll_with(&mut by_handle, &waker_a).is_pending());
    assert!(poll_with(&mut by_shutdown, &waker_b).is_pending());

    // Through the shared handle, from another thread.
    thread::scope(|s| {
        s.spawn(|| assert!(by_handle.pool_future().cancel()));
    });
    assert!(eventually(|| a.wakes() == 1), "not woken by cancel()");
    assert_eq!(
        poll_with(&mut by_handle, &waker_a),
        Poll::Ready(Err(FutureError::Cancelled))
    );

    // By `shutdown(cancel_futures = true)` of the pool.
    pool.shutdown(false, true);
    assert!(eventually(|| b.wakes() == 1), "not woken by shutdown");
    assert_eq!(
        poll_with(&mut by_shutdown, &waker_b),
        Poll::Ready(Err(FutureError::Cancelled))
    );
    gate.open();
}

#[test]
fn drop_racing_the_worker_runs_or_cancels_each_job_exactly_once() {
    // Futures dropped right after submission, while two workers race to claim the jobs: each job
    // either runs (state Finished) or is cancelled (state Cancelled, closure dropped unrun),
    // never both and never neither; every closure is dropped exactly once (a double drop panics).
    const N: usize = 1000;
    let pool = ThreadPoolExecutor::new(2);
    let counter = DropCounter::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    for i in 0..N {
        let mut fut = counted_job(&pool, &counter, &runs);
        let (finished, cancelled) = (Arc::clone(&finished), Arc::clone(&cancelled));
        fut.pool_future()
            .add_done_callback(move |f| match f.state() {
                FutureState::Finished => {
                    finished.fetch_add(1, Ordering::SeqCst);
                }
                FutureState::Cancelled => {
                    cancelled.fetch_add(1, Ordering::SeqCst);
                }
                other => panic!("a done callback saw {other:?}"),
            });
        // Vary the window between submission and drop, so that workers sometimes win.
        // Polled: only a polled future cancels its job when dropped. (A job that finished by
        // now is ready: the outcome is taken and the drop has nothing to cancel.)
        let _ = poll_with(&mut fut, Waker::noop());
        for _ in 0..(i % 7) * 300 {
            std::hint::spin_loop();
        }
        drop(fut);
    }
    pool.shutdown(true, false);
    let (runs, finished, cancelled) = (
        runs.load(Ordering::SeqCst),
        finished.load(Ordering::SeqCst),
        cancelled.load(Ordering::SeqCst),
    );
    println!("{N} dropped at once: {runs} ran, {cancelled} cancelled");
    assert_eq!(finished + cancelled, N, "every job ended once");
    assert_eq!(runs, finished, "a job ran iff it finished");
    assert_eq!(counter.created(), 2 * N);
    assert_eq!(counter.dropped(), 2 * N);
}
