"""Subscription-table router of the local core (topic matching, table, sinks, cloud spool)."""
from localcore.router.errors import RouterError, TopicError
from localcore.router.router import Router
from localcore.router.table import RoutingTable

__all__ = ["Router", "RoutingTable", "RouterError", "TopicError"]
