"""device_grants: every form the Auth component accepts (selection rules, operations, resources with globs
and the thing-name variable) summarised per device for route building; never narrower than the policy."""
import random

import pytest

from localcore.clientauth import AuthConfigError, Grants, device_grants, policy_from_config
from localcore.router.topics import matches

TN = "${iot:Connection.Thing.ThingName}"
KNOWN = ["Cam-01", "Cam-02", "Door-01", "Hub"]


def config(rules, statements):
    """One device group per rule, all with the one policy made of ``statements``."""
    return {"deviceGroups": {
        "formatVersion": "2021-03-05",
        "definitions": {f"G{i}": {"selectionRule": rule, "policyName": "P"} for i, rule in enumerate(rules)},
        "policies": {"P": {f"S{i}": {"operations": ops, "resources": res}
                           for i, (ops, res) in enumerate(statements)}}}}


PUB_ANY = [(["mqtt:publish"], ["mqtt:topic:t"])]

# (selection rule, things selected in order) — known things are KNOWN
SELECTION = [
    ("thingName: Hub", ["Hub"]),
    ("thingName: Lamp", ["Lamp"]),                                  # an exact name need not be associated
    ("thingName: Cam*", ["Cam-01", "Cam-02"]),
    ("thingName: *01", ["Cam-01", "Door-01"]),
    ("thingName: *am*", ["Cam-01", "Cam-02"]),
    ("thingName: *", KNOWN),
    ("thingName: Hub OR thingName: Cam*", ["Hub", "Cam-01", "Cam-02"]),
    ("thingName: Cam* AND thingName: *02", ["Cam-02"]),
    ("thingName: Hub AND thingName: Door-01", []),
    ("thingName: Door-01 AND thingName: D* OR thingName: Lamp", ["Door-01", "Lamp"]),
    ("thingName: a\\:b", []),                                       # the component keeps the backslash
]


@pytest.mark.parametrize("rule,things", SELECTION)
def test_selection_rule_forms(rule, things):
    assert list(device_grants(config([rule], PUB_ANY), KNOWN)) == things


def test_things_of_several_groups_get_the_union_in_rule_order():
    cfg = {"deviceGroups": {
        "definitions": {"Cams": {"selectionRule": "thingName: Cam*", "policyName": "Pub"},
                        "Two": {"selectionRule": "thingName: Cam-02 OR thingName: Hub", "policyName": "Sub"}},
        "policies": {"Pub": {"S": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:cam"]}},
                     "Sub": {"S": {"operations": ["mqtt:subscribe"], "resources": ["mqtt:topicfilter:cmd/#"]}}}}}
    grants = device_grants(cfg, KNOWN)
    assert list(grants) == ["Cam-01", "Cam-02", "Hub"]
    assert grants["Cam-02"] == Grants(publish=["cam"], subscribe=["cmd/#"])
    assert grants["Cam-01"] == Grants(publish=["cam"]) and grants["Hub"] == Grants(subscribe=["cmd/#"])


# (operations, resources, expected Grants of thing "Cam-01")
FORMS = [
    (["mqtt:connect"], ["mqtt:clientId:Cam-01"], Grants(connect=True)),
    (["mqtt:connect"], ["mqtt:clientId:Other"], Grants()),
    (["mqtt:connect"], [f"mqtt:clientId:{TN}"], Grants(connect=True)),
    (["mqtt:connect"], ["mqtt:clientId:Cam*"], Grants(connect=True)),
    (["mqtt:connect"], ["mqtt:clientId:*"], Grants(connect=True)),
    (["mqtt:publish"], ["mqtt:topic:a/b", "mqtt:topic:c"], Grants(publish=["a/b", "c"])),
    (["mqtt:publish"], [f"mqtt:topic:dev/{TN}/state"], Grants(publish=["dev/Cam-01/state"])),
    (["mqtt:publish"], [f"mqtt:topic:dev/{TN}/*"], Grants(publish=["dev/Cam-01/#"])),
    (["mqtt:publish"], ["mqtt:topic:dev/ab*"], Grants(publish=["dev/#"])),       # the level is only begun
    (["mqtt:publish"], ["mqtt:topic:dev/*/state"], Grants(publish=["dev/#"])),
    (["mqtt:publish"], ["mqtt:topic:*"], Grants(publish_all=True)),
    (["mqtt:publish"], ["mqtt:topic:d*"], Grants(publish_all=True)),
    (["mqtt:publish"], ["mqtt:topic*"], Grants(publish_all=True)),
    (["mqtt:publish"], ["mqtt:*"], Grants(publish_all=True)),
    (["mqtt:publish"], ["*"], Grants(publish_all=True)),
    (["mqtt:publish"], ["mqtt:topicfilter:*"], Grants()),                        # a filter grant is no topic
    (["mqtt:publish"], ["mqtt:topic:a+b/*"], Grants()),                         # no topic has that level
    (["mqtt:publish"], ["mqtt:topic:$aws/things/" + TN + "/shadow/*"],
     Grants(publish=["$aws/things/Cam-01/shadow/#"])),
    (["mqtt:subscribe"], ["mqtt:topicfilter:cmd/+/x", "mqtt:topicfilter:all/#"],
     Grants(subscribe=["cmd/+/x", "all/#"])),
    (["mqtt:subscribe"], ["mqtt:topicfilter:cmd/+/*"], Grants(subscribe=["cmd/+/#"])),
    (["mqtt:subscribe"], ["mqtt:topicfilter:*"], Grants(subscribe_all=True)),
    (["mqtt:subscribe"], ["mqtt:topic:a"], Grants()),                            # a topic grant is no filter
    (["mqtt:*"], ["mqtt:topic:a", "mqtt:topicfilter:b"], Grants(publish=["a"], subscribe=["b"])),
    (["*"], ["*"], Grants(connect=True, publish_all=True, subscribe_all=True)),
    (["mqtt:*"], ["mqtt:topic*"], Grants(publish_all=True, subscribe_all=True)),   # topic* covers topicfilter:
    (["mqtt:publish", "mqtt:subscribe"], [f"mqtt:topic:x/{TN}", f"mqtt:topicfilter:y/{TN}"],
     Grants(publish=["x/Cam-01"], subscribe=["y/Cam-01"])),
    (["mqtt:publsh"], ["*"], Grants()),                                          # accepted, matches nothing
    (["mqtt:publish"], ["iot:topic:a"], Grants()),
]


@pytest.mark.parametrize("ops,resources,expected", FORMS)
def test_operation_and_resource_forms(ops, resources, expected):
    assert device_grants(config(["thingName: Cam-01"], [(ops, resources)]), KNOWN)["Cam-01"] == expected


@pytest.mark.parametrize("cfg,path,reason", [
    (config(["thingName: A OR"], PUB_ANY), "deviceGroups.definitions.G0.selectionRule", "expected 'thingName:'"),
    (config(["thingGroup: x"], PUB_ANY), "deviceGroups.definitions.G0.selectionRule", "unexpected character ':'"),
    (config(["thingName: A"], [(["mqtt:publish"], ["mqtt:topic:${iot:ClientId}"])]),
     "deviceGroups.policies.P.S0.resources[0]", "unknown policy variable ${iot:ClientId}"),
    (config(["thingName: A"], [(["mqtt:publish"], "mqtt:topic:a")]), "deviceGroups.policies.P.S0.resources",
     "must be a list of strings"),
    ({"deviceGroups": {"definitions": {"G": {"selectionRule": "thingName: A", "policyName": "Q"}},
                       "policies": {}}}, "deviceGroups.definitions.G.policyName", "Policy definition Q"),
])
def test_bad_configuration_says_what_and_where(cfg, path, reason):
    with pytest.raises(AuthConfigError) as info:
        device_grants(cfg, KNOWN)
    assert (info.value.path, reason in info.value.reason) == (path, True)


def test_no_device_groups_grant_nothing():
    assert device_grants({"performance": {}}, KNOWN) == {}


# (grants, filter, may_publish_matching)
PUBLISH_MATCHING = [
    (Grants(publish=["a/b", "a/c", "x"]), "a/+", ["a/b", "a/c"]),
    (Grants(publish=["dev/T/#"]), "dev/+/state", ["dev/T/state"]),
    (Grants(publish=["dev/T/#"]), "#", ["dev/T/#"]),
    (Grants(publish=["dev/T/#"]), "other/#", []),
    (Grants(publish=["$aws/things/T/shadow/#"]), "$aws/things/+/shadow/update", ["$aws/things/T/shadow/update"]),
    (Grants(publish_all=True), "a/#", ["a/#"]),
]


@pytest.mark.parametrize("grants,topic_filter,expected", PUBLISH_MATCHING)
def test_may_publish_matching(grants, topic_filter, expected):
    assert grants.may_publish_matching(topic_filter) == expected


def test_may_subscribe_overlapping_and_routes_to():
    sub = Grants(subscribe=["cmd/#", "$aws/things/T/shadow/update/accepted"])
    assert sub.may_subscribe_overlapping("cmd/x") == ["cmd/#"]
    assert sub.may_subscribe_overlapping("#") == ["cmd/#"]          # '#' never meets a '$' topic
    assert sub.may_subscribe_overlapping("$aws/things/+/shadow/#") == ["$aws/things/T/shadow/update/accepted"]
    assert Grants(subscribe_all=True).may_subscribe_overlapping("q") == ["q"]
    assert Grants(publish=["cmd/1", "other"]).routes_to(sub) == ["cmd/1"]
    assert Grants(publish=["cmd/T/#"]).routes_to(Grants(subscribe=["cmd/+/x"])) == ["cmd/T/x"]
    assert Grants(publish_all=True).routes_to(sub) == sub.subscribe
    assert Grants(publish_all=True).routes_to(Grants(subscribe_all=True)) == ["#"]
    assert Grants(publish=["a"]).routes_to(Grants(subscribe_all=True)) == ["a"]
    assert Grants(publish=["a"]).routes_to(Grants()) == []


@pytest.mark.parametrize("resource", [
    f"mqtt:topic:dev/{TN}/*", "mqtt:topic:dev/*/state", "mqtt:topic:d*", "mqtt:topic:a/b", "mqtt:*",
    "mqtt:topic:$aws/things/*", f"mqtt:topic:{TN}/*/x/*", "*:a/b", "mqtt:topic:a/*/b*",
])
def test_grants_are_never_narrower_than_the_policy(resource):
    """Every topic the policy lets the device publish is covered by what device_grants says (seeded)."""
    cfg = config(["thingName: *"], [(["mqtt:publish"], [resource])])
    policy, grants = policy_from_config(cfg), device_grants(cfg, ["T"])["T"]
    rng = random.Random(resource)
    words = ["dev", "T", "state", "a", "b", "x", "$aws", "things", "", "ab"]
    topics = ["dev/T/state", "dev/T/", "a/b", "d", "$aws/things/T/shadow/update", "T/q/x/z", "a/x/bz"]
    topics += ["/".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(400)]
    allowed = [t for t in topics if policy.can_publish("T", t)]
    assert allowed
    for topic in allowed:
        assert grants.publish_all or any(matches(g, topic) for g in grants.publish), (topic, grants)
