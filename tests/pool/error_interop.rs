//! `FutureError` with the rest of the ecosystem (issue 13, items 4, 9 and 10):
//!
//! * `?` converts it into `std::io::Error` (as tokio's `JoinError`), with a sensible kind and the
//!   `FutureError` kept as the inner error;
//! * a job's panic payload is kept and can be taken once, by whichever clone of the error asks
//!   first, and re-raised with `resume_unwind` (tokio's `JoinError::into_panic`), while the error
//!   stays `Clone`, `PartialEq` and `Hash`;
//! * a payload nobody takes is dropped under a guard, even when its own `Drop` panics;
//! * an error chain (`anyhow`'s `{:#}`) prints the panic message once, not twice.

mod common;

use std::collections::HashSet;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{BadDrop, HANG};
use poolbridge::{
    BrokenReason, FutureError, PanicError, Promise, ThreadPoolExecutor, spawn_blocking,
};

/// A panic payload that is neither `&str` nor `String`, and counts its drops.
struct Payload {
    code: u32,
    drops: Arc<AtomicUsize>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn panicked_with(payload: Payload) -> FutureError {
    let pool = ThreadPoolExecutor::new(1);
    pool.submit(move || -> u8 { panic::panic_any(payload) })
        .join()
        .unwrap_err()
}

#[test]
fn question_mark_turns_future_errors_into_io_errors() {
    fn read(pool: &ThreadPoolExecutor, path: &'static str) -> io::Result<usize> {
        let text = pool
            .submit(move || std::fs::read_to_string(path))
            .join()??;
        Ok(text.len())
    }
    fn fail(pool: &ThreadPoolExecutor) -> io::Result<usize> {
        let n = pool.submit(|| -> usize { panic!("parser bug") }).join()?;
        Ok(n)
    }
    let pool = ThreadPoolExecutor::new(1);
    assert!(read(&pool, "Cargo.toml").unwrap() > 0);
    let missing = read(&pool, "no/such/file").unwrap_err();
    assert_eq!(
        missing.kind(),
        io::ErrorKind::NotFound,
        "the job's own error"
    );
    let panicked = fail(&pool).unwrap_err();
    assert_eq!(panicked.kind(), io::ErrorKind::Other);
    assert!(panicked.to_string().contains("parser bug"), "{panicked}");
    let inner = panicked.get_ref().unwrap().downcast_ref::<FutureError>();
    assert!(inner.is_some_and(FutureError::is_panic), "{inner:?}");

    let kinds = [
        (FutureError::Timeout, io::ErrorKind::TimedOut),
        (FutureError::Cancelled, io::ErrorKind::Other),
        (FutureError::Shutdown, io::ErrorKind::Other),
        (
            FutureError::BrokenPool(BrokenReason::Other("x".into())),
            io::ErrorKind::Other,
        ),
        (
            FutureError::NotRegistered { job: "x".into() },
            io::ErrorKind::Other,
        ),
        (FutureError::Ipc("x".into()), io::ErrorKind::InvalidData),
        (FutureError::Unavailable("x".into()), io::ErrorKind::Other),
    ];
    for (err, kind) in kinds {
        let text = err.to_string();
        let io_err = io::Error::from(err.clone());
        assert_eq!(io_err.kind(), kind, "{err:?}");
        assert_eq!(io_err.to_string(), text);
        let inner = io_err
            .into_inner()
            .unwrap()
            .downcast::<FutureError>()
            .unwrap();
        assert_eq!(*inner, err);
    }
}

#[test]
fn awaited_join_errors_convert_too() {
    async fn run() -> io::Result<u32> {
        let value = spawn_blocking(|| 5).await?;
        let _: () = spawn_blocking(|| panic!("in the job")).await?;
        Ok(value)
    }
    let err = futures::executor::block_on(run()).unwrap_err();
    assert!(err.to_string().contains("in the job"), "{err}");
}

#[test]
fn the_payload_is_kept_and_taken_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let err = panicked_with(Payload {
        code: 7,
        drops: Arc::clone(&drops),
    });
    let copy = err.clone();
    assert_eq!(copy, err);
    let payload = err
        .as_panic()
        .unwrap()
        .take_payload()
        .expect("the payload is kept");
    assert_eq!(payload.downcast_ref::<Payload>().map(|p| p.code), Some(7));
    assert!(
        copy.as_panic().unwrap().take_payload().is_none(),
        "a clone shares the one payload: it can be taken once"
    );
    // Still equal and hashable by message after the take.
    assert_eq!(copy, err);
    let set: HashSet<FutureError> = [err.clone(), copy.clone()].into_iter().collect();
    assert_eq!(set.len(), 1);
    // Once taken, into_panic stands in with the message.
    let stand_in = copy.into_panic();
    assert_eq!(
        stand_in.downcast_ref::<String>().map(String::as_str),
        Some("Box<dyn Any> (a panic payload that is not a string)")
    );
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(payload);
    drop(err);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once");
}

#[test]
fn into_panic_resumes_the_original_panic() {
    let err = panicked_with(Payload {
        code: 42,
        drops: Arc::default(),
    });
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        panic::resume_unwind(err.into_panic());
    }))
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<Payload>().map(|p| p.code), Some(42));

    let pool = ThreadPoolExecutor::new(1);
    let err = pool
        .submit(|| -> u8 { panic!("text payload") })
        .join()
        .unwrap_err();
    let payload = err.try_into_panic().unwrap();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"text payload"));
    assert_eq!(
        FutureError::Shutdown.try_into_panic().unwrap_err(),
        FutureError::Shutdown
    );
    let not_a_panic = panic::catch_unwind(|| FutureError::Cancelled.into_panic()).unwrap_err();
    let message = not_a_panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("no panic"), "{message}");
}

#[test]
fn an_untaken_payload_is_dropped_with_the_last_clone() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = ThreadPoolExecutor::new(1);
    let payload = Payload {
        code: 1,
        drops: Arc::clone(&drops),
    };
    let fut = pool.submit(move || -> u8 { panic::panic_any(payload) });
    let first = fut.result_timeout(HANG).unwrap_err();
    let second = fut.exception().unwrap();
    drop(first);
    drop(second);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "the future still holds it");
    drop(fut);
    drop(pool); // the worker's reference to the job is gone too once the pool has shut down
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_payload_whose_drop_panics_is_dropped_under_a_guard() {
    let pool = ThreadPoolExecutor::new(1);
    let err = pool
        .submit(|| -> u8 { panic::panic_any(BadDrop) })
        .join()
        .unwrap_err();
    assert!(err.is_panic());
    // The last reference to the payload goes here, on this thread: its drop panics, and that
    // panic must not escape.
    let outcome = panic::catch_unwind(AssertUnwindSafe(move || drop(err)));
    assert!(outcome.is_ok(), "the payload's panicking drop escaped");
    // The same through from_panic.
    let caught = panic::catch_unwind(|| panic::panic_any(BadDrop)).unwrap_err();
    let err = PanicError::from_panic(caught);
    assert!(panic::catch_unwind(AssertUnwindSafe(move || drop(err))).is_ok());
}

#[test]
fn from_panic_completes_a_promise_with_a_caught_panic() {
    let (promise, fut) = Promise::<u8>::new();
    let n = std::hint::black_box(1);
    let caught = panic::catch_unwind(|| -> u8 { panic!("bridged {n}") }).unwrap_err();
    promise
        .set_error(FutureError::Panicked(PanicError::from_panic(caught)))
        .unwrap();
    let err = fut.join().unwrap_err();
    assert_eq!(err.as_panic().unwrap().message(), "bridged 1");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "bridged 1");
}

// The bug of item 10: `{:#}` printed "the job panicked: boom: panicked: boom".
#[test]
fn an_error_chain_prints_the_panic_message_once() {
    let pool = ThreadPoolExecutor::new(1);
    let err = pool.submit(|| -> u8 { panic!("boom") }).join().unwrap_err();
    assert!(std::error::Error::source(&err).is_none());
    let chain = format!("{:#}", anyhow::Error::from(err.clone()));
    assert_eq!(chain, "the job panicked: boom");
    assert_eq!(chain.matches("boom").count(), 1, "{chain}");
    let chain = format!("{:#}", anyhow::Error::from(err).context("hashing a.bin"));
    assert_eq!(chain, "hashing a.bin: the job panicked: boom");
    // Through io::Error as well.
    let io_err = io::Error::from(pool.submit(|| -> u8 { panic!("boom") }).join().unwrap_err());
    let chain = format!("{:#}", anyhow::Error::from(io_err));
    assert_eq!(chain.matches("boom").count(), 1, "{chain}");
}
