"""Policy evaluation as PermissionEvaluationUtils + WildcardTrie.matchesStandard do it, config errors
with paths, counters, refusals and the decision cache."""
import logging

import pytest

from localcore.clientauth import AuthConfigError, policy_from_config, resource_matcher

TN = "${iot:Connection.Thing.ThingName}"


def config(definitions, policies, **extra):
    return {"deviceGroups": {"formatVersion": "2021-03-05", "definitions": definitions, "policies": policies,
                             **extra}}


def one_policy(operations, resources, rule="thingName: *"):
    return policy_from_config(config({"G": {"selectionRule": rule, "policyName": "P"}},
                                     {"P": {"S": {"operations": operations, "resources": resources}}}))


# (granted operations, granted resources, requested operation, requested resource, allowed)
# the first block is PermissionEvaluationUtilsTest's table
TABLE = [
    (["mqtt:publish"], ["mqtt:topic:hello"], "mqtt:publish", "mqtt:topic:hello", True),
    (["mqtt:publish"], ["mqtt:topic:hello"], "mqtt:publish", "mqtt:topic:world", False),
    (["mqtt:publish"], ["mqtt:topic:hello"], "mqtt:connect", "mqtt:topic:hello", False),
    (["mqtt:publish"], ["mqtt:topic:*"], "mqtt:publish", "mqtt:topic:hello", True),
    (["mqtt:publish"], ["mqtt:topic*"], "mqtt:publish", "mqtt:topic:hello", True),
    (["mqtt:publish"], ["*hello*"], "mqtt:publish", "mqtt:topic:hello", True),
    (["mqtt:publish"], ["*:hello"], "mqtt:publish", "mqtt:topic:hello", True),
    (["mqtt:publish"], ["***"], "mqtt:publish", "mqtt:topic:hello", True),
    (["mqtt:publish"], ["*"], "mqtt:publish", "mqtt:topic:hello", True),
    (["mqtt:publish"], ["mqtt:*:hello"], "mqtt:publish", "mqtt::hello", False),   # malformed request
    (["mqtt:publish"], ["mqtt:topic:*"], "mqtt:connect", "mqtt:topic:hello", False),
    (["mqtt:*"], ["mqtt:topic:hello"], "mqtt:publish", "mqtt:topic:hello", True),
    (["*"], ["mqtt:topic:hello"], "mqtt:publish", "mqtt:topic:hello", True),
    # a glob spans levels; MQTT wildcards in a grant are plain characters
    (["mqtt:publish"], ["mqtt:topic:a/*"], "mqtt:publish", "mqtt:topic:a/b/c", True),
    (["mqtt:publish"], ["mqtt:topic:a/*"], "mqtt:publish", "mqtt:topic:b/a/c", False),
    (["mqtt:publish"], ["mqtt:topic:a/#"], "mqtt:publish", "mqtt:topic:a/b", False),
    (["mqtt:publish"], ["mqtt:topic:a/#"], "mqtt:publish", "mqtt:topic:a/#", True),
    (["mqtt:subscribe"], ["mqtt:topicfilter:a/+/b"], "mqtt:subscribe", "mqtt:topicfilter:a/x/b", False),
    (["mqtt:subscribe"], ["mqtt:topicfilter:a/+/b"], "mqtt:subscribe", "mqtt:topicfilter:a/+/b", True),
    (["mqtt:subscribe"], ["mqtt:topicfilter:a/#"], "mqtt:subscribe", "mqtt:topicfilter:a/b", False),
    (["mqtt:subscribe"], ["mqtt:topicfilter:a/*"], "mqtt:subscribe", "mqtt:topicfilter:a/#", True),
    # a topic grant is not a topicfilter grant
    (["mqtt:subscribe"], ["mqtt:topic:a"], "mqtt:subscribe", "mqtt:topicfilter:a", False),
    (["mqtt:connect"], ["mqtt:clientId:*"], "mqtt:connect", "mqtt:clientId:Anyone", True),
    (["mqtt:connect"], ["mqtt:clientId:Cam"], "mqtt:connect", "mqtt:clientId:Camera", False),
    (["mqtt:publish"], ["mqtt:topic:$aws/things/X/shadow/update"], "mqtt:publish",
     "mqtt:topic:$aws/things/X/shadow/update", True),
    (["mqtt:publish"], ["mqtt:topic:a.b"], "mqtt:publish", "mqtt:topic:aXb", False),   # no regex leaks
    (["mqtt:publish", "mqtt:subscribe"], ["", "mqtt:topic:t"], "mqtt:publish", "mqtt:topic:t", True),
]


@pytest.mark.parametrize("ops,resources,operation,resource,allowed", TABLE)
def test_evaluation_table(ops, resources, operation, resource, allowed):
    assert one_policy(ops, resources).decide("Thing", operation, resource) is allowed


def test_policy_variable_is_the_thing_name():
    policy = one_policy(["mqtt:connect", "mqtt:publish", "mqtt:subscribe"],
                        [f"mqtt:clientId:{TN}", f"mqtt:topic:dev/{TN}/*", f"mqtt:topicfilter:cmd/{TN}"])
    assert policy.can_connect("A", "A") and not policy.can_connect("A", "B")
    assert policy.can_publish("A", "dev/A/x") and not policy.can_publish("A", "dev/B/x")
    assert policy.can_subscribe("B", "cmd/B") and not policy.can_subscribe("B", "cmd/A")


def test_groups_select_by_rule_and_union_their_policies():
    policy = policy_from_config(config(
        {"Cams": {"selectionRule": "thingName: Cam*", "policyName": "CamP"},
         "Cam1": {"selectionRule": "thingName: Cam1", "policyName": "Extra"}},
        {"CamP": {"Pub": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:cam"]}},
         "Extra": {"Sub": {"operations": ["mqtt:subscribe"], "resources": ["mqtt:topicfilter:x"]}}}))
    assert policy.can_publish("Cam1", "cam") and policy.can_subscribe("Cam1", "x")
    assert policy.can_publish("Cam2", "cam") and not policy.can_subscribe("Cam2", "x")
    assert not policy.can_publish("Other", "cam")
    assert policy.explain("Other", "mqtt:publish", "mqtt:topic:cam") == (
        False, "no device group's selectionRule selects this thing")


def test_missing_device_groups_denies_everything():
    policy = policy_from_config({"performance": {"maxActiveAuthTokens": 10}})
    assert not policy.can_connect("A", "A")
    assert policy.status()["groups"] == {}


def test_status_counts_and_keeps_last_refusals(caplog):
    pub_ok = {"P": {"S": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:ok"]}}}
    policy = policy_from_config(config({"G": {"selectionRule": "thingName: A", "policyName": "P"}}, pub_ok),
                                keep_refusals=2)
    with caplog.at_level(logging.INFO, logger="localcore.clientauth.policy"):
        assert policy.can_publish("A", "ok") and policy.can_publish("A", "ok")
        for topic in ("no/1", "no/2", "no/3"):
            assert not policy.can_publish("A", topic)
        assert not policy.can_subscribe("A", "ok")
    status = policy.status()
    assert status["decisions"]["publish"] == {"allowed": 2, "refused": 3}
    assert status["decisions"]["subscribe"] == {"allowed": 0, "refused": 1}
    assert [(r["thing"], r["operation"], r["resource"]) for r in status["recent_refusals"]] == [
        ("A", "mqtt:publish", "mqtt:topic:no/3"), ("A", "mqtt:subscribe", "mqtt:topicfilter:ok")]
    assert all(isinstance(r["time"], float) and r["reason"] for r in status["recent_refusals"])
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 4 and all(r.levelno == logging.INFO for r in refused)
    assert "no statement" in refused[0].getMessage() and "mqtt:topic:no/1" in refused[0].getMessage()
    assert status["cache"]["hits"] >= 1


def test_cache_is_bounded():
    pub_t = {"P": {"S": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:t/*"]}}}
    policy = policy_from_config(config({"G": {"selectionRule": "thingName: *", "policyName": "P"}}, pub_t),
                                cache_size=16)
    for i in range(100):
        assert policy.can_publish(f"T{i % 7}", f"t/{i}")
    assert policy.status()["cache"]["entries"] <= 16
    assert policy.can_publish("T0", "t/0") and not policy.can_publish("T0", "u/0")


def test_update_swaps_config_and_keeps_the_old_one_on_error():
    policy = one_policy(["mqtt:publish"], ["mqtt:topic:a"])
    assert policy.can_publish("X", "a")
    policy.update(config({"G": {"selectionRule": "thingName: *", "policyName": "P"}},
                         {"P": {"S": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:b"]}}}))
    assert not policy.can_publish("X", "a") and policy.can_publish("X", "b")
    with pytest.raises(AuthConfigError):
        policy.update(config({"G": {"selectionRule": "thingName:", "policyName": "P"}}, {"P": {}}))
    assert policy.can_publish("X", "b")
    assert policy.status()["decisions"]["publish"] == {"allowed": 3, "refused": 1}


GOOD_DEF = {"G": {"selectionRule": "thingName: A", "policyName": "P"}}
GOOD_POL = {"P": {"S": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:a"]}}}

# (configuration, path, words of the reason)
BAD_CONFIGS = [
    ({"deviceGroups": []}, "deviceGroups", "must be an object"),
    ({"deviceGroups": {"formatVersion": "2020-01-01"}}, "deviceGroups.formatVersion", "not a known format"),
    (config({"G": {"policyName": "P"}}, GOOD_POL), "deviceGroups.definitions.G.selectionRule", "is required"),
    (config({"G": {"selectionRule": "thingName: A"}}, GOOD_POL), "deviceGroups.definitions.G.policyName",
     "is required"),
    (config({"G": {"selectionRule": "thingName: A", "policyName": "Nope"}}, GOOD_POL),
     "deviceGroups.definitions.G.policyName", "Policy definition Nope does not have a corresponding policy"),
    (config({"G": {"selectionRule": "thing: A", "policyName": "P"}}, GOOD_POL),
     "deviceGroups.definitions.G.selectionRule", "unexpected character ':'"),
    (config(GOOD_DEF, {"P": {"S": {"operations": "mqtt:publish", "resources": ["mqtt:topic:a"]}}}),
     "deviceGroups.policies.P.S.operations", "must be a list of strings"),
    (config(GOOD_DEF, {"P": {"S": {"operations": ["mqtt:publish"], "resources": ["a", 3]}}}),
     "deviceGroups.policies.P.S.resources[1]", "must be a string"),
    (config(GOOD_DEF, {"P": {"S": {"operations": ["mqtt:publish"],
                                   "resources": ["mqtt:topic:${iot:ClientId}"]}}}),
     "deviceGroups.policies.P.S.resources[0]", "unknown policy variable ${iot:ClientId}"),
    (config(GOOD_DEF, {"P": {"S": {"operations": ["mqtt:publish"], "resources": ["a"], "effect": "DENY"}}}),
     "deviceGroups.policies.P.S.effect", "only 'ALLOW'"),
    (config(GOOD_DEF, {"P": ["x"]}), "deviceGroups.policies.P", "must be an object"),
    (config({"G": "thingName: A"}, GOOD_POL), "deviceGroups.definitions.G", "must be an object"),
]


@pytest.mark.parametrize("cfg,path,reason", BAD_CONFIGS)
def test_malformed_config_names_path_and_reason(cfg, path, reason):
    with pytest.raises(AuthConfigError) as info:
        policy_from_config(cfg)
    assert info.value.path == path
    assert reason in info.value.reason
    assert str(info.value).startswith(path + ": ")


def test_unknown_keys_and_dead_grants_are_warnings_not_errors(caplog):
    cfg = config({"G": {"selectionRule": "thingName: A", "policyName": "P", "colour": "red"}},
                 {"P": {"S": {"operations": ["mqtt:publsh"], "resources": ["iot:topic:a"],
                              "statementDescription": "typo"}}})
    with caplog.at_level(logging.WARNING, logger="localcore.clientauth.policy"):
        policy = policy_from_config(cfg)
    warnings = policy.status()["warnings"]
    assert any("colour" in w for w in warnings)
    assert any("'mqtt:publsh'" in w for w in warnings) and any("'iot:topic:a'" in w for w in warnings)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == len(warnings) == 3
    assert not policy.can_publish("A", "a")


def test_config_may_be_the_device_groups_object_itself():
    policy = policy_from_config({"definitions": GOOD_DEF, "policies": GOOD_POL})
    assert policy.can_publish("A", "a") and not policy.can_publish("B", "a")


@pytest.mark.parametrize("pattern,resource,matches", [
    ("a*b", "ab", True), ("a*b", "axxb", True), ("a*b", "axxbc", False), ("*", "", True),
    ("x", "x", True), ("x", "xy", False), ("a**c", "abc", True),
])
def test_resource_matcher_is_a_full_glob(pattern, resource, matches):
    assert resource_matcher(pattern)(resource) is matches
