"""Helpers for the V2 converter tests: small groups built from dicts, botocore's own request validation."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict

import botocore.session
import pytest
from botocore.validate import ParamValidator

from group.model import Group, parse

REPO = Path(__file__).resolve().parents[4]
ACCOUNT = "123456789012"
REGION = "us-east-1"

BASE: Dict[str, Any] = {
    "group": {"name": "grp", "region": REGION},
    "core": {"thing": "Core", "connectivity": [{"host": "192.168.1.20", "port": 8883}]},
    "devices": [{"thing": "DevA"}, {"thing": "DevB"}],
    "functions": [
        {"name": "fa", "pinned": True, "memory_mb": 128, "timeout_s": 3},
        {"name": "fb", "pinned": False, "memory_mb": 64, "timeout_s": 7},
    ],
    "stream_manager": {"enabled": False},
}


def make_group(**changes: Any) -> Group:
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(changes))
    group, issues = parse(data)
    assert group is not None, issues
    return group


@pytest.fixture(scope="session")
def gg_model():
    return botocore.session.get_session().get_service_model("greengrassv2")


@pytest.fixture(scope="session")
def check_input(gg_model):
    """Validate a request dict against a greengrassv2 operation's input shape; return the error text ('' = ok)."""
    validator = ParamValidator()

    def check(operation: str, params: Dict[str, Any]) -> str:
        report = validator.validate(params, gg_model.operation_model(operation).input_shape)
        return report.generate_report() if report.has_errors() else ""

    return check
