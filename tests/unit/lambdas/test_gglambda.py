"""The shared Lambda library ``lambdas/_lib/gglambda``, imported as the runtime puts it on sys.path.

Stream helpers run against the project's stream manager (port 0) with the real greengrasssdk client.
"""
import asyncio
import socket
import threading

import pytest
from greengrasssdk.stream_manager import (
    MessageStreamDefinition, ResourceNotFoundException, StrategyOnFull, StreamManagerException,
)

from gglambda import env, lifecycle, publish, streams
from localcore.streams.server import StreamManagerServer


# env --------------------------------------------------------------------------------------------


def test_text_and_choice():
    assert env.text({"A": "  x "}, "A", "d") == "x"
    assert env.text({"A": "   "}, "A", "d") == "d" and env.text({}, "A", "d") == "d"
    assert env.choice({"M": "memory"}, "M", "File", ("File", "Memory")) == "Memory"
    assert env.choice({}, "M", "File", ("File", "Memory")) == "File"
    with pytest.raises(env.ConfigError, match="M must be one of File, Memory, got 'disk'"):
        env.choice({"M": "disk"}, "M", "File", ("File", "Memory"))


def test_integer_bounds_and_messages_name_the_variable():
    assert env.integer({}, "N", 7, 1) == 7
    assert env.integer({"N": " 12 "}, "N", 7, 1, 100) == 12
    assert env.integer({"N": "-5"}, "N", 7) == -5
    for raw, message in (("x", "N must be an integer, got 'x'"), ("1.5", "N must be an integer, got '1.5'"),
                         ("0", "N must be >= 1, got 0")):
        with pytest.raises(env.ConfigError, match=message.replace(".", r"\.")):
            env.integer({"N": raw}, "N", 7, 1)
    with pytest.raises(env.ConfigError, match=r"N must be in 0\.\.59000, got 60000"):
        env.integer({"N": "60000"}, "N", 7, 0, 59000)
    with pytest.raises(env.ConfigError, match="N must be <= 3, got 4"):
        env.integer({"N": "4"}, "N", 1, None, 3)
    assert issubclass(env.ConfigError, ValueError)


def test_number_parses_its_kind_and_quotes_the_text_given():
    assert env.number({"F": "0.25"}, "F", 1.0, float, 0.0) == 0.25
    assert env.number({}, "F", 1.0, float, 0.0) == 1.0
    assert env.number({"I": "42"}, "I", 1, int, 1) == 42 and isinstance(env.number({"I": "42"}, "I", 1, int), int)
    assert env.number({"F": "-1e9"}, "F", 0.0) == -1e9  # no bound given: none applies
    with pytest.raises(env.ConfigError, match="F must be a float number, got 'fast'"):
        env.number({"F": "fast"}, "F", 1.0, float)
    with pytest.raises(env.ConfigError, match="I must be a int number, got '2.5'"):
        env.number({"I": "2.5"}, "I", 1, int)
    with pytest.raises(env.ConfigError, match="I must be >= 1, got '0'"):
        env.number({"I": "0"}, "I", 1, int, 1)
    with pytest.raises(env.ConfigError, match=r"I must be in 0\.\.59000, got '60000'"):
        env.number({"I": "60000"}, "I", 1, int, 0, 59000)


def test_number_what_names_the_expected_kind_in_the_parse_error_only():
    with pytest.raises(env.ConfigError, match="^I must be an integer, got 'many'$"):
        env.number({"I": "many"}, "I", 1, int, 1, 10, what="an integer")
    with pytest.raises(env.ConfigError, match=r"^I must be in 1\.\.10, got '0'$"):
        env.number({"I": "0"}, "I", 1, int, 1, 10, what="an integer")
    with pytest.raises(env.ConfigError, match="^F must be a number, got 'soon'$"):
        env.number({"F": "soon"}, "F", 1.0, float, what="a number")


# lifecycle --------------------------------------------------------------------------------------


class Ticker(lifecycle.Worker):
    """A worker that counts until stopped, waiting on its stop event."""

    def __init__(self):
        super(Ticker, self).__init__("ticker")
        self.ticks = 0
        self.ticked = threading.Event()

    def status(self):
        return {"running": self.running, "ticks": self.ticks}

    def _run(self):
        while not self._stop.wait(0.001):
            self.ticks += 1
            self.ticked.set()


def test_worker_runs_a_named_daemon_thread_until_stopped():
    worker = Ticker()
    assert worker.status() == {"running": False, "ticks": 0}
    worker.start()
    worker.start()  # a second start does nothing
    assert worker.ticked.wait(5)
    names = [t for t in threading.enumerate() if t.name == "ticker"]
    assert len(names) == 1 and names[0].daemon
    worker.stop()
    assert worker.running is False and names[0].is_alive() is False


def test_start_once_builds_and_starts_one_worker_for_concurrent_first_calls():
    built = []

    def build():
        built.append(Ticker())
        return built[-1]

    main = lifecycle.start_once(build)
    handler = lifecycle.status_handler(main)
    assert built == []  # nothing happens before the first call
    results = []
    callers = [threading.Thread(target=lambda: results.append(main())) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(5)
    try:
        assert len(built) == 1 and all(r is built[0] for r in results) and len(results) == 8
        assert built[0].ticked.wait(5)
        status = handler({"any": "event"}, None)
        assert status["running"] is True and status["ticks"] >= 1
    finally:
        built[0].stop()


def test_start_once_lets_a_config_error_through_and_tries_again():
    attempts = []

    def build():
        attempts.append(1)
        if len(attempts) == 1:
            raise env.ConfigError("X must be an integer, got 'y'")
        return Ticker()

    main = lifecycle.start_once(build)
    with pytest.raises(env.ConfigError, match="X must be an integer"):
        main()
    worker = main()
    try:
        assert worker is main() and len(attempts) == 2 and worker.ticked.wait(5)
    finally:
        worker.stop()


def test_created_once_is_lazy_and_shared():
    made = []
    get = lifecycle.created_once(lambda: made.append(object()) or made[-1])
    assert made == []
    first = get()
    assert get() is first and made == [first]


def test_next_due_keeps_the_rate_and_does_not_burst_after_a_stall():
    assert lifecycle.next_due(10.0, 10.2, 1.0) == 11.0
    assert lifecycle.next_due(10.0, 11.5, 1.0) == 11.0  # less than one interval behind: catch up
    assert lifecycle.next_due(10.0, 13.0, 1.0) == 13.0  # far behind: restart from now


def test_publish_errors_outside_a_core():
    # greengrasssdk.Lambda needs the core's greengrass_common: outside one only ValueError remains
    assert publish.publish_errors() == (ValueError,)


# streams ----------------------------------------------------------------------------------------


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


def test_worker_records_the_last_error_it_is_given():
    worker = Ticker()
    assert worker._last_error is None
    worker._failed("OSError: down")
    assert worker._last_error == "OSError: down"


def test_number_with_only_a_maximum():
    with pytest.raises(env.ConfigError, match="F must be <= 2.5, got '3'"):
        env.number({"F": "3"}, "F", 1.0, float, None, 2.5)
