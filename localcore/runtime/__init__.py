"""The local core's Lambda runtime: one process per function instance, talking to ``localcore.lambda_ipc``.

Public API: ``LambdaRuntime`` (see its docstring), ``InvokeResult``, ``UpdateResult``,
``connectors_status``, ``DockerComposeApp``, ``DockerAppConnector``, ``SDK_DIR`` (our
``greengrass_common`` / ``greengrass_ipc_python_sdk``).
"""
from .connectors import DockerAppConnector, DockerComposeApp, connectors_status, is_docker_connector
from .errors import ConnectorError, FunctionConfigError, RuntimeNotStarted, UnknownFunctionError
from .process import SDK_DIR
from .runtime import InvokeResult, LambdaRuntime, UpdateResult

__all__ = ["LambdaRuntime", "InvokeResult", "UpdateResult", "connectors_status", "is_docker_connector",
           "DockerComposeApp", "DockerAppConnector", "SDK_DIR", "FunctionConfigError", "ConnectorError",
           "RuntimeNotStarted", "UnknownFunctionError"]
