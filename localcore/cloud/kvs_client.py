"""Kinesis Video stand-in, ingest client: ``put_frames`` POSTs JPEG frames to the stand-in's
local ingest route (the local replacement for PutMedia), SigV4-signed as ``kinesisvideo``."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Iterable

from .kvs_state import DEFAULT_REGION, INGEST_PREFIX, SERVICE_NAME, Frame, validate_stream_name


@dataclass
class PutResult:
    frames: int = 0
    requests: int = 0
    fragments: list = field(default_factory=list)
    archived: bool = True


def _signed_post(url: str, body: bytes, region: str, credentials, timeout: float) -> dict:
    from botocore.auth import SigV4Auth  # noqa: PLC0415
    from botocore.awsrequest import AWSRequest  # noqa: PLC0415

    req = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, SERVICE_NAME, region).add_auth(req)
    prepared = urllib.request.Request(url, data=body, method="POST", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(prepared, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        try:
            doc = json.loads(detail)
            detail = f"{doc.get('__type', '')}: {doc.get('Message', detail)}"
        except ValueError:
            pass
        raise KvsClientError(f"POST {url} -> HTTP {exc.code}: {detail}") from exc
    except urllib.error.URLError as exc:
        raise KvsClientError(f"POST {url}: {exc.reason}") from exc


class KvsClientError(Exception):
    """The ingest request failed; the message names the URL, status and AWS error code."""


def put_frames(url: str, stream: str, frames: Iterable[tuple[float, bytes]] | Iterable[Frame], *,
               region: str = DEFAULT_REGION, credentials=None, timeout: float = 30.0,
               max_request_bytes: int = 768 * 1024) -> PutResult:
    """Send JPEG ``frames`` ((producer timestamp in epoch seconds, JPEG bytes), in time order) to
    the stand-in at ``url`` (the local cloud's base URL). Requests are SigV4-signed as service
    ``kinesisvideo`` (``credentials``: botocore credentials; default: the usual chain, else dummy
    local keys) and batched to stay under ``max_request_bytes``. Raises KvsClientError."""
    validate_stream_name(stream, "stream")
    if credentials is None:
        from botocore.credentials import Credentials  # noqa: PLC0415
        from botocore.session import Session  # noqa: PLC0415

        credentials = Session().get_credentials() or Credentials("local", "local")
    target = f"{url.rstrip('/')}{INGEST_PREFIX}{stream}/frames"
    result = PutResult()
    batch: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal batch, size
        if not batch:
            return
        body = ('{"frames": [' + ",".join(batch) + "]}").encode()
        doc = _signed_post(target, body, region, credentials, timeout)
        result.requests += 1
        result.frames += doc.get("Frames", 0)
        result.fragments.extend(doc.get("Fragments", []))
        result.archived = bool(doc.get("Archived", True))
        batch, size = [], 0

    for item in frames:
        ts, jpeg = (item.timestamp, item.jpeg) if isinstance(item, Frame) else item
        entry = json.dumps({"producer_timestamp": float(ts),
                            "jpeg_b64": base64.b64encode(jpeg).decode("ascii")})
        if batch and size + len(entry) > max_request_bytes:
            flush()
        batch.append(entry)
        size += len(entry) + 1
    flush()
    return result
