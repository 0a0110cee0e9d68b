//! Core of the promotion workflow engine.
//!
//! Every module here is plain Rust and knows nothing of Python; the PyO3 binding layer lives in
//! `python/` behind the `python` feature so that `cargo test` links the core alone.

pub mod error;
pub mod control;
pub mod json;
pub mod migrate;
pub mod guards;
pub mod store;
pub mod gating;
pub mod eligibility;
pub mod promotion;
pub mod evidence;
pub mod service;
pub mod bootstrap;
pub mod numpy_pcg;
mod numpy_zig_tables;
pub mod seeding;
pub mod reality_check;
pub mod draw_omega;
pub mod cache;
pub mod sqlite_host;
pub mod pg_conn;
pub mod pg_store;
pub mod pg_migrate;
pub mod backend;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
