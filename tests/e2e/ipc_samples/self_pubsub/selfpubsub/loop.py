"""Publish and subscribe helpers for the zipped component."""
import threading

from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage

_OUT = threading.Lock()  # the handler thread and the main thread print: one whole line at a time


def _say(line):
    with _OUT:
        print(line, flush=True)


def listen(client, topic, heard):
    def on_event(event):
        _say("heard on %s: %s" % (event.binary_message.context.topic, event.binary_message.message.decode()))
        heard.release()
    return client.subscribe_to_topic(topic=topic, on_stream_event=on_event)


def send(client, topic, text, times):
    for n in range(1, times + 1):
        client.publish_to_topic(topic=topic,
                                publish_message=PublishMessage(binary_message=BinaryMessage(message=text.encode())))
        _say("sent %d" % n)
