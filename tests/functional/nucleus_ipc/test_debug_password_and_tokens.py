"""CreateDebugPassword (served while aws.greengrass.Cli is deployed, authorized as the Cli's other operations) and
ValidateAuthorizationToken (always served, only to aws.greengrass.StreamManager, against the tokens the core issued)
from component processes using the unmodified awsiotsdk clients, V1 and V2."""
from __future__ import annotations

import json
import time

from tests.functional.nucleus_ipc.conftest import until

CLI = "aws.greengrass.Cli"
STREAM_MANAGER = "aws.greengrass.StreamManager"

DEBUG_PASSWORD = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import CreateDebugPasswordRequest
def err(call):
    try:
        return call()
    except Exception as e:
        return [type(e).__name__, e.message]
def shape(r):
    return [r.username, r.password, r.password_expiration.timestamp(), r.certificate_sha256_hash,
            r.certificate_sha1_hash]
ipc = GreengrassCoreIPCClientV2()
v1 = gg.connect()
def v1_call():
    op = v1.new_create_debug_password()
    op.activate(CreateDebugPasswordRequest())
    return shape(op.get_response().result(10))
report(v2=err(lambda: shape(ipc.create_debug_password())), v1=err(v1_call))
"""

VALIDATE = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import ValidateAuthorizationTokenRequest
tokens = json.loads(sys.stdin.readline())
def err(call):
    try:
        return call()
    except Exception as e:
        return [type(e).__name__, e.message]
ipc = GreengrassCoreIPCClientV2()
v1 = gg.connect()
def v1_call(token):
    op = v1.new_validate_authorization_token()
    op.activate(ValidateAuthorizationTokenRequest(token=token))
    return op.get_response().result(10).is_valid
out = {}
for label, token in tokens.items():
    out[label] = {"v2": err(lambda: ipc.validate_authorization_token(token=token).is_valid),
                  "v1": err(lambda: v1_call(token))}
report(**out)
"""


async def test_debug_password_for_the_cli_and_authorized_components(v2):
    allowed = {"accessControl": {CLI: {"p": {"operations": ["aws.greengrass#CreateDebugPassword"],
                                             "resources": ["*"]}}}}
    await v2.configure({"com.example.Allowed": allowed, "com.example.Other": {}})
    (out,) = await v2.run("com.example.Allowed", DEBUG_PASSWORD)          # the Cli is not deployed: not served
    assert out["v2"] == ["ServiceError", "Operation aws.greengrass#CreateDebugPassword is not supported by Greengrass"]
    assert out["v1"] == out["v2"]

    await v2.configure({CLI: {}, "com.example.Allowed": allowed, "com.example.Other": {}})
    before = time.time()
    (out,) = await v2.run("com.example.Allowed", DEBUG_PASSWORD)
    after = time.time()
    passwords = []
    for client in ("v1", "v2"):
        username, password, expiry, sha256, sha1 = out[client]
        assert username == "debug" and sha256 is None and sha1 is None   # the dashboard has no TLS certificate
        assert len(password) == 43 and set(password) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert before + 8 * 3600 - 1 <= expiry <= after + 8 * 3600 + 1
        assert v2.ipc.cli.debug_password_valid("debug", password)
        passwords.append(password)
    assert passwords[0] != passwords[1]
    assert not v2.ipc.cli.debug_password_valid("admin", passwords[0])
    assert not v2.ipc.cli.debug_password_valid("debug", "not-a-password")

    (out,) = await v2.run("com.example.Other", DEBUG_PASSWORD)
    refusal = ["UnauthorizedError", "Principal com.example.Other is not authorized to perform aws.greengrass.Cli:"
                                    "aws.greengrass#CreateDebugPassword on resource *"]
    assert out == {"v2": refusal, "v1": refusal}
    assert v2.ipc.status()["cli"]["debug_passwords"] == 2


async def test_validate_authorization_token_answers_only_the_stream_manager(v2):
    await v2.configure({"com.example.Other": {}})
    component_token = v2.tokens.issue("com.example.Some")
    tokens = {"component": component_token, "unknown": "0123456789ABCDEF", "empty": ""}
    sm = await v2.start(STREAM_MANAGER, VALIDATE)
    await sm.send(json.dumps(tokens))
    (out,) = await sm.finish()
    not_found = ["InvalidTokenError", "Authentication token not found"]
    assert out == {"component": {"v2": True, "v1": True}, "unknown": {"v2": not_found, "v1": not_found},
                   "empty": {"v2": not_found, "v1": not_found}}
    v2.tokens.revoke("com.example.Some")                              # the component left the deployment
    other = await v2.start("com.example.Other", VALIDATE)
    await other.send(json.dumps({"component": component_token}))
    (out,) = await other.finish()
    refusal = ["UnauthorizedError", "com.example.Other is not authorized to perform "
                                    "aws.greengrass#ValidateAuthorizationToken"]
    assert out == {"component": {"v2": refusal, "v1": refusal}}
    sm = await v2.start(STREAM_MANAGER, VALIDATE)
    await sm.send(json.dumps({"revoked": component_token}))
    (out,) = await sm.finish()
    assert out == {"revoked": {"v2": not_found, "v1": not_found}}
    await until(lambda: v2.ipc.status()["token_validation"] == {"valid": 2, "invalid": 6, "refused": 2})


async def test_validate_authorization_token_knows_the_cli_clients_token(v2, tmp_path):
    from localcore.local_deployments.host import LocalDeployments

    v2.ipc.cli.attach_local(LocalDeployments(v2.root), v2.tokens, v2.ipc.socket_path)
    await v2.configure({CLI: {}})
    token = json.loads(next((v2.root / "cli_ipc_info").iterdir()).read_text())["cli_auth_token"]
    sm = await v2.start(STREAM_MANAGER, VALIDATE)
    await sm.send(json.dumps({"cli": token}))
    (out,) = await sm.finish()
    assert out == {"cli": {"v2": True, "v1": True}}
    v2.ipc.cli.close_client_access()
