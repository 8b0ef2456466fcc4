"""Calls another function two ways: publish (routed by the subscription table) and lambda.invoke."""
import base64
import json
import os

import greengrasssdk


def function_handler(event, context):
    greengrasssdk.client('iot-data').publish(
        topic='chain/next', payload=json.dumps({'from': 'caller', 'n': event['n']}))
    response = greengrasssdk.client('lambda').invoke(
        FunctionName=os.environ['TARGET_ARN'],
        InvocationType='RequestResponse',
        Payload=json.dumps({'direct': event['n']}),
        ClientContext=base64.b64encode(json.dumps({'custom': {'subject': 'direct/call'}}).encode()),
    )
    return {'function_error': response['FunctionError'],
            'payload': json.loads(response['Payload'].read().decode())}
