"""Fixtures: real LambdaRuntime (real processes, real greengrasssdk 1.6.1) on port 0."""
from __future__ import annotations

import pytest

from localcore.runtime import LambdaRuntime
from tests.functional.runtime.support import DictShadow, RecordingRouter


@pytest.fixture
def router() -> RecordingRouter:
    return RecordingRouter()


@pytest.fixture
def shadow() -> DictShadow:
    return DictShadow()


@pytest.fixture
async def make_runtime(tmp_path, router, shadow):
    started: list[LambdaRuntime] = []

    async def make(functions, **kw) -> LambdaRuntime:
        kw.setdefault("ipc_port", 0)
        runtime = LambdaRuntime(functions, router, shadow, tmp_path / "state", **kw)
        started.append(runtime)
        await runtime.start()
        return runtime

    yield make
    for runtime in started:
        await runtime.stop()
