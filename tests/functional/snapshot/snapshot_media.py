"""Shared media helpers of the snapshot / Kinesis Video functional tests (loaded by conftest.py
as module ``snapshot_media``; pytest's importlib mode cannot import sibling modules)."""
from __future__ import annotations

import cv2
import numpy as np

from localcore.cloud.kvs import Frame

REGION = "us-east-1"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

# Distinct BGR colours, far apart after JPEG + mp4v round trips.
RED, GREEN, BLUE, GREY = (0, 0, 230), (0, 220, 0), (230, 0, 0), (128, 128, 128)


def card(colour, label: str = "", size=(160, 120)) -> bytes:
    """A JPEG filled with ``colour`` (BGR), with ``label`` drawn small in a corner."""
    w, h = size
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[:] = colour
    if label:
        cv2.putText(img, label, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def frames(start: float, count: int, colour, fps: float = 10.0, last_colour=None) -> list[Frame]:
    """``count`` frames from ``start`` at ``fps``; the last one in ``last_colour`` if given."""
    out = []
    for i in range(count):
        c = last_colour if (last_colour is not None and i == count - 1) else colour
        out.append(Frame(start + i / fps, card(c, str(i))))
    return out


def mean_bgr(jpeg: bytes) -> tuple[float, float, float]:
    img = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a decodable JPEG"
    # the centre, away from the label
    h, w = img.shape[:2]
    b, g, r = img[h // 3: 2 * h // 3, w // 3: 2 * w // 3].reshape(-1, 3).mean(axis=0)
    return float(b), float(g), float(r)


def close_to(actual, expected, tol: float = 40.0) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected))


def http_event(path: str = "/snapshot", method: str = "GET", query: dict | None = None) -> dict:
    """An API Gateway HTTP API (payload 2.0) event, as a function URL also sends it."""
    from urllib.parse import urlencode

    event = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {"host": "abc.execute-api.us-east-1.amazonaws.com", "user-agent": "pytest"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "pytest"},
            "requestId": "test", "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    if query is not None:
        event["queryStringParameters"] = query
    return event
