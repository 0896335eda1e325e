//! [`RemoteError`]: why a client could not connect or a host stopped. A leaf: every other file
//! of the module may name it.

use std::fmt;

/// Why a [`RemoteExecutor`] could not connect, or why [`serve`] stopped: the message says what
/// to change (the URL, the server's JetStream, a name, `process::init()`).
///
/// # Examples
///
/// ```
/// // Nothing listens on port 1: the message says so and how to start a server.
/// let err = poolbridge::RemoteExecutor::connect("nats://127.0.0.1:1").unwrap_err();
/// assert!(err.to_string().contains("nats-server -js"), "{err}");
/// ```
///
/// [`RemoteExecutor`]: crate::RemoteExecutor
/// [`serve`]: crate::remote::serve()
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteError {
    message: String,
}

impl RemoteError {
    pub(crate) fn new(message: impl Into<String>) -> RemoteError {
        RemoteError {
            message: message.into(),
        }
    }

    /// The message, as `Display` prints it.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = poolbridge::RemoteExecutor::builder().stream("a.b").connect("nats://127.0.0.1:1");
    /// assert!(err.unwrap_err().message().contains("stream name"));
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoteError {}
