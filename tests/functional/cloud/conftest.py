"""One real LocalCloud per test module (moto's backends warm up lazily: share them)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Callable

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.config import Config

from localcore.cloud import LocalCloud

REGION = "us-east-1"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> LocalCloud:
    c = LocalCloud(tmp_path_factory.mktemp("cloud"), region=REGION)
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def client(cloud) -> Callable[..., Any]:
    """``client("greengrass")``: a real boto3 client pointed at the cloud's one URL."""
    made: dict[tuple[str, bool], Any] = {}

    def make(service: str, *, no_host_prefix: bool = False) -> Any:
        key = (service, no_host_prefix)
        if key not in made:
            cfg = (
                Config(inject_host_prefix=False, retries={"max_attempts": 1})
                if no_host_prefix
                else Config(retries={"max_attempts": 1})
            )
            made[key] = boto3.client(service, endpoint_url=cloud.url, region_name=REGION, config=cfg, **KEYS)
        return made[key]

    return make


def http(
    method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, (json.loads(raw) if raw else None)


@pytest.fixture(scope="module")
def signed(cloud) -> Callable[..., tuple[int, Any]]:
    """``signed("iotanalytics", "POST", "/messages/batch", {...})``: a hand-SigV4-signed JSON call,
    as callers of services without a botocore client make it."""

    def call(service: str, method: str, path: str, obj: Any | None = None) -> tuple[int, Any]:
        body = b"" if obj is None else json.dumps(obj).encode()
        req = botocore.awsrequest.AWSRequest(
            method=method, url=cloud.url + path, data=body, headers={"Content-Type": "application/json"}
        )
        creds = botocore.credentials.Credentials(KEYS["aws_access_key_id"], KEYS["aws_secret_access_key"])
        botocore.auth.SigV4Auth(creds, service, REGION).add_auth(req)
        return http(method, req.url, body or None, dict(req.headers.items()))

    return call


@pytest.fixture(scope="module")
def local_get(cloud) -> Callable[[str], tuple[int, Any]]:
    """GET on an unsigned read-back route, e.g. ``local_get("/_local/iotsitewise/entries")``."""
    return lambda path: http("GET", cloud.url + path)
