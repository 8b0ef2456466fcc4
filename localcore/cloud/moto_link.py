"""Blocking HTTP link from adapter handlers (worker threads) to the moto server.

Handlers forward a client's request to moto with a changed body (e.g. a group version without
the keys moto drops) and post-process the answer. The client's own headers are reused, so moto
routes by the same SigV4 credential scope and sees the same account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import urllib3

from .wire import CloudResponse

# Never forwarded: hop-by-hop headers, lengths recomputed from the body, and Expect (the front
# has already answered any 100-continue).
DROP_REQUEST_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
    }
)
DROP_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


@dataclass
class MotoReply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}

    def to_response(self) -> CloudResponse:
        return CloudResponse(self.status, self.body, dict(self.headers))


class MotoLink:
    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._pool = urllib3.PoolManager(maxsize=16, timeout=urllib3.Timeout(total=timeout_s), retries=False)

    def request(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> MotoReply:
        h = {k: v for k, v in headers.items() if k.lower() not in DROP_REQUEST_HEADERS}
        resp = self._pool.request(
            method,
            self.base_url + raw_path,
            headers=h,
            body=body,
            redirect=False,
            preload_content=True,
            decode_content=False,
        )
        out = {k: v for k, v in resp.headers.items() if k.lower() not in DROP_RESPONSE_HEADERS}
        return MotoReply(resp.status, out, resp.data)

    def json_request(
        self, method: str, raw_path: str, headers: Mapping[str, str], obj: Any | None = None
    ) -> MotoReply:
        body = None if obj is None else json.dumps(obj).encode()
        h = dict(headers)
        if body is not None:
            h = {k: v for k, v in h.items() if k.lower() != "content-type"}
            h["Content-Type"] = "application/json"
        return self.request(method, raw_path, h, body)

    def close(self) -> None:
        self._pool.clear()
