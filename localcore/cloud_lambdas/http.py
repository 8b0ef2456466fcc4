"""The snapshot Lambda behind HTTP (aiohttp, like ``sam local start-api``) and behind the
dashboard facade.

* ``function_route(runner)`` / ``snapshot_route(runner)``: an aiohttp handler turning each
  request into a payload 2.0 event (``events.http_api_event``) and the function's answer into the
  HTTP response. A failed invocation answers ``{"error", "errorType"}`` with 502 (handler error,
  crash, malformed response) or 504 (timeout): the message, never a traceback.
* ``snapshot_via_runner(runner, stream_name)``: the ``DashboardFacade.snapshot`` coroutine,
  ``{"url", "key", "frame_time"}`` or SnapshotFailed with the API's status and reason.
"""
from __future__ import annotations

import json
import logging
from typing import Awaitable, Callable

from aiohttp import web

from .errors import SnapshotFailed
from .events import MalformedResponse, http_api_event, http_response
from .runner import MAX_EVENT_BYTES, CloudFunctionRunner

log = logging.getLogger(__name__)

SNAPSHOT_PATH = "/snapshot"


def _json_error(status: int, message: str, error_type: str) -> web.Response:
    return web.json_response({"error": message, "errorType": error_type}, status=status,
                             headers={"Cache-Control": "no-store"})


def function_route(runner: CloudFunctionRunner) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """An aiohttp handler invoking ``runner`` with the request as an HTTP API payload 2.0 event
    (``rawPath`` is the request's path, so mount it at a path the function answers)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
            return _json_error(413, f"request body over {MAX_EVENT_BYTES} bytes", "RequestEntityTooLarge")
        body = await request.read()
        peer = request.remote or "127.0.0.1"
        event = http_api_event(request.method, request.path, request.query.items(), request.headers.items(),
                               body, raw_query=request.query_string, source_ip=peer)
        result = await runner.invoke(event)
        if not result["ok"]:
            log.warning("%s %s: function %s failed: %s: %s", request.method, request.path, runner.name,
                        result["errorType"], result["errorMessage"])
            return _json_error(result["status"], result["errorMessage"], result["errorType"])
        try:
            status, headers, data = http_response(result["payload"])
        except MalformedResponse as exc:
            log.error("function %s returned a malformed response: %s", runner.name, exc)
            return _json_error(502, f"the function returned a malformed response: {exc}",
                               "MalformedResponse")
        response = web.Response(status=status, body=data)
        for key, value in headers:
            response.headers.add(key, value)
        return response

    return handle


def snapshot_route(runner: CloudFunctionRunner) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``GET /api/snapshot?stream_name=NAME`` (or any path ending in ``/snapshot``) → the snapshot
    Lambda → its statusCode/headers/body. ``app.router.add_get("/api/snapshot", snapshot_route(r))``."""
    return function_route(runner)


async def snapshot_via_runner(runner: CloudFunctionRunner, stream_name: str) -> dict:
    """One snapshot through the Lambda: its 200 body ``{"url", "key", "frame_time"}``.

    Raises SnapshotFailed (``status``: the API's HTTP status, ``body``: its JSON) with the reason,
    e.g. ``snapshot API answered 404: no frame in the last 3 s (...)``."""
    event = http_api_event("GET", SNAPSHOT_PATH, [("stream_name", stream_name)],
                           [("host", "localhost"), ("user-agent", "localcore-dashboard")])
    result = await runner.invoke(event)
    if not result["ok"]:
        raise SnapshotFailed(f"snapshot function failed ({result['errorType']}): {result['errorMessage']}",
                             result["status"], {"error": result["errorMessage"]})
    try:
        status, _, data = http_response(result["payload"])
        body = json.loads(data) if data else {}
    except (MalformedResponse, ValueError) as exc:
        raise SnapshotFailed(f"snapshot function returned a malformed response: {exc}") from None
    if status != 200 or not isinstance(body, dict):
        reason = body.get("error", data[:200].decode("utf-8", "replace")) if isinstance(body, dict) else body
        cause = body.get("cause") if isinstance(body, dict) else None
        raise SnapshotFailed(f"snapshot API answered {status}: {reason}" + (f" ({cause})" if cause else ""),
                             status, body if isinstance(body, dict) else {})
    return body
