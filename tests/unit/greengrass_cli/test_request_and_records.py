"""A local deployment request, the deployment it makes (convertFromLocalOverrideRequestAndRoot) and the records
GetLocalDeploymentStatus answers from — pure."""
from __future__ import annotations

import pytest

from localcore.local_deployments.errors import RequestError
from localcore.local_deployments.records import LocalDeploymentRecords, created_on
from localcore.local_deployments.request import (LOCAL_GROUP, LocalDeployment, is_deployment_id, parse_request,
                                              to_deployment)


def test_an_empty_request_is_a_redeployment_of_the_local_group_with_do_nothing():
    req = parse_request({})
    assert req.group == LOCAL_GROUP and req.failure_policy == "DO_NOTHING"
    d = to_deployment("id-1", req, {"com.example.A": "1.0.0"})
    assert isinstance(d, LocalDeployment)
    assert d.roots == {"com.example.A": "1.0.0"} and d.group == LOCAL_GROUP and d.failure_policy == "DO_NOTHING"
    policies = d.document["deploymentPolicies"]
    assert policies["configurationValidationPolicy"] == {"timeoutInSeconds": 20}


def test_roots_are_the_running_ones_minus_removed_plus_added():
    req = parse_request({"rootComponentVersionsToAdd": {"B": "2.0.0", "A": "1.1.0"},
                         "rootComponentsToRemove": ["C", "not-there"], "groupName": "dev",
                         "failureHandlingPolicy": "ROLLBACK"})
    d = to_deployment("id", req, {"A": "1.0.0", "C": "3.0.0"})
    assert d.roots == {"A": "1.1.0", "B": "2.0.0"}
    assert d.group == "thinggroup/dev" and d.failure_policy == "ROLLBACK"


def test_a_configuration_update_of_a_component_that_is_not_a_root_does_not_make_it_one():
    req = parse_request({"rootComponentVersionsToAdd": {"A": "1.0.0"},
                         "componentToConfiguration": {"A": {"MERGE": {"k": 1}},
                                                      "Dep": {"RESET": ["/x", ""], "MERGE": {"y": [1]}}},
                         "componentToRunWithInfo": {"A": {"posixUser": "ggc_user", "unknown": 1}}})
    d = to_deployment("id", req, {})
    assert d.roots == {"A": "1.0.0"}
    assert d.components["A"] == {"componentVersion": "1.0.0", "configurationUpdate": {"merge": {"k": 1}},
                                 "runWith": {"posixUser": "ggc_user"}}
    assert d.components["Dep"] == {"configurationUpdate": {"merge": {"y": [1]}, "reset": ["/x", ""]}}


@pytest.mark.parametrize("body, where", [
    ({"groupName": "a:b"}, "colon"),
    ({"rootComponentVersionsToAdd": ["A"]}, "rootComponentVersionsToAdd"),
    ({"rootComponentVersionsToAdd": {"A": ""}}, "rootComponentVersionsToAdd"),
    ({"rootComponentsToRemove": "A"}, "rootComponentsToRemove"),
    ({"componentToConfiguration": {"A": {"MERGE": "k=1"}}}, "componentToConfiguration.A"),
    ({"componentToConfiguration": {"A": {"RESET": "/k"}}}, "componentToConfiguration.A"),
    ({"componentToConfiguration": []}, "componentToConfiguration"),
    ({"componentToRunWithInfo": {"A": "root"}}, "componentToRunWithInfo.A"),
    ({"failureHandlingPolicy": "RETRY"}, "failureHandlingPolicy"),
    ({"recipeDirectoryPath": 3}, "recipeDirectoryPath"),
])
def test_malformed_requests_name_the_field(body, where):
    with pytest.raises(RequestError) as e:
        parse_request(body)
    assert where in str(e.value)


def test_deployment_ids_are_uuids():
    assert is_deployment_id("0b8d3b0e-9d8a-4d8e-9a51-3f0f6f2b9a10")
    assert not is_deployment_id("not-a-uuid") and not is_deployment_id(None) and not is_deployment_id(5)


def test_records_follow_queued_in_progress_then_a_terminal_status_with_details():
    recs = LocalDeploymentRecords()
    recs.create("d1", 1_796_655_072_000)
    assert recs.get("d1").payload() == {"deploymentId": "d1", "status": "QUEUED",
                                        "createdOn": created_on(1_796_655_072_000)}
    recs.update("d1", "IN_PROGRESS", detailed="SUCCESSFUL")           # details only for terminal statuses
    assert "deploymentStatusDetails" not in recs.get("d1").payload()
    recs.update("d1", "FAILED", detailed="FAILED_UNABLE_TO_ROLLBACK", error_stack=["DEPLOYMENT_FAILURE"],
                error_types=["USER_COMPONENT_ERROR"], failure_cause="it broke")
    assert recs.get("d1").payload()["deploymentStatusDetails"] == {   # an unknown detailed status is left out
        "deploymentErrorStack": ["DEPLOYMENT_FAILURE"], "deploymentErrorTypes": ["USER_COMPONENT_ERROR"],
        "deploymentFailureCause": "it broke"}
    recs.create("d2", 1_796_655_073_000)
    assert [r["deploymentId"] for r in recs.listed()] == ["d1", "d2"]
    assert all("deploymentStatusDetails" not in r for r in recs.listed())
    with pytest.raises(ValueError):
        recs.update("d2", "DONE")


def test_created_on_is_the_clis_utc_format():
    assert created_on(0) == "01-01-1970 00:00:00 UTC"
    assert created_on(1_796_655_072_999) == "07-12-2026 14:51:12 UTC"
