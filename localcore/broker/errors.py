"""Errors of the broker package."""
from __future__ import annotations


class BrokerError(Exception):
    """Base class of broker errors."""


class ProtocolError(BrokerError):
    """A client broke MQTT 3.1.1: malformed packet, wrong order, limits. The client is disconnected."""
