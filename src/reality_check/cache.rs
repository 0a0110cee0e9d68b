//! On-disk cache of Reality Check null distributions.
//!
//! Layout of a cache directory: one `<key>.npy` per artifact (numpy format v1.0, `<f8`, 1-D) and
//! `manifest.json` mapping key → `{"path": "<key>.npy", "sha256": "<hex>"}`. The manifest is
//! rewritten atomically (temporary file + rename) while holding an exclusive lock on
//! `manifest.lock`, so concurrent writers from several processes never lose an entry nor leave a
//! torn file. Every load checks the artifact's sha256; a missing, corrupt or mismatching artifact
//! is reported as absent (callers recompute), never served. Paths in the manifest that point
//! outside the cache directory are refused.
//!
//! Beside the null maxima of a key, its summary (the SPA and Romano–Wolf p-values of the same
//! batch, [`RcSummary`]) is the JSON artifact `<key>-summary-v4.json`, entry `<key>-summary-v4`.
//! Summaries of earlier versions (`-summary`, `-summary-v2`: floats packed in a `.npy`;
//! `-summary-v3`: the SPA before issue 26's scale and λ) are never read: a cache miss, recomputed.

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::reality_check::SpaPValues;

/// The manifest's file name in a cache folder: cache key → artifact file and its sha256.
pub const MANIFEST: &str = "manifest.json";
const LOCK: &str = "manifest.lock";

/// Algorithm version of the cache key. The recentred null and the old un-centred null have
/// different versions, so one is never served for the other; so do the random streams, and the
/// recentred null scaled by the variance share (`scaled`, the default since issue 26: its null
/// maxima and Romano–Wolf p-values differ from the unscaled ones cached under v2). The
/// un-centred null is never scaled. The SPA's formula is versioned by the summary's suffix.
pub fn algorithm_version(recentred: bool, scaled: bool, stream_id: &str) -> String {
    match (recentred, scaled) {
        (true, true) => format!("rc-null-v3-recentred-variance-share/{stream_id}"),
        (true, false) => format!("rc-null-v2-recentred/{stream_id}"),
        (false, _) => format!("rc-null-v1-uncentred/{stream_id}"),
    }
}

/// 24 hex characters of sha256 over `version|field1|field2|…`.
pub fn cache_key(version: &str, fields: &[String]) -> String {
    let mut payload = String::from(version);
    for f in fields {
        payload.push('|');
        payload.push_str(f);
    }
    let digest = Sha256::digest(payload.as_bytes());
    hex::encode(digest)[..24].to_string()
}

/// True when the flag is set or env `CRYPTO_ANALYZER_NO_CACHE` is `1`.
pub fn is_cache_disabled(no_cache_flag: bool) -> bool {
    no_cache_flag || std::env::var("CRYPTO_ANALYZER_NO_CACHE").map(|v| v.trim() == "1").unwrap_or(false)
}

/// One manifest entry: where a cached artifact is and what its bytes must hash to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The artifact's path relative to the cache folder (one inside it is served, nothing else).
    pub path: String,
    /// The sha256 of its bytes, hex; a mismatch is never served.
    pub sha256: String,
}

/// The manifest: cache key → entry, in key order (as written to [`MANIFEST`]).
pub type Manifest = BTreeMap<String, ManifestEntry>;

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 128 || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(Error::invalid(format!("cache key {key:?} must be 1-128 characters of [A-Za-z0-9_-]")));
    }
    Ok(())
}

/// Read the manifest; absent → empty. An unreadable/corrupt manifest is treated as empty.
pub fn load_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    match fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice::<Manifest>(&bytes).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(Manifest::new()),
        Err(e) => Err(Error::io("could not read cache manifest", path, e)),
    }
}

/// Resolve a manifest path; `None` when it is absolute or leaves the cache directory.
fn resolve_inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute() || rel.is_empty() {
        return None;
    }
    if !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(dir.join(p))
}

/// Serialize a 1-D float64 array in the `.npy` v1.0 format.
pub fn npy_bytes(values: &[f64]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}", values.len());
    // magic(6) + version(2) + header_len(2) + header + '\n' must be a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    header.push_str(&" ".repeat(pad));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 8);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Parse a `.npy` written by [`npy_bytes`] (1-D `<f8`, C order, v1.0 or v2.0 header).
pub fn parse_npy(bytes: &[u8]) -> Result<Vec<f64>> {
    let bad = |why: &str| Error::Cache(format!("not a 1-D float64 .npy file: {why}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("bad magic"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => {
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12usize)
        }
        _ => return Err(bad("unsupported version")),
    };
    let header = bytes.get(start..start + hlen).ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header not text"))?;
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("'descr':'<f8'") || !compact.contains("'fortran_order':False") {
        return Err(bad("dtype must be <f8 in C order"));
    }
    let shape_at = compact.find("'shape':(").ok_or_else(|| bad("no shape"))? + "'shape':(".len();
    let shape_end = compact[shape_at..].find(')').ok_or_else(|| bad("bad shape"))? + shape_at;
    let dims: Vec<&str> = compact[shape_at..shape_end].split(',').filter(|s| !s.is_empty()).collect();
    if dims.len() != 1 {
        return Err(bad("array must be 1-D"));
    }
    let n: usize = dims[0].parse().map_err(|_| bad("bad shape"))?;
    let data = &bytes[start + hlen..];
    if Some(data.len()) != n.checked_mul(8) {
        return Err(bad("data length does not match shape"));
    }
    Ok(data.chunks_exact(8).map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect())
}

fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Io {
            context: "cache dir is not a directory".into(),
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    fs::create_dir_all(dir).map_err(|e| Error::io("could not create cache dir", dir, e))
}

fn write_atomic(dir: &Path, final_path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("could not write in cache dir", dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io("could not write cache file", tmp.path().to_path_buf(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io("could not sync cache file", tmp.path().to_path_buf(), e))?;
    tmp.persist(final_path).map_err(|e| Error::io("could not rename cache file into", final_path, e.error))?;
    Ok(())
}

/// Save `values` under `key`: artifact and manifest entry, atomically, under the manifest lock.
pub fn save(dir: &Path, key: &str, values: &[f64]) -> Result<PathBuf> {
    check_key(key)?;
    save_artifact(dir, key, &format!("{key}.npy"), &npy_bytes(values))
}

/// Save `bytes` as the file `name` of manifest entry `entry` (both checked by the caller).
fn save_artifact(dir: &Path, entry: &str, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    ensure_dir(dir)?;
    let sha = hex::encode(Sha256::digest(bytes));
    let final_path = dir.join(name);
    // Write the artifact to a temporary file first (outside the lock), then publish both.
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("could not write in cache dir", dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io("could not write cache file", tmp.path().to_path_buf(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io("could not sync cache file", tmp.path().to_path_buf(), e))?;

    let lock_path = dir.join(LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io("could not open cache lock", &lock_path, e))?;
    lock.lock().map_err(|e| Error::io("could not lock cache manifest", &lock_path, e))?;
    let result = (|| -> Result<()> {
        let mut manifest = load_manifest(dir)?;
        // Replacing an artifact whose manifest entry has another sha256: drop the entry first,
        // so a crash between the two renames leaves the key absent (recomputed), never an entry
        // whose sha256 does not match its file.
        if manifest.get(entry).is_some_and(|old| old.sha256 != sha) {
            manifest.remove(entry);
            write_atomic(dir, &dir.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;
        }
        tmp.persist(&final_path).map_err(|e| Error::io("could not rename cache file into", &final_path, e.error))?;
        manifest.insert(entry.to_string(), ManifestEntry { path: name.to_string(), sha256: sha.clone() });
        let text = serde_json::to_vec_pretty(&manifest)?;
        write_atomic(dir, &dir.join(MANIFEST), &text)
    })();
    let _ = File::unlock(&lock);
    result.map(|_| final_path)
}

/// Why a load returned nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// The key has no manifest entry.
    NotInManifest,
    /// The entry's path (or a symlink on its way) leads out of the cache folder.
    PathOutsideCache,
    /// The entry's file does not exist.
    MissingArtifact,
    /// The file's sha256 is not the entry's.
    ChecksumMismatch,
    /// The file could not be read or parsed (the reason).
    Unreadable(String),
}

/// Load `key`: `Ok(Err(miss))` when absent or failing its integrity check (never served).
pub fn load(dir: &Path, key: &str) -> Result<std::result::Result<Vec<f64>, Miss>> {
    check_key(key)?;
    Ok(load_artifact(dir, key)?.and_then(|(_, bytes)| parse_npy(&bytes).map_err(|e| Miss::Unreadable(e.to_string()))))
}

/// The verified bytes of manifest entry `entry` and the path the manifest gives them.
fn load_artifact(dir: &Path, entry: &str) -> Result<std::result::Result<(String, Vec<u8>), Miss>> {
    let manifest = load_manifest(dir)?;
    let Some(entry) = manifest.get(entry) else {
        return Ok(Err(Miss::NotInManifest));
    };
    let Some(path) = resolve_inside(dir, &entry.path) else {
        return Ok(Err(Miss::PathOutsideCache));
    };
    // A symlink (the file or a folder on the way) leading out of the cache dir is refused like a
    // `../` path: the manifest may only name files that live in the cache.
    if let (Ok(real), Ok(real_dir)) = (path.canonicalize(), dir.canonicalize()) {
        if !real.starts_with(&real_dir) {
            return Ok(Err(Miss::PathOutsideCache));
        }
    }
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err(Miss::MissingArtifact)),
        Err(e) => return Ok(Err(Miss::Unreadable(e.to_string()))),
    };
    if hex::encode(Sha256::digest(&bytes)) != entry.sha256.to_ascii_lowercase() {
        return Ok(Err(Miss::ChecksumMismatch));
    }
    Ok(Ok((entry.path.clone(), bytes)))
}

/// The SPA and Romano–Wolf p-values of a cached null, for a hit without recomputing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RcSummary {
    /// Simulations of the batch (the null maxima's length).
    pub n_sim: usize,
    /// Hansen's SPA p-values with studentized statistics.
    pub spa_studentized: SpaPValues,
    /// Hansen's SPA p-values without studentization.
    pub spa_unstudentized: SpaPValues,
    /// Romano–Wolf adjusted p-values, one per hypothesis in column order.
    pub romano_wolf: Vec<f64>,
}

/// The version in the summary's entry and file name; a summary of another version is not read.
/// v4: the SPA's null scaled by the variance share and each draw studentized by
/// λ ω*² + (1 − λ) ω̂² (issue 26), so a v3 summary's SPA p-values are never served.
const SUMMARY_SUFFIX: &str = "-summary-v4";

/// The manifest entry of `key`'s summary.
fn summary_entry(key: &str) -> String {
    format!("{key}{SUMMARY_SUFFIX}")
}

/// Save the summary of `key`'s null (`<key>-summary-v4.json`, in the manifest like the null).
pub fn save_summary(dir: &Path, key: &str, summary: &RcSummary) -> Result<PathBuf> {
    check_key(key)?;
    let entry = summary_entry(key);
    save_artifact(dir, &entry, &format!("{entry}.json"), &serde_json::to_vec_pretty(summary)?)
}

/// Load the summary of `key`'s null for `k` hypotheses and `n_sim` simulations; one for another
/// shape is a miss ([`Miss::Unreadable`]), as is anything not verified.
pub fn load_summary(dir: &Path, key: &str, k: usize, n_sim: usize) -> Result<std::result::Result<RcSummary, Miss>> {
    check_key(key)?;
    Ok(load_artifact(dir, &summary_entry(key))?.and_then(|(_, bytes)| {
        let s = parse_summary(&bytes)?;
        if s.romano_wolf.len() != k || s.n_sim != n_sim {
            return Err(Miss::Unreadable(format!(
                "summary is for K={}, n_sim={} (wanted K={k}, n_sim={n_sim})",
                s.romano_wolf.len(),
                s.n_sim
            )));
        }
        Ok(s)
    }))
}

fn parse_summary(bytes: &[u8]) -> std::result::Result<RcSummary, Miss> {
    serde_json::from_slice(bytes).map_err(|e| Miss::Unreadable(format!("not an RC summary: {e}")))
}

/// Check manifest entry `entry` as a load would (path, sha256, then the format its file name
/// says: a summary `.json` or a `.npy`): `None` when it would be served.
pub fn verify(dir: &Path, entry: &str) -> Result<Option<Miss>> {
    let (path, bytes) = match load_artifact(dir, entry)? {
        Ok(found) => found,
        Err(miss) => return Ok(Some(miss)),
    };
    let parsed = if path.ends_with(".json") {
        parse_summary(&bytes).map(|_| ())
    } else {
        parse_npy(&bytes).map(|_| ()).map_err(|e| Miss::Unreadable(e.to_string()))
    };
    Ok(parsed.err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_roundtrip_and_alignment() {
        for n in [0usize, 1, 7, 1000] {
            let v: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 3.0).collect();
            let b = npy_bytes(&v);
            let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
            assert_eq!((10 + hlen) % 64, 0);
            assert_eq!(parse_npy(&b).unwrap(), v);
        }
        assert!(parse_npy(b"garbage").is_err());
    }

    #[test]
    fn refuses_paths_outside() {
        let d = Path::new("/tmp/x");
        assert!(resolve_inside(d, "../a.npy").is_none());
        assert!(resolve_inside(d, "/etc/passwd").is_none());
        assert!(resolve_inside(d, "a.npy").is_some());
    }
}
