//! [`RemoteExecutor`], the handle of a client: submits, maps, shutdown, job hosts and ids,
//! metrics. Connected by `builder.rs` (which also holds `connect`, `connect_async` and
//! `builder`: the builder names this file, never the reverse).

use std::fmt;
use std::sync::Arc;

// For the documentation's links.
#[allow(unused_imports)]
use crate::error::FutureError;
use crate::future::PoolFuture;
use crate::map::{Map, MapOptions};
use crate::options::SubmitOptions;
use crate::process::Job;
use crate::remote::client;
use crate::remote::report::{JobHost, RemoteMetrics};

/// Runs registered jobs on worker hosts through NATS JetStream and hands out ordinary
/// [`PoolFuture`]s: dask.distributed's `Client.submit`, or `MPIPoolExecutor`, on a proven
/// message engine.
///
/// * Jobs are the same `#[poolbridge::job]` handles as for
///   [`ProcessPoolExecutor`](crate::ProcessPoolExecutor); the client and the hosts must link and
///   register the same jobs (checked per call: the name and a hash of the types).
/// * [`connect`](Self::connect) is blocking and needs no async runtime: the async-nats client runs
///   on a private thread. [`submit`](Self::submit) encodes the arguments on the calling thread
///   and returns at once; the job is stored in a JetStream work-queue stream, and a host started
///   with [`serve`] takes it.
/// * The futures are ordinary [`PoolFuture`]s: `result`, `join`, callbacks,
///   [`wait`](crate::wait()), [`as_completed`](crate::as_completed) and `.await` work
///   unchanged, mixed with thread-pool and process-pool futures. Done callbacks run on a
///   completer thread of the executor, never on the thread that drives the NATS client; one that
///   blocks does not delay other results.
/// * A future is `Running` once a host says it took the job; `cancel()` before that succeeds
///   and hosts skip the job (a cancel that crosses the host's pickup in flight cannot stop it;
///   its result is then dropped).
/// * Dropping the executor is `shutdown(wait = true, cancel_futures = false)`: it waits for the
///   answers of the jobs submitted. With no host running, that is forever; shut down with
///   `cancel_futures = true` to leave at once.
///
/// See the [module docs](crate::remote) for the delivery semantics.
///
/// # Examples
///
/// ```no_run
/// use poolbridge::{RemoteExecutor, ThreadPoolExecutor, as_completed};
///
/// #[poolbridge::job]
/// fn score(doc: String) -> usize {
///     doc.split_whitespace().count()
/// }
///
/// fn main() -> Result<(), poolbridge::BuildError> {
///     poolbridge::process::init();
///     let remote = RemoteExecutor::connect("nats://127.0.0.1:4222")?;
///     let local = ThreadPoolExecutor::new(2);
///     let futures = vec![
///         remote.submit(score, ("a remote job".into(),)),
///         local.submit(|| "a local one".split_whitespace().count()),
///     ];
///     for f in as_completed(&futures) {
///         println!("{:?}", f.result());
///     }
///     Ok(())
/// }
/// ```
///
/// [`serve`]: crate::remote::serve()
pub struct RemoteExecutor {
    /// Set by `builder.rs`, which connects.
    pub(super) shared: Arc<client::ClientCore>,
}

impl RemoteExecutor {
    /// Sends `job(args)` to the worker hosts and returns its future at once.
    ///
    /// The arguments are serialized now, on this thread: a `Serialize` impl that fails (or
    /// panics) resolves the future to [`FutureError::Codec`] at once, and a job that is not
    /// registered here to [`FutureError::NotRegistered`]. After [`shutdown`](Self::shutdown)
    /// the future is already done with `Err(FutureError::Shutdown)`. If the server does not
    /// confirm storing the job within half the dedup window (publishing it again meanwhile), it
    /// resolves to [`FutureError::Unavailable`] with the reason: the job may or may not have
    /// been stored, and the executor goes on.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn area(width: f64, height: f64) -> f64 {
    ///     width * height
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     assert_eq!(ex.submit(area, (3.0, 4.0)).join(), Ok(12.0));
    /// }
    /// ```
    pub fn submit<J: Job>(&self, job: J, args: J::Args) -> PoolFuture<J::Output> {
        self.submit_with(job, args, SubmitOptions::default())
    }

    /// [`submit`](Self::submit) with options: a [`timeout`](SubmitOptions::timeout) for this job,
    /// enforced by its host (the worker process is killed past it and the future resolves to
    /// [`FutureError::JobTimeout`]; not retried), and a [`deadline`](SubmitOptions::deadline)
    /// (inherited from the job that submits, by default).
    ///
    /// The deadline travels as the time left when the job is published
    /// (`Poolbridge-Deadline-Ms`); its host subtracts the time the job waited in the stream.
    /// A job whose deadline passed before a host took it is not run and resolves to
    /// [`FutureError::DeadlineExceeded`] `{ started: false }` (at once, if it had passed at
    /// submit); one still running at its deadline is stopped by its host as
    /// [`PoolFuture::request_cancel`] would, and resolves to `DeadlineExceeded { started: true
    /// }`. Neither is retried. With no host running, the future stays pending until a host
    /// takes the job and answers.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use poolbridge::{FutureError, SubmitOptions};
    ///
    /// #[poolbridge::job]
    /// fn spin() {
    ///     loop {}
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     let options = SubmitOptions::default().timeout(Duration::from_millis(200));
    ///     let err = ex.submit_with(spin, (), options).join().unwrap_err();
    ///     assert_eq!(err, FutureError::JobTimeout(Duration::from_millis(200)));
    ///
    ///     let options = SubmitOptions::default().deadline(Duration::from_millis(200));
    ///     let err = ex.submit_with(spin, (), options).join().unwrap_err();
    ///     assert!(err.is_deadline_exceeded());
    /// }
    /// ```
    pub fn submit_with<J: Job>(
        &self,
        job: J,
        args: J::Args,
        options: SubmitOptions,
    ) -> PoolFuture<J::Output> {
        let deadline = options.effective_deadline(std::time::Instant::now());
        self.shared
            .submit(job, args, options.get_timeout(), deadline)
    }

    /// Runs `job` on every item on the worker hosts and yields the results in input order:
    /// Python's `Executor.map`. Every item is submitted at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn cube(n: i64) -> i64 {
    ///     n * n * n
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     let cubes: Vec<i64> = ex.map(cube, (1..=4).map(|n| (n,))).map(Result::unwrap).collect();
    ///     assert_eq!(cubes, [1, 8, 27, 64]);
    /// }
    /// ```
    pub fn map<J, I>(&self, job: J, items: I) -> Map<J::Output>
    where
        J: Job,
        I: IntoIterator<Item = J::Args>,
    {
        let pending = items
            .into_iter()
            .map(|args| self.submit(job, args))
            .collect();
        Map::eager(pending, &MapOptions::default())
    }

    /// [`map`](Self::map) with options: a timeout for the whole iteration and a `buffersize`
    /// that keeps at most that many jobs in flight, pulling items lazily.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use poolbridge::MapOptions;
    ///
    /// #[poolbridge::job]
    /// fn double(n: u64) -> u64 {
    ///     n * 2
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     let options = MapOptions::default().buffersize(100);
    ///     let total: u64 = ex.map_with(double, (0..10_000).map(|n| (n,)), options).map(Result::unwrap).sum();
    ///     assert_eq!(total, 99_990_000);
    /// }
    /// ```
    pub fn map_with<J, I>(&self, job: J, items: I, options: MapOptions) -> Map<J::Output>
    where
        J: Job,
        I: IntoIterator<Item = J::Args>,
        I::IntoIter: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let closed = Arc::clone(&self.shared);
        // The caller's deadline (inside a job), fixed now: the items may be submitted later, on
        // another thread.
        let deadline = SubmitOptions::default().effective_deadline(std::time::Instant::now());
        Map::submitting(
            items.into_iter(),
            &options,
            move |args| shared.submit(job, args, None, deadline),
            move || closed.is_closed(),
        )
    }

    /// Stops accepting jobs: Python's `Executor.shutdown(wait, cancel_futures)`.
    ///
    /// * Later `submit`s return futures already done with `Err(FutureError::Shutdown)`.
    /// * `cancel_futures = true` cancels every job no host has taken (hosts skip them).
    /// * `wait = true` returns once every submitted job has its answer (or was cancelled), then
    ///   closes the connection. `wait = false` returns at once; answers still arrive until the
    ///   executor is dropped.
    ///
    /// Idempotent; callable from a done callback.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    /// ex.shutdown(true, true); // cancel what no host has started, wait for the rest
    /// assert!(ex.is_shutdown());
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.shutdown(wait, cancel_futures);
    }

    /// `true` once [`shutdown`](Self::shutdown) was called (or the connection was lost for good).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    /// assert!(!ex.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_closed()
    }

    /// Which worker host has `fut`'s job: the host that answered it once `fut` is done, the one
    /// running it while it is `Running`. `None` before a host took it, for a job cancelled
    /// before that, and for a future of another executor.
    ///
    /// The name is the host's [`ServeOptions::name`] (by default `{hostname}-{pid}`); a failed
    /// job also names its host in its error
    /// ([`WorkerExit::host`](crate::WorkerExit::host)). The executor remembers the hosts of
    /// the futures that are still held somewhere; dropping every handle to a future forgets it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use poolbridge::as_completed;
    ///
    /// #[poolbridge::job]
    /// fn render(frame: u32) -> Vec<u8> {
    ///     vec![0; frame as usize]
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     let frames: Vec<_> = (0..100).map(|i| ex.submit(render, (i,))).collect();
    ///     for f in as_completed(&frames) {
    ///         let host = ex.job_host(f).map(|h| h.name).unwrap_or_default();
    ///         println!("{} bytes from {host}", f.result().map_or(0, |v| v.len()));
    ///     }
    /// }
    /// ```
    ///
    /// [`ServeOptions::name`]: crate::remote::ServeOptions::name
    pub fn job_host<T>(&self, fut: &PoolFuture<T>) -> Option<JobHost> {
        self.shared.job_host(fut)
    }

    /// The id of `fut`'s job (`{client id}-{n}`): what [`attach`](Self::attach) takes, on this
    /// client or on one started later. `None` for a future of another executor, or one this
    /// executor has forgotten (every handle to it was dropped).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// #[poolbridge::job]
    /// fn square(n: u64) -> u64 {
    ///     n * n
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    ///     let fut = ex.submit(square, (7,));
    ///     let id = ex.job_id(&fut).expect("a job of this executor");
    ///     println!("job {id}"); // write it down somewhere durable to attach after a restart
    /// }
    /// ```
    pub fn job_id<T>(&self, fut: &PoolFuture<T>) -> Option<String> {
        self.shared.job_id_of(fut)
    }

    /// A future for the answer of job `id` (from [`job_id`](Self::job_id)), submitted by this
    /// client or by one that has gone (crashed, restarted) with [`keep_answers`]: it resolves to
    /// the kept answer, or to the answer still to come if the job is queued or running. `job`
    /// names its output type (the job it was submitted with).
    ///
    /// * It needs `keep_answers` on this executor too (it reads the answers bucket), else it
    ///   fails with [`FutureError::Ipc`]; so does an id that is not a job id, or one of a job
    ///   this executor already has a future for.
    /// * An id whose answer was never kept (its client did not keep answers), or is past the
    ///   retention, never resolves: bound the wait with `result_timeout`.
    /// * `cancel()` stops waiting; the job itself is not cancelled.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// #[poolbridge::job]
    /// fn square(n: u64) -> u64 {
    ///     n * n
    /// }
    ///
    /// fn main() {
    ///     poolbridge::process::init();
    ///     let ex = poolbridge::RemoteExecutor::builder()
    ///         .keep_answers(Duration::from_secs(3600))
    ///         .connect("nats://127.0.0.1:4222")
    ///         .unwrap();
    ///     // An id written down by an earlier run of this program.
    ///     let fut = ex.attach(square, "5e1f0c2a9d3b4e77-12");
    ///     println!("{:?}", fut.result_timeout(Duration::from_secs(60)));
    /// }
    /// ```
    ///
    /// [`keep_answers`]: crate::remote::RemoteBuilder::keep_answers
    pub fn attach<J: Job>(&self, job: J, id: &str) -> PoolFuture<J::Output> {
        self.shared.attach(job, id)
    }

    /// A snapshot of the executor's counters: submitted, completed, failed, cancelled,
    /// delivered again, pending; the worker hosts and the stream's depth; queue wait and run
    /// time over all hosts. The first call makes the client follow the hosts' statuses and the
    /// stream's depth (in the background, nothing per job): they show from the next call that
    /// comes after a status interval.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
    /// assert_eq!(ex.metrics().pending, 0);
    /// ```
    pub fn metrics(&self) -> RemoteMetrics {
        self.shared.metrics()
    }
}

impl Drop for RemoteExecutor {
    /// `shutdown(wait = true, cancel_futures = false)`. While the thread panics, it does not
    /// wait: pending futures fail with [`FutureError::BrokenPool`] (their jobs may still run).
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared
                .abandon("the RemoteExecutor was dropped while its owner panicked");
        } else {
            self.shared.shutdown(true, false);
        }
    }
}

impl fmt::Debug for RemoteExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.metrics();
        f.debug_struct("RemoteExecutor")
            .field("url", &self.shared.settings.url)
            .field("stream", &self.shared.settings.topology.names.stream)
            .field("pending", &m.pending)
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}
