import greengrasssdk


def function_handler(event, context):
    greengrasssdk.client('iot-data').publish(topic='binary/out', payload=event)
    return {'type': type(event).__name__, 'hex': bytes(event).hex()}
