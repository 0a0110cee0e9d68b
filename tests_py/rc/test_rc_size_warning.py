"""The measured-size warning (issue 26, docs/size_study.md): a result whose configuration has few
bootstrap blocks per series (T / L) says so, naming the size measured on such a design; one inside
the measured band does not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from crypto_analyzer_promotion.reality_check import (
    FEW_BLOCKS,
    RealityCheckConfig,
    run_family_reality_check,
    size_warning,
)


def test_warning_below_the_block_count_names_the_measured_size():
    w = size_warning(250, 10, "stationary", 12.0)
    assert w is not None
    assert "T / L = 250 / 12; 20.8 blocks is below 40" in w
    # The figures measured at T = 250, K = 10, L = 12 (docs/size_study.md).
    assert "rejected 7.15 %" in w and "studentized SPA (consistent) 5.5 %" in w
    assert "average block length" in w
    assert "block size" in size_warning(250, 10, "block_fixed", 12.0)
    assert "hypotheses" not in w  # K = 10: the many-hypotheses figures do not apply


def test_many_hypotheses_with_few_blocks_no_longer_warn():
    """With the mixed studentization (issue 26) the studentized SPA holds the band at K = 100 with
    T / L ≈ 21 and 42 (3.8 %, 4.0 %; docs/size_study.md): only the block count warns."""
    assert size_warning(500, 100, "stationary", 12.0) is None  # 41.7 blocks
    both = size_warning(250, 100, "stationary", 12.0)
    assert both is not None and "below 40" in both and "hypotheses" not in both
    assert size_warning(1000, 1000, "stationary", 12.0) is None


def test_no_warning_inside_the_measured_band_and_the_boundary():
    assert size_warning(1000, 10, "stationary", 12.0) is None
    assert size_warning(FEW_BLOCKS * 12, 10, "stationary", 12.0) is None  # exactly FEW_BLOCKS blocks
    assert size_warning(FEW_BLOCKS * 12 - 1, 10, "stationary", 12.0) is not None
    # Degenerate inputs have no design to compare with.
    assert size_warning(1, 10, "stationary", 12.0) is None
    assert size_warning(0, 10, "stationary", 12.0) is None


def test_the_result_and_its_summary_carry_it_with_the_method_s_own_length(tmp_path):
    rng = np.random.default_rng(1)
    short = rng.normal(size=(250, 4))
    r = run_family_reality_check(short, RealityCheckConfig(n_sim=49))
    assert r.size_warning == size_warning(250, 4, "stationary", 12.0)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["size_warning"] == r.size_warning
    # Fixed blocks: the block size counts, not the (unused) average block length.
    long_ = rng.normal(size=(1000, 4))
    fixed = run_family_reality_check(
        long_, RealityCheckConfig(n_sim=49, method="block_fixed", block_size=30, avg_block_length=5)
    )
    assert fixed.size_warning is not None and "T / L = 1000 / 30;" in fixed.size_warning
    ok = run_family_reality_check(long_, RealityCheckConfig(n_sim=49))
    assert ok.size_warning is None and ok.to_dict()["size_warning"] is None
    # A cached result says the same.
    first = run_family_reality_check(short, RealityCheckConfig(n_sim=49), family_id="f", cache_dir=tmp_path)
    again = run_family_reality_check(short, RealityCheckConfig(n_sim=49), family_id="f", cache_dir=tmp_path)
    assert again.cache_hit and again.size_warning == first.size_warning is not None


@pytest.mark.parametrize("summary_warning", ["size: T / L = 250 / 12 …", None, 3])
def test_the_page_view_passes_the_summary_s_warning(tmp_path, summary_warning):
    from crypto_analyzer_promotion._views import rc_null

    f = tmp_path / "rc_summary.json"
    body = {"rc_p_value": 0.2, "observed_max": 0.01, "null_max_distribution": [0.0, 0.01, 0.02]}
    if summary_warning is not None:
        body["size_warning"] = summary_warning
    f.write_text(json.dumps(body))
    null = rc_null({"rc_summary_path": str(f)})
    assert null is not None
    assert null["size_warning"] == (summary_warning if isinstance(summary_warning, str) else None)
