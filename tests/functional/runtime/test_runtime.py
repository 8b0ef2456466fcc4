"""The Lambda runtime with real function processes running the unmodified greengrasssdk 1.6.1,
wired to the real Router (subscription table) and ShadowService."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from localcore.interfaces import Message, Route
from localcore.runtime import FunctionConfigError, LambdaRuntime, SDK_DIR
from tests.functional.runtime.support import LAMBDAS, arn, spec, to_observer


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll a condition of process state that no event announces (bounded)."""
    async def _poll():
        while not predicate():
            await asyncio.sleep(interval)
    await asyncio.wait_for(_poll(), timeout)


async def test_pinned_module_level_loop_publishes_through_the_router(make_runtime, observer):
    runtime = await make_runtime([spec("timer", pinned=True, environment={"INTERVAL_S": "0.05"})],
                                 routes=[to_observer("function:timer", "hello/#")])
    messages = await observer.wait_for(lambda m: m.topic == "hello/world", count=3)
    assert {m.source for m in messages} == {"function:timer"}
    assert messages[0].payload == b"Hello world! Sent from Greengrass Core. #1"
    status = runtime.status()["functions"]["timer"]
    # the import never returns, yet the instance counts as started
    assert len(status["instances"]) == 1 and status["instances"][0]["state"] == "starting"


async def test_mqtt_triggered_invocation_gets_subject_and_json_event(make_runtime, router, observer):
    await make_runtime([spec("echo", environment={"OUT_TOPIC": "echo/out"})], routes=[
        Route("device:Sensor", "function:echo", "sensors/+"), to_observer("function:echo", "echo/out")])
    assert router.publish(Message(source="device:Sensor", topic="sensors/temp", payload=b'{"t": 21.5}')) == 1
    [out] = await observer.wait_for(lambda m: m.topic == "echo/out")
    answer = json.loads(out.payload)
    assert answer["event"] == {"t": 21.5}
    assert answer["subject"] == "sensors/temp"
    assert answer["custom"] == {"subject": "sensors/temp"}
    assert answer["function_name"] == "echo" and answer["function_version"] == "live"
    assert out.source == "function:echo"


async def test_non_json_message_to_json_function_is_dropped_and_counted(make_runtime, observer):
    runtime = await make_runtime([spec("echo", environment={"OUT_TOPIC": "echo/out"})],
                                 routes=[to_observer("function:echo", "echo/out")])
    runtime.sink("echo").deliver(Message(source="device:S", topic="raw", payload=b"\x00not json"))
    runtime.sink("echo").deliver(Message(source="device:S", topic="ok", payload=b"1"))
    [out] = await observer.wait_for(lambda m: m.topic == "echo/out")
    assert json.loads(out.payload)["subject"] == "ok"
    assert runtime.status()["functions"]["echo"]["dropped_messages"] == 1


async def test_binary_encoding_passes_raw_bytes(make_runtime, router, observer):
    runtime = await make_runtime([spec("binary", encoding="binary"), spec("echo", code="echo")], routes=[
        Route("device:Cam", "function:binary", "frames"), to_observer("function:binary", "binary/out")])
    raw = b"\x00\xffnot-json"
    router.publish(Message(source="device:Cam", topic="frames", payload=raw))
    [out] = await observer.wait_for(lambda m: m.topic == "binary/out")
    assert out.payload == raw
    result = await runtime.invoke("binary", raw)
    assert result.json() == {"type": "bytes", "hex": raw.hex()}
    json_result = await runtime.invoke("echo", {"k": [1, 2]})
    assert json_result.json()["event"] == {"k": [1, 2]}


async def test_function_to_function_by_publish_and_by_lambda_invoke(make_runtime, observer):
    runtime = await make_runtime([
        spec("caller", environment={"TARGET_ARN": arn("echo")}),
        spec("echo", environment={"OUT_TOPIC": "echo/out"}),
    ], routes=[Route("function:caller", "function:echo", "chain/next"),
               to_observer("function:echo", "echo/out")])
    result = await runtime.invoke("caller", {"n": 7})
    assert result.function_error == ""
    direct = result.json()
    assert direct["function_error"] == ""
    assert direct["payload"]["event"] == {"direct": 7}
    assert direct["payload"]["custom"] == {"subject": "direct/call"}
    outs = await observer.wait_for(lambda m: m.topic == "echo/out", count=2)
    routed = [json.loads(m.payload) for m in outs if json.loads(m.payload)["subject"] == "chain/next"]
    assert routed and routed[0]["event"] == {"from": "caller", "n": 7}


async def test_shadow_get_update_delete_from_a_function(make_runtime, shadow, observer):
    runtime = await make_runtime([spec("shadowfn")], routes=[
        to_observer("shadow:Light", "$aws/things/Light/shadow/update/#")])
    missing = (await runtime.invoke("shadowfn", {"op": "get", "thing": "Light"})).json()
    assert "error code 404" in missing["error"]  # AWS error JSON → ShadowError in the SDK
    updated = (await runtime.invoke("shadowfn", {"op": "update", "thing": "Light",
                                                 "doc": {"state": {"desired": {"color": "red"}}}})).json()
    assert updated["document"]["state"] == {"desired": {"color": "red"}}
    got = (await runtime.invoke("shadowfn", {"op": "get", "thing": "Light"})).json()
    assert got["document"]["state"]["desired"]["color"] == "red"
    assert got["document"]["state"]["delta"] == {"color": "red"}
    assert shadow.document("Light")["state"]["desired"] == {"color": "red"}
    # the shadow service's replies went through the subscription table, source shadow:<thing>
    [accepted] = await observer.wait_for(lambda m: m.topic == "$aws/things/Light/shadow/update/accepted")
    assert accepted.source == "shadow:Light"
    await observer.wait_for(lambda m: m.topic == "$aws/things/Light/shadow/update/delta")
    deleted = (await runtime.invoke("shadowfn", {"op": "delete", "thing": "Light"})).json()
    assert "document" in deleted and shadow.document("Light") is None


async def test_shadow_calls_are_refused_as_a_v2_core_refuses_them(make_runtime, shadow):
    """Greengrass V2 does not serve greengrasssdk local-shadow calls to unmodified V1 code: the SDK raises
    ShadowError with the reason, and the shadow service is never asked."""
    runtime = await make_runtime([spec("shadowfn")], sdk_shadow_refusal="GGShadowService is not served on a V2 core")
    for op in ("get", "update"):
        got = (await runtime.invoke("shadowfn", {"op": op, "thing": "Light",
                                                 "doc": {"state": {"desired": {"color": "red"}}}})).json()
        assert "GGShadowService is not served on a V2 core" in got["error"], got
    assert shadow.document("Light") is None


async def test_secrets_from_the_local_store(make_runtime, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "secrets.json").write_text(json.dumps({"secrets": {
        "db-password": {"SecretString": "hunter2", "CreatedDate": 1700000000000}}}))
    runtime = await make_runtime([spec("secretsfn")])
    found = (await runtime.invoke("secretsfn", {"id": "db-password"})).json()
    assert found == {"name": "db-password", "string": "hunter2", "year": 2023}
    missing = (await runtime.invoke("secretsfn", {"id": "nope"})).json()
    assert "404" in missing["error"]


async def test_environment_sys_path_and_container_credentials(make_runtime):
    runtime = await make_runtime(
        [spec("envdump", environment={"MY_SETTING": "42", "AWS_REGION": "ignored"}), spec("echo")],
        stream_manager_port=18088, region="eu-west-1", cloud_endpoint_url="http://127.0.0.1:5999",
        credentials={"AccessKeyId": "AKIALOCAL", "SecretAccessKey": "s", "Token": "tok"})
    info = (await runtime.invoke("envdump", {})).json()
    env = info["env"]
    assert env["MY_FUNCTION_ARN"] == arn("envdump")
    assert env["GG_DAEMON_PORT"] == str(runtime.ipc_port)
    assert env["ROUTER_FUNCTION_ARN"] == "arn:aws:lambda:::function:GGRouter"
    assert env["SHADOW_FUNCTION_ARN"] == "arn:aws:lambda:::function:GGShadowService"
    assert env["SECRETS_MANAGER_FUNCTION_ARN"] == "arn:aws:lambda:::function:GGSecretManager:1"
    assert env["ENCODING_TYPE"] == "json" and env["GGC_MAX_INTERFACE_VERSION"] == "1.5"
    assert env["STREAM_MANAGER_SERVER_PORT"] == "18088"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5999"
    assert env["MY_SETTING"] == "42"
    token = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    assert runtime.token_valid(token) and token != runtime.token_of("echo")
    assert runtime.function_for_token(token) == "envdump" and not runtime.token_valid("forged")
    # fresh sys.path: our SDK first, then the code dir; no localcore; site-packages only at the end
    assert info["sys_path"][0] == str(SDK_DIR) and info["sys_path"][1] == str(LAMBDAS / "envdump")
    assert info["greengrass_common"].startswith(str(SDK_DIR))
    assert info["ipc_client"].startswith(str(SDK_DIR))
    assert info["localcore_importable"] is False
    assert info["cwd"] == str(LAMBDAS / "envdump")
    # boto3 inside the Lambda resolved the core's container credentials
    assert info["credential_method"] == "container-role"
    assert (info["access_key"], info["session_token"]) == ("AKIALOCAL", "tok")
    assert info["region"] == "eu-west-1"


async def test_handler_exception_is_handled_and_recorded(make_runtime):
    runtime = await make_runtime([spec("raiser")])
    result = await runtime.invoke("raiser", {"why": "test"})
    assert result.function_error == "Handled"
    assert result.json()["errorMessage"] == "boom: test"
    last = runtime.status()["functions"]["raiser"]["last_error"]
    assert last["type"] == "Handled" and last["errorType"] == "ValueError"
    assert any("raise ValueError" in line for line in last["stackTrace"])
    log_text = (Path(runtime.status()["functions"]["raiser"]["log"])).read_text()
    assert "Traceback" in log_text and "boom: test" in log_text


async def test_timeout_kills_the_instance_and_answers_unhandled(make_runtime):
    runtime = await make_runtime([spec("sleeper", timeout_s=1, pinned=True)])
    first = (await runtime.invoke("sleeper", {"sleep": 0})).json()
    result = await runtime.invoke("sleeper", {"sleep": 30})
    assert result.function_error == "Unhandled"
    assert "timed out after 1.00 seconds" in result.json()["errorMessage"]
    status = runtime.status()["functions"]["sleeper"]
    assert status["timeouts"] == 1 and status["last_error"]["type"] == "Unhandled"
    # the killed instance is replaced and serves again
    after = (await runtime.invoke("sleeper", {"sleep": 0})).json()
    assert after["pid"] != first["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(first["pid"], 0)


async def test_crash_of_pinned_instance_restarts_it(make_runtime):
    runtime = await make_runtime([spec("crasher", pinned=True)], restart_backoff_s=(0.05, 1.0))
    before = (await runtime.invoke("crasher", {})).json()["pid"]
    crashed = await runtime.invoke("crasher", {"crash": True})
    assert crashed.function_error == "Unhandled"
    assert "exit code 3" in crashed.json()["errorMessage"]
    after = (await runtime.invoke("crasher", {})).json()["pid"]
    assert after != before
    status = runtime.status()["functions"]["crasher"]
    assert status["crashes"] == 1 and status["restarts"] == 1
    assert "exited unexpectedly with code 3" in Path(status["log"]).read_text()


async def test_on_demand_pool_grows_reuses_and_reaps(make_runtime):
    runtime = await make_runtime([spec("sleeper", timeout_s=5)], max_instances=2, idle_reap_s=0.3)
    calls = [asyncio.create_task(runtime.invoke("sleeper", {"sleep": 0.3})) for _ in range(4)]
    await asyncio.sleep(0)  # every call has submitted its work
    assert len(runtime.status()["functions"]["sleeper"]["instances"]) == 2  # grew to the limit, not 4
    results = await asyncio.gather(*calls)
    pids = {r.json()["pid"] for r in results}
    assert len(pids) <= 2 and all(r.function_error == "" for r in results)  # instances were reused
    await wait_until(lambda: not runtime.status()["functions"]["sleeper"]["instances"])
    again = await runtime.invoke("sleeper", {"sleep": 0})
    assert again.json()["pid"] not in pids


async def test_function_pool_size_overrides_the_runtime_default(make_runtime):
    runtime = await make_runtime([spec("sleeper", timeout_s=5, max_instances=1)], max_instances=4)
    calls = [asyncio.create_task(runtime.invoke("sleeper", {"sleep": 0.1})) for _ in range(3)]
    await asyncio.sleep(0)
    assert len(runtime.status()["functions"]["sleeper"]["instances"]) == 1
    results = await asyncio.gather(*calls)
    assert len({r.json()["pid"] for r in results}) == 1  # one instance served every call, in turn


async def test_import_error_answers_unhandled_and_is_reported(make_runtime):
    runtime = await make_runtime([spec("badimport")])
    result = await runtime.invoke("badimport", {})
    assert result.function_error == "Unhandled"
    assert "this module fails at import on purpose" in result.json()["errorMessage"]
    status = runtime.status()["functions"]["badimport"]
    assert "badimport" in status["start_error"] and "RuntimeError" in status["start_error"]
    assert "Traceback" in Path(status["log"]).read_text()


async def test_missing_handler_module_is_a_clear_start_error(tmp_path, router, shadow):
    broken = spec("echo")
    broken = type(broken)(**{**broken.__dict__, "handler": "nothere.function_handler"})
    runtime = LambdaRuntime([broken], router, shadow, tmp_path / "state", ipc_port=0)
    try:
        with pytest.raises(FunctionConfigError) as info:
            await runtime.start()
    finally:
        await runtime.stop()
    assert "'echo'" in str(info.value) and str(LAMBDAS / "echo" / "nothere.py") in str(info.value)


def _http(method: str, url: str, token: str | None, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if token is not None:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode()


async def test_bad_token_and_unknown_arn_get_4xx_with_text(make_runtime):
    runtime = await make_runtime([spec("echo"), spec("sleeper")])
    base = f"http://127.0.0.1:{runtime.ipc_port}/2016-11-01/functions/"
    good = runtime.token_of("sleeper")

    def calls():
        return [
            _http("POST", base + arn("echo"), "forged", b"{}"),
            _http("POST", base + arn("echo"), None, b"{}"),
            _http("POST", base + "arn:aws:lambda:us-east-1:1:function:ghost", good, b"{}"),
            _http("GET", base + arn("echo") + "/work", good),  # another function's work
            _http("GET", f"http://127.0.0.1:{runtime.ipc_port}/2016-11-01/credentialprovider/", "forged"),
            _http("POST", base + arn("echo"), good, b"not json"),
        ]

    answers = await asyncio.to_thread(calls)
    assert [a[0] for a in answers] == [401, 401, 404, 403, 401, 400]
    assert "unknown Authorization token" in answers[0][1]
    assert "function not found" in answers[2][1]
    assert "not JSON" in answers[5][1]
    # the daemon is still fine
    assert (await runtime.invoke("echo", {"still": "ok"})).function_error == ""


async def test_sdk_publish_with_bad_token_raises_invocation_exception(make_runtime, observer):
    runtime = await make_runtime([spec("echo")], routes=[to_observer("function:echo", "t")])
    code = (
        "import os, sys\n"
        f"sys.path.insert(0, {str(SDK_DIR)!r})\n"
        "import greengrasssdk\n"
        "from greengrasssdk.Lambda import InvocationException\n"
        "try:\n"
        "    greengrasssdk.client('iot-data').publish(topic='t', payload=b'x')\n"
        "except InvocationException as e:\n"
        "    print('REFUSED', e)\n"
    )
    env = {"MY_FUNCTION_ARN": arn("echo"), "AWS_CONTAINER_AUTHORIZATION_TOKEN": "forged",
           "GG_DAEMON_PORT": str(runtime.ipc_port), "PATH": os.environ["PATH"]}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code,
                                                env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert b"REFUSED" in out and b"401" in out
    assert not observer.messages


async def test_stream_manager_client_in_a_function_authenticates_with_its_token(make_runtime, tmp_path):
    from localcore.streams import StreamManagerServer

    functions = [spec("streamfn", timeout_s=10)]
    holder = {}
    streams = StreamManagerServer(tmp_path / "streams", port=0, authenticate_client=True,
                                  token_check=lambda token: holder["runtime"].token_valid(token),
                                  exporters_enabled=False)
    await streams.start()
    try:
        runtime = await make_runtime(functions, stream_manager_port=streams.port)
        holder["runtime"] = runtime
        result = await runtime.invoke("streamfn", {"stream": "Readings", "data": "42"})
        assert result.function_error == "", result.payload
        assert result.json() == {"sequence": 0, "read": ["42"]}
    finally:
        await streams.stop()


async def test_publish_on_an_invalid_topic_is_a_4xx_for_the_sdk(make_runtime):
    runtime = await make_runtime([spec("echo")])
    base = f"http://127.0.0.1:{runtime.ipc_port}/2016-11-01/functions/arn:aws:lambda:::function:GGRouter"
    from localcore.lambda_ipc.server import encode_client_context
    context = encode_client_context({"custom": {"source": arn("echo"), "subject": "bad/#/topic"}})
    status, text = await asyncio.to_thread(_http, "POST", base, runtime.token_of("echo"), b"x", {
        "X-Amz-Client-Context": context, "X-Amz-Invocation-Type": "Event"})
    assert status == 400 and "bad/#/topic" in text
    spoofed = encode_client_context({"custom": {"source": arn("other"), "subject": "ok"}})
    status, text = await asyncio.to_thread(_http, "POST", base, runtime.token_of("echo"), b"x", {
        "X-Amz-Client-Context": spoofed, "X-Amz-Invocation-Type": "Event"})
    assert status == 403 and "not its own ARN" in text


async def test_docker_application_connector_reports_why_it_does_not_run(tmp_path):
    from localcore.runtime import DockerComposeApp, connectors_status

    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services: {}\n")
    app = DockerComposeApp(str(compose), "ggtest")
    available, detail = await app.available()
    if available:
        pytest.skip(f"docker compose works here ({detail}); this test covers machines without it")
    await app.start()
    [row] = connectors_status([{"name": "docker", "arn": "arn:aws:greengrass:us-east-1::/connectors/"
                                "DockerApplicationDeployment/versions/7"}], docker=app)
    assert row["state"] == "not-run" and row["reason"] == detail and "docker" in detail
    await app.stop()


async def test_instances_do_not_outlive_a_killed_core(tmp_path):
    """A core killed with SIGKILL leaves no Lambda processes behind, even a pinned one whose module
    import never returns."""
    import signal

    script = (
        "import asyncio, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[3])!r})\n"
        "from localcore.runtime import LambdaRuntime\n"
        "from tests.functional.runtime.support import spec\n"
        "class P:\n"
        "    def publish(self, m, all_or_error=False): return 0\n"
        "async def main():\n"
        "    fns = [spec('timer', pinned=True, environment={'INTERVAL_S': '0.05'}),\n"
        "           spec('echo', pinned=True)]\n"
        f"    rt = LambdaRuntime(fns, P(), None, {str(tmp_path)!r}, ipc_port=0)\n"
        "    await rt.start()\n"
        "    await rt.invoke('echo', {})\n"
        "    fs = rt.status()['functions'].values()\n"
        "    print(' '.join(str(i['pid']) for f in fs for i in f['instances']), flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    core = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(core.stdout.readline(), 20)
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2
    finally:
        core.send_signal(signal.SIGKILL)
        await core.wait()

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped by init) counts as gone
            return f.read().split(")")[-1].split()[0] != "Z"

    await wait_until(lambda: not any(alive(p) for p in pids), timeout=10)


async def test_memory_limit_is_an_address_space_limit(make_runtime):
    runtime = await make_runtime([spec("identity", memory_mb=64)], memory_overhead_mb=448)
    info = (await runtime.invoke("identity", {})).json()
    assert info["rlimit_as"] == (64 + 448) * 1024 * 1024
    hog = await runtime.invoke("identity", {"mb": 1024})
    assert hog.function_error == "Handled" and hog.json()["errorType"] == "MemoryError"
    assert (await runtime.invoke("identity", {"mb": 8})).json() == {"allocated": 8 * 1024 * 1024}


@pytest.mark.skipif(os.geteuid() != 0, reason="run_as needs a core running as root")
async def test_run_as_switches_user_when_root(make_runtime, tmp_path):
    # The venv's interpreter lives under /root (mode 700) here, so the function runs on the
    # system python3 with the venv's site-packages as fallback: a user's python must be
    # executable by the run_as user.
    system_python = "/usr/bin/python3"
    if not os.access(system_python, os.X_OK):
        pytest.skip("no system python3 for the run_as user")
    runtime = await make_runtime([spec("identity", run_as=(65534, 65534)),
                                  spec("echo", run_as=(65534, 65534))], python=system_python)
    info = (await runtime.invoke("identity", {})).json()
    assert (info["uid"], info["gid"]) == (65534, 65534)


@pytest.mark.skipif(os.geteuid() != 0, reason="run_as needs a core running as root")
async def test_run_as_user_that_cannot_run_the_interpreter_gets_a_clear_error(make_runtime):
    if not os.path.realpath(sys.executable).startswith("/root/"):
        pytest.skip("the interpreter may be reachable by uid 65534 here")
    runtime = await make_runtime([spec("identity", run_as=(65534, 65534))])
    result = await runtime.invoke("identity", {})
    assert result.function_error == "Unhandled"
    assert "as uid/gid (65534, 65534)" in result.json()["errorMessage"]
    assert "identity" in runtime.status()["functions"]["identity"]["start_error"]


async def test_boto3_in_a_lambda_reaches_the_local_cloud_unchanged(make_runtime):
    from tests.moto_server import moto_server

    with moto_server() as url:
        runtime = await make_runtime([spec("awsfn", timeout_s=20)], cloud_endpoint_url=url)
        result = await runtime.invoke("awsfn", {"bucket": "lambda-made"})
        assert result.function_error == "", result.payload
        answer = result.json()
        # moto's backends are per process: other tests' buckets may be there too
        assert "lambda-made" in answer["buckets"] and answer["body"] == "from a Lambda"


async def test_ipc_port_in_use_is_a_clear_error(make_runtime, tmp_path, router, shadow):
    first = await make_runtime([spec("echo")])
    second = LambdaRuntime([spec("echo")], router, shadow, tmp_path / "other", ipc_port=first.ipc_port)
    try:
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{first.ipc_port}"):
            await second.start()
    finally:
        await second.stop()


async def test_full_queue_of_a_stuck_pinned_function_drops_and_counts(make_runtime):
    # timer's import never returns, so its instance never takes work: its queue fills up
    runtime = await make_runtime([spec("timer", pinned=True, environment={"INTERVAL_S": "5"})], max_queue=3)
    sink = runtime.sink("timer")
    for i in range(5):
        sink.deliver(Message(source="device:D", topic="in", payload=b"{}"))
    status = runtime.status()["functions"]["timer"]
    assert status["queued"] == 3 and status["dropped_messages"] == 2
    log_text = Path(status["log"]).read_text()
    assert "dropped (1 so far)" in log_text and "is full (3 invocations waiting)" in log_text


async def test_queue_full_policy_all_or_error_fails_the_publish_best_effort_drops(make_runtime, router):
    runtime = await make_runtime(
        [spec("sleeper", pinned=True, timeout_s=10), spec("policypub", timeout_s=10)],
        routes=[Route(source="function:policypub", target="function:sleeper", topic_filter="to/sleeper")],
        max_queue=1)
    busy = asyncio.create_task(runtime.invoke("sleeper", {"sleep": 1.5}))  # runs
    await wait_until(lambda: runtime.broker.running("sleeper"))
    queued = asyncio.create_task(runtime.invoke("sleeper", {"sleep": 0}))  # waits: the queue is now full
    await wait_until(lambda: runtime.broker.pending("sleeper") == 1)
    strict = (await runtime.invoke("policypub", {"topic": "to/sleeper", "policy": "AllOrException"})).json()
    assert strict["raised"] == "InvocationException" and "HTTP 429" in strict["message"], strict
    lax = (await runtime.invoke("policypub", {"topic": "to/sleeper", "policy": "BestEffort"})).json()
    assert lax["raised"] is None  # dropped for the full target, no error for the publisher
    assert router.status()["refused_queue_full"] == 1
    await asyncio.gather(busy, queued)
