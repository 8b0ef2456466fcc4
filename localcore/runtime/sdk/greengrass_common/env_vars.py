"""Environment of a Greengrass V1 Lambda, read once at import (as on a GGC 1.x core).

``greengrasssdk`` binds these names with ``from greengrass_common.env_vars import ...``, so changing
the environment after the SDK is imported has no effect, exactly as on a real core.
"""
import os

MY_FUNCTION_ARN = os.environ.get('MY_FUNCTION_ARN')
SHADOW_FUNCTION_ARN = os.environ.get('SHADOW_FUNCTION_ARN', 'arn:aws:lambda:::function:GGShadowService')
ROUTER_FUNCTION_ARN = os.environ.get('ROUTER_FUNCTION_ARN', 'arn:aws:lambda:::function:GGRouter')
SECRETS_MANAGER_FUNCTION_ARN = os.environ.get(
    'SECRETS_MANAGER_FUNCTION_ARN', 'arn:aws:lambda:::function:GGSecretManager:1')
AUTH_TOKEN = os.environ.get('AWS_CONTAINER_AUTHORIZATION_TOKEN')
ENCODING_TYPE = os.environ.get('ENCODING_TYPE', 'json')
GG_DAEMON_PORT = os.environ.get('GG_DAEMON_PORT', '8000')
