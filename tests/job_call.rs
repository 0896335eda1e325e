//! One call shape (issue 22, item 4): a `#[poolbridge::job]` fn stays callable as a plain fn,
//! and its handle goes wherever a function and its arguments' tuple go on threads
//! (`run_in_executor`, `ThreadPoolExecutor::submit_call`), as it goes to the process pool's
//! `submit(job, args)`. No process pool is started here: the handles run in this process.

#![cfg(feature = "process")]

use poolbridge::process::Job;
use poolbridge::{ThreadPoolExecutor, run_in_executor};

#[poolbridge::job]
fn ping() -> String {
    "pong".to_string()
}

#[poolbridge::job]
fn double(n: u64) -> u64 {
    n * 2
}

/// A thumbnail's stand-in: three arguments, one of them owned, and a `Result`.
#[poolbridge::job]
fn thumbnail(path: String, width: u32, keep_ratio: bool) -> Result<String, String> {
    if width == 0 {
        return Err(format!("{path}: width 0"));
    }
    Ok(format!(
        "{path}@{width}{}",
        if keep_ratio { "" } else { "!" }
    ))
}

#[poolbridge::job]
fn record(mut log: Vec<u8>, byte: u8) {
    log.push(byte);
    assert_eq!(log.last(), Some(&byte));
}

fn digest(data: Vec<u8>, rounds: u32) -> u64 {
    data.iter()
        .fold(u64::from(rounds), |h, &b| h.wrapping_mul(31) + u64::from(b))
}

#[test]
fn a_job_fn_is_still_callable_as_a_fn() {
    assert_eq!(ping(), "pong");
    assert_eq!(double(21), 42);
    assert_eq!(thumbnail("a.png".into(), 128, true), Ok("a.png@128".into()));
    assert_eq!(
        thumbnail("a.png".into(), 0, false),
        Err("a.png: width 0".into())
    );
    record(vec![1], 2); // no output
    // As a fn pointer too, for code that stores functions.
    let f: fn(u64) -> u64 = *double;
    assert_eq!(f(4), 8);
    // And the handle is still the job: its name and `Job::call`.
    assert!(double.name().ends_with("::double"));
    assert_eq!(Job::call(&double, (5,)), 10);
}

#[test]
fn one_call_shape_on_threads_for_fns_closures_and_job_handles() {
    let pool = ThreadPoolExecutor::new(2);
    // Python: pool.submit(digest, data, 10)
    let data = vec![1u8, 2, 3];
    assert_eq!(
        pool.submit_call(digest, (data.clone(), 10)).join(),
        Ok(digest(data, 10))
    );
    assert_eq!(
        pool.submit_call(|a: u64, b: u64| a + b, (1, 2)).join(),
        Ok(3)
    );
    assert_eq!(pool.submit_call(ping, ()).join(), Ok("pong".to_string()));
    assert_eq!(
        pool.submit_call(thumbnail, ("b.png".to_string(), 64, false))
            .join(),
        Ok(Ok("b.png@64!".to_string()))
    );
    futures::executor::block_on(async {
        assert_eq!(run_in_executor(Some(&pool), double, (8,)).await, Ok(16));
        assert_eq!(run_in_executor(None, digest, (vec![7], 1)).await, Ok(38));
    });
}
