"""A password given in any form the package accepts never shows (docs/postgresql.md,
"Credentials"): not in exception text, repr, args or traceback, not in `_conn.redact`, the CLI's
output and errors (a working and a failing server, `doctor`, `--version`), nor the page.

A role with a password full of URL metacharacters and non-ASCII is created on the test server,
so that every form really logs in (a redaction that only works on failures would pass a test that
only fails); each form is then also tried against a missing database and a dead port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import traceback
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus, urlsplit

import pytest
from crypto_analyzer_promotion import _conn, _core
from crypto_analyzer_promotion import exceptions as X
from crypto_analyzer_promotion import store_sqlite as st

ROOT = Path(__file__).resolve().parents[2]
# Odd: every URL metacharacter, a quote, a space, non-ASCII. ODD_RAW: what the URL parser takes
# unencoded in the userinfo (no '@', no '%').
ODD = "p@ss:w/rd?&=#% 'x\"äß"
ODD_RAW = "pa/ss:w?rd&x=1"


def _forbidden(password: str) -> list[str]:
    return [password, quote(password, safe=""), quote_plus(password), quote(password)]


def _assert_clean(text: str, password: str) -> None:
    for s in _forbidden(password):
        assert s not in text, f"password form {s!r} shown in: {text}"


def _exc_text(exc: BaseException) -> str:
    parts = ["".join(traceback.format_exception(exc)), repr(exc), repr(exc.args)]
    return "\n".join(parts)


@pytest.fixture
def odd_role(pg_url, pg_sql):
    """A login role for each of the two passwords, allowed to use the test's schema; yields
    (base of the URLs: host, port, dbname, options), and removes the roles afterwards."""
    parts = urlsplit(pg_url)
    schema = parts.query.split("search_path%3D", 1)[1]
    names = {}
    for pw in (ODD, ODD_RAW):
        name = f"odd_{uuid.uuid4().hex[:8]}"
        pg_sql(pg_url, f"CREATE ROLE {name} LOGIN PASSWORD ?", (pw,))
        pg_sql(pg_url, f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {name}")
        names[pw] = name
    # The second role works on the tables the first one's migrations create.
    pg_sql(pg_url, f"GRANT {names[ODD]} TO {names[ODD_RAW]}")
    yield {
        "host": parts.hostname,
        "port": parts.port,
        "db": parts.path.lstrip("/"),
        "query": parts.query,
        "roles": names,
    }
    for name in names.values():
        pg_sql(pg_url, f"REASSIGN OWNED BY {name} TO CURRENT_USER")
        pg_sql(pg_url, f"DROP OWNED BY {name}")
        pg_sql(pg_url, f"DROP ROLE {name}")


def _forms(r: dict, *, db: str | None = None, port: int | None = None) -> list[tuple[str, str, dict[str, str]]]:
    """(label, URL, env) for every accepted way of giving the password."""
    h, p, d, q = r["host"], port or r["port"], db or r["db"], r["query"]
    u, u2 = r["roles"][ODD], r["roles"][ODD_RAW]
    enc = quote(ODD, safe="")
    return [
        ("userinfo, percent-encoded", f"postgresql://{u}:{enc}@{h}:{p}/{d}?{q}", {}),
        ("postgres:// scheme", f"postgres://{u}:{enc}@{h}:{p}/{d}?{q}", {}),
        ("upper-case scheme", f"PostgreSQL://{u}:{enc}@{h}:{p}/{d}?{q}", {}),
        ("?password= query", f"postgresql://{h}:{p}/{d}?user={u}&password={enc}&{q}", {}),
        ("PGPASSWORD", f"postgresql://{u}@{h}:{p}/{d}?{q}", {"PGPASSWORD": ODD}),
        ("userinfo, unencoded / : ? & =", f"postgresql://{u2}:{ODD_RAW}@{h}:{p}/{d}?{q}", {}),
    ]


def _password_of(label: str) -> str:
    return ODD_RAW if "unencoded" in label else ODD


def test_every_form_logs_in_and_shows_no_password(odd_role, monkeypatch):
    for label, url, env in _forms(odd_role):
        pw = _password_of(label)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        try:
            shown = _conn.redact(url)
            _assert_clean(shown, pw)
            assert shown.startswith("postgresql://") and "***" in shown, (label, shown)
            from crypto_analyzer_promotion import migrations_phase3

            migrations_phase3.run_migrations_phase3(url)  # it really logs in
            cid = st.create_candidate(
                url, dataset_id="d", run_id=f"r-{label}", signal_name="s", horizon=1, config_hash="c", git_commit="g"
            )
            assert st.get_candidate(url, cid)["status"] == "exploratory"
            # A store error on a working connection (tables fine, bad input): no password.
            with pytest.raises(X.InvalidInputError) as info:
                st.update_status(url, "no-such-candidate", "rejected")
            _assert_clean(_exc_text(info.value), pw)
        finally:
            _core.store_forget_connection(url)
            for k in env:
                monkeypatch.delenv(k)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failures_in_every_form_show_no_password(odd_role, monkeypatch):
    failing = [("missing database", _forms(odd_role, db="no_such_db"), X.DatabaseConnectionError, "does not exist")]
    failing.append(("dead port", _forms(odd_role, port=_dead_port()), X.DatabaseConnectionError, "could not connect"))
    for what, forms, cls, fragment in failing:
        for label, url, env in forms:
            pw = _password_of(label)
            for k, v in env.items():
                monkeypatch.setenv(k, v)
            try:
                with pytest.raises(cls, match=fragment) as info:
                    st.list_candidates(url)
                text = _exc_text(info.value)
                _assert_clean(text, pw)
                assert "***" in str(info.value), (what, label, str(info.value))
            finally:
                for k in env:
                    monkeypatch.delenv(k)
    # Wrong password, in the query form and the userinfo form.
    u = odd_role["roles"][ODD]
    h, p, d, q = odd_role["host"], odd_role["port"], odd_role["db"], odd_role["query"]
    wrong = "Wr0ng p@ss"
    for url in (
        f"postgresql://{u}:{quote(wrong, safe='')}@{h}:{p}/{d}?{q}",
        f"postgresql://{h}:{p}/{d}?user={u}&password={quote(wrong, safe='')}&{q}",
    ):
        with pytest.raises(X.DatabaseConnectionError, match="password authentication failed") as info:
            st.list_candidates(url)
        _assert_clean(_exc_text(info.value), wrong)


def test_an_unparsable_url_shows_no_part_of_itself(monkeypatch):
    for url in (
        f"postgresql://u:{quote(ODD, safe='')}@127.0.0.1:notaport/db",
        f"postgresql://u:{quote(ODD, safe='')}@h/db?bogus_option=1",
        f"postgresql://h/db?user=u&password={quote(ODD, safe='')}&sslmode=sometimes",
    ):
        with pytest.raises(X.InvalidInputError, match="invalid PostgreSQL URL") as info:
            st.list_candidates(url)
        _assert_clean(_exc_text(info.value), ODD)
        _assert_clean(_conn.redact(url), ODD)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crypto_analyzer_promotion", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


def test_the_cli_shows_no_password(odd_role):
    good = _forms(odd_role)
    bad = _forms(odd_role, db="no_such_db")
    for (label, url, env), (_, bad_url, _) in zip(good, bad):
        pw = _password_of(label)
        runs = [
            (_cli(["--db", url, "init"], env), 0),
            (_cli(["--db", url, "list"], env), 0),
            (_cli(["--db", bad_url, "list"], env), 1),
            (_cli(["doctor", "--db", url], env), None),
            (_cli(["doctor", "--db", bad_url], env), 1),
            (_cli(["--version"], {**env, "CRYPTO_ANALYZER_DB_PATH": url}), 0),
        ]
        for proc, code in runs:
            if code is not None:
                assert proc.returncode == code, (label, proc.args, proc.stdout, proc.stderr)
            _assert_clean(proc.stdout + proc.stderr, pw)
        # The failing runs do say what failed, with the URL redacted.
        assert "does not exist" in runs[2][0].stderr and "***" in runs[2][0].stderr, runs[2][0].stderr


def test_the_page_shows_no_password(odd_role, monkeypatch):
    testing = pytest.importorskip("streamlit.testing.v1")
    app = ROOT / "python" / "crypto_analyzer_promotion" / "app.py"
    from crypto_analyzer_promotion import migrations_phase3

    for label, url, env in _forms(odd_role)[:1] + _forms(odd_role)[3:]:
        pw = _password_of(label)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        try:
            migrations_phase3.run_migrations_phase3(url)
            st.create_candidate(
                url, dataset_id="d", run_id="r", signal_name="s", horizon=1, config_hash="c", git_commit="g"
            )
            monkeypatch.setenv("CRYPTO_ANALYZER_DB_PATH", url)
            monkeypatch.delenv("CRYPTO_ANALYZER_RC_CACHE_DIR", raising=False)
            at = testing.AppTest.from_file(str(app), default_timeout=60)
            at.run()
            assert not at.exception, [e.value for e in at.exception]
            elements = [*at.markdown, *at.caption, *at.success, *at.error, *at.warning, *at.info, *at.text_input]
            shown = (
                "\n".join(str(e.value) for e in elements) + "\n" + str(at.dataframe[0].value if at.dataframe else "")
            )
            assert "candidate(s) in postgresql://" in shown, shown  # the page did list, over the URL
            _assert_clean(shown, pw)
        finally:
            _core.store_forget_connection(url)
            for k in env:
                monkeypatch.delenv(k)
