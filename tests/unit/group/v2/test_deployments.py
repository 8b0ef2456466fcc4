"""group.v2.deployments: which deployments target a core device, and how its thing's and thing groups' combine."""
from __future__ import annotations

import datetime as dt

import pytest

from group.v2.deployments import core_deployment, core_groups, effective_deployments, group_of

IOT = "arn:aws:iot:us-east-1:123456789012:"


def dep(dep_id, target, created, revision=1, latest=None, **components):
    doc = {"deploymentId": dep_id, "targetArn": IOT + target, "creationTimestamp": created,
           "revisionId": str(revision), "components": {n: {"componentVersion": v} for n, v in components.items()}}
    if latest is not None:
        doc["isLatestForTarget"] = latest
    return doc


def ids(docs):
    return [d["deploymentId"] for d in docs]


def test_group_names_as_the_nucleus_spells_them():
    assert group_of(IOT + "thing/Core") == "thing/Core"
    assert group_of(IOT + "thinggroup/fleet") == "thinggroup/fleet"
    assert core_groups("Core", ["fleet", IOT + "thinggroup/site", "fleet"]) == [
        "thing/Core", "thinggroup/fleet", "thinggroup/site"]


@pytest.mark.parametrize("deployments,groups,expected", [
    ([], ["fleet"], []),
    # the thing's own deployment and its thing group's: both effective, oldest first
    ([dep("g1", "thinggroup/fleet", 10), dep("t1", "thing/Core", 20)], ["fleet"], ["g1", "t1"]),
    ([dep("t1", "thing/Core", 5), dep("g1", "thinggroup/fleet", 10)], ["fleet"], ["t1", "g1"]),
    # newest revision per target (by creation, then revision number)
    ([dep("g1", "thinggroup/fleet", 10, 1), dep("g2", "thinggroup/fleet", 30, 2), dep("t1", "thing/Core", 20)],
     ["fleet"], ["t1", "g2"]),
    ([dep("g1", "thinggroup/fleet", 10, 1), dep("g2", "thinggroup/fleet", 10, 2)], ["fleet"], ["g2"]),
    # a revision the service no longer marks latest is never effective
    ([dep("g1", "thinggroup/fleet", 10, 1, latest=True), dep("g0", "thinggroup/fleet", 20, 2, latest=False)],
     ["fleet"], ["g1"]),
    # other things, and thing groups the core is not in, are not its deployments
    ([dep("x", "thing/Other", 10), dep("y", "thinggroup/elsewhere", 20), dep("g1", "thinggroup/fleet", 5)],
     ["fleet"], ["g1"]),
    ([dep("g1", "thinggroup/fleet", 5)], [], []),
    # several thing groups, given as names or ARNs; datetimes (boto3) order like epoch seconds
    ([dep("a", "thinggroup/a", dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)),
      dep("b", "thinggroup/b", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))],
     [IOT + "thinggroup/a", "b"], ["b", "a"]),
])
def test_effective_deployments(deployments, groups, expected):
    assert ids(effective_deployments(deployments, "Core", groups)) == expected


def test_no_deployment_targets_the_core():
    assert core_deployment([dep("x", "thing/Other", 1)], "Core", ["fleet"]) is None


def test_thing_and_thing_group_deployments_combine():
    group = dep("g1", "thinggroup/fleet", 10, Nucleus="2.16.1", Lambda="1.0.0")
    thing = dep("t1", "thing/Core", 20, Nucleus="2.16.1", Debug="2.0.0")
    found = core_deployment([group, thing], "Core", ["fleet"])
    assert found.deployment_id == "t1" and found.group == "thing/Core"  # the newest is the one applied
    assert found.other_roots() == {"thinggroup/fleet": {"Nucleus": "2.16.1", "Lambda": "1.0.0"}}
    assert found.components() == {"Nucleus": {"componentVersion": "2.16.1"}, "Debug": {"componentVersion": "2.0.0"},
                                  "Lambda": {"componentVersion": "1.0.0"}}
    assert found.conflicts == {}
    doc = found.document()
    assert doc["deploymentId"] == "t1" and set(doc["components"]) == {"Nucleus", "Debug", "Lambda"}
    assert set(thing["components"]) == {"Nucleus", "Debug"}  # the inputs are not changed


def test_the_current_deployment_entry_wins_and_different_versions_conflict():
    old = dep("g1", "thinggroup/fleet", 10, Lambda="1.0.0")
    new = dep("t1", "thing/Core", 20, Lambda="2.0.0")
    found = core_deployment([old, new], "Core", ["fleet"])
    assert found.components() == {"Lambda": {"componentVersion": "2.0.0"}}
    assert found.conflicts == {"Lambda": {"thing/Core": "2.0.0", "thinggroup/fleet": "1.0.0"}}


def test_newest_other_target_entry_fills_what_the_current_one_does_not_name():
    a = dep("a", "thinggroup/a", 10, Shared="1.0.0", OnlyA="1.0.0")
    b = dep("b", "thinggroup/b", 20, Shared="1.0.0")
    b["components"]["Shared"]["configurationUpdate"] = {"merge": "{\"from\":\"b\"}"}
    c = dep("c", "thing/Core", 30, Own="1.0.0")
    found = core_deployment([a, b, c], "Core", ["a", "b"])
    assert found.components()["Shared"]["configurationUpdate"] == {"merge": "{\"from\":\"b\"}"}
    assert set(found.components()) == {"Own", "Shared", "OnlyA"}
    assert [d["deploymentId"] for d in found.others] == ["a", "b"]
