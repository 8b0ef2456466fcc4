"""The ``greengrass-cli`` client's error."""
from __future__ import annotations


class CliError(Exception):
    """What the client reports to its user as one line and exit status 1 (no running V2 core, no
    ``aws.greengrass.Cli`` on it, an IPC error answer, a bad option)."""
