"""Every operation of the nucleus' model that the local core does not serve at the moment (a plugin not deployed,
an operation not emulated) answers as a nucleus without it — ServiceError "Operation … is not supported by
Greengrass" — and never leaves a component waiting, with both unmodified awsiotsdk clients."""
from __future__ import annotations

import json

from localcore.nucleus_ipc.operations import NUCLEUS_OPERATIONS, PREFIX

from tests.functional.nucleus_ipc.plugin_kit import plugin_core

CALLS = """
import re
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc import model
from awsiot.eventstreamrpc import StreamResponseHandler
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
ops = json.loads(sys.stdin.readline())
snake = lambda name: re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
def outcome(call):
    t = time.monotonic()
    try:
        call()
        result = ["answered"]
    except Exception as e:
        result = [type(e).__name__, getattr(e, "message", str(e))]
    return result + [time.monotonic() - t < 10]
v1 = gg.connect()
ipc = GreengrassCoreIPCClientV2()
out = {}
for op, streaming in ops:
    request = getattr(model, op + "Request")()
    def v1_call():
        operation = getattr(v1, "new_" + snake(op))(StreamResponseHandler()) if streaming else getattr(v1, "new_" + snake(op))()
        operation.activate(request)
        return operation.get_response().result(10)
    out[op] = {"v1": outcome(v1_call)}
    if not streaming:
        out[op]["v2"] = outcome(lambda: getattr(ipc, snake(op))())
report(**out)
"""


async def test_every_operation_not_served_answers_as_the_nucleus(tmp_path):
    async with plugin_core(tmp_path) as core:
        await core.configure({"com.example.Caller": {}})
        served = set(core.ipc.service.wired)
        unserved = sorted(set(NUCLEUS_OPERATIONS) - served)
        short = [o[len(PREFIX):] for o in unserved]
        # the plugins' operations while the plugin is not deployed; the nucleus' own lifecycle ones are served
        for plugin_op in ("GetThingShadow", "ListNamedShadowsForThing", "VerifyClientDeviceIdentity",
                          "SubscribeToCertificateUpdates", "GetSecretValue", "ListComponents"):
            assert plugin_op in short
        for own in ("PauseComponent", "ResumeComponent", "SubscribeToComponentUpdates", "DeferComponentUpdate",
                    "PutComponentMetric", "UpdateState"):
            assert own not in short
        caller = await core.start("com.example.Caller", CALLS)
        await caller.send(json.dumps([[o[len(PREFIX):], NUCLEUS_OPERATIONS[o].streaming] for o in unserved]))
        out = (await caller.finish(120))[0]
        for op in short:
            expected = ["ServiceError", f"Operation aws.greengrass#{op} is not supported by Greengrass", True]
            assert out[op]["v1"] == expected, op
            if "v2" in out[op]:
                assert out[op]["v2"] == expected, op
