"""The shared Lambda library's stream helpers (``lambdas/_lib/gglambda/streams.py``) against the project's
stream manager (port 0) with the real greengrasssdk client."""
import asyncio
import socket
import threading

import pytest
from greengrasssdk.stream_manager import MessageStreamDefinition, StrategyOnFull, StreamManagerException
from greengrasssdk.stream_manager import ResourceNotFoundException

from gglambda import env, streams
from localcore.streams.server import StreamManagerServer


@pytest.fixture
async def stream_manager(tmp_path, monkeypatch):
    server = StreamManagerServer(tmp_path / "store", port=0, authenticate_client=False, exporters_enabled=False)
    await server.start()
    monkeypatch.setenv("STREAM_MANAGER_SERVER_PORT", str(server.port))
    monkeypatch.delenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", raising=False)
    try:
        yield server
    finally:
        await server.stop()


def definition(name):
    return MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.OverwriteOldestData)


async def test_connect_ensure_append_and_read(stream_manager):
    def scenario():
        client = streams.connect_client()
        try:
            created = [streams.ensure_stream(client, definition("S1")) for _ in range(2)]
            with pytest.raises(ResourceNotFoundException):
                streams.read_batch(client, "Nope", 0, 10, 0)
            empty = streams.read_batch(client, "S1", 0, 10, 0)
            for i in range(5):
                client.append_message("S1", "m{}".format(i).encode())
            first = streams.read_batch(client, "S1", 0, 3, 0)
            rest = streams.read_batch(client, "S1", 3, 10, 100)
            return created, empty, first, rest
        finally:
            streams.close_quietly(client)

    created, empty, first, rest = await asyncio.to_thread(scenario)
    assert created == [True, False]
    assert empty == []  # no messages within the timeout: [] rather than an exception
    assert [m.payload for m in first] == [b"m0", b"m1", b"m2"]
    assert [(m.sequence_number, m.payload) for m in rest] == [(3, b"m3"), (4, b"m4")]


def test_check_definition_names_the_stream():
    assert streams.check_definition(definition("Good")).name == "Good"
    with pytest.raises(env.ConfigError, match="definition for 'bad/name' from the environment is invalid"):
        streams.check_definition(definition("bad/name"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountingStop(threading.Event):
    """A stop event that records each back-off wait and sets itself after ``limit`` of them."""

    def __init__(self, limit):
        super(CountingStop, self).__init__()
        self.waits = []
        self._limit = limit

    def wait(self, timeout=None):
        self.waits.append(timeout)
        if len(self.waits) >= self._limit:
            self.set()
        return self.is_set()


def test_run_until_stopped_backs_off_while_the_server_is_down(monkeypatch):
    monkeypatch.setenv("STREAM_MANAGER_SERVER_PORT", str(free_port()))  # nothing listens there
    stop, errors = CountingStop(7), []
    streams.run_until_stopped(stop, streams.connect_client, work=lambda client: pytest.fail("connected"),
                              on_error=errors.append)
    assert stop.waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert len(errors) == 7 and all(e.startswith("ConnectionRefusedError: ") for e in errors)


async def test_run_until_stopped_resets_the_delay_after_setup_and_closes_each_client(stream_manager):
    stop, errors, sessions, clients = CountingStop(4), [], [], []

    def connect():
        clients.append(streams.connect_client())
        return clients[-1]

    def setup(client):
        streams.ensure_stream(client, definition("Work"))
        if len(sessions) == 1:  # the second connection fails in setup: back-off grows
            sessions.append("setup failed")
            raise OSError("setup went wrong")

    def work(client):
        sessions.append(client.append_message("Work", b"x"))
        raise asyncio.TimeoutError("slow")

    await asyncio.to_thread(streams.run_until_stopped, stop, connect, work, setup, errors.append)
    assert stop.waits == [1.0, 2.0, 1.0, 1.0]
    assert sessions == [0, "setup failed", 1, 2]
    assert errors == ["TimeoutError: slow", "OSError: setup went wrong", "TimeoutError: slow", "TimeoutError: slow"]
    assert len(clients) == 4
    for client in clients:  # every client was closed: the SDK refuses calls on it at once
        with pytest.raises(StreamManagerException, match="Client is closed"):
            client.list_streams()


def test_run_until_stopped_lets_other_errors_through(monkeypatch):
    monkeypatch.setenv("STREAM_MANAGER_SERVER_PORT", str(free_port()))
    with pytest.raises(KeyError):
        streams.run_until_stopped(threading.Event(), lambda: (_ for _ in ()).throw(KeyError("bug")), lambda c: None)


