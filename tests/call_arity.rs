//! `Call<A>`: `run_in_executor` accepts any `FnOnce` of 0 to 8 arguments with the arguments as a
//! tuple, as asyncio's `run_in_executor(executor, func, *args)` does.
//!
//! Covered: every arity 0..=8 with arguments of distinct types (so a swapped or dropped argument
//! changes the result), plain `fn` items, std functions and methods by path
//! (`std::fs::read_to_string`, `str::len`), closures (capturing and not), generic functions
//! (turbofish and inferred), boxed `FnOnce`, and arguments moved into the job and dropped exactly
//! once, whether the job runs or is refused.

mod common;

use std::fmt::Display;
use std::ops::Add;

use common::DropCounter;
use futures::executor::block_on;
use poolbridge::{Call, FutureError, ThreadPoolExecutor, run_in_executor};

fn zero() -> &'static str {
    "zero"
}

fn one(a: u8) -> String {
    format!("{a}")
}

fn two(a: u8, b: i16) -> String {
    format!("{a} {b}")
}

fn three(a: u8, b: i16, c: char) -> String {
    format!("{a} {b} {c}")
}

fn four(a: u8, b: i16, c: char, d: &'static str) -> String {
    format!("{a} {b} {c} {d}")
}

fn five(a: u8, b: i16, c: char, d: &'static str, e: String) -> String {
    format!("{a} {b} {c} {d} {e}")
}

fn six(a: u8, b: i16, c: char, d: &'static str, e: String, f: Vec<u32>) -> String {
    format!("{a} {b} {c} {d} {e} {f:?}")
}

fn seven(a: u8, b: i16, c: char, d: &'static str, e: String, f: Vec<u32>, g: bool) -> String {
    format!("{a} {b} {c} {d} {e} {f:?} {g}")
}

#[allow(clippy::too_many_arguments)]
fn eight(
    a: u8,
    b: i16,
    c: char,
    d: &'static str,
    e: String,
    f: Vec<u32>,
    g: bool,
    h: Option<u64>,
) -> String {
    format!("{a} {b} {c} {d} {e} {f:?} {g} {h:?}")
}

#[test]
fn every_arity_from_0_to_8_through_a_pool() {
    let pool = ThreadPoolExecutor::new(2);
    let p = Some(&pool);
    block_on(async {
        assert_eq!(run_in_executor(p, zero, ()).await, Ok("zero"));
        assert_eq!(run_in_executor(p, one, (1,)).await.unwrap(), "1");
        assert_eq!(run_in_executor(p, two, (1, -2)).await.unwrap(), "1 -2");
        assert_eq!(
            run_in_executor(p, three, (1, -2, 'c')).await.unwrap(),
            "1 -2 c"
        );
        assert_eq!(
            run_in_executor(p, four, (1, -2, 'c', "d")).await.unwrap(),
            "1 -2 c d"
        );
        assert_eq!(
            run_in_executor(p, five, (1, -2, 'c', "d", "e".to_string()))
                .await
                .unwrap(),
            "1 -2 c d e"
        );
        assert_eq!(
            run_in_executor(p, six, (1, -2, 'c', "d", "e".to_string(), vec![6]))
                .await
                .unwrap(),
            "1 -2 c d e [6]"
        );
        assert_eq!(
            run_in_executor(p, seven, (1, -2, 'c', "d", "e".to_string(), vec![6], true))
                .await
                .unwrap(),
            "1 -2 c d e [6] true"
        );
        assert_eq!(
            run_in_executor(
                p,
                eight,
                (1, -2, 'c', "d", "e".to_string(), vec![6], true, Some(8))
            )
            .await
            .unwrap(),
            "1 -2 c d e [6] true Some(8)"
        );
    });
}

#[test]
fn every_arity_from_0_to_8_as_closures_on_the_default_executor() {
    block_on(async {
        assert_eq!(run_in_executor(None, || 0u32, ()).await, Ok(0));
        assert_eq!(run_in_executor(None, |a: u32| a, (1,)).await, Ok(1));
        assert_eq!(
            run_in_executor(None, |a: u32, b: u32| a * 10 + b, (1, 2)).await,
            Ok(12)
        );
        assert_eq!(
            run_in_executor(
                None,
                |a: u32, b: u32, c: u32| (a * 10 + b) * 10 + c,
                (1, 2, 3)
            )
            .await,
            Ok(123)
        );
        // Positional: a digit in the wrong place changes the number.
        let digits4 =
            |a: u32, b: u32, c: u32, d: u32| [a, b, c, d].iter().fold(0, |n, x| n * 10 + x);
        assert_eq!(run_in_executor(None, digits4, (1, 2, 3, 4)).await, Ok(1234));
        let digits5 = |a: u32, b: u32, c: u32, d: u32, e: u32| {
            [a, b, c, d, e].iter().fold(0, |n, x| n * 10 + x)
        };
        assert_eq!(
            run_in_executor(None, digits5, (1, 2, 3, 4, 5)).await,
            Ok(12345)
        );
        let digits6 = |a: u32, b: u32, c: u32, d: u32, e: u32, f: u32| {
            [a, b, c, d, e, f].iter().fold(0, |n, x| n * 10 + x)
        };
        assert_eq!(
            run_in_executor(None, digits6, (1, 2, 3, 4, 5, 6)).await,
            Ok(123456)
        );
        let digits7 = |a: u32, b: u32, c: u32, d: u32, e: u32, f: u32, g: u32| {
            [a, b, c, d, e, f, g].iter().fold(0, |n, x| n * 10 + x)
        };
        assert_eq!(
            run_in_executor(None, digits7, (1, 2, 3, 4, 5, 6, 7)).await,
            Ok(1234567)
        );
        let digits8 = |a: u64, b: u64, c: u64, d: u64, e: u64, f: u64, g: u64, h: u64| {
            [a, b, c, d, e, f, g, h].iter().fold(0, |n, x| n * 10 + x)
        };
        assert_eq!(
            run_in_executor(None, digits8, (1, 2, 3, 4, 5, 6, 7, 8)).await,
            Ok(12345678)
        );
    });
}

#[test]
fn std_read_to_string_by_path() {
    // The example of the API page, verbatim: a std function by path with a `&'static str` arg.
    let text = block_on(run_in_executor(
        None,
        std::fs::read_to_string,
        ("Cargo.toml",),
    ));
    let text = text.expect("the job ran").expect("Cargo.toml is readable");
    assert!(text.contains("name = \"poolbridge\""));

    // An io::Error is a value of the job, not a FutureError.
    let missing = block_on(run_in_executor(
        None,
        std::fs::read_to_string,
        ("no/such/file.toml",),
    ));
    let err = missing.expect("the job ran").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn methods_and_constructors_by_path() {
    let pool = ThreadPoolExecutor::new(1);
    block_on(async {
        assert_eq!(
            run_in_executor(Some(&pool), str::len, ("four",)).await,
            Ok(4)
        );
        assert_eq!(
            run_in_executor(Some(&pool), String::from, ("owned",)).await,
            Ok(String::from("owned"))
        );
        assert_eq!(
            run_in_executor(Some(&pool), String::into_bytes, ("abc".to_string(),)).await,
            Ok(b"abc".to_vec())
        );
        assert_eq!(run_in_executor(Some(&pool), u32::pow, (3, 4)).await, Ok(81));
        assert_eq!(
            run_in_executor(Some(&pool), Option::<u8>::unwrap_or, (None, 9)).await,
            Ok(9)
        );
    });
}

#[test]
fn closures_capturing_and_boxed() {
    let pool = ThreadPoolExecutor::new(1);
    let prefix = String::from("hello");
    block_on(async {
        // A move closure with captured state and arguments.
        let greet = move |name: &'static str, n: usize| format!("{prefix} {name}{}", "!".repeat(n));
        assert_eq!(
            run_in_executor(Some(&pool), greet, ("world", 2))
                .await
                .unwrap(),
            "hello world!!"
        );

        // An FnOnce that consumes its capture.
        let owned = vec![1, 2, 3];
        let consume = move || owned.into_iter().sum::<i32>();
        assert_eq!(run_in_executor(Some(&pool), consume, ()).await, Ok(6));

        // A boxed FnOnce trait object with arguments.
        let boxed: Box<dyn FnOnce(i32, i32) -> i32 + Send> = Box::new(|a, b| a - b);
        assert_eq!(run_in_executor(Some(&pool), boxed, (10, 3)).await, Ok(7));
    });
}

fn generic_add<T: Add<Output = T>>(a: T, b: T) -> T {
    a + b
}

fn describe<T: Display, U: Display>(t: T, u: U) -> String {
    format!("{t}/{u}")
}

fn call_generic<F, A, T>(f: F, args: A) -> Result<T, FutureError>
where
    F: Call<A, Output = T> + Send + 'static,
    A: Send + 'static,
    T: Send + 'static,
{
    // Generic code can forward any Call to the bridge.
    block_on(run_in_executor(None, f, args))
}

#[test]
fn generic_functions() {
    block_on(async {
        // Turbofish.
        assert_eq!(
            run_in_executor(None, generic_add::<u64>, (40, 2)).await,
            Ok(42)
        );
        // Inferred from the arguments.
        assert_eq!(
            run_in_executor(None, generic_add, (1.5f64, 2.0f64)).await,
            Ok(3.5)
        );
        assert_eq!(
            run_in_executor(None, describe, ('x', 7u8)).await.unwrap(),
            "x/7"
        );
    });
    assert_eq!(call_generic(generic_add::<i8>, (-1, -2)), Ok(-3));
    assert_eq!(call_generic(|| "nullary", ()), Ok("nullary"));
    assert_eq!(
        call_generic(describe::<&str, f32>, ("pi", 3.5)).unwrap(),
        "pi/3.5"
    );
}

#[test]
fn call_trait_directly() {
    // The trait is public; calling it directly unpacks the tuple.
    assert_eq!(generic_add.call((2u8, 3u8)), 5);
    assert_eq!(Call::call(zero, ()), "zero");
    assert_eq!(
        eight.call((0, 0, '0', "", String::new(), vec![], false, None)),
        "0 0 0   [] false None"
    );
}

#[test]
fn arguments_are_moved_into_the_job_and_dropped_once() {
    let counter = DropCounter::new();
    let pool = ThreadPoolExecutor::new(2);

    // The job consumes its arguments: dropped once, inside the job.
    let (a, b) = (counter.track(), counter.track());
    let out = block_on(run_in_executor(
        Some(&pool),
        |a: common::Tracked, b: common::Tracked, n: u8| {
            drop(a);
            drop(b);
            n
        },
        (a, b, 3),
    ));
    assert_eq!(out, Ok(3));
    assert_eq!(counter.dropped(), 2);

    // The job returns one of them: it comes back to the caller, not dropped on the way.
    let (a, b) = (counter.track(), counter.track());
    let back = block_on(run_in_executor(
        Some(&pool),
        |a: common::Tracked, _b: common::Tracked| a,
        (a, b),
    ))
    .unwrap();
    assert_eq!(
        counter.dropped(),
        3,
        "the unused argument is dropped by the job"
    );
    drop(back);
    assert_eq!(counter.dropped(), 4);

    // A refused job (pool shut down) drops its arguments unused, exactly once.
    pool.shutdown(true, false);
    let arg = counter.track();
    let refused = block_on(run_in_executor(
        Some(&pool),
        |_t: common::Tracked| unreachable!("a job ran after shutdown"),
        (arg,),
    ));
    assert_eq!(refused, Err::<(), _>(FutureError::Shutdown));
    assert_eq!(counter.dropped(), 5);
    assert_eq!(counter.created(), 5);
}
