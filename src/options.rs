//! [`SubmitOptions`]: the options of one job, one type for every executor.

use std::time::{Duration, Instant};

use crate::context;

/// Options of one job, for every executor's `submit_with`: the process pool's
/// (`ProcessPoolExecutor::submit_with`, feature `process`) and the remote executor's
/// (`RemoteExecutor::submit_with`, feature `nats`).
///
/// Settings: a [`deadline`](Self::deadline) (every executor: a job not started by then never
/// runs, a job running past it is stopped), and a [`timeout`](Self::timeout), which the process
/// pool and the remote executor's hosts honour by killing the job's worker process.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use poolbridge::SubmitOptions;
///
/// let options = SubmitOptions::default().timeout(Duration::from_secs(30));
/// assert_eq!(options.get_timeout(), Some(Duration::from_secs(30)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitOptions {
    timeout: Option<Duration>,
    deadline: Option<Deadline>,
    inherit_deadline: bool,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        SubmitOptions {
            timeout: None,
            deadline: None,
            inherit_deadline: true,
        }
    }
}

/// A deadline as given: from the submit, or a fixed instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deadline {
    After(Duration),
    At(Instant),
}

impl SubmitOptions {
    /// Kills the job's worker (with its process group) if the job runs longer than `d`, counted
    /// from the moment a worker receives it; the future resolves to
    /// [`FutureError::JobTimeout`](crate::FutureError::JobTimeout) and the worker is replaced.
    /// Overrides the process pool's default limit (`ProcessPoolBuilder::job_timeout`). Honoured
    /// by the process pool and the remote executor (whose hosts run jobs in process pools).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::SubmitOptions;
    ///
    /// let options = SubmitOptions::default().timeout(Duration::from_millis(500));
    /// assert_eq!(options.get_timeout(), Some(Duration::from_millis(500)));
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The timeout set by [`timeout`](Self::timeout), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(poolbridge::SubmitOptions::default().get_timeout(), None);
    /// ```
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// A deadline `d` after the submit: a job not started by then never runs and resolves to
    /// [`FutureError::DeadlineExceeded`](crate::FutureError::DeadlineExceeded) `{ started:
    /// false }`; a job still running then is asked to stop ([`cancelled()`](crate::cancelled())
    /// turns `true`) and resolves to `DeadlineExceeded { started: true }` (on the process pool
    /// and the remote executor it is also killed with its worker after the grace period). It
    /// crosses process and network boundaries as the time left, so clocks need not agree.
    ///
    /// A job submitted from inside a job with a deadline inherits the earlier of the two, as
    /// gRPC propagates deadlines, unless [`inherit_deadline(false)`](Self::inherit_deadline).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use poolbridge::SubmitOptions;
    ///
    /// let options = SubmitOptions::default().deadline(Duration::from_secs(2));
    /// assert_eq!(options.get_deadline(), Some(Duration::from_secs(2)));
    /// ```
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(Deadline::After(d));
        self
    }

    /// [`deadline`](Self::deadline) at a fixed instant (for many jobs sharing one deadline).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use poolbridge::SubmitOptions;
    ///
    /// let at = Instant::now() + Duration::from_secs(5);
    /// let options = SubmitOptions::default().deadline_at(at);
    /// assert!(options.get_deadline().unwrap() <= Duration::from_secs(5));
    /// ```
    pub fn deadline_at(mut self, at: Instant) -> Self {
        self.deadline = Some(Deadline::At(at));
        self
    }

    /// The deadline set, as the time left from now (zero once passed).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(poolbridge::SubmitOptions::default().get_deadline(), None);
    /// ```
    pub fn get_deadline(&self) -> Option<Duration> {
        match self.deadline? {
            Deadline::After(d) => Some(d),
            Deadline::At(at) => Some(at.saturating_duration_since(Instant::now())),
        }
    }

    /// Whether a job submitted with these options from inside a job inherits that job's
    /// deadline (the earlier of the two applies). `true` by default; `false` for work that must
    /// outlive its submitter's deadline (a cleanup, an audit record).
    ///
    /// # Examples
    ///
    /// ```
    /// use poolbridge::SubmitOptions;
    ///
    /// let detached = SubmitOptions::default().inherit_deadline(false);
    /// assert!(!detached.get_inherit_deadline());
    /// assert!(SubmitOptions::default().get_inherit_deadline());
    /// ```
    pub fn inherit_deadline(mut self, inherit: bool) -> Self {
        self.inherit_deadline = inherit;
        self
    }

    /// Whether the submitter's deadline is inherited (see
    /// [`inherit_deadline`](Self::inherit_deadline)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(poolbridge::SubmitOptions::default().get_inherit_deadline());
    /// ```
    pub fn get_inherit_deadline(&self) -> bool {
        self.inherit_deadline
    }

    /// The job's deadline for a submit at `now`: its own, or the current job's (this thread's)
    /// if that is earlier and inherited.
    pub(crate) fn effective_deadline(&self, now: Instant) -> Option<Instant> {
        let own = self.deadline.map(|d| match d {
            Deadline::After(d) => now.checked_add(d).unwrap_or_else(far_future),
            Deadline::At(at) => at,
        });
        let inherited = if self.inherit_deadline {
            context::current_deadline()
        } else {
            None
        };
        match (own, inherited) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// An instant no deadline reaches (a `Duration::MAX` deadline means none, in effect).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}
