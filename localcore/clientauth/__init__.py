"""Client-device auth of the local core, as ``aws.greengrass.clientdevices.Auth`` does it (V2).

``policy_from_config(auth_config)`` parses the component's ``deviceGroups`` configuration into a
:class:`DeviceGroupsPolicy` (the ``ClientPolicy`` the broker asks per CONNECT, PUBLISH and
SUBSCRIBE entry); ``device_grants(auth_config, known_things)`` summarises the same configuration per
device (:class:`Grants`: what it may publish and subscribe to) for building routes. Pure: no sockets,
no AWS calls.
"""
from localcore.clientauth.config import FORMAT_VERSION, THING_NAME_VARIABLE, DeviceGroups, parse_device_groups
from localcore.clientauth.errors import AuthConfigError, ClientAuthError
from localcore.clientauth.grants import Grants, device_grants
from localcore.clientauth.policy import DeviceGroupsPolicy, policy_from_config, resource_matcher
from localcore.clientauth.rules import SelectionRule, parse_rule

__all__ = [
    "AuthConfigError", "ClientAuthError", "DeviceGroups", "DeviceGroupsPolicy", "FORMAT_VERSION", "Grants",
    "SelectionRule", "THING_NAME_VARIABLE", "device_grants", "parse_device_groups", "parse_rule",
    "policy_from_config", "resource_matcher",
]
