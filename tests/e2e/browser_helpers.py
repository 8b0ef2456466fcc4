"""Helpers of the dashboard browser tests against a real ``deploy.py run``.

* ``start_group_with_subscriptions``: the shared fixture's test group (``e2e_gg.write_test_group``)
  plus extra subscription rows, under ``deploy.py run --ephemeral-ports --no-devices``; returns an
  ``e2e_gg.RunningGroup`` (stop it with ``.stop()`` + ``e2e_gg.assert_clean_stop``).
* ``make_driver``: headless Debian Chromium through chromedriver, with the browser console log
  (``goog:loggingPrefs``), set up as in ``tests/functional/web/test_browser.py``.
* ``wait`` / ``text_of`` / ``severe_logs``: bounded WebDriverWait and small page readers.

Test-only code.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List

import yaml

e2e_gg = sys.modules["e2e_gg"]  # loaded by tests/e2e/conftest.py

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING_BROWSER = ("dashboard browser tests need Debian chromium and chromium-driver on PATH "
                   "(apt-get install chromium chromium-driver)")


def start_group_with_subscriptions(bundle: Path, extra: Iterable[Dict[str, str]],
                                   timeout: float = e2e_gg.READY_TIMEOUT_S) -> "e2e_gg.RunningGroup":
    """Like ``e2e_gg.start_group``, with ``extra`` rows appended to the seed's subscriptions."""
    bundle.mkdir(parents=True, exist_ok=True)
    seed = yaml.safe_load(e2e_gg.SEED_GROUP.read_text(encoding="utf-8"))
    seed.setdefault("subscriptions", []).extend(dict(row) for row in extra)
    seed_copy = bundle / "seed-group.yaml"
    seed_copy.write_text(yaml.safe_dump(seed, sort_keys=False), encoding="utf-8")

    marker = uuid.uuid4().hex
    group_file = e2e_gg.write_test_group(bundle, marker, source=seed_copy)
    state_dir, certs_dir = bundle / "state", bundle / "certs"
    argv = [e2e_gg.PYTHON, str(e2e_gg.ROOT / "deploy.py"), "run", "--group-file", str(group_file),
            "--state-dir", str(state_dir), "--certs-dir", str(certs_dir), "--ephemeral-ports", "--no-devices"]
    env = e2e_gg._env(marker)
    env.setdefault("LOG_LEVEL", "WARNING")
    t0 = time.monotonic()
    run = e2e_gg.OutputProcess(argv, "deploy.py run", env=env, cwd=str(e2e_gg.ROOT),
                               log_file=bundle / "run.log")
    endpoint_file = state_dir / "endpoint.json"
    deadline = t0 + timeout
    while not endpoint_file.exists():
        if run.proc.poll() is not None or time.monotonic() >= deadline:
            run.kill()
            run.stop()
            raise AssertionError(f"deploy.py run not ready within {timeout:.0f} s "
                                 f"(exit {run.proc.returncode}):\n" + run.output()[-4000:])
        time.sleep(0.05)  # polling a file the run writes (no event to await across processes)
    endpoint = json.loads(endpoint_file.read_text())
    return e2e_gg.RunningGroup(run=run, bundle=bundle, group_file=group_file, state_dir=state_dir,
                               certs_dir=certs_dir, marker=marker, endpoint=endpoint,
                               ready_seconds=time.monotonic() - t0)


def make_driver(profile_dir: str, width: int = 1280, height: int = 1000):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", f"--window-size={width},{height}", f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Browser:
    """One headless Chromium with its own throw-away profile; ``quit()`` removes both."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="e2e-dashboard-chromium-")
        try:
            self.driver = make_driver(self.profile)
        except BaseException:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def wait(drv, condition: Callable[[Any], Any], what: str, timeout: float = 15.0, poll: float = 0.1) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, timeout, poll_frequency=poll).until(
        condition, message=f"waited {timeout:.0f} s for {what}")


def text_of(drv, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return drv.find_element(By.ID, element_id).text


def severe_logs(drv) -> List[dict]:
    return [entry for entry in drv.get_log("browser") if entry["level"] == "SEVERE"]
