"""Errors of the router package."""
from __future__ import annotations


class RouterError(Exception):
    """Base class of router errors."""


class TopicError(RouterError, ValueError):
    """A topic or topic filter that MQTT / AWS IoT would refuse; the message says what and where."""


class RouteError(RouterError, ValueError):
    """A subscription-table row that cannot be used (bad endpoint or topic filter)."""

