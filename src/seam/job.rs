//! Jobs: named functions a worker process can run, and the registry that names them.
//!
//! A closure cannot cross a process boundary, so a job is a function registered under a stable
//! name in *both* processes. `#[poolbridge::job]` registers at link time (a `linkme` distributed
//! slice: no code runs before `main`); [`register`] adds a job at run time, before
//! [`init`](crate::process::init). The first use (a worker's `init`, or the first
//! `ProcessPoolExecutor::build`) freezes the registry: entries sorted by name, indexed, and
//! fingerprinted. Parent and worker compare fingerprints in the handshake, so a job index means
//! the same function on both sides and a call carries a `u32`, not a name.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A function that a [`ProcessPoolExecutor`](crate::ProcessPoolExecutor) can run in a worker
/// process: a name both processes agree on, serde arguments (a tuple) and a serde output.
///
/// Implemented by the zero-size handle that [`#[poolbridge::job]`](crate::job) generates, and by
/// [`JobFn`] for jobs registered by hand. A job can also be called in the current process with
/// [`call`](Job::call).
///
/// # Examples
///
/// ```
/// use poolbridge::process::Job;
///
/// #[poolbridge::job]
/// fn add(a: u64, b: u64) -> u64 {
///     a + b
/// }
///
/// // `add` is now a value: the handle of the job.
/// assert_eq!(add.call((2, 3)), 5);
/// assert!(add.name().ends_with("::add"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a job of the process pool",
    label = "not the handle of a `#[poolbridge::job]` fn",
    note = "mark the fn `#[poolbridge::job]`, then `pool.submit(f, (a, b))`: a closure cannot \
            cross a process boundary, a job is a named fn that both processes know",
    note = "to run a closure or a plain fn on threads instead: \
            `ThreadPoolExecutor::submit_call(f, (a, b))`"
)]
pub trait Job: Copy + Send + Sync + 'static {
    /// The arguments, as a tuple: `(String, u32)`; `()` for none.
    type Args: Serialize + DeserializeOwned + 'static;
    /// The return value.
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// The name the job is registered under: `module::path::function` for `#[job]`.
    fn name(&self) -> &'static str;

    /// Runs the function in the current process.
    fn call(&self, args: Self::Args) -> Self::Output;
}

/// A job registered by hand: a name and a function of one argument (a tuple of the arguments).
///
/// For what `#[poolbridge::job]` cannot take: a generic function at one type, a function of
/// another crate, a non-capturing closure. Register it with [`register`] before
/// [`init`](crate::process::init), in the code that both the parent and the workers run (the top
/// of `main`).
///
/// # Examples
///
/// ```
/// use poolbridge::process::Job;
/// use poolbridge::process::JobFn;
///
/// fn largest<T: Ord>(items: Vec<T>) -> Option<T> {
///     items.into_iter().max()
/// }
///
/// const LARGEST: JobFn<(Vec<u32>,), Option<u32>> =
///     JobFn::new("app::largest_u32", |(items,)| largest(items));
///
/// fn main() {
///     poolbridge::process::register(LARGEST);
///     poolbridge::process::init();
///     assert_eq!(LARGEST.call((vec![3, 9, 4],)), Some(9));
///     // ProcessPoolExecutor::new(2).submit(LARGEST, (vec![3, 9, 4],)) runs it in a worker.
/// }
/// ```
pub struct JobFn<A, O> {
    name: &'static str,
    f: fn(A) -> O,
    _types: PhantomData<fn(A) -> O>,
}

impl<A, O> JobFn<A, O> {
    /// A job named `name` that runs `f`. The name must be unique among the program's jobs.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "process")] {
    /// use poolbridge::process::JobFn;
    ///
    /// fn double(n: u64) -> u64 {
    ///     n * 2
    /// }
    /// // Registered without the macro (see `register`): the same name in every process.
    /// let job: JobFn<u64, u64> = JobFn::new("my_app::double", double);
    /// # let _ = job;
    /// # }
    /// ```
    pub const fn new(name: &'static str, f: fn(A) -> O) -> Self {
        JobFn {
            name,
            f,
            _types: PhantomData,
        }
    }
}

impl<A, O> Clone for JobFn<A, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, O> Copy for JobFn<A, O> {}

impl<A, O> fmt::Debug for JobFn<A, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobFn").field("name", &self.name).finish()
    }
}

impl<A, O> Job for JobFn<A, O>
where
    A: Serialize + DeserializeOwned + 'static,
    O: Serialize + DeserializeOwned + Send + 'static,
{
    type Args = A;
    type Output = O;

    fn name(&self) -> &'static str {
        self.name
    }

    fn call(&self, args: A) -> O {
        (self.f)(args)
    }
}

/// Why a worker could not run a call: the value that could not be decoded or encoded (`None`:
/// not a serde failure, such as a job number the worker does not have) and the message.
#[derive(Debug)]
#[doc(hidden)]
pub struct InvokeError {
    pub(crate) side: Option<crate::error::CodecSide>,
    pub(crate) message: String,
}

/// The type-erased entry point of a job in a worker: decode the arguments, call, encode the
/// output into `out`. Panics unwind out of it (the worker catches them).
#[doc(hidden)]
pub type InvokeFn = fn(&[u8], &mut Vec<u8>) -> Result<(), InvokeError>;

/// A job registered at link time by `#[poolbridge::job]`. Not for direct use.
#[doc(hidden)]
#[derive(Debug)]
pub struct JobEntry {
    /// `module::path::function`.
    pub name: &'static str,
    /// The argument and output types as written (`(String, u32) -> Vec<u8>`): the type
    /// fingerprint.
    pub signature: &'static str,
    pub invoke: InvokeFn,
}

#[linkme::distributed_slice]
#[doc(hidden)]
pub static JOBS: [JobEntry];

/// Decodes `args`, calls `job`, encodes its output: the body of every [`InvokeFn`].
#[doc(hidden)]
pub fn invoke<J: Job>(job: J, args: &[u8], out: &mut Vec<u8>) -> Result<(), InvokeError> {
    let args: J::Args = postcard::from_bytes(args).map_err(|err| InvokeError {
        side: Some(crate::error::CodecSide::Arguments),
        message: err.to_string(),
    })?;
    let output = job.call(args);
    postcard::to_io(&output, &mut *out)
        .map(drop)
        .map_err(|err| InvokeError {
            side: Some(crate::error::CodecSide::Output),
            message: err.to_string(),
        })
}

type DynInvoke = Box<dyn Fn(&[u8], &mut Vec<u8>) -> Result<(), InvokeError> + Send + Sync>;

enum Invoke {
    Static(InvokeFn),
    Dynamic(DynInvoke),
}

struct RegistryEntry {
    name: &'static str,
    signature: Cow<'static, str>,
    invoke: Invoke,
}

/// The frozen registry: every job of this program, sorted by name.
pub(crate) struct Registry {
    entries: Vec<RegistryEntry>,
    by_name: HashMap<&'static str, u32>,
    fingerprint: u64,
}

impl Registry {
    /// The index of the job named `name`, the same in every process of this program.
    pub(crate) fn index(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn invoke(
        &self,
        index: u32,
        args: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), InvokeError> {
        match self.entries.get(index as usize).map(|e| &e.invoke) {
            Some(Invoke::Static(f)) => f(args, out),
            Some(Invoke::Dynamic(f)) => f(args, out),
            None => Err(InvokeError {
                side: None,
                message: format!(
                    "the worker has no job number {index} (its registry differs from the parent's)"
                ),
            }),
        }
    }

    /// The name of job `index` (the `'static` name it was registered under).
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn name(&self, index: u32) -> Option<&'static str> {
        self.entries.get(index as usize).map(|e| e.name)
    }

    /// A hash of the argument and output types of job `index` (FNV-1a of its signature): a
    /// remote host and its client compare it before a call, as processes compare fingerprints.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn signature_hash(&self, index: u32) -> Option<u64> {
        self.entries
            .get(index as usize)
            .map(|e| fnv1a(FNV_OFFSET, e.signature.as_bytes()))
    }

    /// A hash of every `(name, signature)`: equal in two processes iff they register the same
    /// jobs with the same types (FNV-1a, stable across builds and platforms).
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// `name#signature-hash` of every job, for the handshake's error message.
    pub(crate) fn describe(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| {
                format!(
                    "{}#{:016x}",
                    e.name,
                    fnv1a(FNV_OFFSET, e.signature.as_bytes())
                )
            })
            .collect()
    }
}

/// Jobs added by [`register`] before the registry froze.
static MANUAL: Mutex<Vec<RegistryEntry>> = Mutex::new(Vec::new());
static FROZEN: OnceLock<Registry> = OnceLock::new();

/// Registers a job by hand (a [`JobFn`], or any [`Job`] implementation), under
/// [`Job::name`].
///
/// Call it in code that the parent *and* the workers run before
/// [`init`](crate::process::init): workers are the same program, re-run, and must register the
/// same jobs (the handshake checks it).
///
/// # Panics
///
/// If the registry is already frozen: after [`init`](crate::process::init) returned or a
/// [`ProcessPoolExecutor`](crate::ProcessPoolExecutor) was built, the set of jobs can no longer
/// change. Also, at freeze time, if two jobs have the same name.
///
/// # Examples
///
/// ```
/// use poolbridge::process::{self, JobFn};
///
/// fn main() {
///     process::register(JobFn::new("app::double", |(n,): (u64,)| n * 2));
///     process::init();
///     // ... build a ProcessPoolExecutor and submit the job by its JobFn.
/// }
/// ```
pub fn register<J: Job>(job: J) {
    assert!(
        FROZEN.get().is_none(),
        "poolbridge::process::register({:?}) was called after the job registry was frozen: \
         register jobs at the top of main, before process::init() and before building a \
         ProcessPoolExecutor",
        job.name()
    );
    let signature = std::any::type_name::<(J::Args, J::Output)>();
    let entry = RegistryEntry {
        name: job.name(),
        signature: Cow::Borrowed(signature),
        invoke: Invoke::Dynamic(Box::new(move |args: &[u8], out: &mut Vec<u8>| {
            invoke(job, args, out)
        })),
    };
    MANUAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(entry);
}

/// The registry, frozen on first use.
pub(crate) fn registry() -> &'static Registry {
    FROZEN.get_or_init(|| {
        let manual = std::mem::take(&mut *MANUAL.lock().unwrap_or_else(|p| p.into_inner()));
        let mut entries: Vec<RegistryEntry> = JOBS
            .iter()
            .map(|e| RegistryEntry {
                name: e.name,
                signature: Cow::Borrowed(e.signature),
                invoke: Invoke::Static(e.invoke),
            })
            .chain(manual)
            .collect();
        entries.sort_by(|a, b| a.name.cmp(b.name));
        if let Some(pair) = entries.windows(2).find(|w| w[0].name == w[1].name) {
            panic!(
                "poolbridge: two jobs are registered under the name `{}`; job names must be \
                 unique (a #[job] fn has the name module_path::fn_name; give JobFn::new another \
                 name)",
                pair[0].name
            );
        }
        let mut hash = FNV_OFFSET;
        for e in &entries {
            hash = fnv1a(hash, e.name.as_bytes());
            hash = fnv1a(hash, &[0]);
            hash = fnv1a(hash, e.signature.as_bytes());
            hash = fnv1a(hash, &[0]);
        }
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name, i as u32))
            .collect();
        Registry {
            entries,
            by_name,
            fingerprint: hash,
        }
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}
