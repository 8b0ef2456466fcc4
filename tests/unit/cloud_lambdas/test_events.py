"""Payload 2.0 events and responses; the events are checked against the real snapshot Lambda's
own request parser (cloud/snapshot/api.py), so the shape is the one it accepts."""
from __future__ import annotations

import base64
import datetime
import json

import pytest

from cloud.snapshot import api
from cloud.snapshot.config import Config
from cloud.snapshot.service import Snapshotter
from localcore.cloud_lambdas.events import MalformedResponse, http_api_event, http_response

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


def test_event_shape_is_payload_2_0():
    event = http_api_event("get", "/api/snapshot", [("stream_name", "cam"), ("x", "1"), ("x", "2")],
                           [("Host", "127.0.0.1:8080"), ("User-Agent", "ua"), ("X-A", "1"), ("x-a", "2"),
                            ("Cookie", "a=1; b=2")], now=NOW, request_id="r1")
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/api/snapshot"
    assert event["rawQueryString"] == "stream_name=cam&x=1&x=2"
    assert event["queryStringParameters"] == {"stream_name": "cam", "x": "1,2"}
    assert event["headers"] == {"host": "127.0.0.1:8080", "user-agent": "ua", "x-a": "1,2"}
    assert event["cookies"] == ["a=1", "b=2"]
    ctx = event["requestContext"]
    assert ctx["http"] == {"method": "GET", "path": "/api/snapshot", "protocol": "HTTP/1.1",
                           "sourceIp": "127.0.0.1", "userAgent": "ua"}
    assert ctx["domainName"] == "127.0.0.1:8080" and ctx["requestId"] == "r1"
    assert ctx["time"] == "02/Jan/2026:03:04:05 +0000" and ctx["timeEpoch"] == 1767323045000
    assert "body" not in event and event["isBase64Encoded"] is False
    json.dumps(event)  # JSON-able, as it crosses the process boundary


def test_the_snapshot_lambda_parses_the_event():
    event = http_api_event("GET", "/api/snapshot", [("stream_name", "cam")])
    assert api.parse_request(event) == ("GET", "/api/snapshot", {"stream_name": "cam"})
    # a bad stream name reaches the Lambda's own validation: 400 before any client is built
    snapshotter = Snapshotter(Config("bucket"))
    bad = api.handle(http_api_event("GET", "/api/snapshot", [("stream_name", "a b")]), lambda: snapshotter)
    assert snapshotter._kinesisvideo is None and snapshotter._s3 is None
    assert bad["statusCode"] == 400 and "invalid stream_name 'a b'" in json.loads(bad["body"])["error"]


def test_bodies_text_and_binary():
    text = http_api_event("POST", "/f", headers=[("Content-Type", "application/json")], body=b'{"a": 1}')
    assert text["body"] == '{"a": 1}' and text["isBase64Encoded"] is False
    binary = http_api_event("POST", "/f", headers=[("Content-Type", "image/jpeg")], body=b"\xff\xd8")
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\xff\xd8"


def test_full_response():
    status, headers, body = http_response({
        "statusCode": 404, "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"X-M": ["1", "2"]}, "cookies": ["c=1"], "body": '{"error": "x"}'})
    assert status == 404 and body == b'{"error": "x"}'
    assert headers == [("Content-Type", "application/json"), ("X-M", "1"), ("X-M", "2"), ("Set-Cookie", "c=1")]


def test_base64_body_and_empty_body():
    assert http_response({"statusCode": 200, "body": "AAE=", "isBase64Encoded": True})[2] == b"\x00\x01"
    assert http_response({"statusCode": 204}) == (204, [], b"")


@pytest.mark.parametrize("payload", [{"url": "u"}, [1, 2], "plain"])
def test_a_value_without_status_code_is_a_200_json_answer(payload):
    status, headers, body = http_response(payload)
    assert status == 200 and ("Content-Type", "application/json") in headers
    assert body == (payload if isinstance(payload, str) else json.dumps(payload)).encode()


@pytest.mark.parametrize("payload, message", [
    ({"statusCode": "200"}, "statusCode must be an integer 100..599, got '200'"),
    ({"statusCode": 99}, "statusCode must be an integer 100..599, got 99"),
    ({"statusCode": 200, "headers": []}, "headers must be an object"),
    ({"statusCode": 200, "body": {"a": 1}}, "body must be a string, got dict"),
    ({"statusCode": 200, "body": "%%%", "isBase64Encoded": True}, "body is marked isBase64Encoded"),
])
def test_malformed_responses_say_what_is_wrong(payload, message):
    with pytest.raises(MalformedResponse, match=message.replace("(", r"\(").replace(")", r"\)")):
        http_response(payload)
