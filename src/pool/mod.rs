//! [`ThreadPoolExecutor`]: Python's `concurrent.futures.ThreadPoolExecutor` on a work-stealing
//! pool.
//!
//! | file              | concept                                                          |
//! |-------------------|------------------------------------------------------------------|
//! | `executor.rs`     | `ThreadPoolExecutor`: submit, map, shutdown, metrics             |
//! | `builder.rs`      | settings and their validation; `ThreadPoolExecutor::new` and `builder` |
//! | `config.rs`       | the validated settings the registry, workers and state read      |
//! | `registry.rs`     | the queues, the worker slots, starting threads, shutdown and breaking |
//! | `worker.rs`       | a worker thread's loop, its availability around a job            |
//! | `local.rs`        | the local deque of the worker on this thread (`submit` from a job) |
//! | `sleep/`          | the sleep protocol: searching, parking, waking, retiring; how a new job finds a worker (design note inside) |
//! | `task.rs`         | a job: closure + future core in one allocation (plus its deadline, if it has one), and its queue entry |
//! | `deadline.rs`     | a job's deadline, and the process's deadline timer that ends or stops jobs at theirs |
//! | `state.rs`        | per-worker state (`build_with_state`, `StatefulPool`)            |
//! | `backpressure.rs` | `max_queued`: reservations, and submitters waiting for room      |
//! | `metrics.rs`      | `PoolMetrics`                                                    |
//! | `latency.rs`      | queue wait and run time: sampled jobs, log-scale histograms over a rotating window (`LatencySummary`) |

pub(crate) mod backpressure;
mod builder;
mod config;
pub(crate) mod deadline;
mod executor;
pub(crate) mod latency;
mod local;
mod metrics;
pub(crate) mod registry;
pub(crate) mod sleep;
mod state;
pub(crate) mod task;
pub(crate) mod worker;

pub use self::builder::{
    DEFAULT_KEEP_ALIVE, MAX_STACK_SIZE, MAX_WORKERS, MIN_STACK_SIZE, ThreadPoolBuilder,
    default_max_workers,
};
pub use self::executor::ThreadPoolExecutor;
pub use self::latency::LatencySummary;
pub use self::metrics::PoolMetrics;
pub use self::state::StatefulPool;
