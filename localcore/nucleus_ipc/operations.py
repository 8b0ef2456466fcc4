"""The operations of the ``aws.greengrass#GreengrassCoreIPC`` service model, as the nucleus knows them.

Names, streaming flags and event shapes: awsiotsdk 1.31.0 ``awsiot/greengrasscoreipc/model.py``
(aws/aws-iot-device-sdk-python-v2). The nucleus' own model (aws/aws-iot-device-sdk-java-v2 1.31.0, pinned by
aws-greengrass/aws-greengrass-nucleus) lacks ``SubscribeToIoTCoreConnectionStatus``, so a nucleus answers it
as an unknown operation; every other name exists, and the ones no module wired answer
``ServiceError("Operation aws.greengrass#X is not supported by Greengrass")``
(aws-greengrass-nucleus ``ipc/common/DefaultOperationHandler``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

PREFIX = "aws.greengrass#"


@dataclass(frozen=True)
class OperationSpec:
    name: str                          # full name, aws.greengrass#PublishToTopic
    event_shape: Optional[str] = None  # full event shape name for streaming operations

    @property
    def streaming(self) -> bool:
        return self.event_shape is not None

    @property
    def short(self) -> str:
        return self.name[len(PREFIX):]

    @property
    def response_shape(self) -> str:
        return f"{self.name}Response"


_PLAIN = (
    "AuthorizeClientDeviceAction", "CancelLocalDeployment", "CreateDebugPassword", "CreateLocalDeployment",
    "DeferComponentUpdate", "DeleteThingShadow", "GetClientDeviceAuthToken", "GetComponentDetails",
    "GetConfiguration", "GetLocalDeploymentStatus", "GetSecretValue", "GetThingShadow", "ListComponents",
    "ListLocalDeployments", "ListNamedShadowsForThing", "PauseComponent", "PublishToIoTCore", "PublishToTopic",
    "PutComponentMetric", "RestartComponent", "ResumeComponent", "SendConfigurationValidityReport",
    "StopComponent", "UpdateConfiguration", "UpdateState", "UpdateThingShadow", "ValidateAuthorizationToken",
    "VerifyClientDeviceIdentity",
)
_STREAMING = {
    "SubscribeToTopic": "SubscriptionResponseMessage",
    "SubscribeToIoTCore": "IoTCoreMessage",
    "SubscribeToConfigurationUpdate": "ConfigurationUpdateEvents",
    "SubscribeToValidateConfigurationUpdates": "ValidateConfigurationUpdateEvents",
    "SubscribeToComponentUpdates": "ComponentUpdatePolicyEvents",
    "SubscribeToCertificateUpdates": "CertificateUpdateEvent",
}

#: every operation a nucleus 2.x recognises (the Java model it is built with)
NUCLEUS_OPERATIONS: Mapping[str, OperationSpec] = {
    **{PREFIX + n: OperationSpec(PREFIX + n) for n in _PLAIN},
    **{PREFIX + n: OperationSpec(PREFIX + n, PREFIX + e) for n, e in _STREAMING.items()},
}

#: in the Python SDK's model but not in the nucleus' one: answered as an unknown operation
NOT_IN_NUCLEUS_MODEL = (PREFIX + "SubscribeToIoTCoreConnectionStatus",)


def full_name(short: str) -> str:
    return short if short.startswith(PREFIX) else PREFIX + short
