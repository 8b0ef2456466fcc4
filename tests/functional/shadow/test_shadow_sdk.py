"""Local shadows through the broker and the subscription table, with the unmodified SDK shadow client."""
import json
import queue

import paho.mqtt.client as mqtt
import pytest

from localcore.interfaces import Route
from tests.functional.shadow.sdk_client import Replies, shadow_client

SHADOW = "$aws/things/Light/shadow"
ROUTES = [
    Route("device:Light", "shadow:Light", f"{SHADOW}/#"),
    Route("shadow:Light", "device:Light", f"{SHADOW}/#"),
    Route("device:Switch", "shadow:Light", f"{SHADOW}/update"),
    Route("shadow:Light", "device:Switch", f"{SHADOW}/update/#"),
]


def test_sdk_get_update_delta_through_the_table(make_core):
    core = make_core(ROUTES, ["Light", "Switch"])
    light = shadow_client(core, "Light")
    switch = shadow_client(core, "Switch")
    try:
        light_shadow = light.createShadowHandlerWithName("Light", True)
        switch_shadow = switch.createShadowHandlerWithName("Light", True)
        got, deltas, updates = Replies(), Replies(), Replies()

        light_shadow.shadowGet(got, 5)
        body, status, _ = got.get()
        assert status == "rejected" and body["code"] == 404

        light_shadow.shadowRegisterDeltaCallback(deltas)
        switch_shadow.shadowUpdate(json.dumps({"state": {"desired": {"property": "GREEN"}}}), updates, 5)
        body, status, token = updates.get()
        assert status == "accepted" and body["version"] == 1 and body["clientToken"] == token
        body, status, _ = deltas.get()
        assert status == "delta/Light" and body["state"] == {"property": "GREEN"} and body["version"] == 1

        light_shadow.shadowUpdate(json.dumps({"state": {"reported": {"property": "GREEN"}}}), updates, 5)
        body, status, _ = updates.get()
        assert status == "accepted" and body["version"] == 2

        light_shadow.shadowGet(got, 5)
        body, status, _ = got.get()
        assert status == "accepted" and body["version"] == 2
        assert body["state"] == {"desired": {"property": "GREEN"}, "reported": {"property": "GREEN"}}
        assert deltas.q.empty() and updates.q.empty()
    finally:
        light.disconnect()
        switch.disconnect()


def _paho(core, thing):
    files = core.devices[thing]
    inbox, ready = queue.Queue(), queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=thing)
    client.tls_set(ca_certs=files.ca, certfile=files.cert, keyfile=files.key)
    client.on_message = lambda c, u, m: inbox.put((m.topic, json.loads(m.payload)))
    client.on_subscribe = lambda *a: ready.put(True)
    client.connect("127.0.0.1", core.broker.port)
    client.loop_start()
    return client, inbox, ready


def test_shadow_rejections_and_who_gets_what(make_core):
    core = make_core(ROUTES, ["Light", "Switch"])
    switch, switch_inbox, sready = _paho(core, "Switch")
    light, light_inbox, lready = _paho(core, "Light")
    try:
        switch.subscribe(f"{SHADOW}/update/#", 1)
        light.subscribe(f"{SHADOW}/update/delta", 1)
        sready.get(timeout=5)
        lready.get(timeout=5)
        switch.publish(f"{SHADOW}/update", b"not json", 1)
        topic, body = switch_inbox.get(timeout=5)
        assert topic == f"{SHADOW}/update/rejected" and body["code"] == 400
        switch.publish(f"{SHADOW}/update", json.dumps({"state": {"desired": {"p": 1}}, "clientToken": "a"}), 1)
        seen = dict(switch_inbox.get(timeout=5) for _ in range(3))
        assert set(seen) == {f"{SHADOW}/update/accepted", f"{SHADOW}/update/documents", f"{SHADOW}/update/delta"}
        assert light_inbox.get(timeout=5)[1]["state"] == {"p": 1}
        switch.publish(f"{SHADOW}/update",
                       json.dumps({"state": {"desired": {"p": 2}}, "version": 0, "clientToken": "stale"}), 1)
        topic, body = switch_inbox.get(timeout=5)
        assert topic == f"{SHADOW}/update/rejected" and body["code"] == 409 and body["clientToken"] == "stale"
        # Switch has no route to get: dropped by the table, nothing comes back
        switch.publish(f"{SHADOW}/get", json.dumps({"clientToken": "g"}), 1).wait_for_publish(5)
        switch.publish(f"{SHADOW}/update", json.dumps({"state": {"reported": {"p": 1}}}), 1)
        topic, body = switch_inbox.get(timeout=5)
        assert topic == f"{SHADOW}/update/accepted" and body["version"] == 2
        assert light_inbox.empty()   # reported-only update: no delta
        assert core.call(core.shadows.status)["shadows"] == {"Light": 2}
    finally:
        for c in (switch, light):
            c.disconnect()
            c.loop_stop()
