"""Bounded waits and honest errors on PostgreSQL (docs/postgresql.md, "Timeouts"): a writer
blocked by another session's row lock gives up within lock_timeout with DatabaseBusyError; a
server that accepts the connection and never answers, or a backend frozen mid-session, gives
DatabaseConnectionError within the connect timeout / statement_timeout plus the margin; a
connection lost while COMMIT is in flight is reported as "outcome unknown" (and the write may
indeed be there); a server stopped and restarted under writers loses no acknowledged write.

Every call that could hang runs in a child process with a hard timeout, so a regression fails the
test instead of hanging the suite."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from crypto_analyzer_promotion import exceptions as X
from crypto_analyzer_promotion import migrations_phase3 as mig
from crypto_analyzer_promotion import store_sqlite as st

BASE = {
    "dataset_id": "ds1",
    "run_id": "run1",
    "signal_name": "sig_a",
    "horizon": 5,
    "config_hash": "cfg",
    "git_commit": "abc",
}
ROOT = Path(__file__).resolve().parents[2]

# A child that connects, says "ready", then runs one call per line it reads and prints the
# outcome (exception class, message, elapsed seconds) as JSON.
CHILD = r"""
import json, sys, time
from crypto_analyzer_promotion import store_sqlite as st
url, cid = sys.argv[1], sys.argv[2]
st.list_candidates(url)
print("ready", flush=True)
for line in sys.stdin:
    op = line.strip()
    t0 = time.monotonic()
    try:
        if op == "update":
            st.update_status(url, cid, "rejected", reason="blocked")
        else:
            st.list_candidates(url)
        out = {"ok": True}
    except Exception as e:
        out = {"ok": False, "type": type(e).__name__, "msg": str(e), "repr": repr(e)}
    out["elapsed"] = time.monotonic() - t0
    print(json.dumps(out), flush=True)
"""


class Child:
    def __init__(self, url: str, cid: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, url, cid],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        assert self.readline(120) == "ready", self.proc.stderr.read() if self.proc.stderr else ""

    def readline(self, timeout: float) -> str:
        out: list[str] = []
        assert self.proc.stdout is not None
        t = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        t.start()
        t.join(timeout)
        if not out:
            self.proc.kill()
            pytest.fail(f"the child did not answer within {timeout} s (a wait is unbounded)")
        return out[0].strip()

    def run(self, op: str, timeout: float = 60) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(op + "\n")
        self.proc.stdin.flush()
        line = self.readline(timeout)
        assert line, self.proc.stderr.read() if self.proc.stderr else ""
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def reg(pg_url):
    mig.run_migrations_phase3(pg_url)
    return pg_url


def _with_param(url: str, param: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{param}"


def _wait_for(pg_sql, url: str, sql: str, timeout: float = 30) -> list[dict]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = pg_sql(url, sql)
        if rows:
            return rows
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for: {sql}")


@pytest.mark.parametrize(
    "env, url_option, expect_ms",
    [
        ({"CRYPTO_ANALYZER_PG_LOCK_TIMEOUT": "1s"}, None, 1000),
        # A value the session gets from the URL's options wins over the package's default.
        ({"CRYPTO_ANALYZER_PG_LOCK_TIMEOUT": "30s"}, "%20-clock_timeout%3D1500ms", 1500),
    ],
)
def test_a_writer_blocked_by_a_row_lock_gives_up_within_lock_timeout(reg, pg_sql, env, url_option, expect_ms):
    cid = st.create_candidate(reg, **dict(BASE, candidate_id="locked-1"))
    events_before = pg_sql(reg, f"SELECT count(*) AS n FROM promotion_events WHERE candidate_id = '{cid}'")[0]["n"]
    app = f"holder_{uuid.uuid4().hex[:8]}"
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", _with_param(reg, f"application_name={app}")],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    holder.stdin.write(f"BEGIN;\nSELECT 1 FROM promotion_candidates WHERE candidate_id = '{cid}' FOR UPDATE;\n")
    holder.stdin.flush()
    _wait_for(
        pg_sql,
        reg,
        f"SELECT pid FROM pg_stat_activity WHERE application_name = '{app}' AND state = 'idle in transaction'",
    )
    url = reg if url_option is None else reg + url_option
    child = Child(url, cid, env)
    try:
        out = child.run("update")
    finally:
        child.close()
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.close()
        holder.wait(30)
    assert out["ok"] is False and out["type"] == "DatabaseBusyError", out
    assert f"after waiting {expect_ms} ms" in out["msg"] and "lock timeout" in out["msg"], out
    # It waited for the lock (not refused at once) and gave up within the timeout (+ slack for
    # a loaded machine; an unbounded wait would hit the child's 60 s limit).
    assert expect_ms / 1000 * 0.8 <= out["elapsed"] < expect_ms / 1000 + 8, out
    assert issubclass(X.DatabaseBusyError, TimeoutError)
    # Nothing was written.
    assert st.get_candidate(reg, cid)["status"] == "exploratory"
    events_after = pg_sql(reg, f"SELECT count(*) AS n FROM promotion_events WHERE candidate_id = '{cid}'")[0]["n"]
    assert events_after == events_before
    # And once the lock is gone the same call goes through.
    st.update_status(reg, cid, "rejected", reason="after")
    assert st.get_candidate(reg, cid)["status"] == "rejected"


def test_a_server_that_accepts_and_never_answers_times_out_at_connect():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel completes the handshake; nobody ever answers
        port = listener.getsockname()[1]
        url = f"postgresql://crypto:Silent-Secret-3@127.0.0.1:{port}/registry?connect_timeout=2"
        code = (
            "import json, sys, time\n"
            "from crypto_analyzer_promotion import store_sqlite as st\n"
            "t0 = time.monotonic()\n"
            "try:\n"
            "    st.list_candidates(sys.argv[1]); out = {'ok': True}\n"
            "except Exception as e:\n"
            "    out = {'ok': False, 'type': type(e).__name__, 'msg': str(e)}\n"
            "out['elapsed'] = time.monotonic() - t0\n"
            "print(json.dumps(out))\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, url], capture_output=True, text=True, timeout=60, check=False
        )
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["type"] == "DatabaseConnectionError", out
    assert "sent nothing for 2.0 s (connect_timeout)" in out["msg"], out
    assert "Silent-Secret-3" not in out["msg"]
    assert 1.5 <= out["elapsed"] < 10, out


def test_a_frozen_backend_gives_a_connection_error_within_the_statement_timeout(reg, pg_sql):
    cid = st.create_candidate(reg, **BASE)
    app = f"frozen_{uuid.uuid4().hex[:8]}"
    child = Child(reg, cid, {"CRYPTO_ANALYZER_PG_STATEMENT_TIMEOUT": "1s", "PGAPPNAME": app})
    pid = _wait_for(pg_sql, reg, f"SELECT pid FROM pg_stat_activity WHERE application_name = '{app}'")[0]["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        out = child.run("list")
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        assert out["ok"] is False and out["type"] == "DatabaseConnectionError", out
        assert "sent nothing for 6.0 s (statement_timeout plus a margin)" in out["msg"], out
        assert 5 <= out["elapsed"] < 15, out
        # The next call reconnects and works.
        again = child.run("list")
        assert again["ok"] is True, again
    finally:
        child.close()


class CommitDropper:
    """A TCP proxy in front of the server that, once armed, forwards the client's COMMIT to the
    server, lets it commit, and then cuts the client off before the answer reaches it."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self.cutting = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._up, args=(client, server), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client), daemon=True).start()

    def _down(self, server: socket.socket, client: socket.socket) -> None:
        try:
            while data := server.recv(65536):
                if self.cutting.is_set():  # the answer to the COMMIT: never delivered
                    return
                client.sendall(data)
        except OSError:
            pass

    def _up(self, client: socket.socket, server: socket.socket) -> None:
        buf = b""
        first = True
        try:
            while data := client.recv(65536):
                buf += data
                while True:  # forward whole messages, looking at each
                    hdr = 4 if first else 5
                    if len(buf) < hdr:
                        break
                    length = int.from_bytes(buf[hdr - 4 : hdr], "big")
                    total = length if first else length + 1
                    if len(buf) < total:
                        break
                    msg, buf = buf[:total], buf[total:]
                    is_commit = not first and msg[:1] == b"Q" and msg[5:11].upper() == b"COMMIT"
                    first = False
                    cut = is_commit and self.armed.is_set()
                    if cut:
                        self.armed.clear()
                        self.cutting.set()
                    server.sendall(msg)
                    if cut:
                        time.sleep(0.5)  # the server commits; its answer is never delivered
                        self.dropped.set()
                        client.shutdown(socket.SHUT_RDWR)
                        client.close()
                        server.close()
                        self.cutting.clear()
                        return
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


def test_a_connection_lost_at_commit_is_reported_as_outcome_unknown(reg, pg_sql):
    rest = reg.split("://", 1)[1]
    userinfo, hostpart = rest.split("@", 1)
    hostport = hostpart.split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    proxy = CommitDropper(host, int(port))
    # Plain TCP, so that the proxy can read the messages.
    proxied = reg.replace(f"@{hostport}/", f"@127.0.0.1:{proxy.port}/", 1) + "&sslmode=disable"
    try:
        st.list_candidates(proxied)  # connected through the proxy
        proxy.armed.set()
        with pytest.raises(X.DatabaseConnectionError, match="outcome unknown") as info:
            st.create_candidate(proxied, **dict(BASE, candidate_id="maybe-1"))
        assert proxy.dropped.is_set()
        msg = str(info.value)
        assert "may or may not have been committed" in msg and "same caller-chosen ids is safe" in msg
        assert userinfo.split(":", 1)[1] not in msg + repr(info.value)
        # Here it had committed: the caller's check finds it, and a retry with the same id is
        # refused instead of writing it twice.
        rows = pg_sql(reg, "SELECT candidate_id FROM promotion_candidates WHERE candidate_id = 'maybe-1'")
        assert rows == [{"candidate_id": "maybe-1"}]
        with pytest.raises(X.InvalidInputError, match="candidate_id already exists: maybe-1"):
            st.create_candidate(proxied, **dict(BASE, candidate_id="maybe-1"))
        n = pg_sql(reg, "SELECT count(*) AS n FROM promotion_events WHERE candidate_id = 'maybe-1'")[0]["n"]
        assert n == 1
    finally:
        proxy.close()
        st._core.store_forget_connection(proxied)


RESTART_WRITER = r"""
import json, sys, time
from crypto_analyzer_promotion import store_sqlite as st
url, wid, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
acked, failed, j = [], 0, 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    cid = f"w{wid}-{j}"
    try:
        st.create_candidate(url, dataset_id="ds", run_id="r", signal_name="s", horizon=1,
                            config_hash="c", git_commit="g", candidate_id=cid)
        acked.append(cid)
        j += 1
    except Exception as e:
        failed += 1
        if "already exists" in str(e):  # an earlier attempt committed after all
            j += 1
        time.sleep(0.05)
print(json.dumps({"acked": acked, "failed": failed}))
"""


def test_a_server_restarted_under_writers_loses_no_acknowledged_write(tmp_path):
    """Its own cluster with default durability (the session's runs with fsync off); two
    immediate stops (a crash for the server) while 3 processes create candidates."""
    if os.environ.get("CRYPTO_ANALYZER_TEST_PG", "1") == "0":
        pytest.skip("PostgreSQL tests turned off (CRYPTO_ANALYZER_TEST_PG=0)")
    script = ROOT / "scripts" / "pg_cluster.sh"
    up = subprocess.run(["bash", str(script), "up"], capture_output=True, text=True, timeout=600, check=False)
    assert up.returncode == 0, up.stderr[-2000:]
    got = dict(line.split("=", 1) for line in up.stdout.splitlines() if "=" in line)
    url, pg_dir = got["PG_URL"], got["PG_DIR"]
    try:
        mig.run_migrations_phase3(url)
        bindir = Path(pg_dir, "bindir").read_text().strip()
        user = Path(pg_dir, "user").read_text().strip()
        pg_ctl = [f"{bindir}/pg_ctl", "-D", f"{pg_dir}/data", "-w", "-t", "60"]
        if user:
            pg_ctl = ["runuser", "-u", user, "--", *pg_ctl]
        port = Path(pg_dir, "port").read_text().strip()
        opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {pg_dir}/sock -c max_connections=200"
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", RESTART_WRITER, url, str(w), "8"], stdout=subprocess.PIPE, text=True
            )
            for w in range(3)
        ]
        for _ in range(2):
            time.sleep(2)
            subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=120, check=True)
            time.sleep(0.5)
            subprocess.run(
                [*pg_ctl, "-l", f"{pg_dir}/server.log", "-o", opts, "start"],
                capture_output=True,
                timeout=120,
                check=True,
            )
        results = [json.loads(w.communicate(timeout=120)[0]) for w in writers]
        acked = [cid for r in results for cid in r["acked"]]
        assert sum(r["failed"] for r in results) > 0, "the restarts interrupted no writer"
        assert len(acked) > 10, results
        # This process's own connection (from the migrations) died with the server: the first
        # call on it reports that, the next reconnects (docs/postgresql.md, "Errors").
        with pytest.raises(X.DatabaseConnectionError):
            st.list_candidates(url, limit=1)
        stored = {r["candidate_id"] for r in st.list_candidates(url, limit=None)}
        lost = [cid for cid in acked if cid not in stored]
        assert lost == [], f"acknowledged but lost: {lost}"
    finally:
        st._core.store_forget_connection(url)
        subprocess.run(["bash", str(script), "down", pg_dir], capture_output=True, timeout=120, check=False)


@pytest.mark.parametrize(
    "param, env", [("sslmode=disable", "verify-full"), ("sslmode=prefer", "require"), (None, "prefer")]
)
def test_a_url_sslmode_or_a_plain_pgsslmode_still_connects(reg, monkeypatch, param, env):
    """The URL's sslmode wins over PGSSLMODE, as in libpq; prefer connects to this server (which
    has no TLS) in plain TCP. TLS itself: test_store_pg_tls.py."""
    monkeypatch.setenv("PGSSLMODE", env)
    url = reg if param is None else _with_param(reg, param)
    try:
        assert st.list_candidates(url) == []
    finally:
        st._core.store_forget_connection(url)
