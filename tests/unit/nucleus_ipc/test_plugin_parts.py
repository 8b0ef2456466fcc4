"""Pure parts of the plugin operations: shadow names, page tokens and errors; the component update policy; client
device certificates and actions; metric units; the plugins' authorization destinations."""
import datetime as dt

import pytest

from localcore.nucleus_ipc import clientdevices, component_updates, metrics, shadows
from localcore.nucleus_ipc.authorization import CLIENT_DEVICES_AUTH, COMPONENT_METRIC, AccessControl
from localcore.nucleus_ipc.errors import (ConflictError, InvalidArgumentsError, ResourceNotFoundError, ServiceError,
                                          UnauthorizedError)
from localcore.pki import CertificateAuthority


@pytest.mark.parametrize("thing, problem", [
    ("Light", None), ("a:b_c-1", None), ("x" * 128, None),
    (None, "ThingName is missing"), ("", "ThingName is missing"),
    ("x" * 129, "ThingName has a maximum length of 128"),
    ("bad/name", "ThingName must match pattern [a-zA-Z0-9:_-]+"), ("sp ace", "ThingName must match pattern [a-zA-Z0-9:_-]+"),
    (7, "ThingName must be a string, got int"),
])
def test_thing_names(thing, problem):
    assert shadows.thing_name_problem(thing) == problem


@pytest.mark.parametrize("name, problem", [
    (None, None), ("", None), ("config", None), ("n" * 64, None),
    ("n" * 65, "ShadowName has a maximum length of 64"), ("a.b", "ShadowName must match pattern [a-zA-Z0-9:_-]+"),
])
def test_shadow_names(name, problem):
    assert shadows.shadow_name_problem(name) == problem


def test_resources():
    assert shadows.resource("T") == "$aws/things/T/shadow"
    assert shadows.resource("T", "n") == "$aws/things/T/shadow/name/n"


@pytest.mark.parametrize("rejected, kind, message", [
    ({"code": 404, "message": "No shadow exists with name: 'T'"}, ResourceNotFoundError, "No shadow found"),
    ({"code": 409, "message": "Version conflict"}, ConflictError, "Version conflict"),
    ({"code": 400, "message": "Invalid JSON"}, InvalidArgumentsError, "Invalid JSON"),
    ({"code": 413, "message": "The payload exceeds the maximum size allowed"}, InvalidArgumentsError,
     "The payload exceeds the maximum size allowed"),
    ({"code": 500, "message": "boom"}, ServiceError, "boom"),
])
def test_rejections_become_ipc_errors(rejected, kind, message):
    error = shadows.error_of(rejected)
    assert type(error) is kind and error.message == message
    if kind is ResourceNotFoundError:
        assert error.payload()["resourceType"] == "shadow"


def test_page_tokens_are_bound_to_caller_and_thing():
    tokens = shadows.PageTokens(b"k" * 32)
    token = tokens.make("comp", "Light", 25)
    assert tokens.offset("comp", "Light", token) == 25
    for caller, thing, tok in [("other", "Light", token), ("comp", "Other", token), ("comp", "Light", "bm9wZQ=="),
                               ("comp", "Light", "%%%"), ("comp", "Light", token[:-4])]:
        with pytest.raises(ValueError, match="Invalid nextToken argument"):
            tokens.offset(caller, thing, tok)
    with pytest.raises(ValueError):                      # another core run has another key
        shadows.PageTokens().offset("comp", "Light", token)


@pytest.mark.parametrize("document, policy", [
    (None, ("NOTIFY_COMPONENTS", 60.0)),
    ({"deploymentPolicies": {}}, ("NOTIFY_COMPONENTS", 60.0)),
    ({"deploymentPolicies": {"componentUpdatePolicy": {"action": "SKIP_NOTIFY_COMPONENTS"}}},
     ("SKIP_NOTIFY_COMPONENTS", 60.0)),
    ({"deploymentPolicies": {"componentUpdatePolicy": {"timeoutInSeconds": 5}}}, ("NOTIFY_COMPONENTS", 5.0)),
    ({"deploymentPolicies": {"componentUpdatePolicy": {"timeoutInSeconds": 0}}}, ("NOTIFY_COMPONENTS", 60.0)),
    ({"deploymentPolicies": {"componentUpdatePolicy": {"timeoutInSeconds": True}}}, ("NOTIFY_COMPONENTS", 60.0)),
])
def test_component_update_policy(document, policy):
    assert component_updates.update_policy(document) == policy


@pytest.mark.parametrize("operation, resource, shape", [
    ("mqtt:publish", "mqtt:topic:a/b", True), ("mqtt:connect", "mqtt:clientId:Sensor-1", True),
    ("mqtt:*", "mqtt:topic:a", True), ("mqtt:publish", "iot:topic:a", False),
    ("mqtt", "mqtt:topic:a", None), ("mqtt:publish", "mqtt:topic", None), ("mqtt:publish", "nope", None),
    ("mqtt:pub1", "mqtt:topic:a", None),
])
def test_client_device_actions(operation, resource, shape):
    assert clientdevices.well_formed_action(operation, resource) is shape


def test_client_device_certificates():
    ca, other = CertificateAuthority.create("CA"), CertificateAuthority.create("Other")
    pem = ca.issue_client("Sensor").cert_pem.decode()
    bare = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    assert clientdevices.re_encode_pem(bare) == pem
    cert = clientdevices.load_certificate(bare)
    assert cert is not None and clientdevices.issued_by(cert, ca.cert) and not clientdevices.issued_by(cert, other.cert)
    assert clientdevices.within_validity(cert)
    assert not clientdevices.within_validity(cert, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    assert clientdevices.load_certificate("not a certificate") is None


@pytest.mark.parametrize("unit, name", [
    ("COUNT", "Count"), ("count", "Count"), ("BYTES_PER_SECOND", "BytesPerSecond"), ("bytes-per-second", "BytesPerSecond"),
    ("Megabytes", "Megabytes"), ("SECONDS", "Seconds"), ("COUNT_PER_SECOND", "CountPerSecond"), ("BYTES", "Bytes"),
])
def test_metric_units(unit, name):
    assert metrics.unit_of(unit) == name


@pytest.mark.parametrize("unit, message", [
    (None, "Invalid telemetry unit: Found null or empty value"),
    ("FURLONGS", "Invalid telemetry unit: No matching TelemetryUnit type found"),
])
def test_unknown_metric_units(unit, message):
    with pytest.raises(InvalidArgumentsError, match=message):
        metrics.unit_of(unit)


def test_plugin_destinations_load_and_check():
    access = AccessControl()
    access.update("c", {"accessControl": {
        "aws.greengrass.clientdevices.Auth": {"p": {"operations": ["aws.greengrass#VerifyClientDeviceIdentity"],
                                                    "resources": ["*"]}},
        "aws.greengrass.ipc.componentmetric": {"m": {"operations": ["*"], "resources": ["req*"]}},
        "aws.greengrass.Unregistered": {"u": {"operations": ["*"], "resources": ["*"]}}}})
    auth, metric = CLIENT_DEVICES_AUTH, COMPONENT_METRIC
    access.check("c", "aws.greengrass#VerifyClientDeviceIdentity", "*")
    access.check("c", "aws.greengrass#PutComponentMetric", "requests")
    with pytest.raises(UnauthorizedError, match=r"^Principal c is not authorized to perform "
                                                r"aws.greengrass.ipc.componentmetric:aws.greengrass#PutComponentMetric "
                                                r"on resource bytes$"):
        access.check("c", "aws.greengrass#PutComponentMetric", "bytes")
    with pytest.raises(UnauthorizedError, match="on resource \\*"):
        access.check("c", "aws.greengrass#GetClientDeviceAuthToken", "*")
    # the plugins' refusals are counted and listed with the others (the dashboard's IPC panel)
    refused = {(r["operation"], r["resource"]) for r in access.status()["refusals"]}
    assert refused == {("aws.greengrass#PutComponentMetric", "bytes"),
                       ("aws.greengrass#GetClientDeviceAuthToken", "*")}
    # a destination nobody registered loads no policy
    assert not access.is_authorized("c", "aws.greengrass.Unregistered", "aws.greengrass#PutComponentMetric", "x")
    assert access.is_authorized("c", metric, "aws.greengrass#PutComponentMetric", "requests")
    assert access.is_authorized("c", auth, "aws.greengrass#VerifyClientDeviceIdentity", "*")