"""LocalCloud life cycle: start/stop, errors, blocking calls from an event loop, persistence."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import boto3
import pytest

from localcore.cloud import CloudError, CloudStartError, LocalCloud

THING = "arn:aws:iot:us-east-1:123456789012:thing/GG_TrafficLight"


def _gg(url: str):
    return boto3.client(
        "greengrass",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )


async def test_blocking_boto3_from_inside_an_event_loop_does_not_deadlock(cloud, client):
    # A blocking call straight on this test's loop thread: the cloud runs on its own threads.
    assert isinstance(client("greengrass").list_groups()["Groups"], list)
    results = await asyncio.gather(*(asyncio.to_thread(client("greengrass").list_groups) for _ in range(8)))
    assert len(results) == 8
    assert await asyncio.wait_for(asyncio.to_thread(client("s3").list_buckets), timeout=10)


def test_url_before_start_and_double_start(tmp_path):
    c = LocalCloud(tmp_path)
    with pytest.raises(CloudError):
        _ = c.url
    c.stop()  # stopping a cloud that never started is a no-op
    with LocalCloud(tmp_path / "b") as d:
        with pytest.raises(CloudError):
            d.start()
        json.dumps(d.status())  # JSON-able for the dashboard
    assert d.status()["state"] == "stopped"


def test_port_in_use_is_a_clear_start_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        c = LocalCloud(tmp_path, port=port)
        with pytest.raises(CloudStartError, match=f"127.0.0.1:{port}"):
            c.start()
    assert c.status()["state"] == "stopped"


def test_greengrass_adapter_state_persists_across_restart(tmp_path):
    with LocalCloud(tmp_path) as first:
        gg = _gg(first.url)
        sd = gg.create_subscription_definition(
            Name="subs",
            InitialVersion={
                "Subscriptions": [{"Id": "1", "Source": THING, "Target": "cloud", "Subject": "lights/#"}]
            },
        )
        gg.update_connectivity_info(
            ThingName="GG_Core",
            ConnectivityInfo=[{"Id": "lo", "HostAddress": "127.0.0.1", "PortNumber": 8883}],
        )
        gg.associate_service_role_to_account(RoleArn="arn:aws:iam::123456789012:role/gg")
    with LocalCloud(tmp_path) as second:
        gg = _gg(second.url)
        v = gg.get_subscription_definition_version(
            SubscriptionDefinitionId=sd["Id"], SubscriptionDefinitionVersionId=sd["LatestVersion"]
        )
        assert v["Definition"]["Subscriptions"][0]["Source"] == THING
        assert (
            gg.get_connectivity_info(ThingName="GG_Core")["ConnectivityInfo"][0]["HostAddress"] == "127.0.0.1"
        )
        assert gg.get_service_role_for_account()["RoleArn"].endswith("role/gg")


def test_a_definition_alone_is_persisted(tmp_path):
    with LocalCloud(tmp_path) as first:
        lg = _gg(first.url).create_logger_definition(
            Name="only-this",
            InitialVersion={
                "Loggers": [{"Id": "l", "Component": "Lambda", "Level": "INFO", "Type": "AWSCloudWatch"}]
            },
        )
    with LocalCloud(tmp_path) as second:
        assert _gg(second.url).get_logger_definition(LoggerDefinitionId=lg["Id"])["Name"] == "only-this"


def test_aws_endpoint_url_environment_reaches_the_cloud(cloud, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "t")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "t")
    gg = boto3.client("greengrass", region_name="us-east-1")
    assert gg.meta.endpoint_url == cloud.url
    lg = gg.create_logger_definition(Name="via-env")  # an adapter-only call: proves it reached the front
    assert lg["Arn"].startswith("arn:aws:greengrass:us-east-1:123456789012:greengrass/definition/loggers/")


def test_stop_does_not_wait_long_for_a_request_in_flight(tmp_path):
    """A client's call the cloud has not answered (a request blocked in a handler, a mutating call waiting for
    its snapshot) is cancelled a couple of seconds into a stop: the run's exit is not held (aiohttp would wait 60 s)."""
    import threading
    import time
    import urllib.error
    import urllib.request

    cloud = LocalCloud(tmp_path)
    entered = threading.Event()

    async def never_answers(request):
        entered.set()
        await asyncio.Event().wait()

    cloud.register("stuck", never_answers)
    cloud.start()
    outcome = {}

    def call():
        try:
            urllib.request.urlopen(f"{cloud.url}/_local/stuck/wait", timeout=30).read()
            outcome["answer"] = True
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            outcome["error"] = exc

    client = threading.Thread(target=call, daemon=True)
    client.start()
    assert entered.wait(10), "the request never reached the handler"
    started = time.monotonic()
    cloud.stop()
    took = time.monotonic() - started
    client.join(10)
    assert took < 5.0, f"stop took {took:.1f} s with a request in flight"
    assert "error" in outcome and "answer" not in outcome, outcome


def test_a_connection_aiohttp_lost_track_of_is_closed_by_the_stop(tmp_path, monkeypatch):
    """A connection accepted while the front shut down can miss aiohttp's shutdown (its handler is made after
    the shutdown went over the connections it knew, and the list is cleared): seen as a run whose exit waited for
    a core's call in flight. Here aiohttp's shutdown forgets every connection without closing it; the stop still
    closes the client's socket, so its read ends at once instead of at its timeout."""
    import http.client

    from aiohttp import web_server

    async def forgetful_shutdown(self, timeout=None):
        self._connections.clear()

    monkeypatch.setattr(web_server.Server, "shutdown", forgetful_shutdown)
    cloud = LocalCloud(tmp_path)
    cloud.start()
    conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=10)
    try:
        conn.request("GET", "/_local/status")   # answered: the front holds the kept-alive connection
        reply = conn.getresponse()
        assert reply.status == 200 and reply.read()
        conn.sock.sendall(b"GET /_local/status HTTP/1.1\r\nHost: x\r\n")   # headers not finished: in flight
        cloud.stop()
        conn.sock.settimeout(5)
        started = time.monotonic()
        assert conn.sock.recv(1024) == b""   # closed, not answered
        assert time.monotonic() - started < 2.0
    finally:
        conn.close()


def test_after_a_stop_nothing_listens_on_the_clouds_ports(tmp_path):
    """A client of a stopped cloud is refused at once: moto's server stopped serving but kept its listening
    socket, so a connection was taken into its backlog and waited for an answer until its read timeout."""
    from urllib.parse import urlparse

    cloud = LocalCloud(tmp_path)
    cloud.start()
    ports = [cloud.port, urlparse(cloud.moto_url).port]
    cloud.stop()
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
