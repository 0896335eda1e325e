//! The async bridge is runtime-agnostic: the same test bodies, each written once as an
//! `async fn`, run under tokio (current-thread and multi-thread), `futures::executor::block_on`
//! and `smol::block_on`.
//!
//! Covered: awaiting `run_in_executor` with `Some(&pool)` and `None`, `to_thread`, `wrap_future`
//! and `pool_future.await` (`IntoFuture`); errors come through (a panic is
//! `Err(Panicked)`, a pool shut down is `Err(Shutdown)`); 100 concurrent awaits all woken; the job
//! is submitted at the call, not at the first poll; `into_pool_future` keeps the job; `cancel()`
//! of a pending job; a future first polled with another waker, then awaited, wakes its awaiter.
//! Plus static assertions that `ExecutorFuture` is `Send` and `Unpin`, and futures awaited in
//! `tokio::spawn`ed tasks of a multi-thread runtime.
//!
//! Every runtime runs the body on its own thread under a watchdog, so a lost wakeup fails the
//! test after `common::HANG` instead of hanging the suite.

mod common;

use std::cell::Cell;
use std::marker::PhantomPinned;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{
    DropCounter, Gate, HANG, OpenOnDrop, current_thread_runtime, hold_every_worker,
    multi_thread_runtime, run_with_watchdog, thread_name,
};
use poolbridge::thread::DEFAULT_THREAD_NAME_PREFIX;
use poolbridge::{
    ExecutorFuture, FutureError, FutureState, ThreadPoolExecutor, run_in_executor, to_thread,
    wrap_future,
};

// ---------------------------------------------------------------------------------------------
// Static assertions: `ExecutorFuture<T>` is `Send` for any `T: Send` (even `!Sync`) and `Unpin`
// for any `T` (even `!Unpin`). A regression here is a compile error of this test binary.

const fn assert_send<T: Send>() {}
const fn assert_unpin<T: Unpin>() {}

const _: () = {
    assert_send::<ExecutorFuture<u64>>();
    assert_send::<ExecutorFuture<Vec<String>>>();
    assert_send::<ExecutorFuture<Cell<u8>>>(); // Send but not Sync
    assert_unpin::<ExecutorFuture<u64>>();
    assert_unpin::<ExecutorFuture<PhantomPinned>>(); // !Unpin value, still an Unpin future
};

// ---------------------------------------------------------------------------------------------
// The runtimes.

/// Runs `f` on a fresh thread and fails the test if it does not return within `HANG` (a lost
/// wakeup shows up as a hang of the executor). A panic inside `f` is re-raised here.
fn watchdog(f: impl FnOnce() + Send + 'static) {
    run_with_watchdog(
        HANG,
        &format!("the async test body did not finish within {HANG:?} (lost wakeup?)"),
        f,
    );
}

/// Generates, for every listed `async fn` body, one `#[test]` per runtime.
macro_rules! on_every_runtime {
    ($($body:ident),* $(,)?) => {
        mod tokio_current_thread {
            $(
                #[test]
                fn $body() {
                    super::watchdog(|| {
                        super::current_thread_runtime().block_on(super::$body())
                    });
                }
            )*
        }

        mod tokio_multi_thread {
            $(
                #[test]
                fn $body() {
                    super::watchdog(|| {
                        super::multi_thread_runtime(2).block_on(super::$body())
                    });
                }
            )*
        }

        mod futures_block_on {
            $(
                #[test]
                fn $body() {
                    super::watchdog(|| futures::executor::block_on(super::$body()));
                }
            )*
        }

        mod smol_block_on {
            $(
                #[test]
                fn $body() {
                    super::watchdog(|| smol::block_on(super::$body()));
                }
            )*
        }
    };
}

on_every_runtime!(
    run_in_executor_on_a_pool,
    run_in_executor_on_the_default_executor,
    to_thread_runs_on_the_default_executor,
    wrap_future_and_into_future,
    panic_comes_through_as_panicked,
    shutdown_pool_comes_through_as_shutdown,
    many_concurrent_awaits_are_all_woken,
    job_is_submitted_at_the_call_not_at_first_poll,
    into_pool_future_keeps_the_job,
    cancel_a_pending_job,
    awaited_after_a_poll_with_another_waker,
);

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A pool of one worker (its thread named `busy_0`), held busy by a job waiting at the returned
/// gate. Returns once that job is running, so every job submitted afterwards stays `Pending`
/// until the gate opens.
fn busy_pool() -> (ThreadPoolExecutor, OpenOnDrop) {
    hold_every_worker(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .thread_name_prefix("busy")
            .build()
            .unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------
// The bodies.

async fn run_in_executor_on_a_pool() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("bridge-rt")
        .build()
        .unwrap();
    let sum = run_in_executor(Some(&pool), |a: u64, b: u64| a + b, (1, 2)).await;
    assert_eq!(sum, Ok(3));

    // The job ran on one of the pool's threads, not on the polling thread.
    let name = run_in_executor(Some(&pool), thread_name, ()).await.unwrap();
    assert!(name.starts_with("bridge-rt_"), "job ran on thread {name:?}");

    // A value that is moved, not cloned, comes out intact.
    let v = run_in_executor(Some(&pool), |n: usize| vec![7u8; n], (100_000,)).await;
    assert_eq!(v.unwrap(), vec![7u8; 100_000]);
}

async fn run_in_executor_on_the_default_executor() {
    let text = run_in_executor(None, std::fs::read_to_string, ("Cargo.toml",)).await;
    assert!(text.unwrap().unwrap().contains("name = \"poolbridge\""));

    let name = run_in_executor(None, thread_name, ()).await.unwrap();
    assert!(
        name.starts_with(&format!("{DEFAULT_THREAD_NAME_PREFIX}_")),
        "a None job ran on thread {name:?}"
    );
}

async fn to_thread_runs_on_the_default_executor() {
    assert_eq!(
        to_thread(|| (1..=10u64).product::<u64>()).await,
        Ok(3_628_800)
    );
    let name = to_thread(thread_name).await.unwrap();
    assert!(
        name.starts_with(&format!("{DEFAULT_THREAD_NAME_PREFIX}_")),
        "a to_thread job ran on thread {name:?}"
    );
    assert_ne!(name, thread_name());
}

async fn wrap_future_and_into_future() {
    let pool = ThreadPoolExecutor::new(2);
    let fut = pool.submit(|| String::from("wrapped"));
    assert_eq!(wrap_future(fut).await, Ok(String::from("wrapped")));

    // `PoolFuture: IntoFuture`, so a plain handle can be awaited directly.
    assert_eq!(pool.submit(|| 6 * 7).await, Ok(42));

    // Awaiting a handle whose job has already finished.
    let done = pool.submit(|| 5u8);
    done.wait();
    assert_eq!(done.await, Ok(5));

    // And one whose job is still queued when first polled.
    let (pool1, gate) = busy_pool();
    let queued = pool1.submit(|| "late");
    assert_eq!(queued.state(), FutureState::Pending);
    let queued = wrap_future(queued);
    assert_eq!(queued.pool_future().state(), FutureState::Pending);
    gate.open();
    assert_eq!(queued.await, Ok("late"));
}

async fn panic_comes_through_as_panicked() {
    let pool = ThreadPoolExecutor::new(1);
    let res = run_in_executor(Some(&pool), || -> u32 { panic!("boom in the pool") }, ()).await;
    match res {
        Err(FutureError::Panicked(p)) => assert!(
            p.message().contains("boom in the pool"),
            "panic message: {:?}",
            p.message()
        ),
        other => panic!("expected Err(Panicked), got {other:?}"),
    }
    // The worker survived and the pool goes on.
    assert_eq!(run_in_executor(Some(&pool), || 1u8, ()).await, Ok(1));

    // The same through to_thread and through an awaited PoolFuture.
    let res = to_thread(|| -> () { panic!("boom on the default executor") }).await;
    assert!(
        matches!(res, Err(FutureError::Panicked(ref p)) if p.message().contains("boom on the default")),
        "{res:?}"
    );
    let res = pool.submit(|| -> u8 { panic!("boom awaited") }).await;
    assert!(matches!(res, Err(FutureError::Panicked(_))), "{res:?}");
}

async fn shutdown_pool_comes_through_as_shutdown() {
    let pool = ThreadPoolExecutor::new(2);
    assert_eq!(run_in_executor(Some(&pool), || 1, ()).await, Ok(1));
    pool.shutdown(true, false);

    let counter = DropCounter::new();
    let tracked = counter.track();
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = Arc::clone(&ran);
    let res = run_in_executor(
        Some(&pool),
        move || {
            let _keep = tracked;
            ran2.fetch_add(1, Ordering::SeqCst);
        },
        (),
    )
    .await;
    assert_eq!(res, Err(FutureError::Shutdown));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a job ran after shutdown");
    assert_eq!(counter.dropped(), 1, "the refused closure was not dropped");

    assert_eq!(pool.submit(|| 2).await, Err(FutureError::Shutdown));
}

async fn many_concurrent_awaits_are_all_woken() {
    const N: usize = 100;
    let pool = ThreadPoolExecutor::new(4);
    // The jobs wait at a gate that opens only after every future was polled once, so each of
    // the 100 results must arrive through a stored waker.
    let gate = Gate::new();
    let futs: Vec<_> = (0..N)
        .map(|i| {
            let gate = gate.clone();
            run_in_executor(
                Some(&pool),
                move |x: usize| {
                    gate.wait();
                    x * 2
                },
                (i,),
            )
        })
        .collect();
    let opener = async {
        // `join` polls this after the first poll of `join_all`, which polled all 100 futures.
        gate.open();
    };
    let (results, ()) = futures::future::join(futures::future::join_all(futs), opener).await;
    let expected: Vec<_> = (0..N).map(|i| Ok(i * 2)).collect();
    assert_eq!(results, expected);
}

async fn job_is_submitted_at_the_call_not_at_first_poll() {
    let pool = ThreadPoolExecutor::new(1);
    let (tx, rx) = mpsc::channel();
    let fut = run_in_executor(Some(&pool), move |x: u32| tx.send(x).unwrap(), (17,));
    // Never polled: the job runs anyway (blocking here is fine, the job runs on the pool).
    assert_eq!(rx.recv_timeout(HANG), Ok(17));
    assert!(fut.pool_future().wait_timeout(HANG));
    assert_eq!(fut.pool_future().state(), FutureState::Finished);
    drop(fut);

    // Same for the default executor, and for a future that is awaited afterwards.
    let (tx, rx) = mpsc::channel();
    let fut = to_thread(move || {
        tx.send("ran").unwrap();
        "value"
    });
    assert_eq!(rx.recv_timeout(HANG), Ok("ran"));
    assert_eq!(fut.await, Ok("value"));
}

async fn into_pool_future_keeps_the_job() {
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let (tx, rx) = mpsc::channel();

    // Dropping the handle returned by into_pool_future does not cancel the queued job.
    let tracked = counter.track();
    let fut = run_in_executor(
        Some(&pool),
        move |x: u32| {
            let _keep = tracked;
            tx.send(x).unwrap();
        },
        (1,),
    );
    let handle = fut.into_pool_future();
    assert_eq!(handle.state(), FutureState::Pending);
    drop(handle);

    // A handle from into_pool_future can still be awaited (or joined).
    let second = run_in_executor(Some(&pool), |x: u32| x + 1, (41,)).into_pool_future();
    assert_eq!(second.state(), FutureState::Pending);

    gate.open();
    assert_eq!(rx.recv_timeout(HANG), Ok(1), "the kept job did not run");
    assert_eq!(second.await, Ok(42));
    counter.wait_all_dropped();
    assert_eq!(counter.created(), 1);
}

async fn cancel_a_pending_job() {
    let (pool, gate) = busy_pool();
    let counter = DropCounter::new();
    let ran = Arc::new(AtomicUsize::new(0));

    let tracked = counter.track();
    let ran2 = Arc::clone(&ran);
    let fut = run_in_executor(
        Some(&pool),
        move || {
            let _keep = tracked;
            ran2.fetch_add(1, Ordering::SeqCst);
        },
        (),
    );
    assert_eq!(fut.pool_future().state(), FutureState::Pending);
    assert!(fut.cancel(), "cancel() of a pending job must succeed");
    assert!(
        fut.cancel(),
        "cancel() of a cancelled job returns true again"
    );
    assert_eq!(fut.pool_future().state(), FutureState::Cancelled);
    assert_eq!(
        counter.dropped(),
        1,
        "the cancelled closure is dropped at once"
    );
    assert_eq!(fut.await, Err(FutureError::Cancelled));

    // cancel() of a running job fails and the job finishes normally.
    let (started_tx, started_rx) = mpsc::channel();
    let running = run_in_executor(
        Some(&pool),
        move || {
            started_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(20));
            "finished"
        },
        (),
    );
    gate.open();
    started_rx.recv_timeout(HANG).unwrap();
    assert!(!running.cancel(), "cancel() of a running job must fail");
    assert_eq!(running.await, Ok("finished"));

    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a cancelled job ran");
    assert_eq!(counter.dropped(), 1);
}

#[test]
fn tokio_spawned_tasks_await_on_a_multi_thread_runtime() {
    // `ExecutorFuture: Send` in practice: awaited inside `tokio::spawn`ed tasks, which may move
    // between the runtime's threads between polls.
    watchdog(|| {
        let rt = multi_thread_runtime(2);
        let pool = Arc::new(ThreadPoolExecutor::new(3));
        let sum = rt.block_on(async {
            let tasks: Vec<_> = (0..50u64)
                .map(|i| {
                    let pool = Arc::clone(&pool);
                    tokio::spawn(async move {
                        let fut = run_in_executor(Some(&pool), |x: u64| x * x, (i,));
                        tokio::task::yield_now().await;
                        fut.await.unwrap()
                    })
                })
                .collect();
            let mut sum = 0;
            for task in tasks {
                sum += task.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, (0..50u64).map(|i| i * i).sum::<u64>());
    });
}

async fn awaited_after_a_poll_with_another_waker() {
    // First polled with a throwaway (noop) waker, then awaited by this task: the task's waker,
    // the latest, must be the one woken, or the await never ends.
    use futures::FutureExt;
    let (pool, gate) = busy_pool();
    let mut fut = run_in_executor(Some(&pool), || "moved on", ());
    assert!((&mut fut).now_or_never().is_none());
    let opener = async {
        // Polled after `fut` was polled by this task.
        gate.open();
    };
    let (res, ()) = futures::future::join(fut, opener).await;
    assert_eq!(res, Ok("moved on"));
}
