"""Lambda entry point: ``snapshot.handler.lambda_handler`` (GET /snapshot?stream_name=NAME)."""
from __future__ import annotations

from . import api
from .config import Config
from .service import Snapshotter

_snapshotter = None  # built on the first valid request, reused while the container is warm


def _get_snapshotter():
    global _snapshotter
    if _snapshotter is None:
        _snapshotter = Snapshotter(Config.from_env())
    return _snapshotter


def lambda_handler(event, context):
    return api.handle(event, _get_snapshotter)
