"""The Reality Check cache: key stability, integrity, concurrency, no-cache switches."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import stat
import sys

import numpy as np
import pytest
from crypto_analyzer_promotion import rc_cache
from crypto_analyzer_promotion.rc_cache import (
    get_rc_cache_key,
    is_cache_disabled,
    load_cached_null_max,
    load_manifest,
    save_cached_null_max,
)
from crypto_analyzer_promotion.reality_check import RealityCheckConfig, run_family_reality_check

FIELDS = ("fam1", "ds1", "abc123", "mean_ic", None, 200, 42, "stationary", 12)


def test_key_is_pinned_and_recomputable_with_hashlib():
    # The default null (recentred, scaled by the variance share since issue 26) has its own
    # version, so a null cached unscaled before is never served as the scaled one.
    key = get_rc_cache_key(*FIELDS)
    assert key == "1f9e9466d05c8b5b9624538e"  # pinned: a change here invalidates every cache
    payload = "|".join(["rc-null-v3-recentred-variance-share/xoshiro256pp-splitmix-v1", *map(str, FIELDS)])
    assert key == hashlib.sha256(payload.encode()).hexdigest()[:24]
    # The unscaled null keeps the key it had (the same meaning).
    key = get_rc_cache_key(*FIELDS, null_scale="none")
    assert key == "8886008d6a0dc92ff337b0e7"
    payload = "|".join(
        [
            "rc-null-v2-recentred/xoshiro256pp-splitmix-v1",
            "fam1",
            "ds1",
            "abc123",
            "mean_ic",
            "None",
            "200",
            "42",
            "stationary",
            "12",
        ]
    )
    assert key == hashlib.sha256(payload.encode()).hexdigest()[:24]
    assert len(key) == 24 and all(c in "0123456789abcdef" for c in key)


def test_key_differs_between_recentred_and_old_null_and_between_streams():
    keys = {
        get_rc_cache_key(*FIELDS),
        get_rc_cache_key(*FIELDS, null_centering="none"),
        get_rc_cache_key(*FIELDS, rng="numpy_legacy"),
        get_rc_cache_key(*FIELDS, null_centering="none", rng="numpy_legacy"),
    }
    assert len(keys) == 4
    payload = "|".join(
        [
            "rc-null-v1-uncentred/numpy-legacy-mt19937",
            "fam1",
            "ds1",
            "abc123",
            "mean_ic",
            "None",
            "200",
            "42",
            "stationary",
            "12",
        ]
    )
    assert (
        get_rc_cache_key(*FIELDS, null_centering="none", rng="numpy_legacy")
        == hashlib.sha256(payload.encode()).hexdigest()[:24]
    )
    assert get_rc_cache_key("fam1", "ds1", "abc123", "mean_ic", None, 201, 42, "stationary", 12) != get_rc_cache_key(
        *FIELDS
    )


def test_roundtrip_manifest_and_npy_format(tmp_path):
    arr = np.linspace(-1, 1, 1001)
    path = save_cached_null_max(tmp_path, "k1", arr)
    np.testing.assert_array_equal(np.load(path), arr)  # numpy reads our .npy
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x93NUMPY\x01\x00"
    np.testing.assert_array_equal(load_cached_null_max(tmp_path, "k1"), arr)
    man = load_manifest(tmp_path)
    assert man == json.loads((tmp_path / "manifest.json").read_text())
    assert man["k1"]["path"] == "k1.npy"
    assert man["k1"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_cached_null_max(tmp_path, "absent") is None
    assert load_manifest(tmp_path / "nowhere") == {}


def test_corrupt_or_missing_artifact_is_never_served(tmp_path):
    save_cached_null_max(tmp_path, "k", np.arange(10.0))
    p = tmp_path / "k.npy"
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 0x01
    p.write_bytes(bytes(raw))
    assert load_cached_null_max(tmp_path, "k") is None
    p.unlink()
    assert load_cached_null_max(tmp_path, "k") is None


def test_manifest_paths_outside_the_cache_are_refused(tmp_path):
    cache = tmp_path / "cache"
    save_cached_null_max(cache, "k", np.arange(3.0))
    outside = tmp_path / "evil.npy"
    np.save(outside, np.arange(3.0))
    sha = hashlib.sha256(outside.read_bytes()).hexdigest()
    man = load_manifest(cache)
    man["rel"] = {"path": "../evil.npy", "sha256": sha}
    man["abs"] = {"path": str(outside), "sha256": sha}
    (cache / "manifest.json").write_text(json.dumps(man))
    assert load_cached_null_max(cache, "rel") is None
    assert load_cached_null_max(cache, "abs") is None
    np.testing.assert_array_equal(load_cached_null_max(cache, "k"), np.arange(3.0))


def _writer(args):
    cache_dir, worker, n = args
    from crypto_analyzer_promotion.rc_cache import save_cached_null_max

    for i in range(n):
        save_cached_null_max(cache_dir, f"w{worker}_{i}", np.full(500, worker * 1000.0 + i))
    return worker


def test_concurrent_writers_from_several_processes_lose_nothing(tmp_path):
    n_proc, per = 4, 25
    ctx = mp.get_context("spawn")
    with ctx.Pool(n_proc) as pool:
        assert sorted(pool.map(_writer, [(str(tmp_path), w, per) for w in range(n_proc)])) == list(range(n_proc))
    man = json.loads((tmp_path / "manifest.json").read_text())  # never torn: valid JSON
    assert len(man) == n_proc * per
    for w in range(n_proc):
        for i in range(per):
            np.testing.assert_array_equal(load_cached_null_max(tmp_path, f"w{w}_{i}"), np.full(500, w * 1000.0 + i))
    assert not [
        p
        for p in tmp_path.iterdir()
        if p.name not in man and not p.name.endswith(".npy") and p.name not in ("manifest.json", "manifest.lock")
    ]


def test_no_cache_flag_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("CRYPTO_ANALYZER_NO_CACHE", raising=False)
    assert is_cache_disabled() is False
    assert is_cache_disabled(True) is True
    monkeypatch.setenv("CRYPTO_ANALYZER_NO_CACHE", "1")
    assert is_cache_disabled() is True
    x = np.random.default_rng(0).normal(size=(100, 3))
    r = run_family_reality_check(x, RealityCheckConfig(n_sim=50), family_id="f", dataset_id="d", cache_dir=tmp_path)
    assert r.cache_key is None and not r.cache_hit
    assert not (tmp_path / "manifest.json").exists()
    monkeypatch.setenv("CRYPTO_ANALYZER_NO_CACHE", "0")
    r = run_family_reality_check(
        x, RealityCheckConfig(n_sim=50), family_id="f", dataset_id="d", cache_dir=tmp_path, no_cache=True
    )
    assert r.cache_key is None and not (tmp_path / "manifest.json").exists()


def test_family_run_hits_the_cache_and_recomputes_a_corrupt_artifact(monkeypatch, tmp_path):
    monkeypatch.delenv("CRYPTO_ANALYZER_NO_CACHE", raising=False)
    x = np.random.default_rng(1).normal(size=(200, 5))
    x[:, 1] += 0.2
    cfg = RealityCheckConfig(n_sim=300)
    kw = dict(family_id="fam", dataset_id="ds", git_commit="c0ffee", cache_dir=tmp_path)
    first = run_family_reality_check(x, cfg, **kw)
    assert not first.cache_hit and first.cache_key == get_rc_cache_key(
        "fam", "ds", "c0ffee", "mean_ic", None, 300, 42, "stationary", 12
    )
    second = run_family_reality_check(x, cfg, **kw)
    assert second.cache_hit
    np.testing.assert_array_equal(second.null_max_distribution, first.null_max_distribution)
    assert second.rc_p_value == first.rc_p_value
    assert second.romano_wolf_p_values == first.romano_wolf_p_values
    assert second.spa_p_values == first.spa_p_values
    # The old null never gets the recentred artifact.
    old = run_family_reality_check(x, cfg, null_centering="none", **kw)
    assert not old.cache_hit and old.cache_key != first.cache_key
    # Corrupt the artifact: recomputed, not served, and repaired.
    p = tmp_path / f"{first.cache_key}.npy"
    p.write_bytes(p.read_bytes()[:-8] + b"\x00" * 8)
    third = run_family_reality_check(x, cfg, **kw)
    assert not third.cache_hit
    np.testing.assert_array_equal(third.null_max_distribution, first.null_max_distribution)
    assert run_family_reality_check(x, cfg, **kw).cache_hit


def test_cache_dir_that_is_a_file_or_read_only(monkeypatch, tmp_path):
    monkeypatch.delenv("CRYPTO_ANALYZER_NO_CACHE", raising=False)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OSError, match="not a directory"):
        save_cached_null_max(f, "k", np.arange(2.0))
    assert load_cached_null_max(f, "k") is None
    x = np.random.default_rng(2).normal(size=(50, 2))
    with pytest.warns(RuntimeWarning, match="cache not written"):
        r = run_family_reality_check(x, RealityCheckConfig(n_sim=20), family_id="f", cache_dir=f)
    assert not r.cache_hit and 0 < r.rc_p_value <= 1
    if sys.platform != "win32" and os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            with pytest.raises(PermissionError):
                save_cached_null_max(ro, "k", np.arange(2.0))
        finally:
            ro.chmod(stat.S_IRWXU)


def test_bad_keys_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        save_cached_null_max(tmp_path, "../escape", np.arange(2.0))
    assert rc_cache.rc_cache_algorithm_version("none") == "rc-null-v1-uncentred/xoshiro256pp-splitmix-v1"


def test_summary_is_a_json_artifact_and_an_old_one_is_a_miss(monkeypatch, tmp_path):
    monkeypatch.delenv("CRYPTO_ANALYZER_NO_CACHE", raising=False)
    x = np.random.default_rng(4).normal(size=(80, 3))
    kw = dict(family_id="fam", dataset_id="ds", cache_dir=tmp_path)
    first = run_family_reality_check(x, RealityCheckConfig(n_sim=50), **kw)
    key = first.cache_key
    summary = json.loads((tmp_path / f"{key}-summary-v4.json").read_text())
    assert summary["n_sim"] == 50 and len(summary["romano_wolf"]) == 3
    assert rc_cache.load_summary(tmp_path, key, 3, 50)["spa_studentized"] == first.spa_p_values
    assert rc_cache.load_summary(tmp_path, key, 3, 51) is None  # another n_sim: not served
    assert rc_cache.verify_entry(tmp_path, f"{key}-summary-v4") is None
    # Only a summary in the old format (floats packed in a .npy) beside the null: recomputed.
    (tmp_path / f"{key}-summary-v4.json").unlink()
    save_cached_null_max(tmp_path, f"{key}-summary-v2", np.array([3.0, 50.0] + [0.5] * 6 + [1.0] * 3))
    again = run_family_reality_check(x, RealityCheckConfig(n_sim=50), **kw)
    assert not again.cache_hit and again.spa_p_values == first.spa_p_values
    assert run_family_reality_check(x, RealityCheckConfig(n_sim=50), **kw).cache_hit
