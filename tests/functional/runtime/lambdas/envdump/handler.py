"""Reports the environment the runtime gave it, its sys.path, where its SDKs came from and the
credentials boto3 resolves (container credentials of the core)."""
import os
import sys

import boto3
import greengrasssdk
import greengrass_common.env_vars
import greengrass_ipc_python_sdk.ipc_client

KEYS = ('MY_FUNCTION_ARN', 'AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_CREDENTIALS_FULL_URI',
        'GG_DAEMON_PORT',
        'ROUTER_FUNCTION_ARN', 'SHADOW_FUNCTION_ARN', 'SECRETS_MANAGER_FUNCTION_ARN', 'ENCODING_TYPE',
        'GGC_MAX_INTERFACE_VERSION', 'STREAM_MANAGER_SERVER_PORT', 'AWS_REGION', 'AWS_DEFAULT_REGION',
        'AWS_ENDPOINT_URL', 'MY_SETTING', 'HOME')


def function_handler(event, context):
    credentials = boto3.session.Session().get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials else None
    return {
        'env': dict((k, os.environ.get(k)) for k in KEYS),
        'sys_path': sys.path,
        'cwd': os.getcwd(),
        'greengrasssdk': greengrasssdk.__file__,
        'greengrass_common': greengrass_common.env_vars.__file__,
        'ipc_client': greengrass_ipc_python_sdk.ipc_client.__file__,
        'credential_method': credentials.method if credentials else None,
        'access_key': frozen.access_key if frozen else None,
        'session_token': frozen.token if frozen else None,
        'region': boto3.session.Session().region_name,
        'localcore_importable': _importable('localcore'),
    }


def _importable(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False
