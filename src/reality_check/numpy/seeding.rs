//! The analyzer's run-key seed derivation (`crypto_analyzer.core.seeding.seed_root`, c79684b):
//! SHA-256 of `"{run_key}|{salt}[|fold:{fold_id}]|{version}"`, first 8 bytes big-endian, mod 2**63.

#![warn(missing_docs)]

use sha2::{Digest, Sha256};

/// Version of the derivation (`SEED_ROOT_VERSION` in the analyzer).
pub const SEED_ROOT_VERSION: i64 = 1;

/// Salt of the Reality Check null (`SALT_RC_NULL`).
pub const SALT_RC_NULL: &str = "rc_null";

/// Stable 63-bit seed from a run key, a component salt and an optional fold (e.g. the horizon).
pub fn seed_root(run_key: &str, salt: &str, fold_id: Option<&str>, version: i64) -> u64 {
    let salt_effective = match fold_id {
        Some(f) => format!("{salt}|fold:{f}"),
        None => salt.to_string(),
    };
    let digest = Sha256::digest(format!("{run_key}|{salt_effective}|{version}").as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(head) % (1u64 << 63)
}
