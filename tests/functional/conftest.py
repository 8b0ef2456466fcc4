"""Shared by the broker, discovery and shadow tests: corekit (a small core of real services) and make_core."""
import importlib.util
import sys
from pathlib import Path

import pytest

_path = Path(__file__).resolve().parent / "broker" / "corekit.py"
if "corekit" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("corekit", _path)
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["corekit"] = _module
    _spec.loader.exec_module(_module)
corekit = sys.modules["corekit"]


@pytest.fixture
def make_core(tmp_path):
    cores = []

    def make(routes, members, discovery=False):
        core = corekit.Core(tmp_path, routes, members).start(discovery=discovery)
        cores.append(core)
        return core

    yield make
    for core in cores:
        core.stop()
