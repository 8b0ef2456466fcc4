"""Function states on the dashboard as Greengrass shows them, from a real ``LambdaRuntime`` (real
function processes, the unmodified greengrasssdk) through ``web.facade.functions_section``."""
from __future__ import annotations

import asyncio

import pytest

from localcore.router import Router
from localcore.runtime import LambdaRuntime
from tests.functional.runtime.support import spec
from web.facade import function_state, functions_section

WAIT_S = 15.0


async def _until(runtime: LambdaRuntime, name: str, wanted: str) -> dict:
    """The function's dashboard row once its state is ``wanted`` (bounded; the runtime has no
    state-change event, so its status is read every 20 ms)."""
    async def poll() -> dict:
        while True:
            rows = {row["name"]: row for row in functions_section(runtime.status())}
            if rows[name]["state"] == wanted:
                return rows[name]
            await asyncio.sleep(0.02)
    try:
        return await asyncio.wait_for(poll(), WAIT_S)
    except asyncio.TimeoutError:
        rows = {row["name"]: row for row in functions_section(runtime.status())}
        raise AssertionError(f"{name} never became {wanted!r}; now {rows[name]['state']!r}: "
                             f"{runtime.status()['functions'][name]['instances']}") from None


@pytest.fixture
async def runtime(tmp_path):
    functions = [spec("echo", pinned=True), spec("sleeper", timeout_s=10, max_instances=5)]
    rt = LambdaRuntime(functions, Router(), None, tmp_path / "state", ipc_port=0)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


async def test_pinned_running_and_on_demand_idle_or_busy_with_instance_counts(runtime):
    echo = await _until(runtime, "echo", "running")  # its process waits for work: not "idle"
    assert (echo["pinned"], echo["instances"], echo["max_instances"]) == (True, 1, 1)
    assert (await _until(runtime, "sleeper", "idle (0 of 5)"))["instances"] == 0

    calls = [asyncio.create_task(runtime.invoke("sleeper", {"sleep": 1.5})) for _ in range(2)]
    try:
        busy = await _until(runtime, "sleeper", "busy (2 of 5)")
        assert busy["instances"] == 2
        assert (await _until(runtime, "echo", "running"))["invocations"] == 0
    finally:
        results = await asyncio.wait_for(asyncio.gather(*calls), WAIT_S)
    assert [r.function_error for r in results] == ["", ""]
    idle = await _until(runtime, "sleeper", "idle (2 of 5)")  # both instances stay for the next work
    assert idle["invocations"] == 2


@pytest.mark.parametrize("status, state", [
    ({"pinned": True, "instances": []}, "not running"),
    ({"pinned": True, "instances": [{"state": "starting", "pid": None}]}, "starting"),
    ({"pinned": True, "instances": [{"state": "starting", "pid": 42}]}, "running"),  # importing
    ({"pinned": True, "instances": [{"state": "busy", "pid": 42}]}, "running"),
    ({"pinned": True, "instances": [{"state": "exited", "pid": 42}]}, "stopping"),
    ({"pinned": True, "instances": [], "start_error": "No module named 'cv2'"}, "failed to start"),
    ({"pinned": False, "instances": [], "max_instances": 4}, "idle (0 of 4)"),
    ({"pinned": False, "max_instances": 4, "instances": [{"state": "busy"}, {"state": "idle"}, {"state": "busy"}]},
     "busy (2 of 4)"),
    ({"pinned": False, "max_instances": 4, "instances": [{"state": "idle"}, {"state": "starting"}]}, "idle (2 of 4)"),
    ({"pinned": False, "instances": [{"state": "idle"}]}, "idle (1)"),  # a status without the pool size
])
def test_function_state_rules(status, state):
    assert function_state(status) == state
