//! [`RemoteExecutor`]: the same `#[poolbridge::job]` handles and the same [`PoolFuture`]s, run by
//! worker hosts on other machines through NATS JetStream (feature `nats`).
//!
//! When one machine is not enough, Python users reach for dask.distributed's `Client` or
//! mpi4py's `MPIPoolExecutor`: the `concurrent.futures` interface on a cluster. This module is
//! that path on a proven engine, not a home-made one: jobs go to a JetStream work-queue stream
//! (stored, acknowledged, redelivered, deduplicated by the server), hosts pull them with
//! [`serve`], and each host runs them in a local [`ProcessPoolExecutor`](crate::ProcessPoolExecutor),
//! so a crashing job fails only itself.
//!
//! | file               | concept                                                            |
//! |--------------------|--------------------------------------------------------------------|
//! | `defaults.rs`      | the `DEFAULT_*` settings                                           |
//! | `report.rs`        | what the client and the hosts report: [`RemoteMetrics`] (with [`HostStatus`], [`StreamDepth`]), [`JobHost`], [`ServeReport`] |
//! | `wire.rs`          | subjects, headers and bodies of the messages                       |
//! | `connect.rs`       | connection settings ([`NatsOptions`], to async-nats), the stream, consumer and bucket |
//! | `completer.rs`     | the threads that publish outcomes and run done callbacks           |
//! | `client.rs`        | the client: pending jobs, the NATS runtime thread, answers → futures |
//! | `host.rs`          | the worker host: pulling, heartbeats, answering, graceful stop     |
//! | `executor.rs`      | [`RemoteExecutor`]: submit, map, shutdown, job hosts and ids, metrics |
//! | `builder.rs`       | [`RemoteBuilder`]: a client's settings and their checks; `RemoteExecutor::connect` and `builder` |
//! | `serve_options.rs` | [`ServeOptions`] and [`serve`]: a host's settings, checked, handed to `host.rs` |
//!
//! Each file names only files above it in this table, and none names this one.
//!
//! [`PoolFuture`]: crate::PoolFuture
//!
//! The design note `src/remote/README.md` follows a job through its life and gives the delivery
//! semantics and the failure table; `docs/remote.md` is the user's guide (deployment,
//! idempotency advice).
//!
//! Watching the cluster: a remote job's [`progress()`](crate::progress()) reaches its future
//! (coalesced by the host, [`PROGRESS_EVERY`]); hosts publish their status every
//! [`ServeOptions::status_interval`], which [`RemoteMetrics::hosts`] lists with the stream's
//! depth ([`RemoteMetrics::stream`]) and the latencies over all hosts.
//!
//! # Delivery semantics in one table
//!
//! | what happens                                  | what the future resolves to                      |
//! |-----------------------------------------------|--------------------------------------------------|
//! | the job returns                               | `Ok(value)` (the first answer; a second is dropped) |
//! | the job panics                                | [`FutureError::Panicked`], not retried           |
//! | the job's worker process dies on its host     | [`FutureError::WorkerDied`] (pid, signal, host), not retried |
//! | the job runs past its timeout                 | [`FutureError::JobTimeout`], not retried         |
//! | the host dies or hangs (no heartbeat)         | the job is delivered again after `ack_wait`      |
//! | … `max_deliver` times                         | [`FutureError::WorkerDied`] with [`attempts`](crate::WorkerExit::attempts) |
//! | `cancel()` before a host took it              | `Cancelled`; hosts skip it                        |
//! | `request_cancel()` after (or a dropped `.await`) | its host stops it: `Cancelled`, not retried    |
//! | its deadline passes in the stream / while it runs | [`FutureError::DeadlineExceeded`] `{ started }` |
//! | a re-sent publication (lost acknowledgement)  | stored once (`Nats-Msg-Id` = job id, within the dedup window) |
//!
//! At-least-once: a job whose host was lost after it ran, but before it acknowledged the job,
//! runs again. Make jobs idempotent (see `docs/remote.md`).
//!
//! Hosts trust nothing in a job message they cannot check: they run only jobs registered in
//! their own program (same name and types), and publish only to reply subjects under the
//! executor's results prefix. `docs/remote.md` ("Security") has the NATS permissions a client
//! and a host need.
//!
//! # Examples
//!
//! ```no_run
//! use poolbridge::RemoteExecutor;
//! use poolbridge::remote::ServeOptions;
//!
//! #[poolbridge::job]
//! fn thumbnail(path: String, width: u32) -> Result<Vec<u8>, String> {
//!     Ok(format!("{path}@{width}").into_bytes())
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     poolbridge::process::init(); // first: hosts run jobs in local worker processes
//!     if std::env::args().nth(1).as_deref() == Some("host") {
//!         // A worker host: serves until SIGTERM.
//!         poolbridge::remote::serve("nats://127.0.0.1:4222", ServeOptions::default())?;
//!         return Ok(());
//!     }
//!     let ex = RemoteExecutor::connect("nats://127.0.0.1:4222")?;
//!     let f = ex.submit(thumbnail, ("a.png".into(), 128));
//!     println!("{:?}", f.join()?);
//!     Ok(())
//! }
//! ```

mod builder;
mod client;
mod completer;
mod connect;
mod defaults;
pub(crate) mod executor;
mod host;
mod report;
mod serve_options;
mod wire;

/// Not public API: the async-nats crate, for this repository's own tests (which look at the
/// server's side with a raw client, and cannot add async-nats as a dev-dependency without
/// building it in every `cargo test`). Users add `async-nats` to their own `Cargo.toml`.
#[doc(hidden)]
pub mod __private {
    pub use async_nats;
}

pub use self::builder::RemoteBuilder;
pub use self::connect::NatsOptions;
pub use self::defaults::{
    DEFAULT_ACK_WAIT, DEFAULT_DEDUP_WINDOW, DEFAULT_MAX_DELIVER, DEFAULT_PUBLISH_TIMEOUT,
    DEFAULT_STATUS_INTERVAL, DEFAULT_STOP_PATIENCE, DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX,
    PROGRESS_EVERY,
};
pub use self::report::{HostState, HostStatus, JobHost, RemoteMetrics, ServeReport, StreamDepth};
pub use self::serve_options::{ServeOptions, serve};
// For the documentation's links (`RemoteExecutor` is exported at the crate root).
#[allow(unused_imports)]
use crate::error::FutureError;
#[allow(unused_imports)]
use crate::remote::executor::RemoteExecutor;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_executor_is_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<RemoteExecutor>();
        send_sync::<crate::BuildError>();
        fn send<T: Send>() {}
        send::<RemoteBuilder>();
        send::<ServeOptions>();
    }

    #[test]
    fn replicas_default_to_three_for_several_urls() {
        assert_eq!(connect::replicas_for(None, "nats://a:4222"), 1);
        assert_eq!(
            connect::replicas_for(None, "nats://a:4222, nats://b:4222"),
            3
        );
        assert_eq!(connect::replicas_for(Some(5), "nats://a:4222"), 5);
        assert_eq!(
            connect::replicas_for(Some(1), "nats://a:1,nats://b:2,nats://c:3"),
            1
        );
        let err = RemoteExecutor::builder()
            .replicas(0)
            .connect("nats://127.0.0.1:1")
            .unwrap_err();
        assert!(err.message().contains("replicas(0)"), "{err}");
        let err = serve("nats://127.0.0.1:1", ServeOptions::default().replicas(6)).unwrap_err();
        assert!(err.message().contains("ServeOptions::replicas(6)"), "{err}");
    }

    #[test]
    fn settings_are_checked_before_connecting() {
        let err = RemoteExecutor::builder()
            .ack_wait(Duration::ZERO)
            .connect("nats://127.0.0.1:1")
            .unwrap_err();
        assert!(err.message().contains("greater than zero"), "{err}");
        let err = RemoteExecutor::builder()
            .dedup_window(Duration::MAX)
            .connect("nats://127.0.0.1:1")
            .unwrap_err();
        assert!(err.message().contains("under 292 years"), "{err}");
        let err = serve("nats://127.0.0.1:1", ServeOptions::default().workers(0)).unwrap_err();
        assert!(err.message().contains("greater than 0"), "{err}");
        let err = serve(
            "nats://127.0.0.1:1",
            ServeOptions::default().subject_prefix("a b"),
        )
        .unwrap_err();
        assert!(err.message().contains("subject prefix"), "{err}");
        // This test binary never called process::init(): a host would start no worker.
        let err = serve("nats://127.0.0.1:1", ServeOptions::default()).unwrap_err();
        assert!(err.message().contains("process::init()"), "{err}");
    }
}
