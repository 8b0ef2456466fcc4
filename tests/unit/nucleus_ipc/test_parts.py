"""Pure parts around the operations: the secrets configuration, the IoT Core subscription routes kept beside a
deployment's table, the dashboard's ``ipc`` part, and what a deployment's configurations do to NucleusIpc."""
from __future__ import annotations

import pytest

from localcore.interfaces import Route
from localcore.nucleus_ipc import NucleusIpc
from localcore.nucleus_ipc.iotcore import IoTCoreProxy, _Subscription
from localcore.nucleus_ipc.secrets import parse_cloud_secrets
from localcore.router.router import Router
from web.facade import platform_section

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-pass-AbCdEf"


@pytest.mark.parametrize("config,arns,labels,problems", [
    ({"cloudSecrets": [{"arn": ARN}]}, [ARN], [("AWSCURRENT",)], 0),
    ({"cloudSecrets": [{"arn": ARN, "labels": ["new"]}]}, [ARN], [("new", "AWSCURRENT")], 0),
    ({"cloudSecrets": [{"arn": "db-pass"}, {"arn": ARN}]}, [ARN], [("AWSCURRENT",)], 1),
    ({"cloudSecrets": [{"arn": ARN, "labels": "x"}]}, [], [], 1),
    ({"cloudSecrets": {"arn": ARN}}, [], [], 1),
    ({}, [], [], 0),
])
def test_cloud_secrets(config, arns, labels, problems):
    secrets, found = parse_cloud_secrets(config)
    assert [s.arn for s in secrets] == arns and [s.labels for s in secrets] == labels
    assert len(found) == problems


class _Call:
    def __init__(self, component="C"):
        self.component = component
        self.events = []
        self.closers = []

    def respond(self, body=None):
        return True

    def event(self, body):
        self.events.append(body)
        return True

    def on_close(self, fn):
        self.closers.append(fn)


def test_iot_core_routes_survive_a_deployment_table():
    router = Router([Route("device:D", "cloud", "d/#", "dep-1")])
    proxy = IoTCoreProxy(access=None, router=router)
    call = _Call()
    proxy._subs.append(_Subscription("C", "cmd/#", call))
    proxy.refresh_routes()
    assert [(r.source, r.target, r.topic_filter) for r in router.routes] == [
        ("device:D", "cloud", "d/#"), ("cloud", "mqttproxy", "cmd/#")]
    router.replace_routes([Route("device:D", "cloud", "d/+", "dep-2")])     # a deployment replaced the table
    proxy.refresh_routes()
    assert [(r.source, r.target, r.topic_filter) for r in router.routes] == [
        ("device:D", "cloud", "d/+"), ("cloud", "mqttproxy", "cmd/#")]
    router.attach("mqttproxy", proxy)
    from localcore.interfaces import Message
    assert router.publish(Message("cloud", "cmd/1", b"x")) == 1
    assert router.publish(Message("cloud", "other", b"x")) == 0
    assert len(call.events) == 1


def test_dashboard_ipc_part():
    class Profile:
        name = "v2"
        components = ()
    status = {"socket": "/s/ipc.socket", "connections": ["A"], "wired": ["PublishToTopic"],
              "authorization": {"allowed": 3, "refused": 2, "problems": {"A": ["A: bad resource"]},
                                "last_refusals": [{"principal": "A", "operation": "op1", "resource": "r1", "time": 1},
                                                  {"principal": "A", "operation": "op2", "resource": "r2", "time": 2}]}}
    ipc = platform_section(Profile(), {}, {}, ipc_status=status)["ipc"]
    assert ipc == {"socket": "/s/ipc.socket", "connections": ["A"], "operations": ["PublishToTopic"], "allowed": 3,
                   "refused": 2, "problems": ["A: bad resource"],
                   "recent_refusals": [{"principal": "A", "operation": "op2", "resource": "r2", "time": 2},
                                       {"principal": "A", "operation": "op1", "resource": "r1", "time": 1}]}
    assert platform_section(Profile(), {}, {})["ipc"] is None


class _Tokens:
    def component_of(self, token):
        return None


async def test_configure_loads_policies_and_plugins_and_removes_what_left(tmp_path):
    router = Router([])
    ipc = NucleusIpc(tmp_path / "ipc.socket", _Tokens(), router, host=None, installed=list,
                     secrets_client=lambda: None)
    acl = {"accessControl": {"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}}}
    await ipc.configure({"A": acl, "aws.greengrass.Cli": {}})
    assert ipc.access.status()["components"] == {"A": ["aws.greengrass.ipc.pubsub/p"], "aws.greengrass.Cli": []}
    assert "aws.greengrass#ListComponents" in ipc.service.wired
    assert ipc.store.get("A", ["accessControl"])                   # the configuration store has it too
    await ipc.configure({"B": {}})
    assert ipc.access.status()["components"] == {"B": []}
    assert "aws.greengrass#ListComponents" not in ipc.service.wired
    assert ipc.store.names() == ["B"]
