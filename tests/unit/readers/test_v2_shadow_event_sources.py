"""A Lambda component's PUB_SUB event source on a shadow topic with a '+' thing level (``$aws/things/+/shadow/...``,
as a function that follows every thing's shadow subscribes on V2): the ShadowManager answers any thing's shadow, so
the V2 reader routes it from each thing of the group — the core and the devices — one route per thing, as it does
the bridge's '+' shadow mappings (the subscription table resolves shadow:<thing> of the group only)."""
from __future__ import annotations

import json
from pathlib import Path

from group.model import Group
from group.v2.convert import convert
from group.v2.lambda_recipe import recipe_for_lambda
from localcore.core import routes_of
from localcore.readers.v2 import setup_from_deployment

REGION, ACCOUNT = "us-east-1", "123456789012"
ROOT = Path(__file__).resolve().parents[3]
GROUP = {
    "group": {"name": "shadowed", "region": REGION},
    "core": {"thing": "Core1"},
    "devices": [{"thing": "DevA"}, {"thing": "DevB"}],
    "functions": [{"name": "watcher", "pinned": True, "memory_mb": 32}],
    "subscriptions": [{"source": "DevA", "target": "watcher", "topic": "a/in"}],
}


def read(event_topic: str, shadow_manager: bool = True):
    group = Group.model_validate(GROUP)
    plan = convert(group, root=ROOT, account_id=ACCOUNT, region=REGION)
    [lc] = plan.lambdas
    recipes = {lc.component_name: recipe_for_lambda(lc.request, REGION, ACCOUNT, handler=lc.handler,
                                                    runtime=lc.runtime)}
    recipes.update({gc.name: gc.recipe for gc in plan.generic})
    deployment = json.loads(json.dumps(dict(plan.deployment, deploymentId="dep-1")))
    deployment["components"][lc.component_name]["configurationUpdate"] = {"merge": json.dumps(
        {"pubsubTopics": {"9": {"topic": event_topic, "type": "PUB_SUB"}}})}
    if shadow_manager:
        deployment["components"].setdefault("aws.greengrass.ShadowManager", {"componentVersion": "2.3.0"})
    else:
        deployment["components"].pop("aws.greengrass.ShadowManager", None)
    setup = setup_from_deployment(deployment, recipes, core_thing="Core1", region=REGION, account=ACCOUNT,
                                  code_dirs={"watcher": Path("/pkg/watcher")},
                                  connectivity=list(plan.connectivity_info), base=group,
                                  client_devices=["DevA", "DevB"])
    return {(r.source, r.target, r.topic_filter) for r in routes_of(setup.group)}


def test_a_plus_thing_level_routes_each_things_shadow_to_the_function():
    routes = read("$aws/things/+/shadow/update/accepted")
    for thing in ("Core1", "DevA", "DevB"):
        assert (f"shadow:{thing}", "function:watcher", f"$aws/things/{thing}/shadow/update/accepted") in routes
    assert not any("/+/" in topic for _, _, topic in routes)
    assert not any(source == "pubsub" and "shadow" in topic for source, _, topic in routes)


def test_one_things_shadow_topic_routes_from_that_thing_only():
    routes = read("$aws/things/DevB/shadow/#")
    got = {(s, t, f) for s, t, f in routes if "shadow" in f}
    assert got == {("shadow:DevB", "function:watcher", "$aws/things/DevB/shadow/#")}


def test_without_the_shadow_manager_a_shadow_topic_is_plain_local_pubsub():
    routes = read("$aws/things/+/shadow/update/accepted", shadow_manager=False)
    assert ("pubsub", "function:watcher", "$aws/things/+/shadow/update/accepted") in routes
    assert not any(source.startswith("shadow:") for source, _, _ in routes)
