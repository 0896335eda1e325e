//! Panic handling in one place: user panics become values, the rest is reported.
//!
//! Every `catch_unwind` of the crate goes through [`catch`], which also drops the panic's payload
//! under a guard: a payload is user data, and its own `Drop` may panic again
//! (`std::panic::panic_any(BadDrop)`). Such a second panic must not escape the catch, or a job
//! would stay `Running` forever, later callbacks would never run and a worker would die.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use crate::error::PanicError;

/// Runs `f`, turning a panic into a [`PanicError`] that keeps the panic message.
///
/// `AssertUnwindSafe` is sound here: the closure is consumed by the call, so nothing it could
/// have left half-updated is observed afterwards.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, PanicError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let err = PanicError::new(message(&*payload));
        drop_payload(payload);
        err
    })
}

/// Drops a caught panic payload without letting a panic in the payload's own `Drop` escape.
///
/// A payload whose drop panics gets one more chance to be dropped through the same guard (its
/// second payload is usually a plain string); a payload that keeps panicking is leaked instead:
/// a few bytes lost beat a dead worker or a waiter hung forever.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    const ATTEMPTS: usize = 2;
    let mut payload = payload;
    for _ in 0..ATTEMPTS {
        match panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(again) => payload = again,
        }
    }
    std::mem::forget(payload);
}

/// The message carried by a panic payload.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a panic payload that is not a string)".to_owned()
    }
}

/// Reports a panic that user code raised where nobody can receive it as a value (a done callback,
/// the drop of a job's value). The default panic hook has already printed the panic itself; this
/// says what poolbridge did about it.
pub(crate) fn report(what: &str, err: &PanicError) {
    eprintln!(
        "poolbridge: {what} panicked ({}); the panic was caught and the thread goes on",
        err.message()
    );
}
