"""CloudFunctionRunner with real worker processes: warm reuse, errors, timeout, crash, memory."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import textwrap

import pytest

from localcore.cloud_lambdas import CloudFunctionRunner, FunctionStartError, RunnerNotStarted

HANDLER = textwrap.dedent('''
    import os, sys, time

    LOADED_AT = time.time()  # module state survives between warm invocations
    CALLS = []


    def lambda_handler(event, context):
        CALLS.append(1)
        action = event.get("action")
        print("stdout is the log, not the protocol")
        if action == "sleep":
            time.sleep(event["seconds"])
        elif action == "raise":
            raise KeyError(event["message"])
        elif action == "exit":
            os._exit(event["code"])
        elif action == "allocate":
            blob = bytearray(event["mb"] * 1024 * 1024)
            blob[::4096] = b"x" * len(blob[::4096])
        elif action == "unmarshalable":
            return {"value": object()}
        return {"pid": os.getpid(), "calls": len(CALLS), "loaded_at": LOADED_AT,
                "remaining_ms": context.get_remaining_time_in_millis(),
                "function_name": context.function_name, "memory": context.memory_limit_in_mb,
                "arn": context.invoked_function_arn, "request_id": context.aws_request_id,
                "env": {k: os.environ.get(k) for k in ("GREETING", "RUNNER_TEST_LEAK", "HOME",
                                                      "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION")},
                "cwd": os.getcwd(), "path0": sys.path[0], "event": event}
''')


@pytest.fixture
def code(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "main.py").write_text(HANDLER)
    return tmp_path


@pytest.fixture
async def runner(code, monkeypatch):
    monkeypatch.setenv("RUNNER_TEST_LEAK", "the caller's environment must not leak")
    r = CloudFunctionRunner("fn", code, "app.main.lambda_handler", environment={"GREETING": "hi"},
                            timeout_s=1.0, memory_mb=128, region="eu-west-1")
    await r.start()
    try:
        yield r
    finally:
        await r.stop()
    assert r.status()["state"] == "stopped" and r.status()["pid"] is None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_warm_invocations_reuse_one_process(runner, code):
    first = await runner.invoke({"n": 1})
    second = await runner.invoke({"n": 2})
    assert first["ok"] and second["ok"], (first, second)
    assert first["cold"] is True and second["cold"] is False
    a, b = first["payload"], second["payload"]
    assert a["pid"] == b["pid"] and a["loaded_at"] == b["loaded_at"] and (a["calls"], b["calls"]) == (1, 2)
    assert b["event"] == {"n": 2}
    assert 0 < b["remaining_ms"] <= 1000
    assert (b["function_name"], b["memory"]) == ("fn", "128")
    assert b["arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:fn"
    assert a["request_id"] != b["request_id"] and b["request_id"] == second["requestId"]
    assert b["env"] == {"GREETING": "hi", "RUNNER_TEST_LEAK": None, "HOME": None,
                        "AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_REGION": "eu-west-1"}
    assert b["cwd"] == str(code) and b["path0"] == str(code)
    st = runner.status()
    assert (st["invocations"], st["errors"], st["cold_starts"], st["pid"]) == (2, 0, 1, a["pid"])
    assert st["last_duration_ms"] == second["duration_ms"] and st["max_rss_mb"] > 0


async def test_handler_exception_is_an_error_result_without_trace(runner, caplog):
    caplog.set_level(logging.INFO, logger="localcore.cloud_lambdas")
    result = await runner.invoke({"action": "raise", "message": "no such thing"})
    assert {k: result[k] for k in ("ok", "status", "errorType", "errorMessage")} == {
        "ok": False, "status": 502, "errorType": "KeyError", "errorMessage": "'no such thing'"}
    assert "Traceback" not in json.dumps(result)
    # the trace is in the function's log, with what the handler printed
    logged = [r.getMessage() for r in caplog.records if r.name == "localcore.cloud_lambdas.fn"]
    assert "Traceback (most recent call last):" in logged
    assert "stdout is the log, not the protocol" in logged
    # the process survives a handled error: the next call is warm
    again = await runner.invoke({})
    assert again["ok"] and again["cold"] is False
    assert runner.status()["errors"] == 1


async def test_timeout_kills_and_restarts_the_worker(runner):
    before = (await runner.invoke({}))["payload"]["pid"]
    result = await runner.invoke({"action": "sleep", "seconds": 30})
    assert {k: result[k] for k in ("ok", "status", "errorType", "errorMessage")} == {
        "ok": False, "status": 504, "errorType": "Sandbox.Timedout",
        "errorMessage": "Task timed out after 1.00 seconds"}
    assert 1000 <= result["duration_ms"] < 2500
    assert not pid_alive(before)
    after = await runner.invoke({})
    assert after["ok"] and after["cold"] is True and after["payload"]["pid"] != before
    st = runner.status()
    assert (st["timeouts"], st["restarts"], st["cold_starts"]) == (1, 1, 2)
    assert st["last_error"] is None or "Task timed out" in st["last_error"]


async def test_crash_mid_invocation_restarts_the_worker(runner):
    result = await runner.invoke({"action": "exit", "code": 3})
    assert (result["ok"], result["status"], result["errorType"]) == (False, 502, "Runtime.ExitError")
    assert result["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    after = await runner.invoke({})
    assert after["ok"] and after["cold"] is True
    assert runner.status()["crashes"] == 1


async def test_worker_killed_while_idle_is_replaced_on_the_next_call(runner):
    pid = (await runner.invoke({}))["payload"]["pid"]
    os.kill(pid, 9)
    for _ in range(500):  # until the runner has seen the exit (no public event for it; ≤ 5 s)
        if runner.status()["pid"] != pid:
            break
        await asyncio.sleep(0.01)
    assert runner.status()["pid"] is None
    after = await runner.invoke({})
    assert after["ok"] and after["payload"]["pid"] != pid and after["cold"] is True


async def test_memory_limit(runner):
    result = await runner.invoke({"action": "allocate", "mb": 200})
    assert (result["ok"], result["status"], result["errorType"]) == (False, 502, "Runtime.OutOfMemory")
    assert "memory limit exceeded" in result["errorMessage"] and "> 128 MB" in result["errorMessage"]
    assert (await runner.invoke({}))["ok"]


async def test_unmarshalable_result(runner):
    result = await runner.invoke({"action": "unmarshalable"})
    assert (result["ok"], result["errorType"]) == (False, "Runtime.MarshalError")
    assert result["errorMessage"].startswith("Unable to marshal response")


async def test_a_cancelled_invocation_does_not_leave_a_busy_worker(runner):
    pid = (await runner.invoke({}))["payload"]["pid"]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(runner.invoke({"action": "sleep", "seconds": 30}), 0.3)
    after = await runner.invoke({})
    assert after["ok"] and after["payload"]["pid"] != pid


async def test_event_must_be_json(runner):
    with pytest.raises(ValueError, match="the event is not JSON-serialisable"):
        await runner.invoke({"x": object()})


async def test_import_error_fails_start_with_lambdas_message(tmp_path):
    (tmp_path / "broken.py").write_text("import no_such_module_here\n")
    r = CloudFunctionRunner("broken", tmp_path, "broken.lambda_handler")
    with pytest.raises(FunctionStartError) as info:
        await r.start()
    assert str(info.value) == ("cloud function broken: Runtime.ImportModuleError: Unable to import module "
                               "'broken': ModuleNotFoundError: No module named 'no_such_module_here'")
    assert r.status()["state"] == "stopped"
    with pytest.raises(RunnerNotStarted):
        await r.invoke({})


async def test_missing_handler_function(tmp_path):
    (tmp_path / "mod.py").write_text("x = 1\n")
    with pytest.raises(FunctionStartError, match="Runtime.HandlerNotFound: Handler 'handler' missing on module 'mod'"):
        async with CloudFunctionRunner("nohandler", tmp_path, "mod.handler"):
            pass


async def test_stop_ends_an_invocation_in_flight_at_once(code, caplog):
    caplog.set_level(logging.INFO, logger="localcore.cloud_lambdas.fn")
    r = CloudFunctionRunner("fn", code, "app.main.lambda_handler", timeout_s=60)
    await r.start()
    call = asyncio.ensure_future(r.invoke({"action": "sleep", "seconds": 60}))
    pid = r.status()["pid"]
    for _ in range(500):  # until the handler runs: it prints before sleeping (≤ 5 s)
        if any(rec.getMessage() == "stdout is the log, not the protocol" for rec in caplog.records):
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the handler never started")
    await asyncio.wait_for(r.stop(), 5)
    result = await asyncio.wait_for(call, 5)
    assert (result["ok"], result["errorType"]) == (False, "Runtime.ExitError")
    assert not pid_alive(pid)
    assert r.status()["state"] == "stopped" and r.status()["restarts"] == 0


async def test_snapshot_code_dir_given_as_the_package_gets_a_hint():
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[3] / "cloud" / "snapshot"
    with pytest.raises(FunctionStartError) as info:
        await CloudFunctionRunner("snap", pkg, "handler.lambda_handler").start()
    assert "attempted relative import with no known parent package" in str(info.value)
    assert f"give its parent as the code dir and snapshot.handler.lambda_handler as the handler" in str(info.value)


def test_from_the_group_files_cloud_function(tmp_path):
    from group.model import CloudFunction

    (tmp_path / "cloud" / "snapshot").mkdir(parents=True)
    (tmp_path / "cloud" / "snapshot" / "__init__.py").write_text("")
    (tmp_path / "cloud" / "snapshot" / "handler.py").write_text("")
    fn = CloudFunction(name="snapshot", path="cloud", handler="snapshot.handler.lambda_handler",
                       memory_mb=512, timeout_s=20, environment={"SNAPSHOT_BUCKET": "b"})
    r = CloudFunctionRunner.from_cloud_function(fn, tmp_path, "http://127.0.0.1:5", "eu-west-1")
    assert (r.name, r.code_dir, r.handler, r.timeout_s, r.memory_mb) == (
        "snapshot", (tmp_path / "cloud").resolve(), "snapshot.handler.lambda_handler", 20.0, 512)
    assert r.environment["SNAPSHOT_BUCKET"] == "b" and r.environment["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5"
    assert r.arn == "arn:aws:lambda:eu-west-1:123456789012:function:snapshot"


async def test_missing_interpreter_is_a_start_error(code):
    r = CloudFunctionRunner("fn", code, "app.main.lambda_handler", python="/nonexistent/python3")
    with pytest.raises(FunctionStartError, match=r"cloud function fn: cannot run /nonexistent/python3 in .*No such file"):
        await r.start()
