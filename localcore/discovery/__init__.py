"""Greengrass discovery service of the local core (what DiscoveryInfoProvider calls)."""
from localcore.discovery.errors import DiscoveryConfigError, DiscoveryError
from localcore.discovery.server import DiscoveryServer
from localcore.discovery.state import V2_GROUP_PREFIX, Connectivity, DiscoveryGroup, v2_group_id

__all__ = ["Connectivity", "DiscoveryConfigError", "DiscoveryError", "DiscoveryGroup", "DiscoveryServer",
           "V2_GROUP_PREFIX", "v2_group_id"]
