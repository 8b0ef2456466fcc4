"""The local core's Lambda runtime: one process per function instance, talking to ``localcore.ipc``.

Public API: ``LambdaRuntime`` (see its docstring), ``InvokeResult``, ``connectors_status``,
``DockerComposeApp``, ``SDK_DIR`` (our ``greengrass_common`` / ``greengrass_ipc_python_sdk``).
"""
from .connectors import DockerComposeApp, connectors_status
from .errors import FunctionConfigError, RuntimeNotStarted, UnknownFunctionError
from .process import SDK_DIR
from .runtime import InvokeResult, LambdaRuntime

__all__ = ["LambdaRuntime", "InvokeResult", "connectors_status", "DockerComposeApp", "SDK_DIR",
           "FunctionConfigError", "RuntimeNotStarted", "UnknownFunctionError"]
