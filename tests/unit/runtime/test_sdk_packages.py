"""Our core-provided packages, imported the way a Lambda imports them (SDK dir on sys.path)."""
from __future__ import annotations

import importlib
import sys

import pytest

from localcore.runtime import SDK_DIR


@pytest.fixture
def sdk(monkeypatch):
    monkeypatch.syspath_prepend(str(SDK_DIR))
    monkeypatch.setenv("MY_FUNCTION_ARN", "arn:aws:lambda:us-east-1:123456789012:function:f:live")
    monkeypatch.setenv("GG_DAEMON_PORT", "8123")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok")
    for name in list(sys.modules):
        if name.startswith(("greengrass_common", "greengrass_ipc_python_sdk")):
            monkeypatch.delitem(sys.modules, name)
    yield
    for name in list(sys.modules):
        if name.startswith(("greengrass_common", "greengrass_ipc_python_sdk")):
            sys.modules.pop(name, None)


@pytest.mark.parametrize("arn, name, qualifier, unqualified", [
    ("arn:aws:lambda:us-east-1:123456789012:function:echo:live", "echo", "live",
     "arn:aws:lambda:us-east-1:123456789012:function:echo"),
    ("arn:aws:lambda:us-east-1:123456789012:function:echo", "echo", "",
     "arn:aws:lambda:us-east-1:123456789012:function:echo"),
    ("arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST", "echo", "$LATEST",
     "arn:aws:lambda:us-east-1:123456789012:function:echo"),
    ("arn:aws-cn:lambda:cn-north-1:123456789012:function:a-b_c:7", "a-b_c", "7",
     "arn:aws-cn:lambda:cn-north-1:123456789012:function:a-b_c"),
    ("arn:aws:lambda:::function:GGRouter", "GGRouter", "", "arn:aws:lambda:::function:GGRouter"),
])
def test_function_arn_fields(sdk, arn, name, qualifier, unqualified):
    from greengrass_common.function_arn_fields import FunctionArnFields
    fields = FunctionArnFields(arn)
    assert (fields.name, fields.qualifier, fields.unqualified_arn) == (name, qualifier, unqualified)
    assert FunctionArnFields.build_function_arn(fields.unqualified_arn, fields.qualifier) == arn


@pytest.mark.parametrize("bad", ["echo", "arn:aws:lambda:us-east-1:1:function:", "arn:aws:s3:::bucket", 42])
def test_function_arn_fields_refuses_non_arns(sdk, bad):
    from greengrass_common.function_arn_fields import FunctionArnFields
    with pytest.raises(ValueError):
        FunctionArnFields(bad)


def test_env_vars_are_read_at_import(sdk, monkeypatch):
    env_vars = importlib.import_module("greengrass_common.env_vars")
    assert env_vars.MY_FUNCTION_ARN == "arn:aws:lambda:us-east-1:123456789012:function:f:live"
    assert env_vars.ROUTER_FUNCTION_ARN == "arn:aws:lambda:::function:GGRouter"
    monkeypatch.setenv("MY_FUNCTION_ARN", "changed")
    assert env_vars.MY_FUNCTION_ARN != "changed"


def test_ipc_client_defaults_and_refused_connection(sdk):
    from greengrass_ipc_python_sdk.ipc_client import IPCClient, IPCException
    client = IPCClient()
    assert (client.endpoint, client.port, client.auth_token) == ("127.0.0.1", 8123, "tok")
    with pytest.raises(IPCException, match="failed"):
        IPCClient(port=1).post_work("arn:aws:lambda:::function:GGRouter", b"x", "", "Event")
    # no request for a router result (a real core's client does not ask either)
    assert IPCClient(port=1).get_work_result("arn:aws:lambda:::function:GGRouter", "id").payload == b""


def test_sdk_clients_construct_with_our_packages(sdk):
    for name in list(sys.modules):
        if name.startswith("greengrasssdk"):
            sys.modules.pop(name)
    import greengrasssdk
    for kind in ("iot-data", "lambda", "secretsmanager"):
        assert greengrasssdk.client(kind) is not None
    for name in list(sys.modules):
        if name.startswith("greengrasssdk"):
            sys.modules.pop(name)


def test_code_that_runs_inside_lambdas_parses_as_python_3_7():
    import ast
    from pathlib import Path

    files = list(Path(SDK_DIR).rglob("*.py")) + [Path(SDK_DIR).parent / "bootstrap.py"]
    for path in files:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 7))
    assert len(files) >= 6
