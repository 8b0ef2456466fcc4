"""Sends three JSON readings to AWS IoT Core with the first-generation IPC client (connect(), then
new_publish_to_iot_core with QoS 1) on a topic named after the core's thing, then exits 0."""
import json
import os
import sys
import time

import awsiot.greengrasscoreipc
from awsiot.greengrasscoreipc.model import QOS, PublishToIoTCoreRequest

client = awsiot.greengrasscoreipc.connect()
topic = "samples/%s/telemetry" % os.environ["AWS_IOT_THING_NAME"]
for n in range(3):
    reading = {"n": n, "at_ms": int(time.time() * 1000), "charge": 87.5, "position": {"lat": 48.1, "lon": 11.6}}
    operation = client.new_publish_to_iot_core()
    operation.activate(PublishToIoTCoreRequest(topic_name=topic, qos=QOS.AT_LEAST_ONCE,
                                               payload=json.dumps(reading).encode()))
    try:
        operation.get_response().result(5)
    except Exception as e:  # noqa: BLE001 - report any refusal and fail the component
        print("publish %d failed: %r" % (n, e), file=sys.stderr, flush=True)
        sys.exit(1)
    print("sent reading %d to %s" % (n, topic), flush=True)
