"""GetSecretValue: aws.greengrass.SecretManager's cloudSecrets fetched from a real moto Secrets Manager; components use
the unmodified awsiotsdk clients (V1 and V2)."""
from __future__ import annotations

import boto3
import pytest

from tests.moto_server import moto_server

SECRETS = """
import awsiot.greengrasscoreipc as gg
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import GetSecretValueRequest
ipc = GreengrassCoreIPCClientV2()
arn, binary_arn, version = sys.argv[1], sys.argv[2], sys.argv[3]
def err(call):
    try:
        r = call()
        return [r.secret_id, r.version_stage, r.secret_value.secret_string or r.secret_value.secret_binary.hex()]
    except Exception as e:
        return [type(e).__name__, e.message, getattr(e, "resource_type", None)]
out = {}
out["by_arn"] = err(lambda: ipc.get_secret_value(secret_id=arn))
out["by_name"] = err(lambda: ipc.get_secret_value(secret_id="db-pass", version_stage="AWSCURRENT"))
out["binary"] = err(lambda: ipc.get_secret_value(secret_id="blob"))
out["version"] = err(lambda: ipc.get_secret_value(secret_id="db-pass", version_id=version))
out["bad_version"] = err(lambda: ipc.get_secret_value(secret_id="db-pass", version_id="nope"))
out["stage_not_configured"] = err(lambda: ipc.get_secret_value(secret_id="db-pass", version_stage="AWSPREVIOUS"))
out["both"] = err(lambda: ipc.get_secret_value(secret_id="db-pass", version_id=version, version_stage="AWSCURRENT"))
out["not_configured"] = err(lambda: ipc.get_secret_value(secret_id="other"))
out["refused"] = err(lambda: ipc.get_secret_value(secret_id=binary_arn + "x"))
out["empty"] = err(lambda: ipc.get_secret_value(secret_id=""))
v1 = gg.connect()
op = v1.new_get_secret_value()
op.activate(GetSecretValueRequest(secret_id="db-pass"))
out["v1"] = op.get_response().result(10).secret_value.secret_string
report(**out)
sys.stdin.readline()                                   # the test rotates the secret meanwhile
out = {"cached": err(lambda: ipc.get_secret_value(secret_id="db-pass")),
       "refreshed": err(lambda: ipc.get_secret_value(secret_id="db-pass", refresh=True))}
report(**out)
"""


@pytest.fixture
def secretsmanager(v2):
    with moto_server() as url:
        v2.secrets["url"] = url
        yield boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")


async def test_secrets_from_the_cloud(v2, secretsmanager):
    sm = secretsmanager
    made = sm.create_secret(Name="db-pass", SecretString="s3cret")
    arn, version = made["ARN"], made["VersionId"]
    blob = sm.create_secret(Name="blob", SecretBinary=b"\x00\x01")["ARN"]
    other = sm.create_secret(Name="other", SecretString="not for you")["ARN"]
    name = "com.example.Secrets"
    policy = {"accessControl": {"aws.greengrass.SecretManager": {"read": {
        "operations": ["aws.greengrass#GetSecretValue"], "resources": [arn, blob]}}}}
    await v2.configure({name: policy, "aws.greengrass.SecretManager": {
        "cloudSecrets": [{"arn": arn}, {"arn": blob, "labels": ["AWSPREVIOUS"]}]}})
    assert v2.ipc.status()["secrets"]["fetched"] == 2   # every configured (ARN, label) present in the cloud

    p = await v2.start(name, SECRETS.replace("sys.argv[1], sys.argv[2], sys.argv[3]",
                                             f"{arn!r}, {blob!r}, {version!r}"))
    out = await p.line(timeout=30)
    nf = "ResourceNotFoundError"
    assert out == {
        "by_arn": [arn, ["AWSCURRENT"], "s3cret"],
        "by_name": [arn, ["AWSCURRENT"], "s3cret"],
        "binary": [blob, ["AWSCURRENT"], "0001"],
        "version": [arn, ["AWSCURRENT"], "s3cret"],
        "bad_version": [nf, "Version Id nope not found for secret db-pass", "secret"],
        "stage_not_configured": [nf, "Version stage AWSPREVIOUS not found for secret db-pass", "secret"],
        "both": ["ServiceError", "Both versionId and Stage are set in the request", None],
        "not_configured": [nf, "Secret not configured other", "secret"],
        "refused": ["UnauthorizedError", f"Principal {name} is not authorized to perform aws.greengrass.SecretManager:"
                                         f"aws.greengrass#GetSecretValue on resource {blob}x", None],
        "empty": ["ServiceError", "SecretId absent in the request", None],
        "v1": "s3cret",
    }
    assert other not in v2.ipc.status()["secrets"]["configured"]
    sm.put_secret_value(SecretId=arn, SecretString="rotated")
    await p.send("go")
    (after,) = await p.finish(30)
    assert after == {"cached": [arn, ["AWSCURRENT"], "s3cret"], "refreshed": [arn, ["AWSCURRENT"], "rotated"]}


async def test_without_the_secret_manager_the_operation_is_not_served(v2):
    script = """
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
    from awsiot.greengrasscoreipc.model import ServiceError
    try:
        GreengrassCoreIPCClientV2().get_secret_value(secret_id="x")
    except ServiceError as e:
        report(error=e.message)
    """
    await v2.configure({"com.example.NoSecrets": {}})
    assert await v2.run("com.example.NoSecrets", script) == [
        {"error": "Operation aws.greengrass#GetSecretValue is not supported by Greengrass"}]
