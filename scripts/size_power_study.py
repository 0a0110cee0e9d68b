#!/usr/bin/env python3
"""`make size-study`: size and power of the Reality Check, Hansen's SPA and Romano–Wolf on the
designs users run, with arch's SPA and StepM on the same panels.

Every design draws null panels (every population mean exactly 0) of T periods and K hypotheses:

    x_{t,k} = φ x_{t−1,k} + e_{t,k},   e_{t,k} = σ_{t,k} (√ρ f_t + √(1−ρ) u_{t,k})

with f and u unit-variance shocks (normal, or Student t(4) scaled to unit variance), ρ the share of
a common factor, and σ_{t,k} = 1 or a GARCH(1,1) volatility σ² = 0.05 + 0.10 e²_{t−1} + 0.85 σ²_{t−1}
(unconditional variance 1) driven by the column's own shock. 50 burn-in rows.

Each panel is tested once by our engine (default stream, bootstrap seed = design seed × 100000 +
panel) with the design's bootstrap (stationary with average block length L, or fixed blocks of
L) and B draws, and once by `arch.bootstrap.StepM` (whose SPA, studentize=True and the same
bootstrap, also gives arch's SPA p-values). A test rejects when p < α. Measured per design:

- size: our RC, our SPA (studentized and unstudentized; lower, consistent, upper), the pre-fix
  studentized SPA (every draw divided by the fixed ω̂, recomputed in numpy from the same draws),
  our SPA with a Politis–White block length (a candidate default, `--auto-block`), Romano–Wolf's
  FWER under the complete null (= P(min adjusted p < α)), arch's SPA and StepM's FWER;
- partial null (`--edges` columns get a strong true edge of 6 long-run standard errors): FWER =
  P(some null column is rejected), ours (Romano–Wolf) and arch (StepM);
- power (`--power` effect sizes, in long-run standard errors of one column's mean, added to
  column 0 of the same null panels): P(p < α) for our RC and studentized SPA (consistent) and
  arch's SPA (consistent).

Every rate has its Monte-Carlo standard error sqrt(p(1−p)/n).

    .venv/bin/python scripts/size_power_study.py --quick            # a few seconds, all designs
    .venv/bin/python scripts/size_power_study.py --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from crypto_analyzer_promotion.reality_check import RealityCheckConfig, make_null_generator_stationary
from scipy.signal import lfilter

VARIANTS = ("lower", "consistent", "upper")


@dataclass(frozen=True)
class Design:
    name: str
    t: int
    k: int
    phi: float = 0.3
    shocks: str = "normal"  # "normal" | "t4"
    garch: bool = False
    factor: float = 0.0  # share ρ of the common factor in each shock's variance
    method: str = "stationary"  # "stationary" | "block_fixed"
    block: int = 12  # the package's default avg_block_length / block_size
    weight: float = 1.0  # share of --panels run on this design (the costly ones run fewer)
    partial: bool = False  # also measure the partial-null FWER
    power: bool = False  # also measure power at --power edges

    def label(self) -> str:
        dep = "iid" if self.phi == 0 else f"AR(1) φ={self.phi}"
        parts = [f"T={self.t}", f"K={self.k}", dep, "t(4)" if self.shocks == "t4" else "normal"]
        if self.garch:
            parts.append("GARCH")
        if self.factor:
            parts.append(f"factor ρ={self.factor}")
        parts.append(f"{'stationary L' if self.method == 'stationary' else 'fixed blocks b'}={self.block}")
        return ", ".join(parts)


DESIGNS = [
    Design("small_T", 250, 10, partial=True, power=True),
    Design("base", 1000, 10, partial=True, power=True),
    Design("iid", 1000, 10, phi=0.0),
    Design("strong_dep", 1000, 10, phi=0.7),
    Design("fixed_blocks", 1000, 10, method="block_fixed"),
    Design("wide_K", 500, 100, partial=True, power=True),
    Design("small_T_wide_K", 250, 100),
    Design("crypto", 1000, 200, shocks="t4", garch=True, factor=0.5, weight=0.5, partial=True, power=True),
    Design("t4_factor_small_T", 365, 50, shocks="t4", factor=0.5),
    Design("garch_normal", 1000, 50, garch=True),
    Design("K1000", 730, 1000, shocks="t4", garch=True, factor=0.3, weight=0.25),
    Design("long_T", 5000, 20, weight=0.25),
    Design("mid_T", 500, 10, partial=True, power=True),
]


# The order the designs run in (the data seeds stay tied to their index in DESIGNS): the ones
# furthest from the calibrated design first, so a stopped run has them.
RUN_ORDER = [
    "small_T",
    "wide_K",
    "crypto",
    "K1000",
    "t4_factor_small_T",
    "small_T_wide_K",
    "base",
    "garch_normal",
    "strong_dep",
    "iid",
    "fixed_blocks",
    "long_T",
    "mid_T",
]


def panel(rng: np.random.Generator, d: Design, burn: int = 50) -> np.ndarray:
    """A T×K null panel of design d (module doc); every population mean is exactly 0."""
    n = d.t + burn

    def shocks(shape: tuple[int, ...]) -> np.ndarray:
        if d.shocks == "t4":
            return rng.standard_t(4, size=shape) / math.sqrt(2.0)  # Var t(4) = 2
        return rng.normal(size=shape)

    e = shocks((n, d.k))
    if d.factor:
        e = math.sqrt(d.factor) * shocks((n, 1)) + math.sqrt(1.0 - d.factor) * e
    if d.garch:
        s2 = np.ones(d.k)
        out = np.empty_like(e)
        prev = np.zeros(d.k)
        for t in range(n):
            s2 = 0.05 + 0.10 * prev**2 + 0.85 * s2
            prev = np.sqrt(s2) * e[t]
            out[t] = prev
        e = out
    x = lfilter([1.0], [1.0, -d.phi], e, axis=0) if d.phi else e
    return x[burn:]


def long_run_se(d: Design) -> float:
    """Long-run standard error of one column's mean: (1/(1−φ))/√T (unit-variance shocks)."""
    return 1.0 / (1.0 - d.phi) / math.sqrt(d.t)


def fixed_omega_spa(null: np.ndarray, m: np.ndarray, omega: np.ndarray, n: int) -> list[float]:
    """The studentized SPA before the bootstrap-t fix: every draw of the recentred null matrix
    (m* − m) divided by the same ω̂_k. (lower, consistent, upper) p-values."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(omega > 0, math.sqrt(n) / omega, np.nan)
    thr = -omega / math.sqrt(n) * math.sqrt(2 * math.log(math.log(n)))
    t_obs = max(float(np.nanmax(m * scale)), 0.0)
    out = []
    for mu in (np.maximum(m, 0.0), np.where(m >= thr, m, 0.0), m):
        t_star = np.maximum(np.nanmax((null + m - mu) * scale, axis=1), 0.0)
        out.append((1 + int(np.sum(t_star >= t_obs))) / (null.shape[0] + 1))
    return out


def politis_white_block(x: np.ndarray, max_cols: int = 50) -> int:
    """Candidate default block length: the median over (up to max_cols) columns of arch's
    Politis–White (Patton–Politis–White corrected) stationary-bootstrap block length, rounded up."""
    from arch.bootstrap import optimal_block_length

    cols = x[:, : min(max_cols, x.shape[1])]
    opt = optimal_block_length(cols)
    return max(1, int(math.ceil(float(np.median(opt["stationary"])))))


def arch_stepm(x: np.ndarray, d: Design, b: int, alpha: float, seed: int) -> tuple[dict, list[int]]:
    """arch's SPA p-values and StepM's superior models for 'x has a positive mean' (losses −x
    against a zero benchmark), studentize=True (arch's default), the design's bootstrap."""
    from arch.bootstrap import StepM

    boot = "stationary" if d.method == "stationary" else "mbb"
    s = StepM(np.zeros(d.t), -x, size=alpha, block_size=d.block, reps=b, bootstrap=boot, seed=seed)
    s.compute()
    superior = [int(i) for i in s.superior_models]
    s.spa.compute()  # StepM leaves its SPA on the last subset's p-values: the full set again
    return {k: float(v) for k, v in s.spa.pvalues.items()}, superior


class Tally:
    """Rejections per test, panel by panel (so two tests on the same panels can be compared paired),
    and the p-values of the tests that size-adjusted power is computed for."""

    def __init__(self) -> None:
        self.hits: dict[str, list[bool]] = {}
        self.pvalues: dict[str, list[float]] = {}

    def add(self, name: str, hit: bool) -> None:
        self.hits.setdefault(name, []).append(bool(hit))

    def add_p(self, name: str, p: float, alpha: float) -> None:
        self.add(name, p < alpha)
        self.pvalues.setdefault(name, []).append(float(p))

    def rows(self) -> dict:
        out = {}
        for name, h in self.hits.items():
            n = len(h)
            c = int(sum(h))
            p = c / n
            out[name] = {"hits": c, "n": n, "rate": p, "mc_se": math.sqrt(p * (1 - p) / n)}
        return out

    def paired(self, a: str, b: str) -> dict | None:
        """rate(a) − rate(b) on the same panels, with the s.e. of the mean paired difference."""
        if a not in self.hits or b not in self.hits:
            return None
        d = np.asarray(self.hits[a], dtype=float) - np.asarray(self.hits[b], dtype=float)
        se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else float("nan")
        return {"diff": float(d.mean()), "mc_se": se, "n": int(d.size)}

    def size_adjusted(self, null: str, alt: str, alpha: float) -> dict | None:
        """Power of `alt`'s p-values at the critical value that gives `null`'s p-values (the same test
        on the design's null panels) a rejection rate of exactly alpha (randomized at the critical
        value, where p-values tie)."""
        if null not in self.pvalues or alt not in self.pvalues:
            return None
        return size_adjusted_power(np.asarray(self.pvalues[null]), np.asarray(self.pvalues[alt]), alpha)


def size_adjusted_power(p0: np.ndarray, p1: np.ndarray, alpha: float) -> dict:
    """Reject when p < v, and with probability g when p == v, where v and g make the rejection rate
    of the null p-values p0 exactly alpha; return that rule's rate on p1 (its power at the same size)
    and v. The rule is the size-alpha test that orders panels by p-value, so two tests' size-adjusted
    powers compare their statistics at one size, whatever each one's own size is."""
    values = np.unique(p0)
    below = np.searchsorted(np.sort(p0), values, side="left") / p0.size  # P0(p < v) for each v
    j = int(np.searchsorted(below, alpha, side="right")) - 1  # largest v with P0(p < v) <= alpha
    v = float(values[j])
    mass = float(np.mean(p0 == v))
    g = min(1.0, (alpha - below[j]) / mass) if mass > 0 else 0.0
    power = float(np.mean(p1 < v) + g * np.mean(p1 == v))
    return {"power": power, "critical_p": v, "randomized_share": g, "n_null": int(p0.size), "n_alt": int(p1.size)}


def ours(x: np.ndarray, d: Design, b: int, seed: int, block: int | None = None, null: bool = False) -> dict:
    blk = d.block if block is None else block
    cfg = RealityCheckConfig(
        n_sim=b, method=d.method, avg_block_length=blk, block_size=blk, seed=seed, rc_null_scale=NULL_SCALE[0]
    )
    gen = make_null_generator_stationary(x, cfg)
    got = gen.run(b, return_null_matrix=null)
    got["observed"] = gen.observed_stats.to_numpy()
    return got


# The null scale every run of ours uses (`--rc-null-scale`): the default, or "none".
NULL_SCALE = ["variance_share"]


def run_design(d: Design, idx: int, args: argparse.Namespace) -> dict:
    n_panels = max(args.min_panels, int(round(args.panels * d.weight)))
    rng = np.random.default_rng(args.seed * 1000 + idx)
    tally = Tally()
    a = args.alpha
    edges = min(args.edges, d.k - 1)
    edge = 6.0 * long_run_se(d)
    measure_power = d.power or args.power_everywhere
    t0 = time.time()
    blocks = []
    for r in range(n_panels):
        x = panel(rng, d)
        seed = (args.seed * 1000 + idx) * 100_000 + r
        got = ours(x, d, args.b, seed, null=True)
        tally.add_p("rc", got["rc_p_value"], a)
        tally.add("romano_wolf_fwer_complete", float(np.min(got["romano_wolf"])) < a)
        for v in VARIANTS:
            tally.add_p(f"spa_studentized_{v}", got["spa_studentized"][v], a)
            tally.add_p(f"spa_unstudentized_{v}", got["spa_unstudentized"][v], a)
        old = fixed_omega_spa(got["null_matrix"], got["observed"], np.asarray(got["omega"]), d.t)
        for v, p in zip(VARIANTS, old):
            tally.add(f"spa_studentized_fixed_omega_{v}", p < a)
        if args.auto_block:
            blk = politis_white_block(x)
            blocks.append(blk)
            auto = ours(x, d, args.b, seed, block=blk)
            tally.add("rc_auto_block", auto["rc_p_value"] < a)
            tally.add("spa_studentized_consistent_auto_block", auto["spa_studentized"]["consistent"] < a)
        if args.arch:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pv, sup = arch_stepm(x, d, args.b, a, seed)
            for v in VARIANTS:
                tally.add_p(f"arch_spa_{v}", pv[v], a)
            tally.add("arch_stepm_fwer_complete", len(sup) > 0)
        if d.partial and edges:
            xe = x.copy()
            xe[:, :edges] += edge
            rw = np.asarray(ours(xe, d, args.b, seed)["romano_wolf"])
            tally.add("romano_wolf_fwer_partial", bool(np.min(rw[edges:]) < a))
            tally.add("romano_wolf_edges_found_partial", bool(np.all(rw[:edges] < a)))
            if args.arch:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _, sup = arch_stepm(xe, d, args.b, a, seed)
                tally.add("arch_stepm_fwer_partial", any(i >= edges for i in sup))
                tally.add("arch_stepm_edges_found_partial", all(i in sup for i in range(edges)))
        if measure_power:
            for c in args.power:
                xp = x.copy()
                xp[:, 0] += c * long_run_se(d)
                g = ours(xp, d, args.b, seed)
                tally.add_p(f"power_{c:g}_rc", g["rc_p_value"], a)
                for stud in ("studentized", "unstudentized"):
                    tally.add_p(f"power_{c:g}_spa_{stud}_consistent", g[f"spa_{stud}"]["consistent"], a)
                if args.arch:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pv, _ = arch_stepm(xp, d, args.b, a, seed)
                    tally.add_p(f"power_{c:g}_arch_spa_consistent", pv["consistent"], a)
    out = {
        "design": asdict(d),
        "label": d.label(),
        "panels": n_panels,
        "data_seed": args.seed * 1000 + idx,
        "elapsed_s": round(time.time() - t0, 1),
        "results": tally.rows(),
    }
    if blocks:
        out["auto_block_median"] = float(np.median(blocks))
    if measure_power:
        out["power_compared"] = {f"{c:g}": power_compared(tally, c, a) for c in args.power}
    return out


# The tests whose power is compared: ours, and arch's SPA (studentize=True, consistent). arch's SPA
# compares the largest raw mean with the largest raw bootstrap mean; studentize=True only sets the
# consistent re-centring's threshold. So the like-for-like test of ours is the unstudentized
# consistent SPA; the RC is the same statistic re-centring every column.
POWER_TESTS = [
    ("RC", "rc"),
    ("SPA stud. consistent", "spa_studentized_consistent"),
    ("SPA unstud. consistent", "spa_unstudentized_consistent"),
    ("arch SPA consistent", "arch_spa_consistent"),
]


def power_compared(tally: Tally, c: float, a: float) -> dict:
    """For each test at edge c: its power paired against arch's on the same panels, and its power
    at a size of exactly a (the critical value set on the same test's null panels)."""
    out = {}
    for _, name in POWER_TESTS:
        alt = f"power_{c:g}_{name}"
        entry = {
            "size_adjusted": tally.size_adjusted(name, alt, a),
            "minus_arch": tally.paired(alt, f"power_{c:g}_arch_spa_consistent")
            if name != "arch_spa_consistent"
            else None,
        }
        out[name] = entry
    return out


# Columns of the markdown size table: (header, result name).
SIZE_COLUMNS = [
    ("RC", "rc"),
    ("SPA stud. consistent", "spa_studentized_consistent"),
    ("SPA stud. upper", "spa_studentized_upper"),
    ("SPA unstud. consistent", "spa_unstudentized_consistent"),
    ("pre-fix fixed-ω̂ SPA consistent", "spa_studentized_fixed_omega_consistent"),
    ("RW FWER complete", "romano_wolf_fwer_complete"),
    ("arch SPA consistent", "arch_spa_consistent"),
    ("arch SPA upper", "arch_spa_upper"),
    ("arch StepM FWER complete", "arch_stepm_fwer_complete"),
]


def cell(res: dict, name: str) -> str:
    r = res.get(name)
    if r is None:
        return "–"
    return f"{100 * r['rate']:.{DIGITS[0]}f} ± {100 * r['mc_se']:.{DIGITS[0]}f}"


# Decimals of a rate in %: 1 at the default 400 panels, 2 from 2,000 (where the s.e. is a few tenths).
DIGITS = [1]


def markdown(out: dict) -> str:
    p = out["parameters"]
    lines = [
        f"Rejection rates in % ± Monte-Carlo s.e. at α = {p['alpha']}, B = {p['B']} "
        f"(command: `{p['command']}`, {out['elapsed_s']} s).",
        "",
        "| design | panels | " + " | ".join(h for h, _ in SIZE_COLUMNS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in SIZE_COLUMNS) + " |",
    ]
    for row in out["designs"]:
        res = row["results"]
        lines.append(
            f"| {row['name']}: {row['label']} | {row['panels']} | "
            + " | ".join(cell(res, n) for _, n in SIZE_COLUMNS)
            + " |"
        )
    partial = [r for r in out["designs"] if "romano_wolf_fwer_partial" in r["results"]]
    if partial:
        lines += [
            "",
            f"Partial null ({p['edges']} columns with a true edge of 6 long-run s.e.): FWER over the null columns "
            "and how often every edge was found.",
            "",
            "| design | panels | RW FWER | RW all edges found | arch StepM FWER | StepM all edges found |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in partial:
            res = row["results"]
            names = [
                "romano_wolf_fwer_partial",
                "romano_wolf_edges_found_partial",
                "arch_stepm_fwer_partial",
                "arch_stepm_edges_found_partial",
            ]
            lines.append(f"| {row['name']} | {row['panels']} | " + " | ".join(cell(res, n) for n in names) + " |")
    power = [r for r in out["designs"] if "power_compared" in r]
    if power:
        lines += [
            "",
            "Power: column 0 gets a true edge of c long-run standard errors of its mean. Each test: its "
            "rejection rate; at a size of exactly α (size-adjusted: the critical p-value set on the same "
            "test's null panels of the design, randomized where p-values tie); and its rate minus arch's SPA "
            "on the same panels (paired s.e.). arch's SPA with studentize=True compares raw means (it "
            "studentizes only the consistent threshold), so our unstudentized consistent SPA is its "
            "like-for-like test.",
            "",
            "| design | c | test | power | size-adjusted power | minus arch's SPA (paired) |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in power:
            res = row["results"]
            for c in p["power"]:
                cmp = row["power_compared"][f"{c:g}"]
                for label, name in POWER_TESTS:
                    if f"power_{c:g}_{name}" not in res:
                        continue
                    adj = cmp[name]["size_adjusted"]
                    diff = cmp[name]["minus_arch"]
                    adj_cell = "–" if adj is None else f"{100 * adj['power']:.1f}"
                    diff_cell = "–" if diff is None else f"{100 * diff['diff']:+.1f} ± {100 * diff['mc_se']:.1f}"
                    lines.append(
                        f"| {row['name']} | {c:g} | {label} | {cell(res, f'power_{c:g}_{name}')} | "
                        f"{adj_cell} | {diff_cell} |"
                    )
    auto = [r for r in out["designs"] if "rc_auto_block" in r["results"]]
    if auto:
        lines += [
            "",
            "Candidate default: block length = median Politis–White (arch.bootstrap.optimal_block_length, "
            "stationary) over the first 50 columns, rounded up.",
            "",
            "| design | median L chosen | RC | SPA stud. consistent | (RC, SPA at the fixed L) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in auto:
            res = row["results"]
            lines.append(
                f"| {row['name']} | {row['auto_block_median']:g} | {cell(res, 'rc_auto_block')} | "
                f"{cell(res, 'spa_studentized_consistent_auto_block')} | "
                f"{cell(res, 'rc')}, {cell(res, 'spa_studentized_consistent')} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few panels per design (a smoke run, not a measurement)")
    ap.add_argument("--panels", type=int, default=400, help="panels of a weight-1 design")
    ap.add_argument("--min-panels", type=int, default=50)
    ap.add_argument("--b", type=int, default=299)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--edges", type=int, default=2)
    ap.add_argument("--power", type=float, nargs="*", default=[3.0, 4.0])
    ap.add_argument(
        "--power-everywhere",
        action="store_true",
        help="measure power on every chosen design (default: the designs marked for it)",
    )
    ap.add_argument("--no-arch", dest="arch", action="store_false", help="skip arch's SPA and StepM")
    ap.add_argument("--auto-block", action="store_true", help="also run ours with a Politis–White block length")
    ap.add_argument("--designs", nargs="*", default=None, help="names of the designs to run (default: all)")
    ap.add_argument(
        "--rc-null-scale",
        default="variance_share",
        choices=["variance_share", "none"],
        help="the null scale of our RC, SPA and Romano–Wolf (default: the package's)",
    )
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", default=None)
    args = ap.parse_args(argv)
    NULL_SCALE[0] = args.rc_null_scale
    DIGITS[0] = 2 if args.panels >= 2000 else 1
    if args.quick:
        args.panels, args.min_panels, args.b = 4, 2, 49
    chosen = [(i, d) for i, d in enumerate(DESIGNS) if args.designs is None or d.name in args.designs]
    chosen.sort(key=lambda c: RUN_ORDER.index(c[1].name))
    unknown = set(args.designs or []) - {d.name for d in DESIGNS}
    if unknown:
        ap.error(f"unknown designs: {sorted(unknown)}")
    t0 = time.time()
    rows: list[dict] = []
    for i, d in chosen:
        row = {"name": d.name, **run_design(d, i, args)}
        rows.append(row)
        print(f"{d.name}: {row['panels']} panels, {row['elapsed_s']} s", file=sys.stderr, flush=True)
        res = row["results"]
        print(f"  {row['label']}: " + ", ".join(f"{h} {cell(res, n)}" for h, n in SIZE_COLUMNS), file=sys.stderr)
        if args.json:  # written after every design, so a long run that is stopped keeps its results
            write(args.json, summary(args, argv, rows, t0))
    out = summary(args, argv, rows, t0)
    md = markdown(out)
    print(md)
    if args.json:
        write(args.json, out)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    return 0


def write(path: str, out: dict) -> None:
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


def summary(args: argparse.Namespace, argv: list[str] | None, rows: list[dict], t0: float) -> dict:
    return {
        "parameters": {
            "command": "scripts/size_power_study.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "panels": args.panels,
            "B": args.b,
            "alpha": args.alpha,
            "seed": args.seed,
            "edges": args.edges,
            "power": args.power,
            "arch": args.arch,
            "bootstrap_seed": "(seed * 1000 + design index) * 100000 + panel",
        },
        "elapsed_s": round(time.time() - t0, 1),
        "designs": rows,
    }


if __name__ == "__main__":
    sys.exit(main())
