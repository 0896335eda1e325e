//! Issue 17, item 4: a timeout too large for `Instant` (`Duration::MAX`) means "no limit" (or
//! "wait as long as needed") wherever a user passes one; it never panics with "overflow when
//! adding duration to instant". `tests/result.rs` covers the future's own timed waits; the
//! process pool's limits are in `tests/process_crash.rs` (`a_timeout_of_duration_max_is_no_limit`)
//! and `tests/process_controls.rs`.

use std::time::Duration;

use poolbridge::{MapOptions, ReturnWhen, ThreadPoolExecutor, as_completed_timeout, wait_timeout};

#[test]
fn wait_timeout_of_duration_max_waits_for_the_futures() {
    let pool = ThreadPoolExecutor::new(2);
    let futures: Vec<_> = (0..3)
        .map(|i| {
            pool.submit(move || {
                std::thread::sleep(Duration::from_millis(10));
                i
            })
        })
        .collect();
    let outcome = wait_timeout(&futures, Duration::MAX, ReturnWhen::AllCompleted);
    assert_eq!(outcome.done.len(), 3);
    assert!(outcome.not_done.is_empty());
}

#[test]
fn as_completed_timeout_of_duration_max_yields_every_future() {
    let pool = ThreadPoolExecutor::new(2);
    let futures: Vec<_> = (0..3).map(|i| pool.submit(move || i)).collect();
    let mut got: Vec<i32> = as_completed_timeout(&futures, Duration::MAX)
        .map(|f| f.expect("no timeout").result().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2]);
}

#[test]
fn a_map_timeout_of_duration_max_is_no_limit() {
    let pool = ThreadPoolExecutor::new(2);
    let options = MapOptions::default().timeout(Duration::MAX);
    let results: Vec<_> = pool.map_with(|x: u32| x * 2, [1, 2, 3], options).collect();
    assert_eq!(results, [Ok(2), Ok(4), Ok(6)]);
}

#[test]
fn a_keep_alive_and_shutdown_timeout_of_duration_max() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .keep_alive(Some(Duration::MAX))
        .build()
        .unwrap();
    assert_eq!(pool.submit(|| 7).join(), Ok(7));
    assert!(pool.shutdown_timeout(Duration::MAX), "everything ended");
}
