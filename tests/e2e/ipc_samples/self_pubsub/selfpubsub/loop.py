"""Publish and subscribe helpers for the zipped component."""
from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage


def listen(client, topic, heard):
    def on_event(event):
        print("heard on %s: %s" % (event.binary_message.context.topic, event.binary_message.message.decode()),
              flush=True)
        heard.release()
    return client.subscribe_to_topic(topic=topic, on_stream_event=on_event)


def send(client, topic, text, times):
    for n in range(1, times + 1):
        client.publish_to_topic(topic=topic,
                                publish_message=PublishMessage(binary_message=BinaryMessage(message=text.encode())))
        print("sent %d" % n, flush=True)
