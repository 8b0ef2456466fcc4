"""group/plan.py: desired objects from the model, and the pure diff against a recorded state."""
from __future__ import annotations

import copy

import pytest

from group.model import parse
from group.plan import (SHADOW_SERVICE, STREAM_MANAGER_ARN, diff, refs, spec_hash,
                        target_warnings)
from group.v1.desired import desired_objects

BASE = {
    "group": {"name": "g1", "region": "us-east-1"},
    "core": {"thing": "GG_Core", "connectivity": [{"host": "127.0.0.1", "port": 8883}]},
    "devices": [{"thing": "Dev_A", "sync_shadow": True}, {"thing": "Dev_B"}],
    "functions": [
        {"name": "pinned_fn", "pinned": True, "memory_mb": 128, "timeout_s": 3,
         "environment": {"B": "2", "A": "1"}, "resources": [{"ref": "cam", "permission": "rw"}]},
        {"name": "nc_fn", "isolation": "NoContainer", "timeout_s": 5, "encoding": "binary",
         "run_as": {"uid": 1000, "gid": 1000}},
    ],
    "subscriptions": [
        {"source": "Dev_A", "target": "Dev_B", "topic": "a/b"},
        {"source": "cloud", "target": "nc_fn", "topic": "trigger/#"},
        {"source": "pinned_fn", "target": "cloud", "topic": "out"},
        {"source": "Dev_A", "target": "shadow:Dev_A", "topic": "$aws/things/Dev_A/shadow/update"},
    ],
    "resources": [{"name": "cam", "device": "/dev/video0"}],
    "loggers": [{"component": "Lambda", "type": "FileSystem", "level": "INFO", "space_kb": 256}],
    "cloud": {"tables": [{"name": "Tbl", "hash_key": "Time"}], "buckets": ["bkt"],
              "iotanalytics_channels": ["chan"]},
}
CODE = {"pinned_fn": "sha-a", "nc_fn": "sha-b"}


def group_of(data):
    g, issues = parse(data)
    assert g is not None, issues
    return g


def desired(data=BASE, code=CODE, target="local", **kw):
    return desired_objects(group_of(data), target, code, **kw)


def applied_state(des):
    """The state deploy records after applying ``des`` (applied = any non-None value)."""
    return {k: {"kind": d.kind, "name": d.name, "hash": d.hash, "applied": "x"} for k, d in des.items()}


def changes(plan):
    return {(c.action, c.key) for c in plan.changes}


def test_deploy_order_follows_the_api():
    keys = list(desired())
    first = {kind: next(i for i, k in enumerate(keys) if k.startswith(kind + ":"))
             for kind in ("service-role", "thing", "certificate", "function", "core-definition",
                          "subscription-definition", "group", "group-version", "group-role", "table",
                          "deployment")}
    order = sorted(first, key=first.get)
    assert order == ["service-role", "thing", "certificate", "function", "core-definition",
                     "subscription-definition", "group", "group-version", "group-role", "table", "deployment"]
    assert keys[-1] == "deployment:g1"


def test_references_are_symbolic():
    des = desired()
    sub = des["subscription-definition:g1"].spec["Subscriptions"]
    assert sub[0]["Source"] == "@thing:Dev_A" and sub[0]["Target"] == "@thing:Dev_B"
    assert sub[1]["Source"] == "cloud" and sub[1]["Target"] == "@function:nc_fn"
    assert sub[3]["Target"] == SHADOW_SERVICE
    core = des["core-definition:g1"].spec["Cores"][0]
    assert core["ThingArn"] == "@thing:GG_Core" and core["CertificateArn"] == "@certificate:GG_Core"
    assert set(des["group-version:g1"].deps) == {
        "group:g1", "core-definition:g1", "device-definition:g1", "function-definition:g1",
        "resource-definition:g1", "logger-definition:g1", "subscription-definition:g1"}
    assert refs({"a": ["@group:g1#id", "x", "@thing:T"]}) == ["group:g1", "thing:T"]


def test_function_definition_configuration():
    fdef = desired()["function-definition:g1"].spec
    by_id = {f["Id"]: f for f in fdef["Functions"]}
    pinned = by_id["pinned_fn"]["FunctionConfiguration"]
    assert pinned["Pinned"] is True and pinned["MemorySize"] == 128 * 1024 and pinned["Timeout"] == 3
    assert pinned["EncodingType"] == "json"
    assert pinned["Environment"]["Variables"] == {"A": "1", "B": "2"}
    assert pinned["Environment"]["ResourceAccessPolicies"] == [{"ResourceId": "cam", "Permission": "rw"}]
    assert pinned["Environment"]["Execution"] == {"IsolationMode": "GreengrassContainer"}
    nc = by_id["nc_fn"]["FunctionConfiguration"]
    assert "MemorySize" not in nc and nc["EncodingType"] == "binary" and nc["Pinned"] is False
    assert nc["Environment"]["Execution"] == {"IsolationMode": "NoContainer",
                                              "RunAs": {"Uid": 1000, "Gid": 1000}}
    assert by_id["stream-manager"]["FunctionArn"] == STREAM_MANAGER_ARN
    assert fdef["DefaultConfig"] == {"Execution": {"IsolationMode": "GreengrassContainer"}}


def test_optional_parts_are_left_out():
    data = copy.deepcopy(BASE)
    for key in ("devices", "resources", "loggers", "cloud"):
        data.pop(key)
    data["subscriptions"] = [s for s in data["subscriptions"] if "Dev_" not in s["source"] + s["target"]]
    data["stream_manager"] = {"enabled": False}
    data["core"]["connectivity"] = []
    des = desired(data, service_role=False)
    kinds = {d.kind for d in des.values()}
    assert not kinds & {"device-definition", "resource-definition", "logger-definition",
                        "connector-definition",
                        "table", "bucket", "connectivity", "service-role", "iotanalytics-channel"}
    fdef = des["function-definition:g1"].spec["Functions"]
    assert [f["Id"] for f in fdef] == ["pinned_fn", "nc_fn"]


def test_aws_target_skips_iot_analytics_and_warns():
    g = group_of(BASE)
    assert "iotanalytics-channel:chan" in desired(target="local")
    assert "iotanalytics-channel:chan" not in desired(target="aws")
    assert desired(target="aws")["certificate:Dev_A"].spec["issuer"] == "aws"
    warnings = target_warnings(g, "aws")
    assert any(w.path == "cloud.iotanalytics_channels" and "retired" in w.message for w in warnings)
    assert all(w.severity == "warning" for w in warnings)
    assert target_warnings(g, "local") == []


def test_empty_state_adds_everything():
    des = desired()
    plan = diff("g1", "local", des, {})
    assert changes(plan) == {("+", k) for k in des}
    assert "+ function pinned_fn" in plan.lines()


def test_applied_state_has_no_changes():
    des = desired()
    plan = diff("g1", "local", des, applied_state(des))
    assert plan.empty and plan.lines() == []


def test_hash_is_stable_and_order_independent():
    assert spec_hash({"a": 1, "b": [1, 2]}) == spec_hash({"b": [1, 2], "a": 1})
    assert desired()["function-definition:g1"].hash == desired()["function-definition:g1"].hash


@pytest.mark.parametrize("mutate, expected", [
    # an environment change: a new function definition version, hence a group version and a deployment
    (lambda d: d["functions"][0]["environment"].update(A="9"),
     {("~", "function-definition:g1"), ("~", "group-version:g1"), ("~", "deployment:g1")}),
    # a new subscription
    (lambda d: d["subscriptions"].append({"source": "Dev_B", "target": "Dev_A", "topic": "b/a"}),
     {("~", "subscription-definition:g1"), ("~", "group-version:g1"), ("~", "deployment:g1")}),
    # a new bucket: no new group version, no new deployment
    (lambda d: d["cloud"]["buckets"].append("bkt2"),
     {("+", "bucket:bkt2"), ("~", "group-role:g1-group-role")}),
    # a removed device: its thing and certificate go
    (lambda d: (d["devices"].pop(1), d["subscriptions"].pop(0)),
     {("-", "thing:Dev_B"), ("-", "certificate:Dev_B"), ("~", "device-definition:g1"),
      ("~", "subscription-definition:g1"), ("~", "group-version:g1"), ("~", "deployment:g1")}),
    # a new device: thing + certificate (new ARN) → the device definition changes
    (lambda d: d["devices"].append({"thing": "Dev_C"}),
     {("+", "thing:Dev_C"), ("+", "certificate:Dev_C"), ("~", "device-definition:g1"),
      ("~", "group-version:g1"), ("~", "deployment:g1")}),
])
def test_changes_cascade_to_what_references_them(mutate, expected):
    before = desired()
    data = copy.deepcopy(BASE)
    mutate(data)
    plan = diff("g1", "local", desired(data), applied_state(before))
    assert changes(plan) == expected


def test_code_change_updates_function_and_deployment_only():
    before = desired()
    plan = diff("g1", "local", desired(code={**CODE, "pinned_fn": "sha-new"}), applied_state(before))
    # the alias ARN stays: the function definition does not change, the deployment does
    assert changes(plan) == {("~", "function:pinned_fn"), ("~", "deployment:g1")}


def test_missing_objects_are_made_again_and_dependents_follow():
    des = desired()
    plan = diff("g1", "local", des, applied_state(des), missing=["certificate:GG_Core"])
    got = changes(plan)
    assert ("+", "certificate:GG_Core") in got
    assert {("~", "core-definition:g1"), ("~", "group-version:g1"), ("~", "deployment:g1")} <= got
    assert next(c for c in plan.changes if c.key == "certificate:GG_Core").reason


def test_half_done_step_and_failed_deployment():
    des = desired()
    state = applied_state(des)
    state["function:nc_fn"]["applied"] = None
    assert ("~", "function:nc_fn") in changes(diff("g1", "local", des, state))
    plan = diff("g1", "local", des, applied_state(des), deployment_failed=True)
    assert changes(plan) == {("~", "deployment:g1")}
    assert "did not succeed" in plan.changes[0].reason


def test_objects_only_in_state_are_removed():
    des = desired()
    state = applied_state(des)
    state["thing:Old_Thing"] = {"kind": "thing", "name": "Old_Thing", "hash": "h", "applied": "x"}
    plan = diff("g1", "local", des, state)
    assert plan.lines() == ["- thing Old_Thing"]


def test_cloud_functions_get_their_own_role_and_environment():
    data = copy.deepcopy(BASE)
    data["cloud"]["functions"] = [{"name": "snap", "handler": "snapshot.handler.lambda_handler",
                                   "environment": {"SNAPSHOT_BUCKET": "bkt"}}]
    des = desired(data, code={**CODE, "cloud:snap": "sha-c"})
    fn = des["cloud-function:snap"]
    assert fn.spec["environment"] == {"SNAPSHOT_BUCKET": "bkt"} and fn.spec["code_sha256"] == "sha-c"
    assert fn.spec["function_name"] == "g1-snap" and fn.deps == ["role:g1-cloud-fn-role"]
    assert des["role:g1-cloud-fn-role"].spec["access"]["buckets"] == ["bkt"]
    keys = list(des)
    assert keys.index("role:g1-cloud-fn-role") < keys.index("cloud-function:snap") \
        < keys.index("deployment:g1")
    # the cloud function is not part of the Greengrass deployment
    assert "snap" not in des["deployment:g1"].spec["code"]


def test_docker_compose_file_is_a_planned_upload_that_follows_its_content():
    from group.model import parse
    from group.v1.desired import desired_objects

    data = {"group": {"name": "g"}, "core": {"thing": "Core"}, "cloud": {"buckets": ["composebucket"]},
            "connectors": [{"name": "docker", "compose_file": "docker/docker-compose.yml",
                            "arn": "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7",
                            "parameters": {"DockerComposeFileS3Bucket": "composebucket",
                                           "DockerComposeFileS3Key": "app/compose.yml", "DockerUserId": "1000"}}]}
    group, issues = parse(data)
    assert not issues
    one = desired_objects(group, "local", {}, files={"docker": ("/x/compose.yml", "aaa")})
    two = desired_objects(group, "local", {}, files={"docker": ("/x/compose.yml", "bbb")})
    key = "bucket-object:composebucket/app/compose.yml"
    assert one[key].spec["key"] == "app/compose.yml"
    assert one[key].hash != two[key].hash
    keys = list(one)
    assert keys.index("bucket:composebucket") < keys.index(key)
