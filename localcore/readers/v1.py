"""The V1 reader: the group file a V1 deployment was made from → the core's configuration (the follower
that applies later V1 deployments while the core runs is the V1 run's: ``localcore/run_v1.py``).

The local V1 deployment (``group/v1``) is made from the group file; the cloud's group version holds the
same definitions (core, devices, functions, subscriptions, resources, loggers, connectors) and the
Lambda aliases of the code in the bundle, so the reader takes the validated group file itself: the
same ``group.model.Group`` the V2 reader rebuilds from a V2 deployment (``readers/v2.py``), with the
V1 profile (``localcore/platform.py``).
"""
from __future__ import annotations

import logging
from pathlib import Path

from group.model import load as load_group
from localcore.platform import V1, CoreSetup

log = logging.getLogger(__name__)


def read_group_file(group_file: Path, root: Path) -> CoreSetup:
    """The V1 core configuration: the validated group file (GroupValidationError when it is invalid)."""
    group, _ = load_group(group_file, root)
    return CoreSetup(group, V1)
