import json

import greengrasssdk
from greengrasssdk.IoTDataPlane import ShadowError


def function_handler(event, context):
    client = greengrasssdk.client('iot-data')
    try:
        if event['op'] == 'update':
            reply = client.update_thing_shadow(thingName=event['thing'], payload=json.dumps(event['doc']))
        elif event['op'] == 'get':
            reply = client.get_thing_shadow(thingName=event['thing'])
        else:
            reply = client.delete_thing_shadow(thingName=event['thing'])
    except ShadowError as e:
        return {'error': str(e)}
    return {'document': json.loads(reply['payload'].decode('utf-8'))}
