"""Pure Greengrass adapter state: validation tables, definitions, deployments, bulk deployments."""

from __future__ import annotations

import json
import threading

import pytest

from localcore.cloud.errors import BadRequest, IdNotFound, NotFound, VersionNotFound
from localcore.cloud.greengrass_definitions import (LOGGERS, SUBSCRIPTIONS, DefinitionStore, iso_now, valid_endpoint,
                                                     valid_topic_filter, validate_connectors, validate_loggers,
                                                     validate_subscriptions)
from localcore.cloud.greengrass_deployments import (BulkBook, Deployment, DeploymentBook, DeploymentError,
                                                     parse_bulk_input, parse_s3_uri)
from localcore.cloud.greengrass_state import GreengrassState, validate_connectivity

REGION, ACCOUNT = "us-east-1", "123456789012"


@pytest.mark.parametrize(
    "value,ok",
    [
        ("cloud", True),
        ("GGShadowService", True),
        ("arn:aws:iot:us-east-1:123456789012:thing/GG_TrafficLight", True),
        ("arn:aws:iot:us-east-1:123456789012:thing/HelloWorld_Publisher", True),
        ("arn:aws:lambda:us-east-1:123456789012:function:producer:live", True),
        ("arn:aws:lambda:us-east-1:123456789012:function:producer:3", True),
        ("arn:aws:lambda:us-east-1:123456789012:function:producer:$LATEST", False),
        ("arn:aws:lambda:us-east-1:123456789012:function:producer", False),
        ("arn:aws:greengrass:us-east-1::/connectors/TwilioNotifications/versions/4", True),
        ("arn:aws:iot:us-east-1:123456789012:thing/", False),
        ("GG_TrafficLight", False),
        ("", False),
        (None, False),
    ],
)
def test_subscription_endpoints(value, ok):
    assert valid_endpoint(value) is ok


@pytest.mark.parametrize(
    "topic,ok",
    [
        ("a/b", True),
        ("a/+/c", True),
        ("a/#", True),
        ("#", True),
        ("$aws/things/T_1/shadow/update", True),
        ("a/#/b", False),
        ("a/b#", False),
        ("a+/b", False),
        ("", False),
        ("x" * 257, False),
        (None, False),
    ],
)
def test_topic_filters(topic, ok):
    assert valid_topic_filter(topic) is ok


@pytest.mark.parametrize(
    "validate,items,fragment",
    [
        (
            validate_loggers,
            [{"Id": "a", "Component": "Lambda", "Level": "INFO", "Type": "AWSCloudWatch"}],
            None,
        ),
        (
            validate_loggers,
            [{"Id": "a", "Component": "Lambda", "Level": "INFO", "Type": "FileSystem"}],
            "Space",
        ),
        (
            validate_loggers,
            [{"Id": "a", "Component": "Kernel", "Level": "INFO", "Type": "AWSCloudWatch"}],
            "Component",
        ),
        (validate_loggers, [{"Component": "Lambda", "Level": "INFO", "Type": "AWSCloudWatch"}], "Id"),
        (
            validate_loggers,
            [{"Id": "a", "Component": "Lambda", "Level": "INFO", "Type": "AWSCloudWatch"}] * 2,
            "twice",
        ),
        (
            validate_connectors,
            [{"Id": "c", "ConnectorArn": "arn:aws:greengrass:us-east-1::/connectors/X/versions/1"}],
            None,
        ),
        (validate_connectors, [{"Id": "c", "ConnectorArn": "arn:aws:lambda:x"}], "ConnectorArn"),
        (
            validate_connectors,
            [
                {
                    "Id": "c",
                    "ConnectorArn": "arn:aws:greengrass:us-east-1::/connectors/X/versions/1",
                    "Parameters": {"n": 1},
                }
            ],
            "Parameters",
        ),
        (
            validate_subscriptions,
            [{"Id": "s", "Source": "cloud", "Target": "GGShadowService", "Subject": "t"}],
            None,
        ),
        (
            validate_subscriptions,
            [{"Id": "s", "Source": "cloud", "Target": "nowhere", "Subject": "t"}],
            "target",
        ),
        (
            validate_subscriptions,
            [{"Id": "s", "Source": "cloud", "Target": "cloud", "Subject": "a/#/b"}],
            "Subject",
        ),
        (validate_subscriptions, ["x"], "object"),
    ],
)
def test_definition_validators(validate, items, fragment):
    errors = validate(items)
    if fragment is None:
        assert errors == []
    else:
        assert errors and any(fragment in e for e in errors)


def test_definition_store_versions_and_arns():
    store = DefinitionStore(LOGGERS, REGION, ACCOUNT)
    lg = [{"Id": "a", "Component": "Lambda", "Level": "INFO", "Type": "AWSCloudWatch"}]
    d = store.create("logs", {"Loggers": lg}, tags={"k": "v"})
    assert d["Arn"] == f"arn:aws:greengrass:{REGION}:{ACCOUNT}:greengrass/definition/loggers/{d['Id']}"
    assert d["LatestVersionArn"] == f"{d['Arn']}/versions/{d['LatestVersion']}"
    assert store.get(d["Id"])["tags"] == {"k": "v"}
    assert store.get_version(d["Id"], d["LatestVersion"])["Definition"] == {"Loggers": lg}
    assert store.has_version_arn(d["LatestVersionArn"])
    assert not store.has_version_arn(d["LatestVersionArn"].replace("loggers", "connectors"))
    empty = store.create(None)
    assert "LatestVersion" not in empty and "Name" not in empty
    v2 = store.create_version(empty["Id"], {"Loggers": lg})
    assert store.get(empty["Id"])["LatestVersion"] == v2["Version"]
    with pytest.raises(VersionNotFound):
        store.get_version(d["Id"], "nope")
    with pytest.raises(BadRequest):
        store.create_version(d["Id"], {"Loggers": [{"Id": "x"}]})
    store.update(d["Id"], "renamed")
    assert store.get(d["Id"])["Name"] == "renamed"
    with pytest.raises(BadRequest):
        store.update(d["Id"], "")
    store.delete(d["Id"])
    with pytest.raises(IdNotFound):
        store.get(d["Id"])
    assert not store.has_version_arn(d["LatestVersionArn"])


def test_split_group_version_keeps_our_arns_and_refuses_unknown_ones():
    st = GreengrassState(REGION, ACCOUNT)
    sub = st.definitions["subscriptions"].create(
        "s", {"Subscriptions": [{"Id": "1", "Source": "cloud", "Target": "GGShadowService", "Subject": "t"}]}
    )
    to_moto, extras = st.split_group_version(
        {"CoreDefinitionVersionArn": "core-arn", "SubscriptionDefinitionVersionArn": sub["LatestVersionArn"]}
    )
    assert to_moto == {"CoreDefinitionVersionArn": "core-arn"}
    assert extras == {SUBSCRIPTIONS.group_key: sub["LatestVersionArn"]}
    with pytest.raises(BadRequest, match="Connector definition reference does not exist"):
        st.split_group_version({"ConnectorDefinitionVersionArn": "arn:made-up"})
    st.set_group_extras("g", "v", extras)
    assert st.group_extras("g", "v") == extras and st.group_extras("g", "other") == {}
    st.forget_group("g")
    assert st.group_extras("g", "v") == {}


def _dep(dep_id: str, group: str = "g", dtype: str = "NewDeployment") -> Deployment:
    return Deployment(dep_id, f"arn:{dep_id}", group, f"arn:group/{group}", "v1", dtype, iso_now())


def test_deployment_book_core_acknowledgement():
    book = DeploymentBook()
    seen = []
    book.add_listener(seen.append)
    book.add(_dep("d1"))
    book.add(_dep("d2"))
    book.add(_dep("x1", group="other"))
    assert [d.deployment_id for d in seen] == ["d1", "d2", "x1"]
    assert book.get("d1").status_json()["DeploymentStatus"] == "InProgress"
    assert book.take_next("g").deployment_id == "d1"
    assert book.take_next("g").deployment_id == "d2"
    assert book.take_next("g") is None
    book.report("d1", "Success")
    book.report("d2", "Failure", "function crashed")
    assert book.get("d2").status_json()["ErrorMessage"] == "function crashed"
    assert book.status() == {"Success": 1, "Failure": 1, "InProgress": 1}
    assert book.latest("g").deployment_id == "d2" and book.latest("none") is None
    with pytest.raises(DeploymentError):
        book.report("d1", "Failure")
    with pytest.raises(DeploymentError):
        book.report("nope", "Success")
    with pytest.raises(DeploymentError):
        book.report("x1", "InProgress")


def test_a_failing_listener_does_not_stop_the_deployment():
    book = DeploymentBook()
    seen = []

    def broken(dep):
        raise RuntimeError("listener bug")

    book.add_listener(broken)
    book.add_listener(seen.append)
    book.add(_dep("d"))
    assert [d.deployment_id for d in seen] == ["d"] and book.take_next("g").deployment_id == "d"
    book.remove_listener(broken)


def test_a_deployment_taken_but_not_reported_is_offered_again_after_reload():
    book = DeploymentBook()
    book.add(_dep("d"))
    assert book.take_next("g").deployment_id == "d"
    again = DeploymentBook()
    again.load_json(json.loads(json.dumps(book.to_json())))
    assert again.take_next("g").deployment_id == "d"


def test_deployment_book_auto_complete_and_force_reset():
    assert DeploymentBook(auto_complete=True).add(_dep("a")).status == "Success"
    book = DeploymentBook()
    assert book.add(_dep("r", dtype="ForceResetDeployment")).status == "Success"
    assert book.add(_dep("s", dtype="ResetDeployment")).status == "InProgress"


def test_wait_next_wakes_when_a_deployment_arrives():
    book = DeploymentBook()
    assert book.wait_next("g", timeout=0.01) is None
    got = []
    t = threading.Thread(target=lambda: got.append(book.wait_next("g", timeout=10)))
    t.start()
    book.add(_dep("late"))
    t.join(timeout=10)
    assert got[0].deployment_id == "late"


def test_parse_bulk_input():
    text = "\n".join(
        [
            json.dumps({"GroupId": "g1", "GroupVersionId": "v1", "DeploymentType": "NewDeployment"}),
            "",
            json.dumps({"GroupId": "g2", "GroupVersionId": "v2"}),
            "{not json",
            json.dumps({"GroupId": "g3"}),
            json.dumps({"GroupId": "g4", "GroupVersionId": "v4", "DeploymentType": "ResetDeployment"}),
            "[1]",
        ]
    )
    recs = parse_bulk_input(text)
    assert [(r.line, r.group_id, r.error is None) for r in recs] == [
        (1, "g1", True),
        (3, "g2", True),
        (4, None, False),
        (5, None, False),
        (6, "g4", False),
        (7, None, False),
    ]
    assert recs[1].deployment_type == "NewDeployment"


def test_bulk_book_stop_and_reload():
    book = BulkBook(REGION, ACCOUNT)
    b = book.start("s3://b/k", "arn:aws:iam::123456789012:role/r")
    assert b.status_json()["BulkDeploymentStatus"] == "Initializing"
    book.request_stop(b.bulk_id)
    assert book.get(b.bulk_id).status == "Stopping"
    with pytest.raises(BadRequest):
        book.request_stop(b.bulk_id)
    with pytest.raises(NotFound):
        book.get("nope")
    with pytest.raises(BadRequest):
        book.start("s3://b/k", "not-a-role")
    running = book.start("s3://b/k2", "arn:aws:iam::123456789012:role/r")
    book.update(running.bulk_id, status="Running")
    again = BulkBook(REGION, ACCOUNT)
    again.load_json(json.loads(json.dumps(book.to_json())))
    assert again.get(running.bulk_id).status == "Failed"  # its runner died with the previous run


@pytest.mark.parametrize(
    "uri,expected",
    [
        ("s3://bucket/dir/file.jsonl", ("bucket", "dir/file.jsonl")),
        ("https://bucket.s3.us-east-1.amazonaws.com/f.jsonl", ("bucket", "f.jsonl")),
        ("https://bucket.s3.amazonaws.com/f.jsonl", ("bucket", "f.jsonl")),
        ("https://s3.us-east-1.amazonaws.com/bucket/a%20b.jsonl", ("bucket", "a b.jsonl")),
        ("https://example.com/x", None),
        ("s3://bucket", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_s3_uri(uri, expected):
    if expected is None:
        with pytest.raises(BadRequest):
            parse_s3_uri(uri)
    else:
        assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(
    "items,fragment",
    [
        ([{"Id": "a", "HostAddress": "h", "PortNumber": 8883}], None),
        ([{"Id": "a", "HostAddress": "h", "PortNumber": 0}], "PortNumber"),
        ([{"Id": "a", "PortNumber": 1}], "HostAddress"),
        ([{"Id": "a", "HostAddress": "h", "PortNumber": 1}] * 2, "twice"),
        ([{"Id": "a", "HostAddress": "h", "PortNumber": True}], "PortNumber"),
        ("nope", "list"),
        ([{"Id": str(i), "HostAddress": "h", "PortNumber": 1} for i in range(11)], "maximum of 10"),
    ],
)
def test_connectivity_validation(items, fragment):
    if fragment is None:
        assert validate_connectivity(items) == items
    else:
        with pytest.raises(BadRequest, match=fragment):
            validate_connectivity(items)


def test_state_json_round_trip_and_cert_expiry():
    st = GreengrassState(REGION, ACCOUNT)
    st.definitions["loggers"].create(
        "l", {"Loggers": [{"Id": "a", "Component": "Lambda", "Level": "INFO", "Type": "AWSCloudWatch"}]}
    )
    st.update_connectivity("GG_Core", [{"Id": "a", "HostAddress": "h", "PortNumber": 8883}])
    st.associate_service_role("arn:aws:iam::123456789012:role/gg")
    st.set_cert_expiry_ms("g", "2592000000")
    with pytest.raises(BadRequest):
        st.set_cert_expiry_ms("g", 1000)
    st.deployments.add(_dep("d"))
    copy = GreengrassState(REGION, ACCOUNT)
    copy.load_json(json.loads(json.dumps(st.to_json())))
    assert copy.to_json() == st.to_json()
    assert copy.cert_expiry_ms("g") == 2592000000 and copy.cert_expiry_ms("other") == 604800000
    assert copy.deployments.take_next("g").deployment_id == "d"
