"""Listens on local pub/sub, with GreengrassCoreIPCClientV2, to what client devices publish on
clients/<thing>/hello/world (relayed by the MQTT bridge) and prints each message with its topic."""
import threading

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

FILTER = "clients/+/hello/world"


def on_message(event):
    print("from %s: %s" % (event.binary_message.context.topic, event.binary_message.message.decode()), flush=True)


client = GreengrassCoreIPCClientV2()
client.subscribe_to_topic(topic=FILTER, on_stream_event=on_message)
print("listening on %s" % FILTER, flush=True)
threading.Event().wait()
