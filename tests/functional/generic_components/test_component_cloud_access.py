"""A V2 generic component's way to the (local) cloud, as ``deploy.py run --platform v2`` wires it: boto3 in the
component process gets its credentials from the core's credential provider (``AWS_CONTAINER_CREDENTIALS_FULL_URI``,
the Lambda IPC daemon's route, which accepts the component's own token once the core adds the component tokens'
check) and reaches the cloud at ``AWS_ENDPOINT_URL`` (the runner's ``cloud_endpoint_url``)."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import boto3
import pytest

from group.v2.recipe import parse_recipe
from localcore.generic_components.lifecycle import State
from localcore.generic_components.runner import ComponentRunner
from localcore.generic_components.tokens import ComponentTokens
from localcore.lambda_ipc.directory import FunctionDirectory
from localcore.lambda_ipc.server import IPCServer, ServiceBackends
from localcore.lambda_ipc.work import WorkBroker

from tests.moto_server import moto_server

NAME = "com.example.CloudUser"
TABLE = "SeenByTheComponent"
CREDENTIALS = {"AccessKeyId": "AKIATESCOMPONENT", "SecretAccessKey": "secret", "Token": "session"}
SCRIPT = """
import json, boto3
session = boto3.session.Session()
creds = session.get_credentials()
tables = session.client("dynamodb").list_tables()["TableNames"]
print("CLOUD " + json.dumps({"method": creds.method, "key": creds.get_frozen_credentials().access_key,
                             "tables": tables}), flush=True)
"""


def _get(url: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": token})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode()


@pytest.fixture
async def credential_provider():
    server = IPCServer(WorkBroker(), FunctionDirectory(), ServiceBackends(credentials=dict(CREDENTIALS)), port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_component_token_gets_credentials_only_once_the_check_is_added(credential_provider):
    tokens = ComponentTokens()
    token = tokens.issue(NAME)
    url = credential_provider.credentials_uri
    refused = await asyncio.to_thread(_get, url, token)
    assert refused[0] == 401 and "unknown Authorization token" in refused[1]
    credential_provider.add_credentials_check(tokens.valid)
    status, body = await asyncio.to_thread(_get, url, token)
    assert status == 200, body
    assert {k: json.loads(body)[k] for k in CREDENTIALS} == CREDENTIALS and "Expiration" in json.loads(body)
    assert (await asyncio.to_thread(_get, url, "forged"))[0] == 401
    assert (await asyncio.to_thread(_get, url, ""))[0] == 401


async def test_boto3_in_a_component_uses_the_core_credentials_and_the_cloud_endpoint(credential_provider, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-parent")      # dropped: the container credentials win
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-parent")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    tokens = ComponentTokens()
    credential_provider.add_credentials_check(tokens.valid)
    (tmp_path / "app.py").write_text(SCRIPT)
    recipe = parse_recipe(json.dumps({
        "RecipeFormatVersion": "2020-01-25", "ComponentName": NAME, "ComponentVersion": "1.0.0",
        "Manifests": [{"Platform": {"os": "*"}, "Lifecycle": {"Run": "python3 {artifacts:path}/app.py"},
                       "Artifacts": [{"URI": "s3://bucket/app.py"}]}]}))
    with moto_server() as url:
        # moto's state is per process, not per server: start from nothing, then one table the component must see
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
        boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        runner = ComponentRunner(recipe, root=tmp_path / "gg", tokens=tokens, thing_name="GG_Core",
                                 region="us-east-1", artifacts={"s3://bucket/app.py": tmp_path / "app.py"},
                                 credentials_uri=credential_provider.credentials_uri, cloud_endpoint_url=url,
                                 kill_grace_s=2.0)
        try:
            await runner.start()
            assert await runner.wait_for(State.FINISHED, State.BROKEN, timeout=60) == State.FINISHED
        finally:
            await runner.stop()
    log = (tmp_path / "gg" / "logs" / f"{NAME}.log").read_text()
    assert "CLOUD " in log, log[-3000:]
    seen = json.loads(log.split("CLOUD ", 1)[1].splitlines()[0])
    assert seen == {"method": "container-role", "key": CREDENTIALS["AccessKeyId"], "tables": [TABLE]}
