"""Ownership between the platforms (#22.2): one group's V1 and V2 deployments live side by side in one cloud and
share its things, certificates, Lambda functions, roles and cloud resources. The platform that made an object
owns it; destroying one platform leaves what the other still uses (handed over: the other's state now owns it)
and leaves alone what it adopted; ``plan`` says which objects each platform owns or shares."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

import deploy
from group.state import State

NAME = "shared"
CLOUD = {"tables": [{"name": "SharedTable", "hash_key": "Time"}], "buckets": ["shared-bucket-22"],
         "kinesis_streams": [{"name": "shared-raw"}], "video_streams": ["shared-cam"]}
USED = ("thing:SharedCore", "thing:SharedSensor", "certificate:SharedCore", "function:hello", "table:SharedTable",
        "bucket:shared-bucket-22", "kinesis-stream:shared-raw", "video-stream:shared-cam")


def _present(clients) -> dict:
    """Which of the shared objects exist in the cloud."""
    def found(call, **kw):
        try:
            call(**kw)
            return True
        except clients.iot.exceptions.ResourceNotFoundException:
            return False
        except Exception as exc:  # each service has its own NotFound class
            if "NotFound" in type(exc).__name__ or "NoSuch" in str(exc):
                return False
            raise
    return {
        "thing:SharedCore": found(clients.iot.describe_thing, thingName="SharedCore"),
        "thing:SharedSensor": found(clients.iot.describe_thing, thingName="SharedSensor"),
        "function:hello": found(clients.lambda_.get_function, FunctionName=f"{NAME}-hello"),
        "table:SharedTable": found(clients.dynamodb.describe_table, TableName="SharedTable"),
        "bucket:shared-bucket-22": "shared-bucket-22" in [b["Name"] for b in clients.s3.list_buckets()["Buckets"]],
        "kinesis-stream:shared-raw": found(clients.kinesis.describe_stream_summary, StreamName="shared-raw"),
        "video-stream:shared-cam": found(clients.kinesisvideo.describe_stream, StreamName="shared-cam"),
    }


@pytest.mark.parametrize("first,second", [("v2", "v1"), ("v1", "v2")])
def test_destroying_one_platform_leaves_what_the_other_uses(h, local_cloud, tmp_path, capsys, first, second):
    cloud, state_dir = local_cloud
    gf = h.small_bundle(tmp_path / "bundle", NAME, core="SharedCore", devices=("SharedSensor",), cloud=CLOUD)
    common = ["--state-dir", str(state_dir), "--certs-dir", str(tmp_path / "certs"), "--group-file", str(gf)]
    target = {"v1": "local", "v2": "local-v2"}
    assert deploy.main(["deploy", "--platform", first, "--timeout", "30"] + common) == 0
    capsys.readouterr()
    assert deploy.main(["plan", "--platform", second] + common) == 0
    out = capsys.readouterr().out
    assert f"owned by {first}: deploy --platform {second} will use them as they are" in out, out
    # the CLI as a user runs it: one line sums the adopted objects up, --verbose lists them one by one
    done = subprocess.run([sys.executable, str(h.root / "deploy.py"), "deploy", "--platform", second, "--timeout",
                           "30", "--verbose"] + common, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = re.findall(r"(\d+) existing object\(s\) adopted as they are, (\d+) of them Greengrass", done.stdout)
    each = [line for line in done.stderr.splitlines() if "exists already: adopted as it is" in line]
    assert len(summary) == 1 and int(summary[0][0]) == int(summary[0][1]) == len(each) >= len(USED), done.stdout
    made = State.load(state_dir, target[first], NAME)
    used = State.load(state_dir, target[second], NAME)
    for key in USED:  # the first platform made them; the second adopted them
        assert made.get(key).get("owned") is not False and used.get(key)["owned"] is False, key

    capsys.readouterr()
    assert deploy.main(["plan", "--exit-code", "--verbose", "--platform", first] + common) == 0
    out = capsys.readouterr().out
    assert f"owned by {first}, used by {second} too (destroy --platform {first} leaves them to {second})" in out
    assert "thing SharedSensor" in out and "table SharedTable" in out, out
    assert deploy.main(["plan", "--exit-code", "--platform", second] + common) == 0
    assert f"owned by {first}, used here (destroy --platform {second} leaves them)" in capsys.readouterr().out

    assert deploy.main(["destroy", "--platform", first] + common) == 0
    clients, _ = h.counted_clients(cloud.url)
    assert all(_present(clients).values()), _present(clients)
    # the second platform's deployment stands: nothing to change, and it owns what it used
    assert deploy.main(["plan", "--exit-code", "--platform", second] + common) == 0
    used = State.load(state_dir, target[second], NAME)
    assert all(used.get(key).get("owned") is not False for key in USED)
    assert (tmp_path / "certs" / "SharedCore" / "cert.pem").exists()

    assert deploy.main(["destroy", "--platform", second] + common) == 0
    assert not any(_present(clients).values()), _present(clients)


def test_what_a_platform_adopted_from_outside_is_never_deleted(h, local_cloud, tmp_path):
    cloud, state_dir = local_cloud
    clients, _ = h.counted_clients(cloud.url)
    clients.dynamodb.create_table(TableName="SharedTable", BillingMode="PAY_PER_REQUEST",
                                  KeySchema=[{"AttributeName": "Time", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "Time", "AttributeType": "S"}])
    gf = h.small_bundle(tmp_path / "bundle", NAME, core="SharedCore", cloud={"tables": CLOUD["tables"]})
    common = ["--platform", "v2", "--state-dir", str(state_dir), "--certs-dir", str(tmp_path / "certs"),
              "--group-file", str(gf)]
    assert deploy.main(["deploy", "--no-wait"] + common) == 0
    assert State.load(state_dir, "local-v2", NAME).get("table:SharedTable")["owned"] is False
    assert deploy.main(["destroy"] + common) == 0
    clients.dynamodb.describe_table(TableName="SharedTable")  # still there
