//! Core of the promotion workflow engine.
//!
//! Every module here is plain Rust and knows nothing of Python; the PyO3 binding layer lives in
//! `python/` behind the `python` feature so that `cargo test` links the core alone.

pub mod backend;
pub mod bootstrap;
pub mod cache;
pub mod control;
pub mod draw_omega;
pub mod eligibility;
pub mod error;
pub mod evidence;
pub mod gating;
pub mod guards;
pub mod migrate;
pub mod numpy_pcg;
mod numpy_zig_tables;
pub mod pg_conn;
pub mod pg_migrate;
pub mod pg_store;
pub mod pool;
pub mod promotion;
pub mod pyfmt;
pub mod reality_check;
pub mod seeding;
pub mod service;
pub mod sqlite_host;
pub mod status;
pub mod store;
pub mod val;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
pub use status::Status;
