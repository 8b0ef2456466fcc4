"""Every V1 subscription source × target kind → event source / router route / bridge mapping / device policy."""
from __future__ import annotations

from pathlib import Path

import pytest

from group.v2 import catalog
from group.v2.convert import convert

from .conftest import ACCOUNT, REGION, make_group

UPD = "$aws/things/DevB/shadow/update"
ACC = "$aws/things/DevB/shadow/update/accepted"
PAIR = {(f"$aws/things/DevB/shadow/#", "LocalMqtt", "Pubsub"), (f"$aws/things/DevB/shadow/#", "Pubsub", "LocalMqtt")}
FA, FB = "component:grp-fa", "component:grp-fb"

# source, target, topic, event source on fb, router (source, subject, target), bridge {(topic, source, target)},
# DevA publish grants, DevB subscribe grants, severity of the finding on the subscription (None = none)
TABLE = [
    ("fa", "fb", "t/ff", None, (FA, "t/ff", FB), set(), [], [], None),
    ("fa", "cloud", "t/fc", None, (FA, "t/fc", "cloud"), set(), [], [], None),
    ("fa", "DevB", "t/fd", None, (FA, "t/fd", "cloud"), {("t/fd", "IotCore", "LocalMqtt")}, [], ["t/fd"], "warning"),
    ("fa", "shadow:DevB", UPD, None, None, set(), [], [], "warning"),
    ("cloud", "fb", "t/cf/+", ("t/cf/+", "IOT_CORE"), None, set(), [], [], None),
    ("cloud", "DevB", "t/cd", None, None, {("t/cd", "IotCore", "LocalMqtt")}, [], ["t/cd"], None),
    ("cloud", "shadow:DevB", UPD, None, None, set(), [], [], "warning"),
    ("DevA", "fb", "t/df", ("t/df", "PUB_SUB"), None, {("t/df", "LocalMqtt", "Pubsub")}, ["t/df"], [], None),
    ("DevA", "cloud", "t/dc", None, None, {("t/dc", "LocalMqtt", "IotCore")}, ["t/dc"], [], None),
    ("DevA", "DevB", "t/dd", None, None, set(), ["t/dd"], ["t/dd"], "warning"),
    ("DevA", "shadow:DevB", UPD, None, None, PAIR, [UPD], [], None),
    ("shadow:DevB", "fb", ACC, (ACC, "PUB_SUB"), None, set(), [], [], "info"),
    ("shadow:DevB", "DevB", ACC, None, None, PAIR, [], [ACC], None),
    ("shadow:DevB", "cloud", ACC, None, None, set(), [], [], "warning"),
]


def plan_for(source, target, topic, **extra):
    g = make_group(subscriptions=[{"source": source, "target": target, "topic": topic}], **extra)
    return convert(g, root=Path("."), account_id=ACCOUNT, region=REGION)


@pytest.mark.parametrize("src,tgt,topic,event,route,bridge,pubs,subs,severity", TABLE,
                         ids=[f"{r[0]}->{r[1]}" for r in TABLE])
def test_subscription_kind(src, tgt, topic, event, route, bridge, pubs, subs, severity):
    plan = plan_for(src, tgt, topic)
    sources = plan.lambda_component("fb").parameters.get("eventSources", [])
    assert sources == ([{"topic": event[0], "type": event[1]}] if event else [])
    assert "eventSources" not in plan.lambda_component("fa").parameters

    router = plan.public_component(catalog.SUBSCRIPTION_ROUTER)
    if route is None:
        assert router is None
    else:
        (entry,) = router.merge["subscriptions"].values()
        assert (entry["source"], entry["subject"], entry["target"]) == route
        assert entry["id"] == "sub-0" and list(router.merge["subscriptions"]) == ["sub-0"]
        assert catalog.SUBSCRIPTION_ROUTER in plan.lambda_component("fa").request["componentDependencies"]

    br = plan.public_component(catalog.BRIDGE)
    got = {(m["topic"], m["source"], m["target"]) for m in br.merge["mqttTopicMapping"].values()} if br else set()
    assert got == bridge
    if br:
        assert br.merge["brokerUri"] == "ssl://localhost:8883"

    policies = plan.public_component(catalog.CLIENT_AUTH).merge["deviceGroups"]["policies"]
    a, b = policies["policy-DevA"], policies["policy-DevB"]
    assert a.get("Publish", {}).get("resources", []) == [f"mqtt:topic:{t}" for t in pubs]
    assert "Subscribe" not in a
    assert "Publish" not in b
    got_subs = b.get("Subscribe", {}).get("resources", [])
    assert got_subs[:len(subs)] == [f"mqtt:topicfilter:{t}" for t in subs]
    assert a["Connect"]["resources"] == ["mqtt:clientId:DevA"]

    on_sub = [f.severity for f in plan.findings if f.path.startswith("subscriptions[0]")]
    assert on_sub == ([severity] if severity else [])
    if "shadow:" in src + tgt:
        assert plan.public_component(catalog.SHADOW_MANAGER) is not None


def test_wildcard_shadow_reply_filter_grants_each_reply_topic():
    plan = plan_for("shadow:DevB", "DevB", "$aws/things/DevB/shadow/update/#")
    subs = plan.public_component(catalog.CLIENT_AUTH).merge["deviceGroups"]["policies"]["policy-DevB"]["Subscribe"]
    assert subs["resources"] == ["mqtt:topicfilter:$aws/things/DevB/shadow/update/#"] + [
        f"mqtt:topicfilter:$aws/things/DevB/shadow/update/{r}" for r in ("accepted", "rejected", "delta", "documents")]


def test_cloud_topics_reach_the_core_policy():
    g = make_group(subscriptions=[
        {"source": "fa", "target": "cloud", "topic": "out/+/x"},
        {"source": "cloud", "target": "fb", "topic": "in/#"}])
    plan = convert(g, root=Path("."), account_id=ACCOUNT, region=REGION)
    statements = [s for _, doc in plan.core_policies for s in doc["Statement"]]
    arn = f"arn:aws:iot:{REGION}:{ACCOUNT}"

    def resources(action):
        out = []
        for s in statements:
            if s["Action"] == action:
                out += s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        return out
    assert f"{arn}:topic/out/*/x" in resources("iot:Publish")
    assert f"{arn}:topicfilter/in/#" in resources("iot:Subscribe")
    assert f"{arn}:topic/in/*" in resources("iot:Receive")


def test_selection_rule_escapes_colons_and_one_group_per_device():
    g = make_group(devices=[{"thing": "Dev:1"}, {"thing": "Dev2"}])
    plan = convert(g, root=Path("."), account_id=ACCOUNT, region=REGION)
    defs = plan.public_component(catalog.CLIENT_AUTH).merge["deviceGroups"]["definitions"]
    assert [d["selectionRule"] for d in defs.values()] == ["thingName: Dev\\:1", "thingName: Dev2"]
    assert plan.client_devices == ("Dev:1", "Dev2")


def test_connectivity_manual_or_ip_detector():
    manual = convert(make_group(), root=Path("."), account_id=ACCOUNT, region=REGION)
    assert manual.connectivity_info == ({"id": "0", "hostAddress": "192.168.1.20", "portNumber": 8883,
                                         "metadata": ""},)
    assert manual.public_component(catalog.IP_DETECTOR) is None
    auto = convert(make_group(core={"thing": "Core", "connectivity": []}), root=Path("."),
                   account_id=ACCOUNT, region=REGION)
    assert auto.connectivity_info == ()
    assert auto.public_component(catalog.IP_DETECTOR).merge["defaultPort"] == "8883"
    port = convert(make_group(core={"thing": "Core", "connectivity": [{"host": "10.0.0.2", "port": 9883}]}),
                   root=Path("."), account_id=ACCOUNT, region=REGION)
    assert port.public_component(catalog.MOQUETTE).merge == {"moquette": {"ssl_port": "9883", "host": "0.0.0.0"}}
