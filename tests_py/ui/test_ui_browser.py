"""One end-to-end test in a real headless Chromium: `python -m crypto_analyzer_promotion.demo`
serves the page on a free port; the candidates table must be shown. Saves a screenshot under
tmp_path (and to $PROMOTION_SCREENSHOT_TO when set, which is how docs/promotion_page.png is made).

Needs Debian's chromium + chromedriver (`make browser` installs them); skipped with a clear
message where they are not installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"demo exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no answer from {url} within {timeout} s")


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="chromium/chromedriver not installed (run `make browser`, which uses apt-get)",
)
def test_demo_page_in_headless_chromium(tmp_path, monkeypatch):
    monkeypatch.setenv("SE_OFFLINE", "true")  # the drivers are local: Selenium Manager must not download
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTO_ANALYZER_")}
    log = open(tmp_path / "demo.log", "w")
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crypto_analyzer_promotion.demo",
            "--out",
            str(tmp_path / "demo_out"),
            "--port",
            str(port),
            "--n-sim",
            "200",
        ],
        cwd=str(tmp_path),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    driver = None
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", demo)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1440,1800",
        ):
            opts.add_argument(arg)
        driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)
        driver.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(driver, 60)
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stDataFrame"]')))
        wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), "Promotion candidates"))
        wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), "4 candidate(s)"))
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"]')))
        time.sleep(2)  # let the grid and the chart finish drawing before the screenshot
        # The grid draws on a canvas; its accessible copy in the DOM holds the cell text.
        grid = driver.find_element(By.CSS_SELECTOR, '[data-testid="stDataFrame"]').get_attribute("innerHTML")
        with sqlite3.connect(tmp_path / "demo_out" / "demo.db") as c:
            ids = [r[0] for r in c.execute("SELECT candidate_id FROM promotion_candidates")]
        assert len(ids) == 4
        for cid in ids:
            assert cid in grid, f"{cid} not in the candidates table"
        shot = tmp_path / "promotion_page.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        target = os.environ.get("PROMOTION_SCREENSHOT_TO")
        if target:
            shutil.copyfile(shot, target)
    finally:
        if driver is not None:
            driver.quit()
        os.killpg(demo.pid, signal.SIGTERM)
        try:
            demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        log.close()
