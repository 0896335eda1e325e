//! Panic handling in one place: user panics become values, the rest is reported.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use crate::error::PanicError;

/// Runs `f`, turning a panic into a [`PanicError`] that keeps the panic message.
///
/// `AssertUnwindSafe` is sound here: the closure is consumed by the call, so nothing it could
/// have left half-updated is observed afterwards.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, PanicError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| PanicError::new(message(&*payload)))
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
