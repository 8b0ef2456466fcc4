"""HTTP API event ↔ snapshot call. Understands API Gateway HTTP API (payload 2.0) and Lambda
function URL events, and REST API / HTTP API payload 1.0 events."""
from __future__ import annotations

import json
import logging

from .errors import BadRequest, MethodNotAllowed, NotFound, SnapshotError

log = logging.getLogger(__name__)

ROUTE = "/snapshot"


def parse_request(event):
    """``(method, path, query)`` of an API Gateway / function URL event, or BadRequest."""
    if not isinstance(event, dict):
        raise BadRequest("the event is not an HTTP API request (expected a JSON object)")
    http = (event.get("requestContext") or {}).get("http")
    if isinstance(http, dict):  # payload 2.0 / function URL
        method = http.get("method")
        path = event.get("rawPath") or http.get("path")
    else:  # payload 1.0
        method = event.get("httpMethod")
        path = event.get("path")
    if not method or not path:
        raise BadRequest("the event is not an HTTP API request (no method or path)")
    query = event.get("queryStringParameters") or {}
    if not isinstance(query, dict):
        raise BadRequest("queryStringParameters must be an object")
    return method.upper(), path, query


def response(status, payload):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(payload),
        "isBase64Encoded": False,
    }


def handle(event, get_snapshotter):
    """Answer one event. ``get_snapshotter()`` gives the (cached) Snapshotter; it is called only
    for a valid request, so a bad one never builds clients. Never raises, never leaks a trace."""
    try:
        method, path, query = parse_request(event)
        # A named API Gateway stage prefixes rawPath ("/prod/snapshot").
        if path.rstrip("/") != ROUTE and not path.rstrip("/").endswith(ROUTE):
            raise NotFound("no route %s %s (use GET %s?stream_name=NAME)" % (method, path, ROUTE))
        if method != "GET":
            raise MethodNotAllowed("method %s not allowed on %s (use GET)" % (method, ROUTE))
        stream = query.get("stream_name")
        return response(200, get_snapshotter().take(stream))
    except SnapshotError as err:
        if err.status >= 500:
            log.error("snapshot failed: %s (%s)", err.message, err.cause)
        else:
            log.info("snapshot refused (%d): %s", err.status, err.message)
        return response(err.status, err.body())
    except Exception:  # the API boundary: log the trace, answer without it
        log.exception("snapshot failed unexpectedly")
        return response(500, {"error": "internal error"})
