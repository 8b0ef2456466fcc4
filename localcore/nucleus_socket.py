"""Where a component finds the nucleus' IPC socket: the one rule both the IPC server (which binds it) and the
component runner (which tells each component) follow. Nucleus: ``IPCEventStreamService`` and
``util/platforms/unix/UnixPlatform`` (aws-greengrass/aws-greengrass-nucleus)."""
from __future__ import annotations

import os
from typing import Union

SUN_PATH_MAX = 108  # sockaddr_un.sun_path: a path of this many bytes or more cannot be bound or connected to


def socket_path_for_component(socket_path: Union[str, os.PathLike], work_dir: Union[str, os.PathLike]) -> str:
    """What ``AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT`` holds for a component whose working directory
    is ``work_dir``: the absolute path when it fits in ``sockaddr_un``, else the path relative to ``work_dir``
    (``../../ipc.socket`` for the nucleus' layout), as the nucleus does."""
    absolute = os.path.abspath(socket_path)
    if len(os.fsencode(absolute)) < SUN_PATH_MAX:
        return absolute
    return os.path.relpath(absolute, os.path.abspath(work_dir))
