"""Request routing values: SigV4 scope parsing and the small router."""

from __future__ import annotations

import pytest

from localcore.cloud.errors import BadRequest
from localcore.cloud.routing import Router
from localcore.cloud.wire import CloudRequest, credential_scope, json_response

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/{region}/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc"
)


@pytest.mark.parametrize(
    "headers,query,expected",
    [
        (
            {"Authorization": AUTH.format(region="us-east-1", service="greengrass")},
            {},
            ("greengrass", "us-east-1"),
        ),
        (
            {"Authorization": AUTH.format(region="eu-west-1", service="iotanalytics")},
            {},
            ("iotanalytics", "eu-west-1"),
        ),
        ({}, {"X-Amz-Credential": "AKID/20261123/us-east-1/s3/aws4_request"}, ("s3", "us-east-1")),
        ({"Authorization": "Bearer x"}, {}, (None, None)),
        ({}, {}, (None, None)),
    ],
)
def test_credential_scope(headers, query, expected):
    assert credential_scope(headers, query) == expected


def _req(method: str, path: str, body: bytes = b"") -> CloudRequest:
    return CloudRequest(method, path, path, {}, {}, body)


def test_router_matches_method_and_path_and_passes_groups():
    r = Router()
    r.add("GET", r"/things/(?P<name>[^/]+)", lambda req, name: json_response({"name": name}))
    assert r.dispatch(_req("GET", "/things/GG_Core")).body == b'{"name": "GG_Core"}'
    assert r.dispatch(_req("GET", "/things/GG_Core/")) is not None
    assert r.dispatch(_req("POST", "/things/GG_Core")) is None
    assert r.dispatch(_req("GET", "/things/a/b")) is None


def test_request_json_errors_name_the_request():
    assert _req("POST", "/x").json() == {}
    with pytest.raises(BadRequest, match="POST /x"):
        _req("POST", "/x", b"{nope").json()
