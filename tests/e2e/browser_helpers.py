"""Helpers of the dashboard browser tests against a real ``deploy.py run`` (the shared ``group_run``).

* ``Browser``, ``wait``, ``text_of``, ``severe_logs``, screenshots: from ``tests/browser.py``, shared
  with ``tests/functional/web/test_browser.py``.

Test-only code.
"""
from __future__ import annotations

from tests.browser import (CHROMEDRIVER, CHROMIUM, MISSING_BROWSER, Browser,  # noqa: F401 — re-exported
                           assert_not_blank, full_page_screenshot, severe_logs, text_of, wait)
