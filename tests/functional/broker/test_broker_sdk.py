"""Refusals seen through the unmodified AWSIoTPythonSDK client (connect() says True even when refused)."""
import queue

import paho.mqtt.client as mqtt
from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient

from localcore.interfaces import Route

ROUTES = [Route("device:Outsider", "device:Sub", "x/#"), Route("device:Pub", "device:Sub", "x/#")]


def sdk_client(core, client_id, files):
    client = AWSIoTMQTTClient(client_id)
    client.configureEndpoint("127.0.0.1", core.broker.port)
    client.configureCredentials(files.ca, files.key, files.cert)
    client.configureConnectDisconnectTimeout(2)
    client.configureMQTTOperationTimeout(2)
    return client


def test_outsider_and_foreign_client_id_get_nothing_through(make_core):
    core = make_core(ROUTES, ["Sub", "Pub"])
    inbox, ready = queue.Queue(), queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="Sub")
    files = core.devices["Sub"]
    sub.tls_set(ca_certs=files.ca, certfile=files.cert, keyfile=files.key)
    sub.on_message = lambda c, u, m: inbox.put((m.topic, m.payload))
    sub.on_subscribe = lambda *a: ready.put(True)
    sub.connect("127.0.0.1", core.broker.port)
    sub.loop_start()
    clients = []
    try:
        sub.subscribe("x/#", 0)
        ready.get(timeout=5)
        outsider = sdk_client(core, "Outsider", core.issue("Outsider"))   # chains to the root CA
        impostor = sdk_client(core, "Sub", core.devices["Pub"])          # Pub's certificate, Sub's id
        for client in (outsider, impostor):
            clients.append(client)
            client.connect()          # the SDK returns True on CONNACK 5: the proof is below
            client.publish("x/sneaky", "must not arrive", 0)
        legit = sdk_client(core, "Pub", core.devices["Pub"])
        assert legit.connect()
        clients.append(legit)
        assert legit.publish("x/ok", "fine", 1)
        assert inbox.get(timeout=5) == ("x/ok", b"fine")     # the first and only message
        status = core.call(core.broker.status)
        assert status["connected"] == ["Pub", "Sub"] and status["counts"]["refused"] >= 2
        assert inbox.empty()
    finally:
        for client in clients:
            try:
                client.disconnect()
            except Exception:  # a refused SDK client may time out on disconnect; that is its business
                pass
        sub.disconnect()
        sub.loop_stop()
