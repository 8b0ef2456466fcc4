"""Errors the core raises to the code that drives it (the platform runs and their readers)."""
from __future__ import annotations


class DeploymentRejected(Exception):
    """A new configuration the running core cannot apply; the old configuration keeps running.
    The message says what and why (it becomes the deployment's error message)."""
