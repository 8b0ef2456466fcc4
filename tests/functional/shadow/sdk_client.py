"""The unmodified AWSIoTPythonSDK shadow client on a test core's broker, and a collector of its replies
(shared by the shadow tests that drive it)."""
import json
import queue

from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTShadowClient


def shadow_client(core, thing):
    files = core.devices[thing]
    client = AWSIoTMQTTShadowClient(thing)
    client.configureEndpoint("127.0.0.1", core.broker.port)
    client.configureCredentials(files.ca, files.key, files.cert)
    client.configureConnectDisconnectTimeout(10)
    client.configureMQTTOperationTimeout(5)
    assert client.connect()
    return client


class Replies:
    """A shadow call's callback: each reply (payload parsed unless it timed out, status, token) in order."""

    def __init__(self):
        self.q = queue.Queue()

    def __call__(self, payload, status, token):
        self.q.put((json.loads(payload) if status != "timeout" else payload, status, token))

    def get(self):
        return self.q.get(timeout=10)
