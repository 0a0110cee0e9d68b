"""The first thing a newcomer runs (``make demo``): a real session of the CLI on the fixtures,
then the Promotion page served on 127.0.0.1.

1. a fresh demo database under ``demo_out/`` (the null cache there is kept between runs);
2. a real Reality Check on the fixture family (20 hypotheses x 2,000 hourly periods), cached in
   ``demo_out/rc_cache``;
3. four candidates created from the fixture bundles: the real edge is evaluated twice and climbs
   exploratory → candidate → accepted (each rung through a stored eligibility report), two are
   rejected for different reasons, one is set aside ("rejected") by hand;
4. a short report, then ``streamlit run app.py`` (skipped with ``--no-serve``).

Every step is a ``crypto-analyzer-promotion`` command run in a subprocess, printed as typed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

PKG_DIR = Path(__file__).resolve().parent
DEFAULT_FIXTURES = PKG_DIR.parents[1] / "fixtures"
CLI = "crypto-analyzer-promotion"


class DemoError(Exception):
    pass


def _show(path: Path) -> str:
    """A path as short as possible for printing (relative to the current folder when inside it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _cli(args: list[str], env: dict[str, str], *, expect: tuple[int, ...] = (0,)) -> str:
    print(f"$ {CLI} " + " ".join(shlex.quote(a) for a in args), flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "crypto_analyzer_promotion", *args], capture_output=True, text=True, env=env
    )
    out = proc.stdout.rstrip("\n")
    if out:
        print(out)
    if proc.stderr.strip():
        print(proc.stderr.rstrip("\n"))
    if proc.returncode not in expect:
        raise DemoError(f"`{CLI} {args[0] if args else ''}` exited {proc.returncode}: {proc.stderr.strip()}")
    print(f"[exit {proc.returncode}]\n", flush=True)
    return out


def _git_commit() -> str:
    try:
        p = subprocess.run(
            ["git", "-C", str(PKG_DIR), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "demo"
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else "demo"


def build(out: Path, fixtures: Path, n_sim: int) -> dict:
    """Build the demo database and run the session; returns what the report and tests need."""
    if not (fixtures / "family" / "family.json").is_file():
        raise DemoError(
            f"fixtures not found in {fixtures} (pass --fixtures, or regenerate them with "
            f"python fixtures/generate_fixtures.py)"
        )
    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    cache_dir = out / "rc_cache"
    family = json.loads((fixtures / "family" / "family.json").read_text(encoding="utf-8"))
    fam, ds = family["family_id"], family["dataset_id"]
    # Relative to the current folder when inside it: the CLI and the page run from here.
    env = dict(os.environ, CRYPTO_ANALYZER_DB_PATH=_show(db), CRYPTO_ANALYZER_RC_CACHE_DIR=_show(cache_dir))
    env.pop("CRYPTO_ANALYZER_NO_CACHE", None)
    f = lambda rel: _show(fixtures / rel)  # noqa: E731
    dbarg = ["--db", _show(db)]

    print("== 1. A fresh database with the promotion tables\n")
    _cli([*dbarg, "init", "--create"], env)

    print("== 2. Reality Check on the whole family (is the best signal more than luck?)\n")
    rc_summary = out / "rc_summary_family.json"
    _cli(
        [
            "rc",
            f("family/ic_series.csv"),
            "--family-id",
            fam,
            "--dataset-id",
            ds,
            "--git-commit",
            _git_commit(),
            "--n-sim",
            str(n_sim),
            "--cache-dir",
            _show(cache_dir),
            "--save-summary",
            _show(rc_summary),
            "--top",
            "5",
        ],
        env,
    )

    print("== 3. Candidates from the validation bundles\n")
    common = [
        "--dataset-id",
        ds,
        "--config-hash",
        "cfg_fixture_0001",
        "--git-commit",
        "fixture",
        "--evidence-base-path",
        _show(fixtures),
    ]
    noise_stem = family["bundle_stems"]["best_noise"]
    n_signal, n_h = noise_stem.rsplit("_h", 1)
    ids: dict[str, str] = {}  # created oldest first: the page opens on the newest (the real edge)
    ids["untouched"] = _cli(
        [
            *dbarg,
            "create",
            "--from-run",
            family["run_id"],
            "--signal",
            "funding_carry",
            "--horizon",
            "4",
            *common,
            "--bundle-path",
            f("bundles/funding_carry_h4.json"),
        ],
        env,
    ).strip()
    ids["no_capacity"] = _cli(
        [
            *dbarg,
            "create",
            "--from-run",
            "fixture_run_002",
            "--signal",
            "momentum_24h",
            "--horizon",
            "1",
            *common,
            "--bundle-path",
            f("bundles/momentum_24h_h1.json"),
            "--execution-evidence-path",
            f("execution/incomplete_execution_evidence.json"),
        ],
        env,
    ).strip()
    ids["lucky"] = _cli(
        [
            *dbarg,
            "create",
            "--from-run",
            family["run_id"],
            "--signal",
            n_signal,
            "--horizon",
            n_h,
            *common,
            "--bundle-path",
            f(f"bundles/{noise_stem}.json"),
            "--family-id",
            fam,
            "--rc-summary-path",
            _show(rc_summary),
            "--regime-summary-path",
            f(f"regimes/{noise_stem}_regime_summary.csv"),
        ],
        env,
    ).strip()
    ids["edge"] = _cli(
        [
            *dbarg,
            "create",
            "--from-run",
            family["run_id"],
            "--signal",
            "momentum_24h",
            "--horizon",
            "1",
            *common,
            "--bundle-path",
            f("bundles/momentum_24h_h1.json"),
            "--family-id",
            fam,
            "--rc-summary-path",
            _show(rc_summary),
            "--regime-summary-path",
            f("regimes/momentum_24h_h1_regime_summary.csv"),
            "--execution-evidence-path",
            f("execution/momentum_24h_h1_execution_evidence.json"),
        ],
        env,
    ).strip()

    print("== 4. Evaluate (one rung per passing evaluation; exit 0 only when accepted)\n")
    for _rung in ("candidate", "accepted"):
        _cli(
            [*dbarg, "evaluate", "--id", ids["edge"], "--require-rc", "--require-exec", "--max-participation", "0.1"],
            env,
        )
    _cli([*dbarg, "evaluate", "--id", ids["lucky"], "--require-rc"], env, expect=(1,))
    _cli([*dbarg, "evaluate", "--id", ids["no_capacity"], "--require-exec"], env, expect=(1,))

    print(
        "== 5. A manual status change (a reason is required; candidate/accepted only by evaluation),"
        " the audit trail, the list\n"
    )
    _cli([*dbarg, "set-status", ids["untouched"], "rejected", "--reason", "set aside by hand"], env)
    _cli([*dbarg, "events", ids["edge"]], env)
    _cli([*dbarg, "list"], env)
    _cli(["cache", "ls", "--cache-dir", _show(cache_dir)], env)
    return {"db": db, "cache_dir": cache_dir, "rc_summary": rc_summary, "ids": ids, "env": env}


def report(info: dict) -> None:
    from .store_sqlite import list_candidates

    summary = json.loads(Path(info["rc_summary"]).read_text(encoding="utf-8"))
    rows = list_candidates(str(info["db"]), limit=100)
    print("== Report\n")
    p = summary.get("rc_p_value")
    print(
        f"Reality Check on {len(summary.get('hypothesis_ids', []))} hypotheses: RC p-value {float(p):.4f}"
        if p is not None
        else "Reality Check: no p-value"
    )
    print(f"{'candidate_id':<22} {'signal':<18} {'h':>3}  status")
    for r in sorted(rows, key=lambda r: r["candidate_id"]):
        print(f"{r['candidate_id']:<22} {r['signal_name']:<18} {r['horizon']:>3}  {r['status']}")
    print()


def serve(info: dict, port: int) -> int:
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PKG_DIR / "app.py"),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
    print(f"Serving the Promotion page at {url}  (Ctrl-C to stop)", flush=True)
    proc = subprocess.Popen(cmd, env=info["env"])

    def _stop(signum, frame):  # SIGTERM stops the page too, like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m crypto_analyzer_promotion.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    ap.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="fixtures folder (default: the repo's)")
    ap.add_argument("--n-sim", type=int, default=1000, help="Reality Check simulations (default 1000)")
    ap.add_argument("--port", type=int, default=8501, help="port of the page (default 8501)")
    ap.add_argument("--no-serve", action="store_true", help="build and report, do not start the page")
    args = ap.parse_args(argv)
    try:
        info = build(args.out, args.fixtures, args.n_sim)
        report(info)
    except DemoError as e:
        print(f"demo failed: {e}", file=sys.stderr)
        return 1
    if args.no_serve:
        print(
            f"Page not started (--no-serve). To see it: CRYPTO_ANALYZER_DB_PATH={_show(info['db'])} "
            f"streamlit run {_show(PKG_DIR / 'app.py')}"
        )
        return 0
    return serve(info, args.port)


if __name__ == "__main__":
    raise SystemExit(main())
