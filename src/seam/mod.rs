//! The seam between an executor that sends calls across a boundary and its transport: what the
//! process pool (a socket to a child process) and the remote executor (NATS) share, so that the
//! two differ only in how bytes travel.
//!
//! | file           | concept                                                                   |
//! |----------------|---------------------------------------------------------------------------|
//! | `job.rs`       | [`Job`], [`JobFn`], the link-time registry and [`register`]: a job's name on both ends |
//! | `lifecycle.rs` | open, shut down or broken: the one closed state, with the error a submit then gets |
//! | `call.rs`      | the only encoder of a call (name, index, arguments) and the only decoder of an output, with one set of messages |
//! | `completion.rs`| the typed end of a call (`Completion`, `Typed`): start, decode, publish   |
//! | `crew.rs`      | the elastic helper threads that hand their duty off before user code runs |
//!
//! Each file names only files above it in this table.
//!
//! ```text
//! executor (process/, remote/)          seam                              transport
//! ────────────────────────────          ────                              ─────────
//! submit(job, args) ──────────▶ call::encode_call ──EncodedCall──▶ socket frame / NATS message
//!   Promise ─▶ Typed (Completion)                                            │
//!                                                                            ▼ answer bytes
//!              Completion::start ◀── taken (sent to a worker, picked by a host)
//!              Completion::decode ◀── on a crew thread (call::decode_output)
//!              Completion::publish ─▶ PoolFuture (waiters; done callbacks after
//!                                     before_user_code: the crew hands its duty off)
//! ```
//!
//! [`Job`]: crate::process::Job
//! [`JobFn`]: crate::process::JobFn
//! [`register`]: crate::process::register

pub(crate) mod call;
pub(crate) mod completion;
pub(crate) mod crew;
pub(crate) mod job;
pub(crate) mod lifecycle;
