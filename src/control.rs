//! Cancellation and progress shared between a long computation and whoever is watching it
//! (the Python binding polls it while the GIL is released; Rust callers may ignore it).

#![warn(missing_docs)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The shared state of one run: a cancellation flag the watcher sets and the computation polls
/// between chunks, and a done/total counter the computation advances for progress display.
/// Every field is atomic, so one `RunControl` is shared by reference across the worker threads.
#[derive(Debug, Default)]
pub struct RunControl {
    cancelled: AtomicBool,
    done: AtomicU64,
    total: AtomicU64,
}

impl RunControl {
    /// Not cancelled, no progress yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Ask the computation to stop at its next check (it then returns `Error::Interrupted`).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
    /// Whether [`RunControl::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
    /// The number of work units the run will do (e.g. bootstrap simulations).
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }
    /// Count `n` more units as done.
    pub fn add_done(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
    /// (done, total) units of work, for progress display.
    pub fn progress(&self) -> (u64, u64) {
        (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }
}
