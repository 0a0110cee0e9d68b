//! Cache core: round trip, integrity, and many threads saving at once (the Python tests use
//! several processes).

use crypto_analyzer_promotion::cache::{self, Miss};

#[test]
fn roundtrip_corruption_and_concurrent_threads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cache::save(d, "a", &[1.0, 2.5, -3.0]).unwrap();
    assert_eq!(cache::load(d, "a").unwrap(), Ok(vec![1.0, 2.5, -3.0]));
    assert_eq!(cache::load(d, "b").unwrap(), Err(Miss::NotInManifest));
    let p = d.join("a.npy");
    let mut bytes = std::fs::read(&p).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(cache::load(d, "a").unwrap(), Err(Miss::ChecksumMismatch));
    std::fs::remove_file(&p).unwrap();
    assert_eq!(cache::load(d, "a").unwrap(), Err(Miss::MissingArtifact));

    std::thread::scope(|s| {
        for w in 0..6 {
            s.spawn(move || {
                for i in 0..15 {
                    cache::save(d, &format!("t{w}_{i}"), &[w as f64, i as f64]).unwrap();
                }
            });
        }
    });
    let m = cache::load_manifest(d).unwrap();
    assert_eq!(m.len(), 1 + 6 * 15);
    for w in 0..6 {
        for i in 0..15 {
            assert_eq!(cache::load(d, &format!("t{w}_{i}")).unwrap(), Ok(vec![w as f64, i as f64]));
        }
    }
}

#[test]
fn key_and_bad_keys() {
    let v = cache::algorithm_version(true, "xoshiro256pp-splitmix-v1");
    let k = cache::cache_key(
        &v,
        &["fam1", "ds1", "abc123", "mean_ic", "None", "200", "42", "stationary", "12"].map(String::from),
    );
    assert_eq!(k, "8886008d6a0dc92ff337b0e7");
    assert_ne!(cache::algorithm_version(false, "x"), cache::algorithm_version(true, "x"));
    let dir = tempfile::tempdir().unwrap();
    assert!(cache::save(dir.path(), "../x", &[1.0]).is_err());
    assert!(cache::save(dir.path(), "", &[1.0]).is_err());
}
