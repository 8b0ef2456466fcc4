"""The environment of a generic component's process, as the nucleus gives it (pure).

Nucleus: ``lifecycleManager/ShellRunner`` (SVCUID, the same value as AWS_CONTAINER_AUTHORIZATION_TOKEN,
GG_ROOT_CA_PATH), ``ipc/IPCEventStreamService`` (the two socket variables), ``deployment/DeviceConfiguration``
(AWS_IOT_THING_NAME, AWS_REGION, AWS_DEFAULT_REGION), ``lifecyclemanager/Kernel`` (GGC_VERSION),
``tes/TokenExchangeService`` (AWS_CONTAINER_CREDENTIALS_FULL_URI) and ``GenericExternalService.addEnv`` (the
recipe's global ``Setenv``, then the step's, deeper keys winning) — aws-greengrass/aws-greengrass-nucleus.
The local core adds what running beside the user's own environment needs: HOME and PYTHONUSERBASE in the
component's work folder (``pip --user`` stays inside it), its shims first on PATH, the local cloud's endpoint
and the stream manager's port.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional, Sequence

from localcore.nucleus_socket import socket_path_for_component

# Variables the core sets itself; a parent's static AWS keys would shadow the container credentials.
DROP_WHEN_CONTAINER_CREDS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                             "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")


def component_environment(base: Mapping[str, str], *, token: str, region: str, thing_name: str, nucleus_version: str,
                          work: Path, shims: Path, root_ca_path: Optional[str] = None,
                          credentials_uri: Optional[str] = None, cloud_endpoint_url: Optional[str] = None,
                          stream_manager_port: Optional[int] = None, ipc_socket: Optional[Path] = None,
                          setenv: Sequence[Mapping[str, str]] = (),
                          extra_pythonpath: Sequence[str] = ()) -> dict[str, str]:
    """``base`` (the core's own environment) with what the nucleus sets for one component process; ``setenv``:
    the recipe's global ``Setenv`` then the step's, applied in that order."""
    env = dict(base)
    if credentials_uri:
        for key in DROP_WHEN_CONTAINER_CREDS:
            env.pop(key, None)
    userbase = work / ".local"
    env.update({
        "SVCUID": token,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_IOT_THING_NAME": thing_name,
        "GGC_VERSION": nucleus_version,
        "GG_ROOT_CA_PATH": root_ca_path or "",
        "HOME": str(work),
        "PYTHONUSERBASE": str(userbase),
        "PATH": os.pathsep.join([str(shims), str(userbase / "bin"), env.get("PATH", os.defpath)]),
    })
    if credentials_uri:
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = credentials_uri
    if cloud_endpoint_url:
        env["AWS_ENDPOINT_URL"] = cloud_endpoint_url
    if stream_manager_port is not None:
        env["STREAM_MANAGER_SERVER_PORT"] = str(stream_manager_port)
    if ipc_socket is not None:
        env["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH"] = str(ipc_socket)
        env["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"] = socket_path_for_component(ipc_socket, work)
    for layer in setenv:
        env.update(layer)
    if extra_pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([*extra_pythonpath, *filter(None, [env.get("PYTHONPATH")])])
    return env
