"""Helpers of the dashboard browser tests against a real ``deploy.py run``.

* ``start_group_with_subscriptions``: the shared fixture's test group (``e2e_gg.write_test_group``)
  plus extra subscription rows, under ``deploy.py run --ephemeral-ports --no-devices``; returns an
  ``e2e_gg.RunningGroup`` (stop it with ``.stop()`` + ``e2e_gg.assert_clean_stop``).
* ``Browser``, ``wait``, ``text_of``, ``severe_logs``, screenshots: from ``tests/browser.py``, shared
  with ``tests/functional/web/test_browser.py``.

Test-only code.
"""
from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, Iterable

import yaml

from tests.browser import (CHROMEDRIVER, CHROMIUM, MISSING_BROWSER, Browser,  # noqa: F401 — re-exported
                           assert_not_blank, full_page_screenshot, severe_logs, text_of, wait)

e2e_gg = sys.modules["e2e_gg"]  # loaded by tests/e2e/conftest.py


def start_group_with_subscriptions(bundle: Path, extra: Iterable[Dict[str, str]],
                                   timeout: float = e2e_gg.READY_TIMEOUT_S,
                                   platform: str = "v1") -> "e2e_gg.RunningGroup":
    """Like ``e2e_gg.start_group``, with ``extra`` rows appended to the seed's subscriptions."""
    bundle.mkdir(parents=True, exist_ok=True)
    seed = yaml.safe_load(e2e_gg.SEED_GROUP.read_text(encoding="utf-8"))
    seed.setdefault("subscriptions", []).extend(dict(row) for row in extra)
    seed_copy = bundle / "seed-group.yaml"
    seed_copy.write_text(yaml.safe_dump(seed, sort_keys=False), encoding="utf-8")
    return e2e_gg.start_group(bundle, source=seed_copy, timeout=timeout, platform=platform)


