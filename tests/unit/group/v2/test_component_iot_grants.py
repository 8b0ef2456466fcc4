"""The core certificate's IoT policy carries what the bundle's own components may do on IoT Core through it
(group/v2/policies.py mqttproxy_grants): their accessControl for aws.greengrass.ipc.mqttproxy."""
from pathlib import Path

import pytest

from group.model import load
from group.v2.convert import convert
from group.v2.policies import mqttproxy_grants

ROOT = Path(__file__).resolve().parents[4]


def policy(operations, resources, key_case=str):
    return {key_case("operations"): operations, key_case("resources"): resources}


@pytest.mark.parametrize("config, publish, subscribe", [
    ({}, [], []),
    ({"accessControl": {"aws.greengrass.ipc.pubsub": {"p": policy(["*"], ["a/b"])}}}, [], []),
    ({"accessControl": {"aws.greengrass.ipc.mqttproxy": {
        "p": policy(["aws.greengrass#PublishToIoTCore"], ["x/{iot:thingName}/y"])}}}, ["x/Core1/y"], []),
    ({"accessControl": {"aws.greengrass.ipc.mqttproxy": {
        "s": policy(["aws.greengrass#SubscribeToIoTCore"], ["cmd/+/in", "all/#"])}}}, [], ["cmd/+/in", "all/#"]),
    ({"AccessControl": {"aws.greengrass.ipc.mqttproxy": {"b": policy(["*"], ["t"], str.title)}}}, ["t"], ["t"]),
    ({"accessControl": {"aws.greengrass.ipc.mqttproxy": {"bad": "not a policy"}}}, [], []),
])
def test_mqttproxy_grants(config, publish, subscribe):
    assert mqttproxy_grants(config, "Core1") == {"publish": publish, "subscribe": subscribe}


def test_the_seed_core_policy_lets_the_carstats_component_publish():
    group, _ = load(ROOT / "group" / "group.yaml")
    seed_plan = convert(group, root=ROOT, account_id="123456789012", region="us-east-1")
    resources = [r for doc in seed_plan.core_policies for st in doc[1]["Statement"] if st["Action"] == "iot:Publish"
                 for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])]
    assert any(r.endswith(":topic/ggbundle/GG_Core/carstats") for r in resources), resources
