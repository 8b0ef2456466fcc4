"""Local → cloud shadow sync against a real moto server through boto3 iot-data."""
import json

import boto3
import pytest
from moto.server import ThreadedMotoServer

from localcore.shadow.service import ShadowService
from localcore.shadow.sync import CloudShadowSync, removed_as_null


@pytest.fixture(scope="module")
def iot_data():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        iot = boto3.client("iot", region_name="us-east-1", endpoint_url=f"http://{host}:{port}",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        for thing in ("Synced_Light", "Local_Only"):  # deploy makes the things; shadows need them
            iot.create_thing(thingName=thing)
        yield boto3.client("iot-data", region_name="us-east-1", endpoint_url=f"http://{host}:{port}",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    finally:
        server.stop()


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
