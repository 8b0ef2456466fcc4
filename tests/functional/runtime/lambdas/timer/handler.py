"""Pinned publisher in the style of AWS's Hello World sample: the loop runs at module level and
never returns, so the runtime must import this module without waiting for it."""
import os
import time

import greengrasssdk

client = greengrasssdk.client('iot-data')
INTERVAL = float(os.environ.get('INTERVAL_S', '0.1'))
TOPIC = os.environ.get('TOPIC', 'hello/world')

count = 0
while True:
    count += 1
    client.publish(topic=TOPIC, payload='Hello world! Sent from Greengrass Core. #{}'.format(count))
    time.sleep(INTERVAL)


def function_handler(event, context):
    return
