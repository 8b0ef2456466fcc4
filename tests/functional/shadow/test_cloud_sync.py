"""Local → cloud shadow sync against a real moto server through boto3 iot-data."""
import json

import boto3
import pytest

from localcore.shadow.service import ShadowService
from localcore.shadow.sync import CloudShadowSync, removed_as_null
from tests.moto_server import moto_server


@pytest.fixture(scope="module")
def iot_data():
    with moto_server() as url:
        iot = boto3.client("iot", region_name="us-east-1", endpoint_url=url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        for thing in ("Synced_Light", "Local_Only"):  # deploy makes the things; shadows need them
            iot.create_thing(thingName=thing)
        yield boto3.client("iot-data", region_name="us-east-1", endpoint_url=url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")


def cloud_state(client, thing):
    return json.loads(client.get_thing_shadow(thingName=thing)["payload"].read())["state"]


def test_removed_as_null():
    assert removed_as_null({"a": 1, "b": {"c": 1, "d": 2}}, {"b": {"c": 3}}) == {"a": None, "b": {"c": 3, "d": None}}
    assert removed_as_null(None, {"x": 1}) == {"x": 1}


async def test_synced_thing_reaches_the_cloud_and_others_do_not(tmp_path, iot_data):
    failures = {"left": 1}

    def update(thing, payload):
        if failures["left"]:  # the first attempt finds the cloud unreachable
            failures["left"] -= 1
            raise ConnectionError("cloud down")
        iot_data.update_thing_shadow(thingName=thing, payload=payload)

    sync = CloudShadowSync(["Synced_Light"], update, lambda t: iot_data.delete_thing_shadow(thingName=t),
                           retry_initial_s=0.05)
    shadows = ShadowService(tmp_path, on_change=sync.changed)
    await shadows.start()
    sync.start()
    try:
        shadows.handle("Synced_Light", "update", b'{"state": {"desired": {"color": "G", "mode": "auto"}}}')
        shadows.handle("Local_Only", "update", b'{"state": {"reported": {"x": 1}}}')
        assert sync.wait_idle(10)
        assert cloud_state(iot_data, "Synced_Light")["desired"] == {"color": "G", "mode": "auto"}
        assert sync.status()["failed"] == 1 and sync.status()["sent"] == 1
        with pytest.raises(iot_data.exceptions.ResourceNotFoundException):
            iot_data.get_thing_shadow(thingName="Local_Only")

        shadows.handle("Synced_Light", "update", b'{"state": {"desired": {"mode": null}, "reported": {"color": "G"}}}')
        assert sync.wait_idle(10)
        state = cloud_state(iot_data, "Synced_Light")
        assert state["desired"] == {"color": "G"} and state["reported"] == {"color": "G"}

        shadows.handle("Synced_Light", "delete", b"{}")
        assert sync.wait_idle(10)
        with pytest.raises(iot_data.exceptions.ResourceNotFoundException):
            iot_data.get_thing_shadow(thingName="Synced_Light")
    finally:
        sync.stop()
        await shadows.stop()


async def test_desired_state_set_in_the_cloud_reaches_the_local_shadow_once(tmp_path, iot_data):
    from localcore.shadow.sync import CloudDesiredPoller

    def get(thing):
        try:
            return json.loads(iot_data.get_thing_shadow(thingName=thing)["payload"].read())
        except iot_data.exceptions.ResourceNotFoundException:
            return None

    sync = CloudShadowSync(["Synced_Light"], lambda t, p: iot_data.update_thing_shadow(thingName=t, payload=p),
                           lambda t: iot_data.delete_thing_shadow(thingName=t), retry_initial_s=0.05)
    shadows = ShadowService(tmp_path, on_change=sync.changed)
    await shadows.start()
    sync.start()
    poller = CloudDesiredPoller(
        ["Synced_Light"], get,
        apply_desired=lambda t, payload: shadows.handle(t, "update", payload),
        local_desired=lambda t: ((shadows.document(t) or {}).get("state") or {}).get("desired"), outbound=sync)
    try:
        shadows.handle("Synced_Light", "update", b'{"state": {"desired": {"color": "G"}, "reported": {"color": "G"}}}')
        assert sync.wait_idle(10)
        assert poller.poll_once() == 0  # the cloud only mirrors the local state: nothing to apply
        # someone sets desired in the cloud (console / API)
        iot_data.update_thing_shadow(thingName="Synced_Light", payload=b'{"state": {"desired": {"color": "R"}}}')
        assert poller.poll_once() == 1
        local = shadows.document("Synced_Light")["state"]
        assert local["desired"] == {"color": "R"} and local["reported"] == {"color": "G"}
        assert sync.wait_idle(10)  # the local change goes back up as a sync...
        assert poller.poll_once() == 0  # ...and is not applied a second time
        assert cloud_state(iot_data, "Synced_Light")["desired"] == {"color": "R"}
        # a stale cloud state (what we sent earlier) never overwrites a newer local one
        shadows.handle("Synced_Light", "update", b'{"state": {"desired": {"color": "Y"}}}')
        assert sync.wait_idle(10)
        iot_data.update_thing_shadow(thingName="Synced_Light", payload=b'{"state": {"desired": {"color": "R"}}}')
        poller_seen_r = poller.poll_once()  # R was never *sent* after Y: a real cloud-side change
        assert poller_seen_r == 1 and shadows.document("Synced_Light")["state"]["desired"] == {"color": "R"}
    finally:
        sync.stop()
        await shadows.stop()
