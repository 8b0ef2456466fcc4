"""Names and versions of what the V2 converter makes: components, thing group, policies, role, role alias.

Pure. A component version is ``<lambdaVersion|1>.0.<p>`` with ``p`` from the content hash (a version number
has at most 6 digits: :data:`group.v2.versions.MAX_VERSION_PART`), so the same content always gets the same
version and a change a new one.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..model import Group
from ..plan import aws_name, lambda_name
from .model import content_hash
from .versions import MAX_VERSION_PART

COMPONENT_NAME_MAX = 128


def component_name(group: Group, function: str) -> str:
    """A Lambda component's name: the Lambda function's name, as AWS's import defaults to (≤ 64 chars)."""
    return lambda_name(group, function)


def compose_component_name(group: Group, connector: str) -> str:
    return aws_name(group.name, connector, "compose", limit=COMPONENT_NAME_MAX)


def thing_group_name(group: Group) -> str:
    return group.name


def core_policy_name(group: Group) -> str:
    return aws_name(group.name, "v2-core-policy", limit=128)


def device_policy_name(group: Group) -> str:
    return aws_name(group.name, "v2-device-policy", limit=128)


def token_exchange_role_name(group: Group) -> str:
    return aws_name(group.name, "token-exchange-role")  # IAM role names: 64 chars


def role_alias_name(group: Group) -> str:
    return aws_name(group.name, "token-exchange-alias", limit=128)


def lambda_component_version(lambda_version: str, request_content: Mapping[str, Any]) -> str:
    """``<lambdaVersion>.0.<p>``: p = the content hash as an integer below 10**6 (a version part has at most
    6 digits in Greengrass's recipe schema), so unchanged code (same published Lambda version) and parameters
    give the same version and any change a new one (a repeat has a one-in-a-million chance)."""
    return f"{lambda_version}.0.{_patch(content_hash(request_content))}"


def file_component_version(sha256_hex: str) -> str:
    return f"1.0.{_patch(sha256_hex)}"


def _patch(sha256_hex: str) -> int:
    return int(sha256_hex[:8], 16) % (MAX_VERSION_PART + 1)
