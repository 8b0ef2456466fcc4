"""API Gateway HTTP API (payload format 2.0) events and responses, as ``sam local start-api``
builds and reads them. Pure: no sockets, no processes."""
from __future__ import annotations

import base64
import datetime as _dt
import json
import uuid
from typing import Any, Iterable
from urllib.parse import urlencode

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded")


def _joined(pairs: Iterable[tuple[str, str]], lower: bool) -> dict[str, str]:
    """Repeated keys joined with commas, as payload 2.0 does for headers and query parameters."""
    out: dict[str, str] = {}
    for key, value in pairs:
        key = key.lower() if lower else key
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def http_api_event(method: str, path: str, query: Iterable[tuple[str, str]] = (),
                   headers: Iterable[tuple[str, str]] = (), body: bytes = b"", *,
                   raw_query: str | None = None, source_ip: str = "127.0.0.1",
                   route_key: str = "$default", stage: str = "$default", api_id: str = "local",
                   account_id: str = "123456789012", now: _dt.datetime | None = None,
                   request_id: str | None = None) -> dict[str, Any]:
    """The payload 2.0 event of one HTTP request (what API Gateway HTTP APIs and function URLs
    send a Lambda). ``query`` and ``headers`` are (name, value) pairs in request order."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    query = list(query)
    header_pairs = [(k, v) for k, v in headers if k.lower() != "cookie"]
    cookies = [c.strip() for k, v in headers if k.lower() == "cookie" for c in v.split(";") if c.strip()]
    hdrs = _joined(header_pairs, lower=True)
    host = hdrs.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query if raw_query is not None else urlencode(query),
        "headers": hdrs,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": hdrs.get("user-agent", ""),
            },
            "requestId": request_id or uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = _joined(query, lower=False)
    if body:
        ctype = hdrs.get("content-type", "")
        if ctype.startswith(TEXT_TYPES):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                pass
        if "body" not in event:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


class MalformedResponse(ValueError):
    """The function's return value is not a valid payload 2.0 response."""


def http_response(payload: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """``(status, headers, body)`` of a function's payload 2.0 response.

    A dict with ``statusCode`` is taken as a full response (``headers``, ``multiValueHeaders``,
    ``cookies``, ``body``, ``isBase64Encoded``); anything else is, as API Gateway does it, a 200
    JSON answer whose body is the value. Raises MalformedResponse saying what is wrong."""
    if not (isinstance(payload, dict) and "statusCode" in payload):
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return 200, [("Content-Type", "application/json")], body.encode("utf-8")
    status = payload["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode must be an integer 100..599, got {status!r}")
    headers: list[tuple[str, str]] = []
    raw_headers = {} if payload.get("headers") is None else payload["headers"]
    if not isinstance(raw_headers, dict):
        raise MalformedResponse("headers must be an object")
    for key, value in raw_headers.items():
        headers.append((str(key), str(value)))
    multi = {} if payload.get("multiValueHeaders") is None else payload["multiValueHeaders"]
    if not isinstance(multi, dict):
        raise MalformedResponse("multiValueHeaders must be an object")
    for key, values in multi.items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(key), str(value)))
    for cookie in payload.get("cookies") or []:
        headers.append(("Set-Cookie", str(cookie)))
    body = payload.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, got {type(body).__name__}")
    elif payload.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise MalformedResponse(f"body is marked isBase64Encoded but is not base64: {exc}") from None
    else:
        data = body.encode("utf-8")
    return status, headers, data
