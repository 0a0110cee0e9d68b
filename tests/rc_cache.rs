//! Cache core: round trip, integrity, and many threads saving at once (the Python tests use
//! several processes).

use crypto_analyzer_promotion::reality_check::cache::{self, Miss};

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
    let v = cache::algorithm_version(true, false, "xoshiro256pp-splitmix-v1");
    let k = cache::cache_key(
        &v,
        &["fam1", "ds1", "abc123", "mean_ic", "None", "200", "42", "stationary", "12"].map(String::from),
    );
    assert_eq!(k, "8886008d6a0dc92ff337b0e7");
    assert_ne!(cache::algorithm_version(false, false, "x"), cache::algorithm_version(true, false, "x"));
    // The variance-scaled null (the default) never shares a key with the unscaled one cached before.
    assert_ne!(cache::algorithm_version(true, true, "x"), cache::algorithm_version(true, false, "x"));
    assert_eq!(cache::algorithm_version(false, true, "x"), cache::algorithm_version(false, false, "x"));
    let dir = tempfile::tempdir().unwrap();
    assert!(cache::save(dir.path(), "../x", &[1.0]).is_err());
    assert!(cache::save(dir.path(), "", &[1.0]).is_err());
}

#[test]
fn summary_is_json_beside_the_null_and_checked_for_shape() {
    use crypto_analyzer_promotion::reality_check::SpaPValues;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = cache::RcSummary {
        n_sim: 99,
        spa_studentized: SpaPValues { lower: 0.01, consistent: 0.02, upper: 0.1 + 0.2 },
        spa_unstudentized: SpaPValues { lower: 1.0, consistent: 0.5, upper: 1.0 / 3.0 },
        romano_wolf: vec![0.07, 1.0, 2.0 / 7.0],
    };
    let path = cache::save_summary(d, "k1", &s).unwrap();
    assert_eq!(path.file_name().unwrap(), "k1-summary-v4.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).unwrap()["spa_studentized"]["upper"].is_f64());
    // Every float comes back with its bits.
    assert_eq!(cache::load_summary(d, "k1", 3, 99).unwrap(), Ok(s.clone()));
    assert!(matches!(cache::load_summary(d, "k1", 4, 99).unwrap(), Err(Miss::Unreadable(_))));
    assert!(matches!(cache::load_summary(d, "k1", 3, 100).unwrap(), Err(Miss::Unreadable(_))));
    assert_eq!(cache::load_summary(d, "k2", 3, 99).unwrap(), Err(Miss::NotInManifest));
    assert_eq!(cache::verify(d, "k1-summary-v4").unwrap(), None);
    // A summary of an older version (a .npy under "-summary-v2") is never read as one.
    cache::save(d, "k3-summary-v2", &[3.0, 99.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0]).unwrap();
    assert_eq!(cache::load_summary(d, "k3", 3, 99).unwrap(), Err(Miss::NotInManifest));
    assert_eq!(cache::verify(d, "k3-summary-v2").unwrap(), None);
    // Verification reads the format the file name says.
    std::fs::write(&path, b"{}").unwrap();
    assert_eq!(cache::verify(d, "k1-summary-v4").unwrap(), Some(Miss::ChecksumMismatch));
}
