import greengrasssdk
from greengrasssdk.SecretsManager import SecretsManagerError


def function_handler(event, context):
    try:
        value = greengrasssdk.client('secretsmanager').get_secret_value(SecretId=event['id'])
    except SecretsManagerError as e:
        return {'error': str(e)}
    return {'name': value['Name'], 'string': value.get('SecretString'), 'year': value['CreatedDate'].year}
