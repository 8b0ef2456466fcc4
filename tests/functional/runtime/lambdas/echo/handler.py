"""Echo: publishes what it got (event, subject, request id) on OUT_TOPIC and returns it."""
import json
import os

import greengrasssdk

_client = None


def _iot():
    global _client
    if _client is None:
        _client = greengrasssdk.client('iot-data')
    return _client


def function_handler(event, context):
    custom = context.client_context.custom if context.client_context else None
    answer = {
        'event': event,
        'subject': (custom or {}).get('subject'),
        'custom': custom,
        'request_id': context.aws_request_id,
        'function_name': context.function_name,
        'function_version': context.function_version,
        'remaining_ms': context.get_remaining_time_in_millis(),
        'pid': os.getpid(),
    }
    out_topic = os.environ.get('OUT_TOPIC')
    if out_topic:
        _iot().publish(topic=out_topic, payload=json.dumps(answer))
    return answer
