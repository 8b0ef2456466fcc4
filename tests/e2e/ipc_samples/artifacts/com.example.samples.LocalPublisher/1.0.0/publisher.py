"""Publishes a binary message on a local topic every 0.2 s with the first-generation IPC client (operation objects:
new_publish_to_topic / activate / get_response) — the shape of the developer guide's publisher component."""
import sys
import time

import awsiot.greengrasscoreipc
from awsiot.greengrasscoreipc.model import BinaryMessage, PublishMessage, PublishToTopicRequest

TOPIC = sys.argv[1]
client = awsiot.greengrasscoreipc.connect()
count = 0
while True:
    count += 1
    text = "sample message %d" % count
    request = PublishToTopicRequest(topic=TOPIC,
                                    publish_message=PublishMessage(binary_message=BinaryMessage(message=text.encode())))
    operation = client.new_publish_to_topic()
    operation.activate(request)
    operation.get_response().result(10)
    print("published %r on %s" % (text, TOPIC), flush=True)
    time.sleep(0.2)
