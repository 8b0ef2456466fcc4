"""Errors of the dashboard package."""
from __future__ import annotations


class DashboardError(Exception):
    """Base class of dashboard errors."""


class DashboardConfigError(DashboardError, ValueError):
    """A Dashboard built with settings it cannot use (the message says which and how to fix)."""
