"""Fixtures: a StreamManagerServer on port 0 in a background event loop, and real clients."""

from __future__ import annotations

import asyncio
import threading

import pytest
from greengrasssdk.stream_manager import StreamManagerClient

from localcore.streams import StreamManagerServer


class ServerThread:
    """Runs a StreamManagerServer in its own loop thread so blocking clients can talk to it."""

    def __init__(self, root, **kwargs) -> None:
        self.root = root
        self.kwargs = {"port": 0, "authenticate_client": False, "exporters_enabled": False, **kwargs}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: StreamManagerServer | None = None

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *args):
        async def inner():
            return fn(*args)

        return self.run(inner())

    def start(self) -> "ServerThread":
        self.server = StreamManagerServer(self.root, **self.kwargs)
        self.run(self.server.start())
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.run(self.server.stop())
            self.server = None

    def restart(self) -> "ServerThread":
        self.stop()
        return self.start()

    @property
    def port(self) -> int:
        assert self.server is not None and self.server.port
        return self.server.port

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def make_server(tmp_path):
    made = []

    def make(root=None, **kwargs) -> ServerThread:
        st = ServerThread(root or tmp_path / "store", **kwargs).start()
        made.append(st)
        return st

    yield make
    for st in made:
        st.close()


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def make_client(monkeypatch):
    monkeypatch.delenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", raising=False)
    made = []

    def make(port: int, **kwargs) -> StreamManagerClient:
        c = StreamManagerClient(port=port, request_timeout=kwargs.pop("request_timeout", 10), **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def client(server, make_client):
    return make_client(server.port)
