//! [`Call`]: a function or closure applied to a tuple of arguments, as asyncio's
//! `run_in_executor(executor, func, *args)` passes them.

/// A function of the arguments tuple `Args`, called once.
///
/// Implemented for every `FnOnce` of 0 to 8 arguments, with `Args` the tuple of those arguments
/// (`()`, `(A,)`, `(A, B)`, ...), so plain functions work as well as closures:
///
/// ```
/// use poolbridge::Call;
///
/// fn add(a: u64, b: u64) -> u64 { a + b }
/// assert_eq!(add.call((1, 2)), 3);
/// assert_eq!((|| "no args").call(()), "no args");
/// assert_eq!(str::len.call(("four",)), 4);
/// ```
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
