//! The engine's one rayon thread pool: built on first use with `CRYPTO_ANALYZER_THREADS` threads
//! (default all cores), rebuilt in a forked child or when the configured count changes. Results
//! never depend on the number of threads; only the wall time does.

#![warn(missing_docs)]

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

struct PoolSlot {
    pid: u32,
    threads: usize,
    pool: Arc<rayon::ThreadPool>,
}

static POOL: Mutex<Option<PoolSlot>> = Mutex::new(None);

/// Threads to use: env `CRYPTO_ANALYZER_THREADS` (a positive integer), default all cores.
pub fn configured_threads() -> usize {
    std::env::var("CRYPTO_ANALYZER_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// The one pool of the engine, built on first use and rebuilt in a forked child (its threads do
/// not exist there) or when the configured thread count changed.
pub fn thread_pool() -> Result<Arc<rayon::ThreadPool>> {
    let pid = std::process::id();
    let threads = configured_threads();
    let mut slot = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(s) = slot.as_ref() {
        if s.pid == pid && s.threads == threads {
            return Ok(s.pool.clone());
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("cap-rc-{i}"))
        .build()
        .map_err(|e| Error::Runtime(format!("could not start the thread pool: {e}")))?;
    let old = slot.replace(PoolSlot { pid, threads, pool: Arc::new(pool) });
    if let Some(old) = old {
        if old.pid != pid {
            // After fork the parent's worker threads do not exist here: never touch that pool.
            std::mem::forget(old);
        }
    }
    slot.as_ref().map(|s| s.pool.clone()).ok_or_else(|| Error::Internal("thread pool slot empty".into()))
}
