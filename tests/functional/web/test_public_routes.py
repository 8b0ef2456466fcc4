"""A public API route (the snapshot API) needs no token but keeps the Host / Origin checks."""
from aiohttp import web

from web.app import Dashboard


async def test_public_route_without_token_but_with_host_and_origin_checks(core, http):
    calls = []

    async def snapshot(request: web.Request) -> web.Response:
        calls.append(request.query.get("stream_name"))
        return web.json_response({"url": "http://example/x.jpg"})

    dash = Dashboard(core.facade, public_routes=[("GET", "/api/snapshot", snapshot)])
    await dash.start(port=0)
    try:
        base = f"http://127.0.0.1:{dash.port}"
        async with http.get(f"{base}/api/snapshot?stream_name=webcam") as resp:
            assert resp.status == 200
            assert (await resp.json())["url"].endswith("x.jpg")
        async with http.get(f"{base}/api/snapshot?stream_name=webcam",
                            headers={"Origin": "http://evil.example"}) as resp:
            assert resp.status == 403
        async with http.get(f"{base}/api/snapshot?stream_name=webcam", headers={"Host": "evil.example"}) as resp:
            assert resp.status == 403
        async with http.get(f"{base}/api/status") as resp:  # the others still need the token
            assert resp.status == 403
        assert calls == ["webcam"]
    finally:
        await dash.stop()
