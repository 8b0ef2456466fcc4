"""accessControl: parsing, the four-step lookup, STANDARD and MQTT_STYLE matching, texts, updates, counters."""
from __future__ import annotations

import json

import pytest

from localcore.nucleus_ipc.authorization import (MQTT_STYLE, STANDARD, AccessControl, ResourceError,
                                                 compile_resource, parse_access_control)
from localcore.nucleus_ipc.errors import UnauthorizedError

PUB = "aws.greengrass#PublishToTopic"
SUB = "aws.greengrass#SubscribeToTopic"
IOT_PUB = "aws.greengrass#PublishToIoTCore"


def acl(service, *policies):
    return {"accessControl": {service: {f"p{i}": p for i, p in enumerate(policies)}}}


STANDARD_CASES = [
    ("a/b", "a/b", True), ("a/b", "a/c", False), ("a/*", "a/b/c", True), ("*", "anything/at/all", True),
    ("*/b", "x/y/b", True), ("a*c", "abbbc", True), ("a*c", "abcd", False), ("a/+", "a/b", False),
    ("a/+", "a/+", True), ("a/#", "a/b", False), ("a/#", "a/#", True), ("${*}", "*", True), ("${*}", "x", False),
    ("a${$}b", "a$b", True), ("q${?}", "q?", True), ("$aws/things/*", "$aws/things/t/shadow", True),
    ("a/*/c/*", "a/b/c/d/e", True), ("a/*/c/*", "a/b/d", False),
]


@pytest.mark.parametrize("pattern,resource,ok", STANDARD_CASES)
def test_standard_glob(pattern, resource, ok):
    assert bool(compile_resource(pattern, STANDARD).fullmatch(resource)) is ok


MQTT_CASES = [
    ("a/#", "a", True), ("a/#", "a/b/c", True), ("a/#", "ab", False), ("#", "x/y", True), ("+", "x", True),
    ("+", "x/y", False), ("a/+/c", "a/b/c", True), ("a/+/c", "a/b/x/c", False), ("a/+", "a/", True),
    ("+/b", "x/b", True), ("a+/b", "a+/b", True), ("a+/b", "ax/b", False), ("a/b#", "a/b#", True),
    ("a/b#", "a/bc", False), ("a/*", "a/b/c", True), ("a/+", "a/+", True), ("a/#", "a/+", True),
    ("${*}/+", "*/x", True),
]


@pytest.mark.parametrize("pattern,resource,ok", MQTT_CASES)
def test_mqtt_style(pattern, resource, ok):
    assert bool(compile_resource(pattern, MQTT_STYLE).fullmatch(resource)) is ok


@pytest.mark.parametrize("bad,text", [("", "cannot be empty"), ("a?", "invalid character: '?'"),
                                      ("${x}", "invalid escape"), ("${*", "invalid escape"),
                                      ("${**}", "invalid escape")])
def test_invalid_resources(bad, text):
    with pytest.raises(ResourceError, match=text):
        compile_resource(bad)


def test_four_step_lookup_and_the_refusal_text():
    ac = AccessControl()
    ac.update("A", acl("aws.greengrass.ipc.pubsub", {"operations": [PUB], "resources": ["a/1"]},
                       {"operations": ["*"], "resources": ["any/*"]}))
    ac.check("A", PUB, "a/1")
    ac.check("A", SUB, "any/x")
    with pytest.raises(UnauthorizedError) as e:
        ac.check("A", SUB, "a/1")
    assert e.value.message == ("Principal A is not authorized to perform aws.greengrass.ipc.pubsub:"
                               "aws.greengrass#SubscribeToTopic on resource a/1")
    with pytest.raises(UnauthorizedError, match="Principal B is not authorized"):
        ac.check("B", PUB, "a/1")   # policies never grant other components


def test_mqttproxy_uses_mqtt_style_and_not_authorized_text():
    ac = AccessControl()
    ac.update("A", acl("aws.greengrass.ipc.mqttproxy", {"operations": [IOT_PUB], "resources": ["t/+/x", "s/#"]}))
    ac.check("A", IOT_PUB, "t/1/x")
    ac.check("A", IOT_PUB, "s")
    with pytest.raises(UnauthorizedError) as e:
        ac.check("A", IOT_PUB, "t/1/2/x")
    assert e.value.message == "Not Authorized"


def test_operations_that_need_no_policy():
    ac = AccessControl()
    for op in ("GetConfiguration", "UpdateConfiguration", "SubscribeToConfigurationUpdate", "UpdateState",
               "SubscribeToComponentUpdates", "DeferComponentUpdate", "ValidateAuthorizationToken"):
        ac.check("A", "aws.greengrass#" + op, "x")
    assert ac.status()["refused"] == 0


def test_keys_case_insensitive_and_json_string_form():
    body = {"AccessControl": json.dumps({"aws.greengrass.ipc.pubsub": {
        "p": {"PolicyDescription": "d", "OPERATIONS": [PUB], "Resources": ["x"]}}})}
    ac = AccessControl()
    assert ac.update("A", body) == []
    ac.check("A", PUB, "x")


PARSE_PROBLEMS = [
    ({"accessControl": "{not json"}, "not JSON", 0),
    ({"accessControl": []}, "must be a map", 0),
    ({"accessControl": {"aws.greengrass.ipc.pubsub": {"p": {"operations": PUB}}}}, "list of strings", 0),
    ({"accessControl": {"aws.greengrass.ipc.pubsub": {"p": {"operations": [PUB], "effect": "deny"}}}},
     "unknown key 'effect'", 0),
    ({"accessControl": {"aws.greengrass.ipc.pubsub": {"p": {"resources": ["x"]}}}}, "operations are missing", 0),
]


@pytest.mark.parametrize("config,text,count", PARSE_PROBLEMS)
def test_parse_problems(config, text, count):
    policies, problems = parse_access_control("A", config)
    assert len(policies) == count and any(text in p for p in problems)


def test_load_problems_are_reported_and_the_rest_loads():
    ac = AccessControl()
    problems = ac.update("A", {"accessControl": {
        "aws.greengrass.ipc.nosuch": {"p": {"operations": ["*"], "resources": ["*"]}},
        "aws.greengrass.ipc.pubsub": {"q": {"operations": [PUB, "PublishToTopic"], "resources": ["a?", "ok"]}}}})
    assert any("Component not registered: aws.greengrass.ipc.nosuch" in p for p in problems)
    assert any("Operation not registered" in p and "PublishToTopic" in p for p in problems)
    assert any("'?'" in p for p in problems)
    ac.check("A", PUB, "ok")
    assert ac.status()["problems"]["A"] == problems


def test_update_replaces_and_none_removes():
    ac = AccessControl()
    ac.update("A", acl("aws.greengrass.ipc.pubsub", {"operations": [PUB], "resources": ["old"]}))
    ac.check("A", PUB, "old")
    ac.update("A", acl("aws.greengrass.ipc.pubsub", {"operations": [PUB], "resources": ["new"]}))
    ac.check("A", PUB, "new")
    with pytest.raises(UnauthorizedError):
        ac.check("A", PUB, "old")
    ac.update("A", None)
    with pytest.raises(UnauthorizedError):
        ac.check("A", PUB, "new")


def test_policy_without_resources_matches_nothing():
    ac = AccessControl()
    ac.update("A", acl("aws.greengrass.ipc.pubsub", {"operations": [PUB]}))
    with pytest.raises(UnauthorizedError):
        ac.check("A", PUB, "x")


def test_refusals_are_counted_for_the_dashboard():
    ac = AccessControl()
    for _ in range(3):
        with pytest.raises(UnauthorizedError):
            ac.check("A", PUB, "t")
    st = ac.status()
    assert st["refused"] == 3 and st["refusals"] == [{"principal": "A", "operation": PUB, "resource": "t", "count": 3}]
    assert st["last_refusals"][-1]["reason"].startswith("Principal A is not authorized")
    json.dumps(st)
