//! The fuzz targets' bodies as ordinary tests (what CI runs instead of libFuzzer).
//!
//! `make fuzz` runs the real thing (cargo-fuzz + libFuzzer, coverage-guided, minutes per target).
//! Building that in CI costs ~1 min (cargo-fuzz install) + ~6 min (instrumented build) on 2
//! cores, more than the CI budget allows, so here the SAME bodies (fuzz/src/lib.rs) run over:
//!   1. every file of fuzz/seeds/<target>/ (hand-written cases and every regression libFuzzer found);
//!   2. a seeded random loop per target: structured random JSON / field soups plus byte-level
//!      mutations of the seeds (bit flips, splices, truncations, inserted tokens).
//!
//! Deterministic (fixed seeds), a few seconds in release mode.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod bodies;

use std::path::PathBuf;

use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("seeds").join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

struct Gen(Xoshiro256PlusPlus);

impl Gen {
    fn new(seed: u64) -> Self {
        Gen(Xoshiro256PlusPlus::seed_from_u64(seed))
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n.max(1)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn string(&mut self) -> String {
        const PIECES: [&str; 16] = [
            "a",
            "Z",
            "0",
            "'",
            "\"",
            "\\",
            "/",
            "..",
            "\u{0}",
            "é",
            "😀",
            "\u{202e}",
            "; DROP TABLE promotion_events;--",
            "%",
            "_",
            "\n",
        ];
        let n = self.below(6);
        (0..n).map(|_| *self.pick(&PIECES)).collect()
    }
    // 1575981093853829.25 is exact in f64 (a shortest-repr tie case found earlier): keep every digit.
    #[allow(clippy::excessive_precision)]
    fn float(&mut self) -> f64 {
        match self.below(6) {
            0 => f64::from_bits(self.0.next_u64()),
            1 => (self.0.next_u64() as f64) / (u64::MAX as f64) - 0.5,
            2 => *self.pick(&[0.0, -0.0, 1e16, 1e-5, 0.1, 5e-324, f64::MAX, f64::MIN_POSITIVE, 1575981093853829.25]),
            3 => (self.below(2_000_000) as f64 - 1e6) * 1e-10,
            4 => (self.below(1 << 53) as f64) * 10f64.powi(self.below(40) as i32 - 20),
            _ => self.0.next_u64() as f64,
        }
    }
    fn json(&mut self, depth: u32) -> serde_json::Value {
        use serde_json::Value;
        let leaf = depth >= 4 || self.below(3) == 0;
        if leaf {
            return match self.below(6) {
                0 => Value::Null,
                1 => Value::Bool(self.below(2) == 0),
                2 => Value::from(self.0.next_u64() as i64),
                3 => serde_json::Number::from_f64(self.float()).map(Value::Number).unwrap_or(Value::Null),
                _ => Value::String(self.string()),
            };
        }
        if self.below(2) == 0 {
            Value::Array((0..self.below(5)).map(|_| self.json(depth + 1)).collect())
        } else {
            Value::Object((0..self.below(5)).map(|_| (self.string(), self.json(depth + 1))).collect())
        }
    }
    fn mutate(&mut self, data: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
        let mut out = data.to_vec();
        for _ in 0..=self.below(4) {
            match self.below(6) {
                0 if !out.is_empty() => {
                    let i = self.below(out.len() as u64) as usize;
                    out[i] ^= 1 << self.below(8);
                }
                1 if !out.is_empty() => out.truncate(self.below(out.len() as u64) as usize),
                2 => {
                    let other = self.pick(corpus).clone();
                    let at = self.below(out.len() as u64 + 1) as usize;
                    let from = self.below(other.len() as u64 + 1) as usize;
                    out.splice(at..at, other[from..].iter().copied());
                }
                3 => {
                    const TOKENS: [&[u8]; 14] = [
                        b"{", b"}", b"[", b"]", b",", b":", b"\"", b"\x1f", b"\n", b"1e308", b"-0", b"\\u0000", b"/..",
                        b"\xff",
                    ];
                    let tok = *self.pick(&TOKENS);
                    let at = self.below(out.len() as u64 + 1) as usize;
                    out.splice(at..at, tok.iter().copied());
                }
                _ => {
                    let at = self.below(out.len() as u64 + 1) as usize;
                    out.insert(at, self.0.next_u64() as u8);
                }
            }
        }
        out
    }
    /// A structured input for `target` (what the seeds look like, randomised).
    fn structured(&mut self, target: &str) -> Vec<u8> {
        match target {
            "json_canonical" => serde_json::to_vec(&self.json(0)).unwrap(),
            "evidence_relativize" => {
                let base = self.pick(&["", "/data/run1", "/", "/tmp", "rel/dir", "/data/run1/../run2"]).to_string();
                let mut v = self.json(1);
                if let serde_json::Value::Object(ref mut m) = v {
                    m.insert("p".into(), format!("{base}/{}", self.string()).into());
                    m.insert(
                        "q".into(),
                        serde_json::Value::Array(vec![format!("{base}/../x").into(), "/elsewhere".into()]),
                    );
                }
                format!("{base}\n{v}").into_bytes()
            }
            "store_roundtrip" => {
                let n = 1 + self.below(12);
                let fields: Vec<Vec<u8>> = (0..n)
                    .map(|i| match i {
                        7 => self.pick(&["", "dup", "prom_x", "'"]).as_bytes().to_vec(),
                        8 => self
                            .pick(&["", "exploratory", "candidate", "accepted", "rejected", "Accepted", "x"])
                            .as_bytes()
                            .to_vec(),
                        9 => serde_json::to_vec(&self.json(0)).unwrap(),
                        _ => self.string().into_bytes(),
                    })
                    .collect();
                fields.join(&0x1f_u8)
            }
            "bundle_json" => {
                let mut b = serde_json::json!({
                    "run_id": self.string(), "dataset_id": self.string(), "signal_name": self.string(),
                    "horizons": [1 + self.below(30) as i64],
                });
                let h = b["horizons"][0].to_string();
                b["ic_summary_by_horizon"] =
                    serde_json::json!({ h: {"mean_ic": self.json(3), "t_stat": self.json(3), "n_obs": self.json(3)} });
                b["meta"] = self.json(1);
                if self.below(2) == 0 {
                    b["meta"] = serde_json::json!({"rc_p_value": self.json(3)});
                }
                let mut text = b.to_string();
                if self.below(3) == 0 {
                    let tok = *self.pick(&["NaN", "Infinity", "-Infinity"]);
                    text = text.replacen("null", tok, 1);
                }
                text.into_bytes()
            }
            "evidence_files" => match self.below(3) {
                0 => serde_json::json!({
                    "min_liquidity_usd": self.json(3), "max_participation_rate": self.json(3),
                    "cost_config": {"fee_bps": self.json(3), "slippage_bps": self.json(3)},
                    "capacity_curve_path": self.json(3), "rc_p_value": self.json(3), "notes": self.json(2),
                })
                .to_string()
                .into_bytes(),
                1 => {
                    let mut csv = String::from("regime,mean_ic,n_bars\n");
                    for _ in 0..self.below(5) {
                        csv.push_str(&format!(
                            "{},{},{}\n",
                            self.string().replace('\n', ""),
                            self.float(),
                            self.below(100)
                        ));
                    }
                    csv.into_bytes()
                }
                _ => serde_json::to_vec(&self.json(0)).unwrap(),
            },
            "bootstrap_config" => {
                let mut out = vec![self.below(256) as u8, self.below(256) as u8, self.below(2) as u8];
                let avg: f64 = *self.pick(&[1.0, 1.5, 12.0, 40.0, 600.0, 1e9, 0.999, f64::NAN]);
                out.extend_from_slice(&avg.to_bits().to_be_bytes());
                out.push(self.below(4) as u8);
                let bs = self.below(700) as f64;
                out.extend_from_slice(&bs.to_bits().to_be_bytes());
                out.push(self.below(4) as u8);
                out.push(self.below(2) as u8);
                out.push(self.below(3) as u8);
                out.extend_from_slice(&self.0.next_u64().to_be_bytes());
                out.extend_from_slice(&self.below(8).to_be_bytes());
                out.extend((0..self.below(300)).map(|_| self.0.next_u64() as u8));
                out
            }
            "cache_files" => {
                let path = *self.pick(&[
                    "k1.npy",
                    "./k1.npy",
                    "../outside.npy",
                    "/etc/passwd",
                    "",
                    "k1.npy/",
                    "cache/../k1.npy",
                    "k1.np",
                ]);
                let sha = if self.below(2) == 0 {
                    "e5f5d0bd3bd4e1a5e3df0cf9b0d42e7b0b1b9b7f8f0ea1f37b3ee4d6a1a2c9f0".to_string()
                } else {
                    self.string()
                };
                serde_json::json!({ "k1": { "path": path, "sha256": sha }, "other": self.json(2) })
                    .to_string()
                    .into_bytes()
            }
            other => panic!("no generator for {other}"),
        }
    }
}

fn run_target(target: &str, iterations: u64, seed: u64) -> u64 {
    let corpus: Vec<Vec<u8>> = seeds(target).into_iter().map(|(_, b)| b).collect();
    let mut gen = Gen::new(seed);
    let mut executed = 0;
    for data in &corpus {
        bodies::run_target(target, data);
        executed += 1;
    }
    for i in 0..iterations {
        let data = if i % 2 == 0 {
            gen.structured(target)
        } else {
            let base = gen.pick(&corpus).clone();
            gen.mutate(&base, &corpus)
        };
        if let Some(trace) = std::env::var_os("FUZZ_TRACE") {
            // Debug aid: the input being run is left in this file if the body hangs or aborts.
            let _ = std::fs::write(trace, &data);
        }
        bodies::run_target(target, &data);
        executed += 1;
    }
    executed
}

#[test]
fn every_target_has_seeds_and_a_fuzz_binary() {
    let manifest = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml")).unwrap();
    for t in bodies::TARGETS {
        assert!(manifest.contains(&format!("name = \"{t}\"")), "fuzz/Cargo.toml lacks target {t}");
        assert!(!seeds(t).is_empty());
    }
}

#[test]
fn fuzz_json_canonical_seeds_and_random() {
    assert!(run_target("json_canonical", 40_000, 0x5eed_0001) > 40_000);
}

#[test]
fn fuzz_evidence_relativize_seeds_and_random() {
    assert!(run_target("evidence_relativize", 20_000, 0x5eed_0002) > 20_000);
}

#[test]
fn fuzz_store_roundtrip_seeds_and_random() {
    assert!(run_target("store_roundtrip", 1_500, 0x5eed_0003) > 1_500);
}

#[test]
fn fuzz_bundle_json_seeds_and_random() {
    assert!(run_target("bundle_json", 20_000, 0x5eed_0004) > 20_000);
}

#[test]
fn fuzz_evidence_files_seeds_and_random() {
    assert!(run_target("evidence_files", 20_000, 0x5eed_0005) > 20_000);
}

#[test]
fn fuzz_bootstrap_config_seeds_and_random() {
    assert!(run_target("bootstrap_config", 20_000, 0x5eed_0006) > 20_000);
}

#[test]
fn fuzz_cache_files_seeds_and_random() {
    assert!(run_target("cache_files", 1_500, 0x5eed_0007) > 1_500);
}

/// The regression libFuzzer found first: serde_json's default float parser is not correctly
/// rounded, so canonical text did not parse back to the float it was written from.
#[test]
fn float_text_parses_back_exactly() {
    for text in ["-9.223372036854373e+30", "2.2250738585072014e-308", "0.30000000000000004", "1.7976931348623157e+308"]
    {
        let parsed: f64 = serde_json::from_str(text).unwrap();
        assert_eq!(parsed, text.parse::<f64>().unwrap(), "{text}");
    }
}
