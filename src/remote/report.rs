//! What the client and the hosts report: [`RemoteMetrics`], [`JobHost`] (filled by `client.rs`)
//! and [`ServeReport`] (filled by `host.rs`). A leaf.

/// A snapshot of a [`RemoteExecutor`]'s counters.
///
/// # Examples
///
/// ```no_run
/// let ex = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:4222").unwrap();
/// let m = ex.metrics();
/// println!("{} of {} done, {} delivered again", m.completed + m.failed, m.submitted, m.redelivered);
/// ```
///
/// [`RemoteExecutor`]: crate::RemoteExecutor
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteMetrics {
    /// Jobs submitted (sent or about to be).
    pub submitted: u64,
    /// Jobs answered with a value.
    pub completed: u64,
    /// Jobs that ended with an error (panic, crash, timeout, `max_deliver`, not stored).
    pub failed: u64,
    /// Jobs cancelled before a host answered: before a host took them (`cancel()`), or stopped
    /// while running (`request_cancel()`, or a dropped awaitable), whether their host confirmed
    /// the stop or the stop patience ran out.
    pub cancelled: u64,
    /// Of `cancelled`, the running jobs whose host confirmed that it stopped them (answered
    /// "stopped"); the rest of the stop requests were given up after
    /// [`stop_patience`](crate::remote::RemoteBuilder::stop_patience) or crossed a completion.
    pub stopped: u64,
    /// Jobs that ended with [`FutureError::DeadlineExceeded`](crate::FutureError::DeadlineExceeded)
    /// (counted in `failed` too): not started by their deadline (at submit, or by the host that
    /// took them), or stopped by their host when it passed.
    pub deadline_exceeded: u64,
    /// Jobs started on a second or later delivery: a host that had taken them was lost, whether
    /// it had started them or still held them queued. Counted once per job.
    pub redelivered: u64,
    /// Publications sent again because the server did not confirm the first in time (stored
    /// once all the same: same job id).
    pub republished: u64,
    /// Jobs submitted and not ended yet.
    pub pending: usize,
}

/// What a worker host did, returned by [`serve`] after a graceful stop.
///
/// # Examples
///
/// ```no_run
/// poolbridge::process::init();
/// let report = poolbridge::remote::serve("nats://127.0.0.1:4222", Default::default()).unwrap();
/// eprintln!("host {} ran {} jobs ({} failed)", report.name, report.ok + report.failed, report.failed);
/// ```
///
/// [`serve`]: crate::remote::serve()
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// The host's name ([`ServeOptions::name`](crate::remote::ServeOptions::name)).
    pub name: String,
    /// Jobs answered with a value.
    pub ok: u64,
    /// Jobs answered with an error (panic, crash, timeout, unknown job).
    pub failed: u64,
    /// Jobs this host received on a second or later delivery (another host was lost).
    pub redelivered: u64,
    /// Jobs skipped because their client cancelled them.
    pub skipped_cancelled: u64,
    /// Running jobs stopped because their client asked ([`PoolFuture::request_cancel`], a
    /// dropped awaitable, a cancel that crossed the pickup), answered "stopped": each gave its
    /// run slot back once its local process job ended, and was not retried.
    ///
    /// [`PoolFuture::request_cancel`]: crate::PoolFuture::request_cancel
    pub stopped: u64,
    /// Jobs answered `DeadlineExceeded`: taken after their deadline (not run), or stopped when
    /// it passed while they ran.
    pub deadline_exceeded: u64,
    /// Jobs answered `WorkerDied` because `max_deliver` deliveries had lost their host.
    pub exhausted: u64,
}

/// Which worker host started or ran a remote job: [`RemoteExecutor::job_host`].
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
///     assert_eq!(fut.result(), Ok(49));
///     let host = ex.job_host(&fut).expect("a host answered");
///     println!("ran on {} (pid {}), delivery {}", host.name, host.pid, host.attempt);
/// }
/// ```
///
/// [`RemoteExecutor::job_host`]: crate::RemoteExecutor::job_host
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobHost {
    /// The host's name: [`ServeOptions::name`](crate::remote::ServeOptions::name), by default
    /// `{hostname}-{pid}`.
    pub name: String,
    /// The host's process id (on its machine).
    pub pid: u32,
    /// Which delivery of the job this host had: 1 for the first, more after earlier hosts were
    /// lost.
    pub attempt: u32,
}
