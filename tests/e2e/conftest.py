"""Browser tests: the dashboard served by a real process on a free localhost port, PostgreSQL
``insiders_e2e``, Redis db 14, and Debian's headless Chromium driven by Selenium.

Screenshots go to ``test-artifacts/`` (ignored by git) so a person can look at every page.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import Engine, create_engine, text

from tests.conftest import for_worker, reach, unavailable

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
E2E_DATABASE_URL = for_worker(os.environ.get(
    "INSIDERS_TEST_E2E_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/insiders_e2e"
))
E2E_REDIS_URL = for_worker(
    os.environ.get("INSIDERS_TEST_E2E_REDIS_URL", "redis://127.0.0.1:6379/14")
)
CHROMIUM = os.environ.get("INSIDERS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("INSIDERS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
ADMIN, VIEWER, PASSWORD = "admin", "viewer", "e2e-password-1"
TABLES = ("membership_events, label_spans, label_stage, clusters, runs, model_versions, "
          "transactions, transaction_batches, audit_log, users")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDERS_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def e2e_engine() -> Iterator[Engine]:
    import migrations

    engine = create_engine(E2E_DATABASE_URL)
    reach(lambda: engine.connect().close(), f"PostgreSQL at {E2E_DATABASE_URL}")
    migrations.upgrade(E2E_DATABASE_URL)
    yield engine
    truncate(engine)
    engine.dispose()


def truncate(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="session")
def e2e_env(tmp_path_factory) -> dict[str, str]:
    return {
        "INSIDERS_ENV": "test",
        "INSIDERS_DATABASE_URL": E2E_DATABASE_URL,
        "INSIDERS_BROKER_URL": E2E_REDIS_URL,
        "INSIDERS_DATA_DIR": str(tmp_path_factory.mktemp("e2e-data")),
        "INSIDERS_SECRET_KEY": "e2e-secret-key",
        "INSIDERS_ADMIN_USER": ADMIN,
        "INSIDERS_ADMIN_PASSWORD": PASSWORD,
        "INSIDERS_PROFILE": "default",
        "INSIDERS_HEARTBEAT_SECONDS": "1",
        "INSIDERS_RUN_RATE_LIMIT": "5 per minute",
    }


class Server:
    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(env: dict[str, str], folder: Path) -> Server:
    """``dashboard.app.serve`` in its own process on a free port, once it answers."""
    port = free_port()
    log = folder / f"dashboard-{port}.log"
    code = f"from dashboard.app import serve; serve('127.0.0.1', {port})"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO,
                                   env=clean_env(env), stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dashboard exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(server.url + "/healthz", timeout=1).ok:
                return server
        except requests.RequestException:
            time.sleep(0.2)
    server.stop()
    raise AssertionError(f"dashboard did not answer:\n{log.read_text()[-3000:]}")


@pytest.fixture
def serve(e2e_env, tmp_path) -> Iterator[Callable[[], Server]]:
    """Start ``dashboard.app.serve`` in its own process; stopped after the test."""
    servers: list[Server] = []

    def start() -> Server:
        servers.append(start_server(e2e_env, tmp_path))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium with a fresh profile, laptop-sized window."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        unavailable("chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1440,900",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # driver.get_log("browser")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def screenshot(driver, name: str, phone: bool = False) -> Path:
    """Save the whole page (height grown to fit) as test-artifacts/NAME.png; ``phone``: at the
    390 px width of a phone (``phone_width`` must be on)."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    path = ARTIFACTS / f"{name}.png"
    if phone:
        phone_width(driver, max(PHONE[1], min(height + 40, 6000)))
        driver.save_screenshot(str(path))
        phone_width(driver)
        return path
    driver.set_window_size(1440, max(900, min(height + 40, 4000)))
    driver.save_screenshot(str(path))
    driver.set_window_size(1440, 900)
    return path


PHONE = (390, 844)


def phone_width(driver, height: int = PHONE[1]) -> None:
    """Render as a phone of 390 x 844 CSS pixels (a window cannot be made that narrow)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": PHONE[0], "height": height, "deviceScaleFactor": 1, "mobile": True})


def overflow(driver) -> list[str]:
    """Elements wider than the page's viewport (empty when nothing scrolls sideways)."""
    return driver.execute_script("""
        // a mobile viewport widens to fit what overflows it: the device's width is the bound
        const width = Math.min(window.innerWidth, screen.width), out = [];
        if (document.documentElement.scrollWidth > width) {
          for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (box.right > width + 1 && box.width > 0)
              out.push(el.tagName + '#' + el.id + '.' + el.className.toString().slice(0, 60));
          }
          out.unshift('scrollWidth ' + document.documentElement.scrollWidth + ' > ' + width);
        }
        return out.slice(0, 15);""")


def cut_off_text(driver, selector: str = ".js-plotly-plot") -> list[str]:
    """Texts of the Plotly charts matching ``selector`` drawn past their chart's edges (a
    label cut off), as 'graph id: text'."""
    return driver.execute_script("""
        const out = [];
        for (const plot of document.querySelectorAll(arguments[0])) {
          const svg = plot.querySelector('.main-svg');
          if (!svg) continue;
          const page = svg.getBoundingClientRect();
          // a bar's text is clipped at the plotting area, everything else at the chart
          const area = plot.querySelector('.nsewdrag');
          const inner = area ? area.getBoundingClientRect() : page;
          for (const t of plot.querySelectorAll('.xtick text, .ytick text, .bartext, '
                                                + '.legendtext, .gtitle, .annotation-text')) {
            const box = t.getBoundingClientRect();
            const edge = t.classList.contains('bartext') ? inner : page;
            if (box.width === 0) continue;
            if (box.left < edge.left - 1 || box.right > edge.right + 1)
              out.push((plot.parentElement.id || '?') + ': ' + t.textContent);
          }
        }
        return out;""", selector)


def log_in(driver, url: str, username: str, password: str) -> None:
    driver.get(url + "/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.CLASS_NAME, "navbar")))


def wait_text(driver, text: str, timeout: float = 30) -> None:
    WebDriverWait(driver, timeout).until(
        lambda d: text in d.find_element(By.TAG_NAME, "body").text,
        message=f"{text!r} never appeared",
    )


def wait_css(driver, selector: str, timeout: float = 30) -> None:
    WebDriverWait(driver, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, selector)),
        message=f"{selector!r} never appeared",
    )


def settle(driver, timeout: float = 30) -> None:
    """Wait until Dash has no callback in flight."""
    WebDriverWait(driver, timeout).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, "._dash-loading, [data-dash-is-loading]")
    )
