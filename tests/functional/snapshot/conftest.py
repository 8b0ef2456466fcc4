"""Fixtures of the snapshot tests; the LocalCloud ones (``cloud``, ``clients``, ``bucket``, ``stream``)
are shared in tests/functional/conftest.py."""
from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("snapshot_media", Path(__file__).with_name("snapshot_media.py"))
media = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("snapshot_media", media)
_spec.loader.exec_module(media)


@pytest.fixture
def now() -> float:
    return time.time()
