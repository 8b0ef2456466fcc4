"""The dashboard's HTTP API over a real server on port 0 and a facade over the real router.

Run: .venv/bin/python -m pytest -q tests/functional/web -m "not browser"
"""
from __future__ import annotations

import asyncio
import json

import pytest

from localcore.interfaces import Message
from web.app import Dashboard

LIGHT = "GG_TrafficLight"
SHADOW_UPDATE = f"$aws/things/{LIGHT}/shadow/update"


def base(dashboard) -> str:
    return f"http://127.0.0.1:{dashboard.port}"


def auth(dashboard, **extra) -> dict:
    return {"X-Dashboard-Token": dashboard.token, **extra}


# Every API endpoint, with what a legitimate call would send.
ENDPOINTS = [
    ("GET", "/api/status", None),
    ("GET", "/api/aggregates", None),
    ("POST", "/api/publish", {"topic": "streams/read", "payload": "{}"}),
    ("POST", "/api/snapshot?stream_name=webcam", None),
    ("GET", "/api/events", None),
    ("POST", "/api/subscriptions", {"client": "c1", "filter": "#"}),
    ("DELETE", "/api/subscriptions/s1?client=c1", None),
    ("GET", "/api/webcam/latest.jpg", None),
]


# -- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,path,body", ENDPOINTS)
async def test_every_api_call_without_token_is_refused(dashboard, http, core, method, path, body):
    async with http.request(method, base(dashboard) + path, json=body) as resp:
        assert resp.status == 403
        answer = await resp.json()
    assert answer["error"] == "forbidden"
    assert "missing dashboard token" in answer["reason"]
    assert core.stream_reader.messages == []  # the refused publish went nowhere


@pytest.mark.parametrize("method,path,body", ENDPOINTS)
async def test_every_api_call_with_a_wrong_token_is_refused(dashboard, http, method, path, body):
    wrong = dashboard.token[:-1] + ("A" if dashboard.token[-1] != "A" else "B")
    async with http.request(method, base(dashboard) + path, json=body,
                            headers={"X-Dashboard-Token": wrong}) as resp:
        assert resp.status == 403
        assert "wrong dashboard token" in (await resp.json())["reason"]


async def test_token_in_query_is_accepted_like_the_header(dashboard, http):
    async with http.get(base(dashboard) + "/api/status", params={"token": dashboard.token}) as resp:
        assert resp.status == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:{port}", "127.0.0.2:{port}",
                                  "localhost.attacker.example", "[::2]:{port}", "bad host:x:y"])
@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/status"])
async def test_foreign_host_is_refused_even_with_the_token(dashboard, http, host, path):
    """DNS rebinding: a page on attacker.example resolving to 127.0.0.1 still sends its own Host."""
    headers = auth(dashboard, Host=host.format(port=dashboard.port))
    async with http.get(base(dashboard) + path, headers=headers) as resp:
        assert resp.status == 403
        answer = await resp.json()
    assert answer["error"] == "forbidden"
    assert "Host" in answer["reason"]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
async def test_own_hosts_are_accepted(dashboard, http, host):
    headers = auth(dashboard, Host=host.format(port=dashboard.port))
    async with http.get(base(dashboard) + "/api/status", headers=headers) as resp:
        assert resp.status == 200


@pytest.mark.parametrize("origin", ["http://attacker.example", "null", "https://127.0.0.1:{port}",
                                    "http://127.0.0.1:1", "http://localhost:{port}"])
async def test_foreign_origin_is_refused(dashboard, http, core, origin):
    headers = auth(dashboard, Origin=origin.format(port=dashboard.port))
    async with http.post(base(dashboard) + "/api/publish", headers=headers,
                         json={"topic": "streams/read", "payload": "{}"}) as resp:
        assert resp.status == 403
        answer = await resp.json()
    assert "cross-origin" in answer["reason"]
    assert core.stream_reader.messages == []


async def test_cross_site_fetch_metadata_is_refused(dashboard, http):
    headers = auth(dashboard, **{"Sec-Fetch-Site": "cross-site"})
    async with http.get(base(dashboard) + "/api/status", headers=headers) as resp:
        assert resp.status == 403
        assert "cross-site" in (await resp.json())["reason"]


async def test_own_origin_is_accepted(dashboard, http, core):
    headers = auth(dashboard, Origin=f"http://127.0.0.1:{dashboard.port}", **{"Sec-Fetch-Site": "same-origin"})
    async with http.post(base(dashboard) + "/api/publish", headers=headers,
                         json={"topic": "streams/read", "payload": "{}"}) as resp:
        assert resp.status == 200
    assert len(core.stream_reader.messages) == 1


async def test_page_is_served_without_token_but_locked_down(dashboard, http):
    async with http.get(base(dashboard) + "/") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        text = await resp.text()
        csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert dashboard.token not in text
    assert "https://" not in text and "//cdn" not in text  # no external resources


@pytest.mark.parametrize("name", ["..%2Fapp.py", "missing.js", ".hidden.js", "app.py"])
async def test_static_serves_only_its_own_files(dashboard, http, name):
    async with http.get(base(dashboard) + "/static/" + name) as resp:
        assert resp.status == 404


# -- publish --------------------------------------------------------------------------------------
async def test_publish_reaches_the_routed_target(dashboard, http, core):
    async with http.post(base(dashboard) + "/api/publish", headers=auth(dashboard),
                         json={"topic": "streams/read", "payload": '{"limit": 5}'}) as resp:
        assert resp.status == 200
        assert await resp.json() == {"delivered": 1, "matched": 1}
    [message] = core.stream_reader.messages
    assert (message.source, message.topic, message.payload) == ("cloud", "streams/read", b'{"limit": 5}')


async def test_publish_without_matching_subscription_is_dropped(dashboard, http, core):
    async with http.post(base(dashboard) + "/api/publish", headers=auth(dashboard),
                         json={"topic": "nobody/listens", "payload": "{}"}) as resp:
        assert await resp.json() == {"delivered": 0, "matched": 0}
    assert core.router.status()["dropped"] == 1
    assert core.stream_reader.messages == []


async def test_publish_to_a_target_that_is_not_running_counts_matched_not_delivered(dashboard, http, core):
    async with http.post(base(dashboard) + "/api/publish", headers=auth(dashboard),
                         json={"topic": "cars/passed", "payload": "{}"}) as resp:
        assert await resp.json() == {"delivered": 0, "matched": 1}
    assert core.router.status()["undeliverable"] == 1


async def test_publish_updates_the_real_shadow(dashboard, http, core):
    payload = json.dumps({"state": {"reported": {"property": "GREEN"}}})
    async with http.post(base(dashboard) + "/api/publish", headers=auth(dashboard),
                         json={"topic": SHADOW_UPDATE, "payload": payload}) as resp:
        assert (await resp.json())["delivered"] == 1
    async with http.get(base(dashboard) + "/api/status", headers=auth(dashboard)) as resp:
        status = await resp.json()
    assert status["shadows"][LIGHT]["state"]["reported"] == {"property": "GREEN"}
    assert status["shadows"][LIGHT]["version"] == 1


@pytest.mark.parametrize("body,status,reason", [
    ({"topic": "a/#", "payload": "{}"}, 400, "wildcard"),
    ({"topic": "", "payload": "{}"}, 400, "'topic'"),
    ({"payload": "{}"}, 400, "'topic'"),
    ({"topic": "a/b", "payload": 5}, 400, "'payload'"),
    ({"topic": "a/b", "payload": "x" * (128 * 1024 + 1)}, 413, "limit"),
    (["not", "an", "object"], 400, "JSON object"),
])
async def test_bad_publish_is_refused_with_a_reason(dashboard, http, core, body, status, reason):
    async with http.post(base(dashboard) + "/api/publish", headers=auth(dashboard), json=body) as resp:
        assert resp.status == status
        assert reason in (await resp.json())["reason"]
    assert core.router.status()["routed"] == 0


async def test_publish_body_must_be_json(dashboard, http):
    async with http.post(base(dashboard) + "/api/publish", headers=auth(dashboard), data=b"topic=a") as resp:
        assert resp.status == 400
        assert "application/json" in (await resp.json())["reason"]


# -- status ---------------------------------------------------------------------------------------
async def test_status_has_every_section_and_no_secrets(dashboard, http, core):
    core.set_light("R")
    async with http.get(base(dashboard) + "/api/status", headers=auth(dashboard)) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        text = await resp.text()
    for secret in core.secrets:
        assert secret not in text
    status = json.loads(text)
    assert {"group", "functions", "devices", "subscriptions", "streams", "shadows", "car_stats",
            "dynamodb_items", "webcam", "connectors"} <= set(status)
    assert status["functions"][0]["token"] == "[redacted]"
    assert status["functions"][0]["environment"] == {"AWS_CONTAINER_AUTHORIZATION_TOKEN": "[redacted]",
                                                     "STREAM_NAME": "SensorAggregates"}
    assert status["devices"][1]["tls"]["key_pem"] == "[redacted]"
    assert {"source": "cloud", "target": "function:stream_reader", "topic": "streams/read"} in status["subscriptions"]
    assert status["shadows"][LIGHT]["state"]["reported"]["property"] == "R"


async def test_a_failing_status_provider_is_reported_not_fatal(make_core, http):
    core = make_core()
    core.facade._sections["streams"] = lambda: 1 / 0
    dash = Dashboard(core.facade)
    await dash.start(port=0)
    try:
        async with http.get(base(dash) + "/api/status", headers=auth(dash)) as resp:
            status = await resp.json()
    finally:
        await dash.stop()
    assert "streams" not in status
    assert status["errors"] == {"streams": "ZeroDivisionError: division by zero"}
    assert status["group"]["name"] == "gg-bundle"


# -- server-sent events ------------------------------------------------------------------------------
async def test_events_stream_status_without_secrets(open_events, dashboard, http, core):
    resp, reader, _ = await open_events(dashboard)
    try:
        _, status = await reader.next("status")
        assert status["group"]["deployment"]["status"] == "Success"
        text = json.dumps(status)
        for secret in core.secrets:
            assert secret not in text
        core.set_light("Y")  # the next status event carries the changed shadow
        _, status = await reader.next("status", lambda s: LIGHT in s.get("shadows", {}))
        assert status["shadows"][LIGHT]["state"]["reported"]["property"] == "Y"
    finally:
        resp.close()


async def test_console_subscription_receives_messages_sent_to_cloud(open_events, dashboard, http, core):
    resp, reader, client = await open_events(dashboard)
    try:
        async with http.post(base(dashboard) + "/api/subscriptions", headers=auth(dashboard),
                             json={"client": client, "filter": "hello/+"}) as r:
            assert r.status == 200
            sub = await r.json()
        assert sub["filter"] == "hello/+"
        assert core.router.publish(Message("device:HelloWorld_Publisher", "hello/world", b'{"n": 1}')) == 1
        _, message = await reader.next("message")
        assert message["subscription"] == sub["id"]
        assert (message["topic"], message["source"], message["payload"]) == (
            "hello/world", "device:HelloWorld_Publisher", '{"n": 1}')
        assert message["encoding"] == "utf-8"
    finally:
        resp.close()


async def test_console_publish_to_shadow_shows_the_replies(open_events, dashboard, http, core):
    """Console → router (source cloud) → shadow service → replies routed to cloud → console."""
    resp, reader, client = await open_events(dashboard)
    try:
        async with http.post(base(dashboard) + "/api/subscriptions", headers=auth(dashboard),
                             json={"client": client, "filter": f"$aws/things/{LIGHT}/shadow/update/accepted"}) as r:
            assert r.status == 200
        async with http.post(base(dashboard) + "/api/publish", headers=auth(dashboard), json={
                "topic": SHADOW_UPDATE, "payload": '{"state": {"reported": {"property": "RED"}}}'}) as r:
            assert (await r.json())["delivered"] == 1
        _, message = await reader.next("message")
        assert message["source"] == f"shadow:{LIGHT}"
        accepted = json.loads(message["payload"])
        assert accepted["state"]["reported"] == {"property": "RED"}
        assert accepted["version"] == 1
    finally:
        resp.close()


async def test_binary_payload_is_sent_as_base64(open_events, dashboard, http, core):
    resp, reader, client = await open_events(dashboard)
    try:
        async with http.post(base(dashboard) + "/api/subscriptions", headers=auth(dashboard),
                             json={"client": client, "filter": "#"}) as r:
            assert r.status == 200
        core.router.publish(Message("device:HelloWorld_Publisher", "hello/world", b"\xff\x00\xfe"))
        _, message = await reader.next("message")
        assert (message["encoding"], message["payload"]) == ("base64", "/wD+")
    finally:
        resp.close()


async def test_unsubscribe_releases_the_tap(open_events, dashboard, http, core):
    resp, reader, client = await open_events(dashboard)
    try:
        base_count = core.tap.status()["subscriptions"]  # the display panel's own tap
        async with http.post(base(dashboard) + "/api/subscriptions", headers=auth(dashboard),
                             json={"client": client, "filter": "#"}) as r:
            sub = await r.json()
        assert core.tap.status()["subscriptions"] == base_count + 1
        async with http.delete(base(dashboard) + f"/api/subscriptions/{sub['id']}",
                               params={"client": client}, headers=auth(dashboard)) as r:
            assert r.status == 200
        assert core.tap.status()["subscriptions"] == base_count
        async with http.delete(base(dashboard) + f"/api/subscriptions/{sub['id']}",
                               params={"client": client}, headers=auth(dashboard)) as r:
            assert r.status == 404
    finally:
        resp.close()


async def test_closing_the_page_releases_its_taps(open_events, dashboard, http, core):
    resp, reader, client = await open_events(dashboard)
    async with http.post(base(dashboard) + "/api/subscriptions", headers=auth(dashboard),
                         json={"client": client, "filter": "#"}) as r:
        assert r.status == 200
    assert core.tap.status()["subscriptions"] == 2
    resp.close()

    async def released():
        while core.tap.status()["subscriptions"]:
            # the server notices the closed socket on its next write (status every 0.1 s)
            await asyncio.sleep(0.05)
    await asyncio.wait_for(released(), 5)


@pytest.mark.parametrize("body,reason", [
    ({"client": "nope", "filter": "#"}, "'client'"),
    ({"client": None, "filter": "a/#/b"}, "'client'"),
])
async def test_subscription_needs_an_open_stream(dashboard, http, body, reason):
    async with http.post(base(dashboard) + "/api/subscriptions", headers=auth(dashboard), json=body) as r:
        assert r.status == 400
        assert reason in (await r.json())["reason"]


async def test_bad_topic_filter_is_refused(open_events, dashboard, http):
    resp, reader, client = await open_events(dashboard)
    try:
        async with http.post(base(dashboard) + "/api/subscriptions", headers=auth(dashboard),
                             json={"client": client, "filter": "a/#/b"}) as r:
            assert r.status == 400
            assert "'#' is allowed only as the last level" in (await r.json())["reason"]
    finally:
        resp.close()


async def test_aggregates_reach_the_display_panel_stream(open_events, dashboard, http, core):
    resp, reader, _ = await open_events(dashboard)
    try:
        _, initial = await reader.next("aggregates")
        assert initial == {"records": [], "time": initial["time"], "initial": True}
        core.publish_aggregates({"location": "kitchen", "mean": 21.5, "min": 20.0, "max": 23.0, "count": 10,
                                 "window_start": 0, "window_end": 10_000})
        _, update = await reader.next("aggregates")
        assert update["records"][0]["location"] == "kitchen"
        assert update["records"][0]["mean"] == 21.5
    finally:
        resp.close()
    async with http.get(base(dashboard) + "/api/aggregates", headers=auth(dashboard)) as r:
        latest = await r.json()
    assert latest["kitchen"]["mean"] == 21.5


async def test_stop_ends_open_event_streams_promptly(open_events, core, http):
    dash = Dashboard(core.facade, status_interval=0.1)
    await dash.start(port=0)
    resp, reader, _ = await open_events(dash)
    try:
        await asyncio.wait_for(dash.stop(), 3)
        with pytest.raises(AssertionError, match="ended"):
            await reader.next("never")
    finally:
        resp.close()
    assert core.tap.status()["subscriptions"] == 0


# -- webcam and snapshot ------------------------------------------------------------------------------
async def test_latest_webcam_frame_is_served(dashboard, http, core):
    async with http.get(base(dashboard) + "/api/webcam/latest.jpg", headers=auth(dashboard)) as r:
        assert r.status == 200
        assert r.content_type == "image/jpeg"
        assert await r.read() == core.jpeg_bytes


async def test_missing_webcam_frame_is_404(dashboard, http, core):
    core.jpeg.unlink()
    async with http.get(base(dashboard) + "/api/webcam/latest.jpg", headers=auth(dashboard)) as r:
        assert r.status == 404
        assert "cannot read the latest frame" in (await r.json())["reason"]


async def test_the_page_is_never_told_of_a_frame_the_dashboard_could_not_read(open_events, make_core, http):
    """The uploader can delete the first frame before the dashboard reads it: the page must not ask for it
    (a 404 in the browser); it is told of the next frame the dashboard holds a copy of."""
    core = make_core()
    gone = core.jpeg.parent / "gone.jpg"
    named = {"path": str(gone)}
    core.facade._sections["webcam"] = lambda: {"latest_jpeg_path": named["path"], "captured": 1, "saved": 1,
                                               "uploaded": 1, "export_statuses": []}
    dash = Dashboard(core.facade, status_interval=0.05)
    await dash.start(port=0)
    resp, reader, _ = await open_events(dash)
    try:
        _, status = await reader.next("status")
        assert status["webcam"]["latest_jpeg_path"] is None and status["webcam"]["latest_kept"] is False
        named["path"] = str(core.jpeg)  # the next frame is still there when the status names it
        _, status = await reader.next("status", lambda s: s["webcam"]["latest_jpeg_path"] is not None)
        assert status["webcam"]["latest_jpeg_path"] == str(core.jpeg)
        core.jpeg.unlink()  # uploaded and deleted: the page still gets the copy
        async with http.get(base(dash) + "/api/webcam/latest.jpg", headers=auth(dash)) as r:
            assert r.status == 200 and await r.read() == core.jpeg_bytes
    finally:
        resp.close()
        await dash.stop()


async def test_snapshot_returns_the_api_result(dashboard, http):
    async with http.post(base(dashboard) + "/api/snapshot", params={"stream_name": "webcam"},
                         headers=auth(dashboard)) as r:
        assert r.status == 200
        result = await r.json()
    assert result["key"] == "webcam/latest.jpg"
    assert result["url"].startswith("http://")


@pytest.mark.parametrize("name,status,reason", [
    ("other", 502, "no Kinesis video stream named 'other'"),
    ("", 400, "stream_name"),
    ("../etc", 400, "stream_name"),
])
async def test_snapshot_failures_say_why(dashboard, http, name, status, reason):
    async with http.post(base(dashboard) + "/api/snapshot", params={"stream_name": name},
                         headers=auth(dashboard)) as r:
        assert r.status == status
        assert reason in (await r.json())["reason"]


def test_dashboard_url_carries_the_token_and_defaults_to_loopback():
    dash = Dashboard(object(), token="t" * 32)
    with pytest.raises(RuntimeError, match="not started"):
        dash.url
    assert Dashboard(object()).token != Dashboard(object()).token


async def test_dashboard_binds_loopback_by_default(core):
    dash = Dashboard(core.facade)
    await dash.start(port=0)
    try:
        assert dash.host == "127.0.0.1"
        assert dash.url == f"http://127.0.0.1:{dash.port}/?token={dash.token}"
    finally:
        await dash.stop()


async def test_a_busy_port_fails_start_cleanly(core, dashboard):
    second = Dashboard(core.facade)
    with pytest.raises(OSError):
        await second.start(port=dashboard.port)
    with pytest.raises(RuntimeError, match="not started"):
        second.url
    await second.stop()  # nothing to stop: no error


@pytest.mark.parametrize("kwargs,reason", [
    ({"token": "short", "allowed_hosts": ["127.0.0.1"]}, "at least 16"),
    ({"token": "x" * 32, "allowed_hosts": []}, "allowed_hosts is empty"),
    ({"token": "x" * 32, "allowed_hosts": ["127.0.0.1"], "status_interval": 0}, "status_interval"),
])
def test_make_app_refuses_unusable_settings(core, kwargs, reason):
    from web.app import make_app
    from web.errors import DashboardConfigError
    with pytest.raises(DashboardConfigError, match=reason):
        make_app(core.facade, **kwargs)


async def test_unknown_api_path_is_refused_before_routing(dashboard, http):
    async with http.get(base(dashboard) + "/api/../api/nothing") as resp:
        assert resp.status == 403
    async with http.get(base(dashboard) + "/api/nothing", headers=auth(dashboard)) as resp:
        assert resp.status == 404
