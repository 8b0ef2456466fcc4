"""Headless Chromium helpers shared by the dashboard browser tests (tests/functional/web and
tests/e2e): Debian ``chromium`` + ``chromium-driver`` through selenium. Test-only code."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, List, Tuple

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING_BROWSER = ("dashboard browser tests need Debian chromium and chromium-driver on PATH "
                   "(apt-get install chromium chromium-driver)")
SCREENSHOTS = Path(__file__).resolve().parents[1] / ".gg" / "screenshots"


def make_driver(profile_dir: str, width: int = 1280, height: int = 1000):
    """Headless Chromium with its browser console log (``goog:loggingPrefs``) and no background
    networking (the machine's closed network refuses it)."""
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

    def __init__(self, prefix: str = "dashboard-chromium-") -> None:
        self.profile = tempfile.mkdtemp(prefix=prefix)
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


def full_page_screenshot(drv, name: str) -> Tuple[Any, int]:
    """Save the whole page as ``.gg/screenshots/<name>``; returns (the image read back, page height)."""
    import cv2

    height = drv.execute_script("return document.documentElement.scrollHeight")
    drv.set_window_size(1280, height + 150)  # the outer window includes a little browser chrome
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        path.unlink(missing_ok=True)
        assert drv.save_screenshot(str(path))
    finally:
        drv.set_window_size(1280, 1000)
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not a readable PNG"
    return image, height


def assert_not_blank(image, height: int) -> None:
    """The screenshot covers the page and is not (nearly) one flat colour."""
    import cv2
    import numpy as np

    assert image.shape[0] >= min(height, 2000) * 0.9, (image.shape, height)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert float(gray.std()) > 20.0, "the screenshot is (nearly) one flat colour"
    assert len(np.unique(image.reshape(-1, 3)[::7], axis=0)) > 50


class DashboardThread:
    """A ``web.app.Dashboard`` on its own event loop in a daemon thread (functional browser tests)."""

    def __init__(self, facade: Any, status_interval: float = 0.2, wait_s: float = 10.0) -> None:
        import asyncio
        import threading

        from web.app import Dashboard

        self.wait_s = wait_s
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dashboard", daemon=True)
        self.dashboard = Dashboard(facade, status_interval=status_interval)

    def _run(self, coro: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.wait_s)

    def start(self) -> None:
        self.thread.start()
        self._run(self.dashboard.start(port=0))

    def stop(self) -> None:
        try:
            self._run(self.dashboard.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(self.wait_s)
            self.loop.close()
