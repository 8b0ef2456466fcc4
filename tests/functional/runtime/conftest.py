"""Fixtures: a real LambdaRuntime (real processes, unmodified greengrasssdk 1.6.1) on port 0, wired
to the real Router and ShadowService of the tree; a Recorder as the one subscribed device."""
from __future__ import annotations

import pytest

from localcore.router import Router
from localcore.runtime import LambdaRuntime
from localcore.shadow import ShadowService
from tests.functional.runtime.support import OBSERVER, Recorder


@pytest.fixture
def observer() -> Recorder:
    return Recorder()


@pytest.fixture
def router(observer) -> Router:
    router = Router()
    router.attach(OBSERVER, observer)
    return router


@pytest.fixture
async def shadow(tmp_path, router):
    service = ShadowService(tmp_path / "shadows", publisher=router)
    await service.start()
    service.attach(router)
    yield service
    await service.stop()


@pytest.fixture
async def make_runtime(tmp_path, router, shadow):
    started: list[LambdaRuntime] = []

    async def make(functions, routes=(), attach=True, **kw) -> LambdaRuntime:
        kw.setdefault("ipc_port", 0)
        runtime = LambdaRuntime(functions, router, shadow, tmp_path / "state", **kw)
        started.append(runtime)
        router.replace_routes(routes)
        if attach:
            for spec in functions:
                router.attach(f"function:{spec.name}", runtime.sink(spec.name))
        await runtime.start()
        return runtime

    yield make
    for runtime in started:
        await runtime.stop()
