"""The benchmarks' echo Lambda (``benchmarks/invoke.py``): publishes each event's number back.

Python 3.7-compatible, unmodified greengrasssdk; the client is created on first use (no import-time
side effects)."""
import greengrasssdk

_client = None


def _iot():
    global _client
    if _client is None:
        _client = greengrasssdk.client('iot-data')
    return _client


def function_handler(event, context):
    _iot().publish(topic='echo/out', payload=b'%d' % event['i'])
