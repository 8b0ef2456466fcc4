"""``function_route``: HTTP request → payload 2.0 event → worker → HTTP response, over real HTTP."""
from __future__ import annotations

import textwrap

import aiohttp
import pytest
from aiohttp import web

from localcore.cloud_lambdas import CloudFunctionRunner
from localcore.cloud_lambdas.http import function_route

HANDLER = textwrap.dedent('''
    import base64, json, time


    def handler(event, context):
        q = event.get("queryStringParameters") or {}
        mode = q.get("mode")
        if mode == "echo":
            body = event.get("body") or ""
            raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
            return {"statusCode": 201, "headers": {"X-Echo-Method": event["requestContext"]["http"]["method"]},
                    "cookies": ["k=v"], "body": base64.b64encode(raw[::-1]).decode(), "isBase64Encoded": True}
        if mode == "plain":
            return {"path": event["rawPath"], "q": q}
        if mode == "malformed":
            return {"statusCode": "teapot"}
        if mode == "raise":
            raise RuntimeError("the secret is in the log only")
        if mode == "sleep":
            time.sleep(10)
        return {"statusCode": 204}
''')


@pytest.fixture
async def base_url(tmp_path):
    (tmp_path / "fn.py").write_text(HANDLER)
    runner = CloudFunctionRunner("routefn", tmp_path, "fn.handler", timeout_s=1.0)
    await runner.start()
    app = web.Application()
    app.router.add_route("*", "/fn", function_route(runner))
    site_runner = web.AppRunner(app, access_log=None)
    await site_runner.setup()
    await web.TCPSite(site_runner, "127.0.0.1", 0).start()
    host, port = site_runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/fn"
    finally:
        await site_runner.cleanup()
        await runner.stop()


async def test_full_response_with_binary_body(base_url):
    async with aiohttp.ClientSession() as s:
        async with s.post(base_url, params={"mode": "echo"}, data=b"\x00\x01\xff",
                          headers={"Content-Type": "application/octet-stream"}) as r:
            assert r.status == 201 and await r.read() == b"\xff\x01\x00"
            assert r.headers["X-Echo-Method"] == "POST" and r.headers["Set-Cookie"] == "k=v"


async def test_value_without_status_code_is_json_200(base_url):
    async with aiohttp.ClientSession() as s:
        async with s.get(base_url, params={"mode": "plain", "a": "1"}) as r:
            assert r.status == 200 and await r.json() == {"path": "/fn", "q": {"mode": "plain", "a": "1"}}


@pytest.mark.parametrize("mode, status, error_type, message", [
    ("raise", 502, "RuntimeError", "the secret is in the log only"),
    ("sleep", 504, "Sandbox.Timedout", "Task timed out after 1.00 seconds"),
    ("malformed", 502, "MalformedResponse",
     "the function returned a malformed response: statusCode must be an integer 100..599, got 'teapot'"),
])
async def test_failures_are_json_errors_without_trace(base_url, mode, status, error_type, message):
    async with aiohttp.ClientSession() as s:
        async with s.get(base_url, params={"mode": mode}) as r:
            body = await r.json()
    assert (r.status, body) == (status, {"error": message, "errorType": error_type})
