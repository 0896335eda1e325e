//! [`PoolFuture`]: the handle to a job, with Python's `concurrent.futures.Future` API.
//!
//! | file         | concept                                                                   |
//! |--------------|---------------------------------------------------------------------------|
//! | `state.rs`   | the state word: lifecycle, flags, transitions                             |
//! | `progress.rs`| `progress()`, a job's progress cell and the `ProgressUpdates` stream      |
//! | `core.rs`    | `Core` (outcome, waiters, the completion protocol) and the `PoolFuture` type with the job behind it (`TaskHandle`, `Permit`) |
//! | `handle.rs`  | `PoolFuture`'s methods, `FutureState`, `cancelled()`; inline runs, wait deadlines |
//! | `promise.rs` | [`Promise`]: the same machine completed by hand                           |
//!
//! Each file names only files above it in this table (`handle.rs` adds methods to the type
//! `core.rs` defines), and none names this one. The design note `src/future/README.md` explains
//! the state machine and the completion protocol.

mod core;
mod handle;
mod progress;
mod promise;
pub(crate) mod state;

pub use self::core::PoolFuture;
pub(crate) use self::core::{Core, Permit, Refusal, RunHooks, StopListener, TaskHandle, Until};
pub use self::handle::{FutureState, cancelled, deadline};
pub(crate) use self::handle::{Waiter, deadline_after};
pub(crate) use self::progress::running_in;
#[cfg(feature = "process")]
pub(crate) use self::progress::{ProgressCell, set_child_hook};
pub use self::progress::{ProgressUpdates, progress};
pub use self::promise::Promise;
