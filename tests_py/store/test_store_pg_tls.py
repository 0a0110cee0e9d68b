"""TLS to the server, libpq's sslmode semantics (docs/postgresql.md, "TLS"), against a cluster
started for this module with ssl=on and a pg_hba.conf that accepts TCP logins over TLS only, and
a throwaway CA and server certificate (for "localhost" only) made with the openssl CLI.

Whether a session really is encrypted is read from the server (pg_stat_ssl), never assumed."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from crypto_analyzer_promotion import _core
from crypto_analyzer_promotion import exceptions as X
from crypto_analyzer_promotion import migrations_phase3 as mig
from crypto_analyzer_promotion import store_sqlite as st
from dbread import run_psql

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pg_cluster.sh"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    if os.environ.get("CRYPTO_ANALYZER_TEST_PG", "1") == "0":
        pytest.skip("PostgreSQL tests turned off (CRYPTO_ANALYZER_TEST_PG=0)")
    if shutil.which("openssl") is None:
        pytest.fail("the openssl CLI is needed to make the test certificates")
    d = tmp_path_factory.mktemp("tls")
    for ca in ("ca", "other"):
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{ca}.key",
            "-out",
            f"{ca}.crt",
            "-days",
            "2",
            "-subj",
            f"/CN=test {ca}",
            cwd=d,
        )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
        cwd=d,
    )
    (d / "ext").write_text("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext",
        cwd=d,
    )
    up = subprocess.run(["bash", str(SCRIPT), "up", "--fast"], capture_output=True, text=True, timeout=600, check=False)
    assert up.returncode == 0, up.stderr[-2000:]
    got = dict(line.split("=", 1) for line in up.stdout.splitlines() if "=" in line)
    url, pg_dir = got["PG_URL"], Path(got["PG_DIR"])
    try:
        data = pg_dir / "data"
        user = (pg_dir / "user").read_text().strip()
        for f in ("server.crt", "server.key"):
            shutil.copy(d / f, data / f)
            if user:
                shutil.chown(data / f, user)
            (data / f).chmod(0o600)
        with open(data / "postgresql.conf", "a") as conf:
            conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n"
        )
        bindir = (pg_dir / "bindir").read_text().strip()
        port = (pg_dir / "port").read_text().strip()
        pg_ctl = [f"{bindir}/pg_ctl", "-D", str(data), "-w", "-t", "60"]
        if user:
            pg_ctl = ["runuser", "-u", user, "--", *pg_ctl]
        opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {pg_dir}/sock -c max_connections=200"
        subprocess.run(
            [*pg_ctl, "-l", str(pg_dir / "server.log"), "-o", opts, "restart"],
            capture_output=True,
            timeout=120,
            check=True,
        )
        password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        admin = f"postgresql:///registry?host={pg_dir}/sock&port={port}&user=crypto"
        base = f"postgresql://crypto:{password}@localhost:{port}/registry"
        mig.run_migrations_phase3(f"{base}?sslmode=verify-full&sslrootcert={d / 'ca.crt'}")
        yield {"base": base, "port": port, "password": password, "certs": d, "admin": admin}
    finally:
        subprocess.run(["bash", str(SCRIPT), "down", str(pg_dir)], capture_output=True, timeout=120, check=False)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No PG* TLS variables; a HOME without ~/.postgresql/root.crt."""
    for k in ("PGSSLMODE", "PGSSLROOTCERT", "PGPASSWORD", "PGSERVICE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _ssl_of(srv, url: str) -> bool:
    """Connect through the package under a unique application_name; ask the server whether that
    session is encrypted."""
    app = f"tls_{uuid.uuid4().hex[:8]}"
    url = f"{url}{'&' if '?' in url else '?'}application_name={app}"
    try:
        assert st.list_candidates(url) == []
        out = run_psql(
            srv["admin"],
            f"SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = '{app}'",
        ).strip()
    finally:
        _core.store_forget_connection(url)
    assert out in ("t", "f"), out
    return out == "t"


def test_verify_full_with_the_right_ca_is_encrypted(tls_server, clean_env):
    ca = tls_server["certs"] / "ca.crt"
    assert _ssl_of(tls_server, f"{tls_server['base']}?sslmode=verify-full&sslrootcert={ca}")


def test_a_wrong_ca_fails_closed(tls_server, clean_env):
    other = tls_server["certs"] / "other.crt"
    for mode in ("verify-full", "verify-ca", "require", "prefer"):
        url = f"{tls_server['base']}?sslmode={mode}&sslrootcert={other}"
        with pytest.raises(X.DatabaseConnectionError, match="certificate") as info:
            st.list_candidates(url)
        assert tls_server["password"] not in str(info.value)


def test_a_wrong_host_name_fails_verify_full_but_not_verify_ca(tls_server, clean_env):
    ca = tls_server["certs"] / "ca.crt"
    by_ip = tls_server["base"].replace("@localhost:", "@127.0.0.1:")
    with pytest.raises(X.DatabaseConnectionError, match="(?i)certificate.*(name|valid)"):
        st.list_candidates(f"{by_ip}?sslmode=verify-full&sslrootcert={ca}")
    assert _ssl_of(tls_server, f"{by_ip}?sslmode=verify-ca&sslrootcert={ca}")


def test_require_without_a_root_certificate_encrypts_without_verifying(tls_server, clean_env):
    by_ip = tls_server["base"].replace("@localhost:", "@127.0.0.1:")
    assert _ssl_of(tls_server, f"{by_ip}?sslmode=require")
    # With ~/.postgresql/root.crt present, require verifies the chain (as libpq does).
    (clean_env / ".postgresql").mkdir()
    shutil.copy(tls_server["certs"] / "other.crt", clean_env / ".postgresql" / "root.crt")
    with pytest.raises(X.DatabaseConnectionError, match="certificate"):
        st.list_candidates(f"{by_ip}?sslmode=require&application_name=rootfile")


def test_prefer_is_the_default_and_uses_tls(tls_server, clean_env):
    assert _ssl_of(tls_server, tls_server["base"])


def test_disable_against_a_tls_only_server_is_refused_by_the_server(tls_server, clean_env):
    with pytest.raises(X.DatabaseConnectionError, match="no encryption|pg_hba.conf"):
        st.list_candidates(f"{tls_server['base']}?sslmode=disable")


def test_require_against_a_server_without_tls_fails(pg_url, clean_env):
    with pytest.raises(X.DatabaseConnectionError, match="does not support TLS"):
        st.list_candidates(f"{pg_url}&sslmode=require")
    with pytest.raises(X.InvalidInputError, match="root certificate file"):
        st.list_candidates(f"{pg_url}&sslmode=verify-full")


def test_pgsslmode_and_pgsslrootcert(tls_server, clean_env, monkeypatch):
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", str(tls_server["certs"] / "ca.crt"))
    assert _ssl_of(tls_server, tls_server["base"])
    monkeypatch.setenv("PGSSLROOTCERT", str(tls_server["certs"] / "other.crt"))
    with pytest.raises(X.DatabaseConnectionError, match="certificate"):
        st.list_candidates(tls_server["base"] + "?application_name=envother")
    with pytest.raises(X.InvalidInputError, match="client certificates"):
        st.list_candidates(tls_server["base"] + "?sslcert=/x.crt")
