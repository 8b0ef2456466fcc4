"""What every test folder shares: under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) the tests of a
module that share an expensive module-scoped fixture (a ``deploy.py run``, a LocalCloud, a browser) go to one
worker, so that fixture is set up once, not once per worker that happens to receive one of its tests.

The shared e2e run (``group_run``) keeps its own group (``tests/e2e/conftest.py``).

pytest-xdist 3.8 tells its scheduler a test's group by appending ``@<group>`` to the legacy ``item._nodeid``; pytest
9.2 reads node ids from the structured ``item._id`` instead, so the groups were silently lost and every test was
spread over the workers (pytest-xdist issue #1386: two shared e2e runs at once, a module's run started on both
workers). :func:`_keep_xdist_groups` carries the suffix over until xdist does it itself.
"""
from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
_SHARED_SCOPES = ("module", "package", "class")


def _shares_a_fixture(item: pytest.Item) -> bool:
    """Whether ``item`` uses a fixture of this test tree with a scope wider than the test."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in info.names_closure:
        for fixturedef in info.name2fixturedefs.get(name, ()):
            if fixturedef.scope not in _SHARED_SCOPES:
                continue
            code = getattr(fixturedef.func, "__code__", None)
            if code is not None and TESTS in Path(code.co_filename).resolve().parents:
                return True
    return False


@pytest.hookimpl(wrapper=True)  # around xdist's own hook: groups before it reads them, its suffix kept after
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group") or "group_run" in getattr(item, "fixturenames", ()):
            continue  # already grouped (the shared e2e run)
        if _shares_a_fixture(item):
            item.add_marker(pytest.mark.xdist_group(f"module:{item.nodeid.split('::', 1)[0]}"))
    result = yield
    _keep_xdist_groups(items)
    return result


def _keep_xdist_groups(items) -> None:
    for item in items:
        legacy = getattr(item, "_nodeid", None)
        if isinstance(legacy, str) and "@" in legacy and "@" not in item.nodeid and hasattr(item, "_id"):
            from _pytest.nodeid import coerce_node_id  # pytest ≥ 9.2 only (structured node ids)

            item._id = coerce_node_id(legacy)
