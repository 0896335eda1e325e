//! [`Call`]: a function or closure applied to a tuple of arguments, as asyncio's
//! `run_in_executor(executor, func, *args)` and Python's `executor.submit(fn, *args)` pass them;
//! and [`ThreadPoolExecutor::submit_call`], the thread pool's submit of that shape.

use crate::future::PoolFuture;
use crate::pool::ThreadPoolExecutor;

/// A function of the arguments tuple `Args`, called once: what
/// [`run_in_executor`](crate::run_in_executor) and
/// [`ThreadPoolExecutor::submit_call`] take with the tuple of its arguments.
///
/// Implemented for every `FnOnce` of 0 to 8 arguments, with `Args` the tuple of those arguments
/// (`()`, `(A,)`, `(A, B)`, ...), so plain functions work as well as closures; and for the
/// handle of every `#[poolbridge::job]` fn, with its arguments' tuple:
///
/// ```
/// use poolbridge::Call;
///
/// fn add(a: u64, b: u64) -> u64 { a + b }
/// assert_eq!(add.call((1, 2)), 3);
/// assert_eq!((|| "no args").call(()), "no args");
/// assert_eq!(str::len.call(("four",)), 4);
/// ```
///
/// One argument is a tuple of one, with its comma: `(url,)`, not `(url)`:
///
/// ```compile_fail,E0308
/// fn fetch(url: &'static str) -> usize { url.len() }
/// // error: expected `(&str,)`, found `&str`
/// let _ = poolbridge::run_in_executor(None, fetch, ("https://example.com"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be called with the arguments `{Args}`",
    label = "not a function of the arguments `{Args}`",
    note = "the arguments are one tuple, as in Python's `*args`: `()` for none, `(a,)` for one \
            (mind the comma), `(a, b)` for two; their types must match the function's, up to 8 \
            of them",
    note = "a closure needs its argument types written out: `|a: u64, b: u64| a + b`"
)]
pub trait Call<Args> {
    /// What the call returns.
    type Output;
    /// Calls `self` with the arguments unpacked from `args`.
    fn call(self, args: Args) -> Self::Output;
}

macro_rules! impl_call {
    ($($arg:ident),*) => {
        impl<Func, Out, $($arg),*> Call<($($arg,)*)> for Func
        where
            Func: FnOnce($($arg),*) -> Out,
        {
            type Output = Out;

            #[allow(non_snake_case)]
            fn call(self, ($($arg,)*): ($($arg,)*)) -> Out {
                self($($arg),*)
            }
        }
    };
}

impl_call!();
impl_call!(A1);
impl_call!(A1, A2);
impl_call!(A1, A2, A3);
impl_call!(A1, A2, A3, A4);
impl_call!(A1, A2, A3, A4, A5);
impl_call!(A1, A2, A3, A4, A5, A6);
impl_call!(A1, A2, A3, A4, A5, A6, A7);
impl_call!(A1, A2, A3, A4, A5, A6, A7, A8);

impl ThreadPoolExecutor {
    /// Schedules `f(args...)`: Python's `executor.submit(fn, *args)`, with the arguments as one
    /// tuple. The same shape as `run_in_executor(Some(&pool), f, args)` and as the process
    /// pool's `submit(job, args)`; otherwise [`submit`](Self::submit) with
    /// `move || f(a, b)`, and the same future.
    ///
    /// `f` is any function or closure of 0 to 8 arguments, or the handle of a
    /// `#[poolbridge::job]` fn; `args` the tuple of its arguments (see [`Call`]). `submit` itself
    /// takes one closure of no arguments: `pool.submit(digest, (data, 10))` fails to compile
    /// (E0593, E0061) and means `pool.submit_call(digest, (data, 10))`.
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::ThreadPoolExecutor;
    ///
    /// fn digest(data: Vec<u8>, rounds: u32) -> u64 {
    ///     data.iter().fold(u64::from(rounds), |h, &b| h.wrapping_mul(31) + u64::from(b))
    /// }
    ///
    /// let pool = ThreadPoolExecutor::new(2);
    /// let data = vec![1, 2, 3];
    /// let fut = pool.submit_call(digest, (data.clone(), 10)); // Python: pool.submit(digest, data, 10)
    /// assert_eq!(fut.join(), Ok(digest(data, 10)));
    /// assert_eq!(pool.submit_call(str::len, ("four",)).join(), Ok(4));
    /// ```
    pub fn submit_call<F, A, T>(&self, f: F, args: A) -> PoolFuture<T>
    where
        F: Call<A, Output = T> + Send + 'static,
        A: Send + 'static,
        T: Send + 'static,
    {
        self.submit(move || f.call(args))
    }
}
