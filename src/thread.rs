//! The thread pool's details: its limits and defaults, and [`StatefulPool`], the pool whose
//! workers each own a value (made by [`ThreadPoolBuilder::build_with_state`]). The everyday
//! names of the thread pool are at the crate root: [`ThreadPoolExecutor`],
//! [`ThreadPoolBuilder`] and [`default_max_workers`].
//!
//! [`ThreadPoolExecutor`]: crate::ThreadPoolExecutor
//! [`ThreadPoolBuilder`]: crate::ThreadPoolBuilder
//! [`ThreadPoolBuilder::build_with_state`]: crate::ThreadPoolBuilder::build_with_state
//! [`default_max_workers`]: crate::default_max_workers
//!
//! # Examples
//!
//! ```
//! use poolbridge::ThreadPoolExecutor;
//! use poolbridge::thread::{MAX_WORKERS, MIN_STACK_SIZE};
//!
//! let pool = ThreadPoolExecutor::builder()
//!     .max_workers(MAX_WORKERS.min(64))
//!     .stack_size(MIN_STACK_SIZE)
//!     .build()
//!     .unwrap();
//! assert_eq!(pool.submit(|| 1 + 1).join(), Ok(2));
//! ```

pub use crate::bridge::DEFAULT_THREAD_NAME_PREFIX;
pub use crate::pool::{
    DEFAULT_KEEP_ALIVE, MAX_STACK_SIZE, MAX_WORKERS, MIN_STACK_SIZE, StatefulPool,
};
