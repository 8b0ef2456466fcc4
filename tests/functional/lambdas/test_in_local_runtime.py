"""The handlers, unmodified, in the project's Lambda runtime (real processes, real greengrasssdk IPC).

Shows the pinned start pattern working where MY_FUNCTION_ARN is set by the runtime, and the
on-demand handlers answering invocations with a routed topic in their client context.
"""
import asyncio
import json
import platform
import threading
from pathlib import Path

import pytest
from localcore.interfaces import FunctionSpec
from localcore.runtime import LambdaRuntime
from localcore.streams.server import StreamManagerServer

LAMBDAS = Path(__file__).resolve().parents[3] / "lambdas"


class Recorder:
    """The router as the runtime sees it: records what functions publish."""

    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()

    def publish(self, message, all_or_error=False):
        with self._lock:
            self.messages.append(message)
        return 1

    def on(self, topic):
        with self._lock:
            return [m for m in self.messages if m.topic == topic]


def spec(name, pinned, **environment):
    # the shared library folder as group.yaml's ``libraries: [lambdas/_lib]`` gives it
    return FunctionSpec(name=name, code_dir=str(LAMBDAS / name), handler="handler.function_handler",
                        libraries=(str(LAMBDAS / "_lib"),),
                        arn="arn:aws:lambda:us-east-1:000000000000:function:{}:live".format(name),
                        pinned=pinned, timeout_s=10, environment=environment)


async def eventually(condition, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met within {} s".format(timeout)
        await asyncio.sleep(0.05)


@pytest.fixture
async def core(tmp_path):
    streams = StreamManagerServer(tmp_path / "store", port=0, authenticate_client=False, exporters_enabled=False)
    await streams.start()
    recorder = Recorder()
    functions = [
        spec("hello_world", True, INTERVAL_SECONDS="0.1"),
        spec("producer", True, INTERVAL_SECONDS="0.05", STREAM_NAME="RuntimeReadings", EXPORT_TARGET="none"),
        spec("stream_reader", False, STREAM_NAME="RuntimeReadings", SUMMARY_TOPIC="summary/x"),
        spec("car_aggregator", False, RANDOM_SEED="5", WRITE_EVERY_GREENS="100"),
    ]
    runtime = LambdaRuntime(functions, recorder, None, tmp_path / "state", ipc_port=0,
                            stream_manager_port=streams.port)
    await runtime.start()
    try:
        yield runtime, recorder, streams
    finally:
        await runtime.stop()
        await streams.stop()


async def test_pinned_and_on_demand_handlers_in_the_runtime(core):
    runtime, recorder, streams = core

    # pinned: started by the runtime's import alone (no invocation), publishing through real IPC
    await eventually(lambda: len(recorder.on("hello/world")) >= 2)
    hello = recorder.on("hello/world")[0]
    assert hello.source == "function:hello_world"
    assert hello.payload.decode() == "Hello world! Sent from Greengrass Core running on platform: {}".format(
        platform.platform())

    # a pinned function's invocation reports its worker, which the import started
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        status = (await runtime.invoke("producer", {})).json()
        if status["appended"] >= 6:
            break
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.05)
    assert status["running"] is True and status["stream"] == "RuntimeReadings" and status["last_error"] is None

    # on-demand, triggered as a subscription would: the topic arrives in the client context
    result = await runtime.invoke("stream_reader", {"go": 1}, client_context={"custom": {"subject": "trigger/1"}})
    assert result.function_error == ""
    summary = result.json()
    assert summary["stream"] == "RuntimeReadings" and summary["first_sequence"] == 0
    assert summary["count"] >= 6 and summary["trigger_topic"] == "trigger/1"
    await eventually(lambda: len(recorder.on("summary/x")) == 1)
    assert json.loads(recorder.on("summary/x")[0].payload) == summary

    documents = {"previous": {"state": {"reported": {"property": "R"}}},
                 "current": {"state": {"reported": {"property": "G"}}}}
    green = (await runtime.invoke("car_aggregator", documents)).json()
    assert green["green"] is True and 1 <= green["cars"] <= 20 and green["written"] is False
    repeat = (await runtime.invoke("car_aggregator", {"previous": documents["current"],
                                                      "current": documents["current"]})).json()
    assert repeat == {"green": False}
