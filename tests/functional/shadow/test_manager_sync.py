"""The ShadowManager's cloud sync (localcore/shadow/manager_sync.py) between the core's shadow store and a real moto
server through boto3 iot-data: named shadows, each direction, a later configuration, the outbound limit."""
import json
import threading

import boto3
import pytest

from localcore.shadow.manager_config import Strategy
from localcore.shadow.manager_sync import DataPlane, ShadowManagerSync
from localcore.shadow.service import ShadowService
from tests.moto_server import moto_server

WAIT_S = 10
REAL_TIME = Strategy()


@pytest.fixture(scope="module")
def cloud_url():
    with moto_server() as url:
        iot = boto3.client("iot", region_name="us-east-1", endpoint_url=url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        for thing in ("Light", "Door", "Fan", "Pump", "Valve"):
            iot.create_thing(thingName=thing)
        yield url


@pytest.fixture
def iot_data(cloud_url):
    return boto3.client("iot-data", region_name="us-east-1", endpoint_url=cloud_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


class Changes:
    """A store listener: wait for the next local change of a shadow (the sync's own included)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.seen = []

    def __call__(self, thing, name, replies):
        with self.cond:
            self.seen.extend((thing, name, r.topic.rsplit("/", 2)[-2] + "/" + r.topic.rsplit("/", 1)[-1])
                             for r in replies)
            self.cond.notify_all()

    def mark(self) -> int:
        with self.cond:
            return len(self.seen)

    def wait(self, thing, name, what, after=0, timeout=WAIT_S):
        """Whether ``what`` (e.g. ``update/delta``) was published for the shadow after the ``mark()`` ``after``."""
        with self.cond:
            return self.cond.wait_for(lambda: (thing, name, what) in self.seen[after:], timeout)


def cloud_doc(client, thing, name):
    try:
        return json.loads(client.get_thing_shadow(thingName=thing, shadowName=name)["payload"].read())
    except client.exceptions.ResourceNotFoundException:
        return None


@pytest.fixture
async def synced(tmp_path, iot_data):
    store = ShadowService(tmp_path)
    await store.start()
    changes = Changes()
    store.add_listener(changes)
    sync = ShadowManagerSync(store, DataPlane(lambda: iot_data), poll_interval_s=0.05)
    store.add_listener(sync.local_changed)
    yield store, sync, changes
    sync.stop()
    await store.stop()


def update(store, thing, name, state):
    (accepted, *_) = store.handle(thing, "update", json.dumps({"state": state}).encode(), name)
    assert accepted.topic.endswith("/update/accepted"), accepted.payload


async def test_named_shadow_both_ways(synced, iot_data):
    store, sync, changes = synced
    sync.configure(frozenset({("Light", "cfg")}), "betweenDeviceAndCloud", REAL_TIME, 100)
    sync.start()
    update(store, "Light", "cfg", {"desired": {"color": "red"}, "reported": {"color": "off"}})
    update(store, "Light", "", {"reported": {"classic": True}})       # not synced
    assert sync.wait_idle(WAIT_S)
    assert cloud_doc(iot_data, "Light", "cfg")["state"]["desired"] == {"color": "red"}
    with pytest.raises(iot_data.exceptions.ResourceNotFoundException):
        iot_data.get_thing_shadow(thingName="Light")

    # the cloud (console, another device) changes the named shadow: the local one follows, its delta published
    mark = changes.mark()
    iot_data.update_thing_shadow(thingName="Light", shadowName="cfg",
                                 payload=json.dumps({"state": {"desired": {"color": "green"}}}))
    assert changes.wait("Light", "cfg", "update/delta", after=mark)
    assert store.document("Light", "cfg")["state"] == {"desired": {"color": "green"}, "reported": {"color": "off"}}
    assert sync.wait_idle(WAIT_S)
    sent = sync.counts["cloud_updates"]
    assert sent == 1                           # the cloud's own change did not go back to it

    # a local delete deletes the cloud shadow
    store.handle("Light", "delete", b"", "cfg")
    assert sync.wait_idle(WAIT_S)
    assert cloud_doc(iot_data, "Light", "cfg") is None


async def test_device_to_cloud_only(synced, iot_data):
    store, sync, changes = synced
    sync.configure(frozenset({("Door", "state")}), "deviceToCloud", REAL_TIME, 100)
    sync.start()
    update(store, "Door", "state", {"reported": {"open": False}})
    assert sync.wait_idle(WAIT_S)
    assert cloud_doc(iot_data, "Door", "state")["state"]["reported"] == {"open": False}
    # a cloud change is not brought down; the next local change overwrites the cloud with the local document
    iot_data.update_thing_shadow(thingName="Door", shadowName="state",
                                 payload=json.dumps({"state": {"desired": {"open": True}}}))
    update(store, "Door", "state", {"reported": {"open": True}})
    assert sync.wait_idle(WAIT_S)
    assert store.document("Door", "state")["state"] == {"reported": {"open": True}}
    assert cloud_doc(iot_data, "Door", "state")["state"] == {"reported": {"open": True}}
    assert sync.counts["cloud_changes"] == 0 and ("Door", "state", "update/accepted") in changes.seen


async def test_cloud_to_device_only_and_a_later_configuration(synced, iot_data):
    store, sync, changes = synced
    iot_data.update_thing_shadow(thingName="Fan", shadowName="speed",
                                 payload=json.dumps({"state": {"desired": {"rpm": 100}}}))
    update(store, "Fan", "speed", {"reported": {"rpm": 0}})
    sync.configure(frozenset({("Fan", "speed")}), "cloudToDevice", REAL_TIME, 100)
    sync.start()
    # the first sync overwrites the local shadow with the cloud's
    assert changes.wait("Fan", "speed", "update/documents") and sync.wait_idle(WAIT_S)
    assert store.document("Fan", "speed")["state"] == {"desired": {"rpm": 100}}
    cloud_version = cloud_doc(iot_data, "Fan", "speed")["version"]
    update(store, "Fan", "speed", {"reported": {"rpm": 90}})          # not sent up
    assert sync.wait_idle(WAIT_S)
    assert cloud_doc(iot_data, "Fan", "speed")["version"] == cloud_version

    # a later configuration: both ways, and one more shadow (its local document goes up at once)
    update(store, "Pump", "", {"reported": {"on": True}})
    sync.configure(frozenset({("Fan", "speed"), ("Pump", "")}), "betweenDeviceAndCloud", REAL_TIME, 100)
    assert sync.wait_idle(WAIT_S)
    assert json.loads(iot_data.get_thing_shadow(thingName="Pump")["payload"].read())["state"]["reported"] == {"on": True}
    # Fan: the local report since the last sync goes up, the cloud's desired stays
    state = cloud_doc(iot_data, "Fan", "speed")["state"]
    assert (state["desired"], state["reported"]) == ({"rpm": 100}, {"rpm": 90})
    # dropped from the configuration: no longer synced
    sync.configure(frozenset({("Pump", "")}), "betweenDeviceAndCloud", REAL_TIME, 100)
    update(store, "Fan", "speed", {"reported": {"rpm": 80}})
    assert sync.wait_idle(WAIT_S)
    assert cloud_doc(iot_data, "Fan", "speed")["state"]["reported"] == {"rpm": 90}


async def test_outbound_calls_wait_for_the_limit(synced, iot_data):
    store, sync, _ = synced
    sync.configure(frozenset({("Valve", "")}), "deviceToCloud", REAL_TIME, 1)
    sync.start()
    update(store, "Valve", "", {"reported": {"flow": 1}})
    assert sync.wait_idle(WAIT_S)
    # a get and an update in the same second at 1 call/s: the update waited for its permit
    assert sync.counts["outbound_waits"] >= 1
    assert json.loads(iot_data.get_thing_shadow(thingName="Valve")["payload"].read())["state"]["reported"] == {"flow": 1}


async def test_periodic_strategy_syncs_at_its_runs_only(synced, iot_data):
    store, sync, _ = synced
    update(store, "Pump", "hourly", {"reported": {"level": 1}})
    sync.configure(frozenset({("Pump", "hourly")}), "betweenDeviceAndCloud", Strategy("periodic", 3600), 100)
    sync.start()
    assert sync.wait_idle(WAIT_S)                     # the first run is at once
    assert cloud_doc(iot_data, "Pump", "hourly")["state"]["reported"] == {"level": 1}
    update(store, "Pump", "hourly", {"reported": {"level": 2}})
    assert sync.status()["pending"] == 1              # queued for the next run, an hour away
    assert cloud_doc(iot_data, "Pump", "hourly")["state"]["reported"] == {"level": 1}
    # a new strategy in a later deployment applies at once
    sync.configure(frozenset({("Pump", "hourly")}), "betweenDeviceAndCloud", REAL_TIME, 100)
    assert sync.wait_idle(WAIT_S)
    assert cloud_doc(iot_data, "Pump", "hourly")["state"]["reported"] == {"level": 2}


async def test_a_restarted_sync_merges_against_what_it_last_synced(tmp_path, iot_data):
    store = ShadowService(tmp_path / "shadows")
    await store.start()
    state_file = tmp_path / "shadows" / "shadow-manager" / "sync.json"
    keys = frozenset({("Light", "restart")})

    def started():
        sync = ShadowManagerSync(store, DataPlane(lambda: iot_data), poll_interval_s=0.05, state_file=state_file)
        store.add_listener(sync.local_changed)
        sync.configure(keys, "betweenDeviceAndCloud", REAL_TIME, 100)
        sync.start()
        return sync

    sync = started()
    update(store, "Light", "restart", {"desired": {"color": "red"}})
    assert sync.wait_idle(WAIT_S)
    sync.stop()
    store.remove_listener(sync.local_changed)
    assert cloud_doc(iot_data, "Light", "restart")["state"]["desired"] == {"color": "red"}
    # while the core is down only the local desired state changes; the restarted sync knows the cloud's is old
    # (without the sync information both sides would be new, and the cloud's desired would win)
    update(store, "Light", "restart", {"desired": {"color": "blue"}})
    sync = started()
    try:
        assert sync.wait_idle(WAIT_S)
        assert cloud_doc(iot_data, "Light", "restart")["state"]["desired"] == {"color": "blue"}
        assert store.document("Light", "restart")["state"]["desired"] == {"color": "blue"}
        assert store.named_shadows("Light") == ["restart"]      # the sync's file is not taken for a shadow
    finally:
        sync.stop()
        await store.stop()


class FlakyCloud(DataPlane):
    """The real data plane, unreachable for its first ``failures`` updates."""

    def __init__(self, client, failures):
        super().__init__(client)
        self.failures = failures

    def update(self, thing, shadow_name, payload):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("cloud unreachable")
        return super().update(thing, shadow_name, payload)


async def test_an_unreachable_cloud_keeps_the_change_and_retries(tmp_path, iot_data):
    store = ShadowService(tmp_path)
    await store.start()
    sync = ShadowManagerSync(store, FlakyCloud(lambda: iot_data, 2), poll_interval_s=0.05, retry_s=(0.05, 0.1))
    store.add_listener(sync.local_changed)
    try:
        sync.configure(frozenset({("Door", "retry")}), "betweenDeviceAndCloud", REAL_TIME, 100)
        sync.start()
        update(store, "Door", "retry", {"reported": {"locked": True}})
        assert sync.wait_idle(WAIT_S)
        assert sync.counts["failed"] == 2 and "cloud unreachable" in sync.status()["last_error"]
        assert cloud_doc(iot_data, "Door", "retry")["state"]["reported"] == {"locked": True}
    finally:
        sync.stop()
        await store.stop()
