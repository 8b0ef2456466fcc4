"""Subscribes to a local topic with the first-generation IPC client and a SubscribeToTopicStreamHandler subclass,
printing each binary message it receives."""
import sys
import threading

import awsiot.greengrasscoreipc
import awsiot.greengrasscoreipc.client as ipc
from awsiot.greengrasscoreipc.model import SubscribeToTopicRequest

TOPIC = sys.argv[1]


class Handler(ipc.SubscribeToTopicStreamHandler):
    def on_stream_event(self, event):
        print("got %r" % event.binary_message.message.decode(), flush=True)

    def on_stream_error(self, error):
        print("stream error: %r" % (error,), file=sys.stderr, flush=True)
        return False

    def on_stream_closed(self):
        print("stream closed", flush=True)


client = awsiot.greengrasscoreipc.connect()
operation = client.new_subscribe_to_topic(Handler())
operation.activate(SubscribeToTopicRequest(topic=TOPIC))
operation.get_response().result(10)
print("subscribed to %s" % TOPIC, flush=True)
threading.Event().wait()
