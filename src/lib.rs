//! Core of the promotion workflow engine.
//!
//! Every module here is plain Rust and knows nothing of Python; the PyO3 binding layer lives in
//! `python/` behind the `python` feature so that `cargo test` links the core alone.
//!
//! Lints that are gates (errors under `make lint`'s clippy `-D warnings`): `unreachable_pub` here,
//! for the whole crate (an item is `pub` only when the crate's API reaches it); `missing_docs` in
//! each module whose public items are all documented (each file's `#![warn(missing_docs)]`):
//! `store`, `control`, `eligibility`, `error`, `evidence`, `gating`, `service`, `status`, `val`,
//! `pool`, `pyfmt`, and `reality_check`'s `blocks`, `bootstrap`, `cache`, `prepare`,
//! `draw_omega`, `kernel`, `omega`, `tally` and `numpy::{pcg, seeding, zig_tables}`. Not yet (33
//! items without docs): `reality_check` itself (whose attribute would also cover its child
//! modules).

#![warn(unreachable_pub)]

pub mod control;
pub mod eligibility;
pub mod error;
pub mod evidence;
pub mod gating;
pub mod pool;
pub mod pyfmt;
pub mod reality_check;
pub mod service;
pub mod status;
pub mod store;
pub mod val;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
pub use status::Status;
