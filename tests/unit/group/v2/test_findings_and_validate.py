"""Findings for what V2 cannot carry, and validate --platform v2 on bad input."""
from __future__ import annotations

from pathlib import Path

import pytest

from group.v2 import catalog
from group.v2.convert import convert
from group.v2.model import canonical_json
from group.v2.validate import issues_for_v2

from .conftest import ACCOUNT, REGION, make_group

DOCKER = "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7"
SNS = "arn:aws:greengrass:us-east-1::/connectors/SNS/versions/4"


def issues(tmp_path, **changes):
    (tmp_path / "group").mkdir(exist_ok=True)
    return issues_for_v2(make_group(**changes), str(tmp_path / "group" / "group.yaml"))


# changes to the base group, expected (path, severity) among the issues
BAD = [
    ({"functions": [{"name": "f", "pinned": True, "memory_mb": 64, "runtime": "python3.8"}]},
     ("functions[0].runtime", "warning")),
    ({"functions": [{"name": "f", "pinned": True, "memory_mb": 64, "runtime": "nodejs20.x"}]},
     ("functions[0].runtime", "error")),
    ({"functions": [{"name": "f" * 62, "pinned": True, "memory_mb": 64, "runtime": "python3.12"}]},
     ("functions[0].name", "warning")),
    ({"core": {"thing": "Core:1"}}, ("core.thing", "error")),
    ({"connectors": [{"name": "sns", "arn": SNS}]}, ("connectors[0]", "error")),
    ({"connectors": [{"name": "d", "arn": DOCKER, "parameters": {"DockerComposeFileS3Bucket": "b"}}]},
     ("connectors[0].compose_file", "error")),
    ({"functions": [{"name": "f", "pinned": True, "isolation": "NoContainer", "resources": [{"ref": "v"}]}],
      "resources": [{"name": "v", "volume": {"source": "/a", "dest": "/b"}}]}, ("functions[0].resources[0]", "error")),
    ({"loggers": [{"component": "GreengrassSystem", "type": "FileSystem", "level": "FATAL"}]},
     ("loggers[0].level", "warning")),
    ({"stream_manager": {"enabled": True, "store_root": "./streams"}}, ("stream_manager.store_root", "warning")),
    ({"subscriptions": [{"source": "fa", "target": "shadow:DevA", "topic": "$aws/things/DevA/shadow/get"}]},
     ("subscriptions[0]", "warning")),
    ({"subscriptions": [{"source": "DevA", "target": "cloud", "topic": f"t/{i}/" + "x" * 120} for i in range(300)]},
     ("subscriptions", "error")),
]


@pytest.mark.parametrize("changes,expected", BAD, ids=[b[1][0] + ":" + b[1][1] for b in BAD])
def test_validate_v2_bad_input(tmp_path, changes, expected):
    found = [(i.path, i.severity) for i in issues(tmp_path, **changes)]
    assert expected in found
    for i in issues(tmp_path, **changes):
        assert i.fix, i  # every issue says how to fix it


def test_validate_v2_clean_group_has_no_error(tmp_path):
    base = issues(tmp_path, functions=[{"name": "f", "pinned": True, "isolation": "NoContainer",
                                        "runtime": "python3.12"}],
                  core={"thing": "Core", "connectivity": [{"host": "10.1.2.3"}]})
    assert [i for i in base if i.severity == "error"] == []
    assert [i.path for i in base] == []
    # a containerised Lambda needs cgroups v1 on the device: the one warning (#21.14)
    contained = issues(tmp_path, functions=[{"name": "f", "pinned": True, "memory_mb": 64, "runtime": "python3.12"}],
                       core={"thing": "Core", "connectivity": [{"host": "10.1.2.3"}]})
    assert [(i.path, i.severity) for i in contained] == [("functions[0].isolation", "warning")]


def test_many_cloud_topics_split_the_core_policy_within_the_limit():
    subs = [{"source": "fa", "target": "cloud", "topic": f"telemetry/{i}/" + "y" * 40} for i in range(40)]
    plan = convert(make_group(subscriptions=subs), root=Path("."), account_id=ACCOUNT, region=REGION)
    assert len(plan.core_policies) > 1 and plan.errors() == []
    assert plan.core_policy_name == "grp-v2-core-policy" and plan.core_policies[1][0] == "grp-v2-core-policy-2"
    for _, doc in plan.core_policies:
        assert len(canonical_json(doc)) <= 2048
    granted = {r for _, d in plan.core_policies for s in d["Statement"] if s["Action"] == "iot:Publish"
               for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])}
    assert all(f"arn:aws:iot:{REGION}:{ACCOUNT}:topic/{s['topic']}" in granted for s in subs)


def test_role_policy_grants_what_the_lambdas_reference():
    g = make_group(
        functions=[{"name": "f", "pinned": True, "memory_mb": 64,
                    "environment": {"T": "Tbl", "B": "bkt-used", "K": "kin", "V": "cam"}}],
        cloud={"tables": [{"name": "Tbl", "hash_key": "k"}, {"name": "Other", "hash_key": "k"}],
               "buckets": ["bkt-used", "bkt-unused"], "kinesis_streams": [{"name": "kin"}], "video_streams": ["cam"]})
    plan = convert(g, root=Path("."), account_id=ACCOUNT, region=REGION, artifact_bucket="artifacts-bkt")
    text = canonical_json(plan.token_exchange_role_policy)
    for granted in ("table/Tbl", "bkt-used/*", "stream/kin", "stream/cam/*", "artifacts-bkt/*", "log-group:/aws/greengrass/*"):
        assert granted in text, granted
    for not_granted in ("table/Other", "bkt-unused"):
        assert not_granted not in text
    assert plan.token_exchange_role_trust["Statement"][0]["Principal"] == {"Service": "credentials.iot.amazonaws.com"}


def test_shadow_sync_and_stream_manager_and_loggers():
    g = make_group(devices=[{"thing": "DevA", "sync_shadow": True}, {"thing": "DevB"}],
                   core={"thing": "Core", "sync_shadow": True},
                   stream_manager={"enabled": True, "port": 8090, "authenticate_client": False,
                                   "exporter_thread_pool_size": 3, "exporter_max_bandwidth_kbps": 500},
                   loggers=[{"component": "GreengrassSystem", "type": "FileSystem", "level": "DEBUG", "space_kb": 2048},
                            {"component": "GreengrassSystem", "type": "AWSCloudWatch", "level": "FATAL"}])
    plan = convert(g, root=Path("."), account_id=ACCOUNT, region=REGION)
    shadow = plan.public_component(catalog.SHADOW_MANAGER).merge
    assert shadow["synchronize"] == {"coreThing": {"classic": True, "namedShadows": []},
                                     "shadowDocuments": [{"thingName": "DevA", "classic": True, "namedShadows": []}],
                                     "direction": "betweenDeviceAndCloud"}
    assert plan.public_component(catalog.STREAM_MANAGER).merge == {
        "STREAM_MANAGER_SERVER_PORT": "8090", "STREAM_MANAGER_AUTHENTICATE_CLIENT": "false",
        "STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE": "3", "STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH": "500"}
    nucleus = plan.public_component(catalog.NUCLEUS)
    assert nucleus.merge["logging"] == {"level": "DEBUG", "outputType": "FILE", "format": "JSON",
                                        "totalLogsSizeKB": 2048, "fileSizeKB": 1024}
    assert nucleus.reset == ("/interpolateComponentConfiguration", "/logging")
    upload = plan.public_component(catalog.LOG_MANAGER).merge["logsUploaderConfiguration"]
    assert upload["systemLogsConfiguration"] == {"uploadToCloudWatch": "true", "minimumLogLevel": "ERROR"}
    assert ("loggers[1].level", "warning") in [(f.path, f.severity) for f in plan.findings]
    thing_arn = f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/DevA"
    assert thing_arn in canonical_json(plan.core_policy) + "".join(canonical_json(d) for _, d in plan.core_policies)


def test_deployment_is_valid_for_botocore_and_lists_every_component(check_input):
    g = make_group(subscriptions=[{"source": "fa", "target": "cloud", "topic": "x"}],
                   stream_manager={"enabled": True})
    plan = convert(g, root=Path("."), account_id=ACCOUNT, region=REGION)
    assert check_input("CreateDeployment", {**plan.deployment, "clientToken": plan.deployment_client_token()}) == ""
    versions = plan.component_versions()
    for p in plan.public:
        assert versions[p.name] == catalog.version(p.name)
    assert versions["grp-fa"] == plan.lambda_component("fa").component_version
    assert plan.target_arn == f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/grp"
    for name, spec in plan.deployment["components"].items():
        merge = spec.get("configurationUpdate", {}).get("merge")
        if merge is not None:
            import json
            assert merge == canonical_json(json.loads(merge)), name
