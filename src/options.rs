//! [`SubmitOptions`]: the options of one job, one type for every executor.

use std::time::Duration;

/// Options of one job, for every executor's `submit_with`: the process pool's
/// (`ProcessPoolExecutor::submit_with`, feature `process`) and the remote executor's
/// (`RemoteExecutor::submit_with`, feature `nats`).
///
/// Today it has one setting, a [`timeout`](Self::timeout), which the process pool and the
/// remote executor's hosts honour by killing the job's worker process.
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubmitOptions {
    timeout: Option<Duration>,
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
}
