"""What a deployment does to each component (GenericExternalService config listener, AggregateServicesChangeManager)
and the core device's deployment rules (which next, what combines, outcomes, health)."""
import json

import pytest

from group.v2.recipe import parse_recipe
from localcore.generic_components.changes import Change, ServiceConfig, plan_changes, service_change
from localcore.generic_components.deployments import CoreDeployments, Deployment, Outcome, group_of, health
from localcore.generic_components.interpolate import Context, interpolate_lifecycle
from localcore.generic_components.service import not_applied

RECIPE = """
RecipeFormatVersion: '2020-01-25'
ComponentName: com.example.A
ComponentVersion: '{version}'
ComponentConfiguration: {{DefaultConfiguration: {{greeting: hi, unused: 1}}}}
Manifests:
  - Lifecycle:
      Install: 'echo install {{configuration:/installKey}}'
      Run: 'echo {{configuration:/greeting}}'
      Shutdown: 'echo bye {{configuration:/shutdownKey}}'
"""


def config(version="1.0.0", run_with=None, **conf):
    recipe = parse_recipe(RECIPE.format(version=version))
    c = {"greeting": "hi", "unused": 1, "installKey": "i", "shutdownKey": "s", **conf}
    lc, _ = interpolate_lifecycle(recipe.manifests[0].lifecycle, Context("/gg", recipe.name, version, "T", c))
    return ServiceConfig.of(version, lc, run_with, c)


CASES = [
    ("nothing changed", config(), config(), "RUNNING", Change.KEEP),
    ("a key no script uses", config(), config(unused=2), "RUNNING", Change.UPDATE),
    ("a key only Shutdown uses", config(), config(shutdownKey="t"), "RUNNING", Change.UPDATE),
    ("a key the Run script uses", config(), config(greeting="hello"), "RUNNING", Change.RESTART),
    ("a key the Install script uses", config(), config(installKey="j"), "RUNNING", Change.REINSTALL),
    ("a new version", config(), config("2.0.0"), "RUNNING", Change.REINSTALL),
    ("runWith changed", config(), config(run_with={"posixUser": "nobody"}), "RUNNING", Change.REINSTALL),
    ("BROKEN and unchanged: reinstalled", config(), config(), "BROKEN", Change.REINSTALL),
    ("BROKEN and its Run changed: reinstalled", config(), config(greeting="x"), "BROKEN", Change.REINSTALL),
    ("FINISHED and its Run changed: restarted", config(), config(greeting="x"), "FINISHED", Change.RESTART),
    ("new", None, config(), None, Change.ADD),
    ("gone", config(), None, "RUNNING", Change.REMOVE),
]


@pytest.mark.parametrize("why,old,new,state,expected", CASES, ids=[c[0] for c in CASES])
def test_service_change(why, old, new, state, expected):
    assert service_change(old, new, state) is expected


def test_plan_changes_covers_both_sides():
    current = {"a": (config(), "RUNNING"), "b": (config(), "BROKEN"), "gone": (config(), "RUNNING")}
    wanted = {"a": config(), "b": config(), "new": config()}
    assert plan_changes(current, wanted) == {"a": Change.KEEP, "b": Change.REINSTALL, "new": Change.ADD,
                                             "gone": Change.REMOVE}


def doc(dep_id, target, components, policy=None, when=0):
    d = {"deploymentId": dep_id, "targetArn": f"arn:aws:iot:us-east-1:123456789012:{target}",
         "deploymentName": dep_id, "components": components, "creationTimestamp": when}
    if policy:
        d["deploymentPolicies"] = {"failureHandlingPolicy": policy}
    return d


def test_deployments_one_at_a_time_oldest_first():
    core = CoreDeployments("Core")
    listed = [doc("g1", "thinggroup/G", {"A": {"componentVersion": "1.0.0"}}),
              doc("t1", "thing/Core", {"B": {"componentVersion": "2.0.0"}}, policy="DO_NOTHING")]
    first = core.next(listed)
    assert (first.id, first.group, first.failure_policy, first.roots) == ("g1", "thinggroup/G", "ROLLBACK",
                                                                         {"A": "1.0.0"})
    core.finished(first, Outcome.SUCCESSFUL)
    second = core.next(listed)
    assert (second.id, second.failure_policy) == ("t1", "DO_NOTHING")
    # the thing deployment keeps the group's roots (and the reverse)
    assert core.other_roots(second, listed) == {"thinggroup/G": {"A": "1.0.0"}}
    core.finished(second, Outcome.SUCCESSFUL)
    assert core.next(listed) is None and core.current == "t1"
    g2 = Deployment.of(doc("g2", "thinggroup/G", {"A": {"componentVersion": "1.1.0"}}))
    assert core.other_roots(g2, listed) == {"thing/Core": {"B": "2.0.0"}}
    # a thing group the core left drops out; its thing stays
    assert core.other_roots(g2, []) == {"thing/Core": {"B": "2.0.0"}}
    assert core.other_roots(Deployment.of(doc("t2", "thing/Core", {})), []) == {}
    # a thing group the core is still in keeps its roots even when its deployment is not listed
    assert core.other_roots(Deployment.of(doc("t2", "thing/Core", {})), [],
                            ["arn:aws:iot:us-east-1:123456789012:thinggroup/G"]) == {"thinggroup/G": {"A": "1.0.0"}}


@pytest.mark.parametrize("outcome,status,keeps", [
    (Outcome.SUCCESSFUL, "SUCCEEDED", True), (Outcome.FAILED_NO_STATE_CHANGE, "FAILED", False),
    (Outcome.FAILED_ROLLBACK_NOT_REQUESTED, "FAILED", True), (Outcome.FAILED_ROLLBACK_COMPLETE, "FAILED", False),
    (Outcome.FAILED_UNABLE_TO_ROLLBACK, "FAILED", False)])
def test_outcomes(outcome, status, keeps):
    core = CoreDeployments("Core")
    d = Deployment.of(doc("x", "thinggroup/G", {"A": {"componentVersion": "1.0.0"}}))
    core.finished(d, outcome)
    assert core.processed == {"x": status} and core.current == "x"
    assert ("thinggroup/G" in core.group_roots) is keeps


def test_a_restart_launches_what_was_applied_unless_something_new_is_listed():
    g1 = doc("g1", "thinggroup/G", {"A": {"componentVersion": "1.0.0"}})
    t1 = doc("t1", "thing/Core", {"B": {"componentVersion": "2.0.0"}})
    core = CoreDeployments("Core")
    assert core.resume([g1, t1]) is None                  # a new core processes them
    core.finished(Deployment.of(g1), Outcome.SUCCESSFUL)
    assert core.resume([g1, t1]) is None                  # t1 is new: it is processed (with G's roots)
    core.finished(Deployment.of(t1), Outcome.SUCCESSFUL)
    # kept across runs as JSON: the same memory comes back, and a restart launches the newest applied one
    again = CoreDeployments.from_json("Core", json.loads(json.dumps(core.to_json())))
    assert (again.processed, again.group_roots, again.current) == (core.processed, core.group_roots, "t1")
    assert again.resume([g1, t1]).id == "t1"
    assert again.other_roots(again.resume([g1, t1]), [g1, t1]) == {"thinggroup/G": {"A": "1.0.0"}}
    # a newer deployment of a target listed while the core was down is processed, not launched
    g2 = doc("g2", "thinggroup/G", {"A": {"componentVersion": "1.1.0"}})
    assert again.resume([t1, g2]) is None and again.next([t1, g2]).id == "g2"
    # rolled back: the group's roots are the earlier ones, so that deployment's setup is not what ran
    again.finished(Deployment.of(g2), Outcome.FAILED_ROLLBACK_COMPLETE)
    assert again.resume([t1, g2]).id == "t1"
    again.finished(Deployment.of(t1), Outcome.FAILED_NO_STATE_CHANGE)   # (as if t1 had failed)
    assert again.resume([t1, g2]) is None
    again.forget()
    assert (again.processed, again.group_roots, again.current) == ({}, {}, None)
    assert again.next([t1, g2]).id == "t1"
    # another core's memory, or something that is not one, is an empty memory
    for other in ({**core.to_json(), "thing": "Other"}, None, [], {"thing": "Core", "processed": 3}):
        fresh = CoreDeployments.from_json("Core", other)
        assert (fresh.processed, fresh.group_roots, fresh.current) == ({}, {}, None)


def test_group_names_and_health():
    assert group_of("arn:aws:iot:us-east-1:1:thing/Core") == "thing/Core"
    assert group_of("arn:aws:iot:us-east-1:1:thinggroup/G") == "thinggroup/G"
    assert health(["RUNNING", "FINISHED", "ERRORED"]) == "HEALTHY"   # ERRORED is a retry under way
    assert health(["RUNNING", "BROKEN"]) == "UNHEALTHY"
    assert health([]) == "HEALTHY"


def test_what_the_local_core_does_not_apply_is_said():
    lc = {"Install": {"Script": "x", "RequiresPrivilege": True}, "Run": {"Script": "y", "RequiresPrivilege": False},
          "Setenv": {}}
    notes = not_applied(lc, {"posixUser": "ggc_user:ggc_group", "systemResourceLimits": {"memory": 1024}}, "me")
    assert notes == ["RequiresPrivilege (Install) is not applied: the local core runs every step as me",
                     "runWith posixUser 'ggc_user:ggc_group' is not applied: the local core runs every step as me",
                     "runWith systemResourceLimits are not applied by the local core"]
    assert not_applied({"Run": {"Script": "y"}}, None, "me") == []
