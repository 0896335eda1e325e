//! `mod common;` in each test module of this binary: the shared `tests/common` module, which
//! `main.rs` compiles once.

pub use crate::common::*;
