"""The broker with a V2 client policy (clientdevices.Auth as Moquette asks it), seen through the
unmodified AWSIoTPythonSDK over real mutual TLS, plus raw MQTT for the exact CONNACK codes.

V2 devices talk through the broker (pub/sub), so the routes here let every device reach every
other on ``#``: whatever does not arrive was stopped by the policy.
"""
import queue
import time

import pytest
from AWSIoTPythonSDK.exception.AWSIoTExceptions import publishTimeoutException, subackError
from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient
from corekit import Core, mqtt_connect, read_packet

from localcore.broker import Broker, codec
from localcore.clientauth import policy_from_config
from localcore.interfaces import Route

TN = "${iot:Connection.Thing.ThingName}"
THINGS = ["Sensor1", "Sensor2", "Console", "Rogue"]
AUTH = {"deviceGroups": {
    "formatVersion": "2021-03-05",
    "definitions": {
        "Sensors": {"selectionRule": "thingName: Sensor*", "policyName": "SensorPolicy"},
        "Consoles": {"selectionRule": "thingName: Console", "policyName": "ConsolePolicy"},
    },
    "policies": {
        "SensorPolicy": {
            "Connect": {"operations": ["mqtt:connect"], "resources": [f"mqtt:clientId:{TN}"]},
            "Publish": {"operations": ["mqtt:publish"], "resources": [f"mqtt:topic:sensors/{TN}/*"]},
            "Subscribe": {"operations": ["mqtt:subscribe"], "resources": [f"mqtt:topicfilter:cmd/{TN}"]},
        },
        "ConsolePolicy": {
            "Connect": {"operations": ["mqtt:connect"], "resources": ["mqtt:clientId:Console"]},
            "Publish": {"operations": ["mqtt:publish"], "resources": ["mqtt:topic:cmd/*"]},
            "Subscribe": {"operations": ["mqtt:subscribe"], "resources": ["mqtt:topicfilter:*"]},
        },
    },
}}


@pytest.fixture
def core(tmp_path):
    routes = [Route(f"device:{a}", f"device:{b}", "#") for a in THINGS for b in THINGS if a != b]
    c = Core(tmp_path, routes, THINGS)
    c.broker = Broker(c.router, ssl_context=c._ctx, authorize=c.auth, port=0,
                      client_policy=policy_from_config(AUTH))
    c.start()
    clients = []
    c.sdk_clients = clients
    yield c
    for client in clients:
        try:
            client.disconnect()
        except Exception:  # a refused SDK client may time out on disconnect; that is its business
            pass
    c.stop()


def sdk(core, client_id, files=None):
    files = files or core.devices[client_id]
    client = AWSIoTMQTTClient(client_id)
    client.configureEndpoint("127.0.0.1", core.broker.port)
    client.configureCredentials(files.ca, files.key, files.cert)
    client.configureConnectDisconnectTimeout(5)
    client.configureMQTTOperationTimeout(2)
    core.sdk_clients.append(client)
    return client


def listen(client, topic_filter, qos=1):
    inbox = queue.Queue()
    client.subscribe(topic_filter, qos, lambda c, u, m: inbox.put((m.topic, bytes(m.payload))))
    return inbox


def test_devices_publish_and_subscribe_exactly_what_the_policy_allows(core):
    console, sensor = sdk(core, "Console"), sdk(core, "Sensor1")
    assert console.connect() and sensor.connect()
    everything = listen(console, "#")                       # topicfilter:* grants any filter
    with pytest.raises(subackError):
        sensor.subscribe("cmd/#", 1, lambda *a: None)      # only cmd/Sensor1 is granted
    commands = listen(sensor, "cmd/Sensor1")

    with pytest.raises(publishTimeoutException):           # refused QoS 1: dropped, no PUBACK
        sensor.publish("sensors/Sensor2/temp", "spoofed", 1)
    assert sensor.publish("secret/x", "refused qos0", 0)   # QoS 0: nothing to wait for
    assert sensor.publish("sensors/Sensor1/temp", "21.5", 1)
    # the connection survived the refusals, and only the allowed message went through
    assert everything.get(timeout=5) == ("sensors/Sensor1/temp", b"21.5")

    assert console.publish("cmd/Sensor1", "blink", 1)
    assert commands.get(timeout=5) == ("cmd/Sensor1", b"blink")
    assert everything.empty() and commands.empty()

    status = core.call(core.broker.status)
    decisions = status["client_policy"]["decisions"]
    assert decisions["publish"] == {"allowed": 2, "refused": 2}
    assert decisions["subscribe"] == {"allowed": 2, "refused": 1}
    assert decisions["connect"] == {"allowed": 2, "refused": 0}
    recent = status["client_policy"]["recent_refusals"]
    refused = {(r["thing"], r["operation"], r["resource"]) for r in recent}
    assert refused == {("Sensor1", "mqtt:publish", "mqtt:topic:sensors/Sensor2/temp"),
                       ("Sensor1", "mqtt:publish", "mqtt:topic:secret/x"),
                       ("Sensor1", "mqtt:subscribe", "mqtt:topicfilter:cmd/#")}
    assert status["counts"]["publish_refused"] == 2 and status["counts"]["subscribe_refused"] == 1
    assert status["connected"] == ["Console", "Sensor1"]


def test_subscribe_outside_the_policy_gets_nothing(core):
    console, sensor = sdk(core, "Console"), sdk(core, "Sensor2")
    assert console.connect() and sensor.connect()
    with pytest.raises(subackError):
        sensor.subscribe("cmd/Sensor1", 1, lambda *a: None)
    own = listen(sensor, "cmd/Sensor2")
    assert console.publish("cmd/Sensor1", "not for Sensor2", 1)
    assert console.publish("cmd/Sensor2", "for Sensor2", 1)
    assert own.get(timeout=5) == ("cmd/Sensor2", b"for Sensor2")
    assert own.empty()


@pytest.mark.parametrize("client_id,cert_of,code", [
    ("Sensor1", "Sensor2", 4),   # a certificate of another thing
    ("Rogue", "Rogue", 4),       # its own certificate, but no device group selects it
    ("Outsider", None, 4),       # a certificate of the IoT CA whose thing is not known here
    ("", "Sensor1", 2),          # Moquette refuses an empty client id (identifier rejected)
    ("Sensor1", "Sensor1", 0),
])
def test_connect_codes(core, client_id, cert_of, code):
    files = core.devices[cert_of] if cert_of else core.issue("Outsider")
    with core.raw(files) as sock:
        assert mqtt_connect(sock, client_id) == code
        if code:
            assert read_packet(sock) is None               # and the broker closes the connection


def test_refused_sdk_client_gets_nothing_through(core):
    console = sdk(core, "Console")
    assert console.connect()
    everything = listen(console, "#")
    impostor = sdk(core, "Sensor1", core.devices["Sensor2"])
    impostor.connect()          # the SDK says True on a CONNACK refusal; what follows is the proof
    impostor.publish("sensors/Sensor1/temp", "from an impostor", 0)
    legit = sdk(core, "Sensor2")
    assert legit.connect()
    assert legit.publish("sensors/Sensor2/temp", "genuine", 1)
    assert everything.get(timeout=5) == ("sensors/Sensor2/temp", b"genuine")
    assert everything.empty()
    assert core.call(core.broker.status)["counts"]["refused"] >= 1


def _wait_disconnected(core, thing, timeout=5.0):
    deadline = time.monotonic() + timeout
    while thing in core.call(core.broker.connected):
        assert time.monotonic() < deadline, f"{thing} still connected"
        time.sleep(0.02)


def test_last_will_is_checked_like_a_publish(core):
    console = sdk(core, "Console")
    assert console.connect()
    everything = listen(console, "#")
    with core.raw(core.devices["Sensor1"]) as s1:
        assert mqtt_connect(s1, "Sensor1", will=("secret/will", b"x", 0)) == codec.ACCEPTED
    _wait_disconnected(core, "Sensor1")
    with core.raw(core.devices["Sensor2"]) as s2:
        assert mqtt_connect(s2, "Sensor2", will=("sensors/Sensor2/gone", b"bye", 0)) == 0
    assert everything.get(timeout=5) == ("sensors/Sensor2/gone", b"bye")
    assert everything.empty()
    refusals = core.call(core.broker.status)["client_policy"]["recent_refusals"]
    assert [(r["thing"], r["resource"]) for r in refusals] == [("Sensor1", "mqtt:topic:secret/will")]
