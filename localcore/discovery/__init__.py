"""Greengrass discovery service of the local core (what DiscoveryInfoProvider calls)."""
from localcore.discovery.errors import DiscoveryError
from localcore.discovery.server import DiscoveryServer
from localcore.discovery.state import Connectivity, DiscoveryGroup

__all__ = ["Connectivity", "DiscoveryError", "DiscoveryGroup", "DiscoveryServer"]
