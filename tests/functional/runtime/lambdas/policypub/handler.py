"""Publishes with the queueFullPolicy the event asks for; reports whether the SDK raised."""
import greengrasssdk


def function_handler(event, context):
    try:
        greengrasssdk.client('iot-data').publish(topic=event['topic'], payload=b'x',
                                                 queueFullPolicy=event['policy'])
    except Exception as e:  # the SDK's InvocationException: what the test wants to see
        return {'raised': type(e).__name__, 'message': str(e)}
    return {'raised': None}
