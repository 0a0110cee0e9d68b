"""libpq's standard credential sources on the real server (docs/postgresql.md, "Credentials"):
the password file (~/.pgpass, PGPASSFILE, its 0600 rule, escapes, first match wins), the
service file (PGSERVICE or ?service=, PGSERVICEFILE / ~/.pg_service.conf, then
PGSYSCONFDIR/pg_service.conf), and PGHOST/PGPORT/PGUSER/PGDATABASE for what the URL leaves out;
the URL wins over all of them. Every test runs with a temporary HOME and a clean PG* environment."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion import exceptions as X
from crypto_analyzer_promotion import migrations_phase3 as mig
from crypto_analyzer_promotion import store_sqlite as st

PG_VARS = (
    "PGPASSWORD PGPASSFILE PGSERVICE PGSERVICEFILE PGSYSCONFDIR PGUSER PGHOST PGPORT PGDATABASE "
    "PGOPTIONS PGSSLMODE PGAPPNAME"
).split()


@pytest.fixture
def srv(pg_url, tmp_path, monkeypatch):
    mig.run_migrations_phase3(pg_url)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for k in PG_VARS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("PGSYSCONFDIR", str(tmp_path / "sysconf"))  # never the machine's own file
    p = urlsplit(pg_url)
    info = {
        "url": pg_url,
        "home": home,
        "host": p.hostname,
        "port": p.port,
        "user": p.username,
        "password": p.password,
        "db": p.path.lstrip("/"),
        "options": p.query,  # options=-csearch_path%3D<schema>
        "schema": p.query.split("%3D", 1)[1],
        "used": [],
    }
    yield info
    for url in info["used"]:
        _core.store_forget_connection(url)


def _works(srv, url: str) -> None:
    srv["used"].append(url)
    assert st.list_candidates(url) == []


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _no_pw_url(srv, **over) -> str:
    d = {**srv, **over}
    return f"postgresql://{d['user']}@{d['host']}:{d['port']}/{d['db']}?{d['options']}"


def test_pgpass_in_home_first_matching_line_wins(srv):
    h, p = srv["host"], srv["port"]
    _write(
        srv["home"] / ".pgpass",
        "# comment\n"
        f"otherhost:{p}:*:*:wrong-1\n"
        f"{h}:{p + 1}:*:*:wrong-2\n"
        f"{h}:{p}:registry:someone_else:wrong-3\n"
        f"{h}:*:{srv['db']}:{srv['user']}:{srv['password']}\n"
        "*:*:*:*:wrong-4\n",
    )
    _works(srv, _no_pw_url(srv))
    # Put a catch-all wrong line first: it now wins (the file is read in order).
    text = (srv["home"] / ".pgpass").read_text()
    _write(srv["home"] / ".pgpass", "*:*:*:*:Wrong-First-5\n" + text)
    url = _no_pw_url(srv) + "&application_name=second"
    srv["used"].append(url)
    with pytest.raises(X.DatabaseConnectionError, match="password authentication failed") as info:
        st.list_candidates(url)
    assert "Wrong-First-5" not in str(info.value)


def test_pgpass_readable_by_others_is_ignored_and_the_error_says_why(srv):
    """As libpq: such a file is not used; the refused login names it and the fix."""
    f = _write(srv["home"] / ".pgpass", f"*:*:*:*:{srv['password']}\n", mode=0o644)
    url = _no_pw_url(srv) + "&application_name=open"
    srv["used"].append(url)
    with pytest.raises(X.DatabaseConnectionError, match="was ignored: it has group or world access") as info:
        st.list_candidates(url)
    assert str(f) in str(info.value) and "chmod 600" in str(info.value)
    assert srv["password"] not in str(info.value)
    f.chmod(0o600)
    _works(srv, _no_pw_url(srv))


def test_pgpassfile_and_escapes_and_the_url_password_wins(srv, pg_sql, tmp_path, monkeypatch):
    role = f"esc_{uuid.uuid4().hex[:8]}"
    pw = r"a:b\c*d"
    pg_sql(srv["url"], f"CREATE ROLE {role} LOGIN PASSWORD ?", (pw,))
    pg_sql(srv["url"], f"GRANT USAGE ON SCHEMA {srv['schema']} TO {role}")
    pg_sql(srv["url"], f"GRANT SELECT ON ALL TABLES IN SCHEMA {srv['schema']} TO {role}")
    try:
        f = _write(tmp_path / "elsewhere" / "pw", f"*:*:*:{role}:a\\:b\\\\c*d\n")
        monkeypatch.setenv("PGPASSFILE", str(f))
        _works(srv, _no_pw_url(srv, user=role))
        monkeypatch.delenv("PGPASSFILE")
        # No PGPASSFILE and no ~/.pgpass: no password, refused.
        url = _no_pw_url(srv, user=role) + "&application_name=nopass"
        srv["used"].append(url)
        with pytest.raises(X.DatabaseConnectionError):
            st.list_candidates(url)
        # A password in the URL wins over a wrong one in the file.
        _write(srv["home"] / ".pgpass", "*:*:*:*:Wrong-6\n")
        _works(srv, srv["url"])
    finally:
        for u in srv["used"]:
            _core.store_forget_connection(u)
        srv["used"].clear()
        pg_sql(srv["url"], f"DROP OWNED BY {role}")
        pg_sql(srv["url"], f"DROP ROLE {role}")


def _service(srv, name: str = "reg", **over) -> str:
    d = {
        "host": srv["host"],
        "port": srv["port"],
        "dbname": srv["db"],
        "user": srv["user"],
        "password": srv["password"],
    }
    d.update(over)
    body = "".join(f"{k}={v}\n" for k, v in d.items() if v is not None)
    return f"# a comment\n[other]\nhost=nowhere.invalid\n\n[{name}]\n{body}options=-csearch_path={srv['schema']}\n"


def test_pgservice_from_the_user_file_env_or_url(srv, monkeypatch):
    _write(srv["home"] / ".pg_service.conf", _service(srv))
    monkeypatch.setenv("PGSERVICE", "reg")
    _works(srv, "postgresql://")
    monkeypatch.delenv("PGSERVICE")
    _works(srv, "postgresql:///?service=reg")
    # The URL's settings win over the service's (a wrong database in the service).
    _write(srv["home"] / ".pg_service.conf", _service(srv, dbname="no_such_db"))
    _works(srv, f"postgresql:///{srv['db']}?service=reg&application_name=urlwins")
    with pytest.raises(X.DatabaseConnectionError, match="no_such_db"):
        srv["used"].append("postgresql:///?service=reg&application_name=svcdb")
        st.list_candidates("postgresql:///?service=reg&application_name=svcdb")


def test_pgservicefile_then_the_system_file_and_a_missing_service(srv, monkeypatch, tmp_path):
    sysconf = Path(os.environ["PGSYSCONFDIR"])
    _write(sysconf / "pg_service.conf", _service(srv, name="sys"))
    _works(srv, "postgresql:///?service=sys")
    own = _write(tmp_path / "svc.conf", _service(srv, name="own"))
    monkeypatch.setenv("PGSERVICEFILE", str(own))
    _works(srv, "postgresql:///?service=own")
    with pytest.raises(X.InvalidInputError, match='definition of service "nope" not found') as info:
        st.list_candidates("postgresql:///?service=nope")
    assert str(own) in str(info.value)
    # A service password comes out of no message.
    _write(own, _service(srv, name="bad", password="Svc-Wrong-7"))
    with pytest.raises(X.DatabaseConnectionError, match="password authentication failed") as info:
        st.list_candidates("postgresql:///?service=bad")
    assert "Svc-Wrong-7" not in str(info.value) + repr(info.value)


def test_pg_variables_fill_what_the_url_leaves_out(srv, monkeypatch):
    monkeypatch.setenv("PGHOST", srv["host"])
    monkeypatch.setenv("PGPORT", str(srv["port"]))
    monkeypatch.setenv("PGUSER", srv["user"])
    monkeypatch.setenv("PGDATABASE", srv["db"])
    monkeypatch.setenv("PGPASSWORD", srv["password"])
    monkeypatch.setenv("PGOPTIONS", f"-csearch_path={srv['schema']}")
    _works(srv, "postgresql://")
    # The service's values win over the variables' (libpq: URL > service > environment).
    _write(srv["home"] / ".pg_service.conf", _service(srv, port=1))
    srv["used"].append("postgresql:///?service=reg")
    with pytest.raises(X.DatabaseConnectionError, match="could not connect"):
        st.list_candidates("postgresql:///?service=reg")
