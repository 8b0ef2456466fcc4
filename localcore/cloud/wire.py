"""The request / response values exchanged between the HTTP front and the service handlers.

Handlers (ours and extensions such as the Kinesis Video stand-in) never see aiohttp objects:
they get a :class:`CloudRequest` with the whole body read, and return a :class:`CloudResponse`
or ``None`` ("not mine": the front proxies the request to moto unchanged).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import ApiError, BadRequest

# SigV4: "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/greengrass/aws4_request, ..."
_SCOPE = re.compile(r"Credential=[^/\s,]+/\d{8}/([^/\s,]+)/([^/\s,]+)/aws4_request")


def credential_scope(headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(service, region)`` from the SigV4 credential scope, or ``(None, None)``.

    Looks at the ``Authorization`` header, then at a presigned URL's ``X-Amz-Credential``.
    This is how moto's server itself picks a backend.
    """
    auth = headers.get("Authorization", "")
    m = _SCOPE.search(auth)
    if m is None:
        cred = query.get("X-Amz-Credential", "")
        if cred:
            m = _SCOPE.search("Credential=" + cred)
    if m is None:
        return None, None
    return m.group(2), m.group(1)


@dataclass(frozen=True)
class CloudRequest:
    """One HTTP request as a handler sees it.

    ``path`` is percent-decoded (match routes on it); ``raw_path`` is the path and query exactly as
    the client sent them. ``headers`` is case-insensitive. ``service``/``region`` come from the
    SigV4 credential scope, or for unsigned ``/_local/<service>/...`` read-back routes ``service``
    is that path segment and ``region`` is ``None``.
    """

    method: str
    path: str
    raw_path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    service: str | None = None
    region: str | None = None

    def json(self) -> Any:
        """The body parsed as JSON (an empty body is ``{}``); a bad body is a 400."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BadRequest(f"request body of {self.method} {self.path} is not JSON: {exc}") from exc


@dataclass
class CloudResponse:
    """An answer. ``body`` is bytes, or an iterable of byte chunks streamed to the client."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> CloudResponse:
    h = {"Content-Type": "application/json"}
    if headers:
        h.update(headers)
    return CloudResponse(status, json.dumps(obj).encode(), h)


def error_response(err: ApiError) -> CloudResponse:
    return json_response(err.body(), err.status, {"x-amzn-ErrorType": err.code})


def b64decode_field(value: Any, where: str) -> bytes:
    """Decode a JSON blob field (botocore sends blobs as base64 text)."""
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise BadRequest(f"{where} is not valid base64: {exc}") from exc
