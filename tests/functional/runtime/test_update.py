"""``LambdaRuntime.update``: a new deployment's functions applied while running, with real function
processes (unmodified greengrasssdk 1.6.1): only what changed restarts."""
from __future__ import annotations

import dataclasses
import shutil

import pytest

from localcore.interfaces import Message, Route
from localcore.runtime import FunctionConfigError
from tests.functional.runtime.support import LAMBDAS, spec, to_observer


async def pid_of(runtime, name: str) -> int:
    """The pid of the instance that answers an invocation (echo returns os.getpid())."""
    return (await runtime.invoke(name, {"ping": name})).json()["pid"]


async def test_only_the_changed_function_restarts_and_new_ones_start(make_runtime, router, observer):
    alpha = spec("alpha", code="echo", pinned=True)
    beta = spec("beta", code="echo", pinned=True, environment={"OUT_TOPIC": "beta/out"})
    runtime = await make_runtime([alpha, beta])
    alpha_pid, beta_pid = await pid_of(runtime, "alpha"), await pid_of(runtime, "beta")
    token = runtime.token_of("beta")

    new_beta = dataclasses.replace(beta, environment={"OUT_TOPIC": "beta/v2"})
    gamma = spec("gamma", code="echo", environment={"OUT_TOPIC": "gamma/out"})
    result = await runtime.update([alpha, new_beta, gamma])

    assert result.as_dict() == {"started": ["gamma"], "stopped": [], "restarted": ["beta"],
                                "unchanged": ["alpha"]}
    assert await pid_of(runtime, "alpha") == alpha_pid
    assert await pid_of(runtime, "beta") != beta_pid
    assert runtime.token_of("beta") == token and runtime.token_valid(token)
    status = runtime.status()["functions"]
    assert status["beta"]["deployments"] == 1 and status["alpha"]["deployments"] == 0
    assert status["beta"]["crashes"] == 0 and status["beta"]["restarts"] == 0  # not counted as a crash

    # the restarted function runs its new environment; the new one is routable
    router.attach("function:gamma", runtime.sink("gamma"))
    router.replace_routes([Route("device:Sensor", "function:gamma", "in/+"),
                           to_observer("function:gamma", "gamma/out"),
                           Route("device:Sensor", "function:beta", "in/+"),
                           to_observer("function:beta", "beta/#")])
    router.attach("function:beta", runtime.sink("beta"))
    router.publish(Message(source="device:Sensor", topic="in/x", payload=b'{"n": 1}'))
    await observer.wait_for(lambda m: m.topic == "gamma/out")
    [out] = await observer.wait_for(lambda m: m.topic.startswith("beta/"))
    assert out.topic == "beta/v2"


async def test_removed_function_stops_and_its_token_is_revoked(make_runtime):
    keep, gone = spec("keep", code="echo", pinned=True), spec("gone", code="echo", pinned=True)
    runtime = await make_runtime([keep, gone])
    keep_pid = await pid_of(runtime, "keep")
    await pid_of(runtime, "gone")
    token = runtime.token_of("gone")

    result = await runtime.update([keep])

    assert result.stopped == ("gone",) and result.unchanged == ("keep",)
    assert "gone" not in runtime.status()["functions"]
    assert not runtime.token_valid(token)
    assert await pid_of(runtime, "keep") == keep_pid


async def test_code_change_restarts_even_with_the_same_spec(make_runtime, tmp_path):
    code = tmp_path / "code" / "echo"
    shutil.copytree(LAMBDAS / "echo", code)
    fn = dataclasses.replace(spec("edited", pinned=True), code_dir=str(code))
    runtime = await make_runtime([fn])
    before = await pid_of(runtime, "edited")
    assert (await runtime.update([fn])).unchanged == ("edited",)
    assert await pid_of(runtime, "edited") == before

    (code / "extra.py").write_text("VALUE = 2\n")
    result = await runtime.update([fn])

    assert result.restarted == ("edited",)
    assert await pid_of(runtime, "edited") != before


async def test_a_bad_new_spec_changes_nothing(make_runtime):
    alpha = spec("alpha", code="echo", pinned=True)
    runtime = await make_runtime([alpha])
    before = await pid_of(runtime, "alpha")

    broken = dataclasses.replace(spec("broken", code="echo"), handler="missing_module.function_handler")
    with pytest.raises(FunctionConfigError, match=r"'broken': handler module 'missing_module' not found"):
        await runtime.update([dataclasses.replace(alpha, environment={"X": "1"}), broken])

    assert set(runtime.status()["functions"]) == {"alpha"}
    assert await pid_of(runtime, "alpha") == before
