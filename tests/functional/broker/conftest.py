import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("corekit", Path(__file__).with_name("corekit.py"))
corekit = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("corekit", corekit)
_spec.loader.exec_module(corekit)


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
