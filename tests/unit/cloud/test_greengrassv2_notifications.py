"""The V2 stand-in notifies deployment changes (what a core device learns through its IoT jobs subscription), so
the local core applies a new deployment without waiting for its next poll."""

from __future__ import annotations

from localcore.cloud.greengrassv2_state import GreengrassV2State

REGION, ACCOUNT = "us-east-1", "123456789012"
CORE = f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/core"
FLEET = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/fleet"


def deploy(st: GreengrassV2State, target: str, token: str | None = None) -> str:
    body = {"targetArn": target, "components": {"com.example.Hello": {"componentVersion": "1.0.0"}}}
    return st.create_deployment(body, client_token=token)["deploymentId"]


def test_create_cancel_and_delete_notify_the_target_once_each():
    st = GreengrassV2State(REGION, ACCOUNT)
    seen: list[str] = []
    st.add_deployment_listener(seen.append)
    dep = deploy(st, FLEET, token="t-1")
    assert deploy(st, FLEET, token="t-1") == dep     # the retry with the same token made nothing: no notification
    deploy(st, CORE)
    st.cancel_deployment(dep)
    st.delete_deployment(dep)
    assert seen == [FLEET, CORE, FLEET, FLEET]


def test_a_removed_or_failing_listener_does_not_stop_the_call():
    st = GreengrassV2State(REGION, ACCOUNT)
    seen: list[str] = []

    def broken(target: str) -> None:
        raise RuntimeError("listener bug")

    st.add_deployment_listener(broken)
    st.add_deployment_listener(seen.append)
    dep = deploy(st, CORE)                            # answered although the first listener raised
    assert st.get_deployment(dep)["targetArn"] == CORE and seen == [CORE]
    st.remove_deployment_listener(seen.append)
    deploy(st, CORE)
    assert seen == [CORE]
