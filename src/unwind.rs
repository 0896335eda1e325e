//! Panic handling in one place: user panics become values, the rest is reported.
//!
//! Every `catch_unwind` of the crate goes through [`catch`]. The payload of a caught panic is
//! kept in the [`PanicError`] (a job's panic can be re-raised with `resume_unwind`), and when
//! nobody takes it, it is dropped under a guard: a payload is user data, and its own `Drop` may
//! panic again (`std::panic::panic_any(BadDrop)`). Such a second panic must not escape, or a job
//! would stay `Running` forever, later callbacks would never run and a worker would die.
//!
//! Panics that nobody can receive as a value (a done callback, an initializer, the drop of a
//! job's value) are reported through [`report`]: to the hook set by [`set_report_hook`], or to
//! stderr.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use crate::error::{PanicError, Payload};

/// Locks a `std` mutex whether or not a panic poisoned it. The crate's own locks never run user
/// code that could leave their data half-updated (the model-checked ones, in `crate::loom`, say
/// the same), so a lock poisoned by a panic elsewhere carries on instead of spreading the panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `cv` while `waiting` holds for the data behind `guard`, giving up at `deadline`
/// (`None`: no limit). Returns the guard and `true` if `waiting` became false (`false`: the
/// deadline passed first). Spurious wake-ups are waited out; poisoning is ignored, as by
/// [`lock`].
pub(crate) fn wait_while_until<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
    waiting: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    match deadline {
        None => {
            let guard = cv
                .wait_while(guard, waiting)
                .unwrap_or_else(PoisonError::into_inner);
            (guard, true)
        }
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            let (guard, result) = cv
                .wait_timeout_while(guard, left, waiting)
                .unwrap_or_else(PoisonError::into_inner);
            (guard, !result.timed_out())
        }
    }
}

/// Runs `f`, turning a panic into a [`PanicError`] that keeps the panic message and payload.
///
/// `AssertUnwindSafe` is sound here: the closure is consumed by the call, so nothing it could
/// have left half-updated is observed afterwards.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, PanicError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(PanicError::from_panic)
}

/// A caught payload, until someone takes it. Dropped untaken, it goes through [`drop_payload`].
struct PayloadSlot(Mutex<Option<Box<dyn Any + Send>>>);

impl Payload for PayloadSlot {
    fn take(&self) -> Option<Box<dyn Any + Send>> {
        // No user code runs under this lock: `take` moves a box out.
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Drop for PayloadSlot {
    fn drop(&mut self) {
        let payload = self
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(payload) = payload {
            drop_payload(payload);
        }
    }
}

impl PanicError {
    /// A `PanicError` for a panic caught by your own code, for instance to complete a
    /// [`Promise`](crate::Promise) with it: the message is read from the payload (`&str` or
    /// `String`) and the payload is kept, to be taken back with
    /// [`into_panic`](Self::into_panic).
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::{FutureError, PanicError, Promise};
    ///
    /// let (promise, fut) = Promise::<u32>::new();
    /// match std::panic::catch_unwind(|| -> u32 { panic!("parser bug") }) {
    ///     Ok(value) => promise.set_result(value).unwrap(),
    ///     Err(payload) => {
    ///         let err = FutureError::Panicked(PanicError::from_panic(payload));
    ///         promise.set_error(err).unwrap();
    ///     }
    /// }
    /// assert_eq!(fut.join().unwrap_err().as_panic().unwrap().message(), "parser bug");
    /// ```
    pub fn from_panic(payload: Box<dyn Any + Send + 'static>) -> PanicError {
        let message = message(&*payload);
        PanicError::with_payload(message, Arc::new(PayloadSlot(Mutex::new(Some(payload)))))
    }
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

/// A panic that poolbridge caught in user code where nobody can receive it as a value: a done
/// callback, a worker initializer, the drop of a job's closure or value. Handed to the hook set
/// with [`set_report_hook`]; without a hook, its `Display` is printed on stderr.
///
/// Rust's own panic hook has already printed the panic itself when this report is made (see
/// [`std::panic::set_hook`] to capture that too); the report says what poolbridge did about it.
///
/// # Examples
///
/// ```
/// use poolbridge::{PanicReport, set_report_hook};
///
/// set_report_hook(|report: &PanicReport<'_>| {
///     // Forward to your logger instead of stderr: log::error!("{report}"), tracing::error!(..)
///     let _ = (report.what(), report.message(), report.to_string());
/// });
/// # let _ = poolbridge::take_report_hook();
/// ```
pub struct PanicReport<'a> {
    what: &'a str,
    then: &'a str,
    panic: &'a PanicError,
}

impl PanicReport<'_> {
    /// The user code that panicked, e.g. `"a done callback of <PoolFuture at 0x.. state=finished
    /// returned u32>"` or `"the initializer of worker db_0"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use poolbridge::{ThreadPoolExecutor, set_report_hook, take_report_hook};
    ///
    /// let seen = Arc::new(Mutex::new(String::new()));
    /// let sink = Arc::clone(&seen);
    /// set_report_hook(move |report| *sink.lock().unwrap() = report.what().to_owned());
    /// let pool = ThreadPoolExecutor::new(1);
    /// let fut = pool.submit(|| 1);
    /// fut.wait();
    /// fut.add_done_callback(|_| panic!("oops")); // runs here, now
    /// assert!(seen.lock().unwrap().starts_with("a done callback"));
    /// let _ = take_report_hook();
    /// ```
    pub fn what(&self) -> &str {
        self.what
    }

    /// What poolbridge did about it, e.g. `"the panic was caught and the thread goes on"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use poolbridge::{Promise, set_report_hook, take_report_hook};
    ///
    /// let seen = Arc::new(Mutex::new(String::new()));
    /// let sink = Arc::clone(&seen);
    /// set_report_hook(move |report| *sink.lock().unwrap() = report.consequence().to_owned());
    /// let (promise, fut) = Promise::new();
    /// fut.add_done_callback(|_| panic!("oops"));
    /// promise.set_result(()).unwrap(); // the callback runs, panics, and is reported
    /// assert!(!seen.lock().unwrap().is_empty());
    /// let _ = take_report_hook();
    /// ```
    pub fn consequence(&self) -> &str {
        self.then
    }

    /// The panic message.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use poolbridge::{Promise, set_report_hook, take_report_hook};
    ///
    /// let seen = Arc::new(Mutex::new(String::new()));
    /// let sink = Arc::clone(&seen);
    /// set_report_hook(move |report| *sink.lock().unwrap() = report.message().to_owned());
    /// let (promise, fut) = Promise::new();
    /// fut.add_done_callback(|_| panic!("callback failed"));
    /// promise.set_result(()).unwrap();
    /// assert_eq!(*seen.lock().unwrap(), "callback failed");
    /// let _ = take_report_hook();
    /// ```
    pub fn message(&self) -> &str {
        self.panic.message()
    }

    /// The panic, with its payload (which the hook may take).
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::{Promise, set_report_hook, take_report_hook};
    ///
    /// set_report_hook(|report| {
    ///     // The payload can be taken here, e.g. to re-raise it elsewhere.
    ///     let _payload = report.panic().take_payload();
    /// });
    /// let (promise, fut) = Promise::new();
    /// fut.add_done_callback(|_| std::panic::panic_any(42u32));
    /// promise.set_result(()).unwrap();
    /// let _ = take_report_hook();
    /// ```
    pub fn panic(&self) -> &PanicError {
        self.panic
    }
}

impl fmt::Display for PanicReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "poolbridge: {} panicked ({}); {}",
            self.what,
            self.panic.message(),
            self.then
        )
    }
}

impl fmt::Debug for PanicReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicReport")
            .field("what", &self.what)
            .field("consequence", &self.then)
            .field("message", &self.panic.message())
            .finish()
    }
}

/// The hook type of [`set_report_hook`] and [`take_report_hook`].
///
/// # Examples
///
/// ```
/// let hook: poolbridge::ReportHook = Box::new(|report| eprintln!("captured: {report}"));
/// poolbridge::set_report_hook(hook);
/// let _previous: poolbridge::ReportHook = poolbridge::take_report_hook();
/// ```
pub type ReportHook = Box<dyn Fn(&PanicReport<'_>) + Send + Sync + 'static>;

/// The hook, shared so that a report calls it outside the lock (a hook is user code).
static HOOK: RwLock<Option<Arc<ReportHook>>> = RwLock::new(None);

/// Sends poolbridge's reports of caught panics (see [`PanicReport`]) to `hook` instead of
/// stderr, process-wide, like [`std::panic::set_hook`]. Replaces any previous hook.
///
/// The hook runs on the thread that caught the panic (a worker, or the thread that ran the
/// callback), never under a lock of poolbridge's. A hook that panics is caught too; its report
/// and the original one then go to stderr.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use poolbridge::{ThreadPoolExecutor, set_report_hook, take_report_hook};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// set_report_hook(move |report| sink.lock().unwrap().push(report.message().to_owned()));
///
/// let pool = ThreadPoolExecutor::new(1);
/// let fut = pool.submit(|| 1);
/// fut.wait();
/// fut.add_done_callback(|_| panic!("callback bug")); // runs here, at once: fut is done
/// assert!(seen.lock().unwrap().iter().any(|m| m == "callback bug"));
/// let _ = take_report_hook(); // back to stderr
/// ```
pub fn set_report_hook<F>(hook: F)
where
    F: Fn(&PanicReport<'_>) + Send + Sync + 'static,
{
    let hook: ReportHook = Box::new(hook);
    let previous = HOOK
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(Arc::new(hook));
    // The previous hook is user code: dropped outside the lock.
    drop(previous);
}

/// Removes the hook set by [`set_report_hook`] and returns it; reports go to stderr again. With
/// no hook set, returns the default one (which prints to stderr).
///
/// # Examples
///
/// ```
/// use poolbridge::{set_report_hook, take_report_hook};
///
/// set_report_hook(|report| eprintln!("captured: {report}"));
/// let hook = take_report_hook(); // stderr again; `hook` can be called or dropped
/// # drop(hook);
/// ```
pub fn take_report_hook() -> ReportHook {
    let taken = HOOK.write().unwrap_or_else(PoisonError::into_inner).take();
    match taken {
        Some(hook) => Box::new(move |report: &PanicReport<'_>| hook(report)),
        None => Box::new(print),
    }
}

fn print(report: &PanicReport<'_>) {
    eprintln!("{report}");
}

/// Reports a panic that user code raised where nobody can receive it as a value (a done callback,
/// the drop of a job's value or closure): the thread goes on.
pub(crate) fn report(what: &str, err: &PanicError) {
    report_with(what, "the panic was caught and the thread goes on", err);
}

/// Reports a caught panic with what poolbridge did about it (`then`), to the hook or to stderr.
pub(crate) fn report_with(what: &str, then: &str, err: &PanicError) {
    let report = PanicReport {
        what,
        then,
        panic: err,
    };
    let hook = HOOK
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(Arc::clone);
    let Some(hook) = hook else {
        print(&report);
        return;
    };
    if let Err(hook_panic) = catch(|| hook(&report)) {
        print(&report);
        eprintln!(
            "poolbridge: the report hook itself panicked ({}); this report went to stderr",
            hook_panic.message()
        );
    }
    // The last reference to a hook replaced meanwhile is dropped here, outside the lock.
    drop(hook);
}
