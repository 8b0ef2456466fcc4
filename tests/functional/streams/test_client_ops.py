"""Every operation of the unmodified greengrasssdk StreamManagerClient against our server."""

from __future__ import annotations

import threading
import time

import pytest
from greengrasssdk.stream_manager import (
    ConnectFailedException,
    ExportDefinition,
    InvalidRequestException,
    KinesisConfig,
    MessageStreamDefinition,
    NotEnoughMessagesException,
    Persistence,
    ReadMessagesOptions,
    RequestPayloadTooLargeException,
    ResourceNotFoundException,
    StrategyOnFull,
    StreamManagerClient,
    UpdateNotAllowedException,
)

REJECT = StrategyOnFull.RejectNewData
OVERWRITE = StrategyOnFull.OverwriteOldestData


def opts(start=None, mn=None, mx=None, timeout=None):
    return ReadMessagesOptions(
        desired_start_sequence_number=start,
        min_message_count=mn,
        max_message_count=mx,
        read_timeout_millis=timeout,
    )


def test_create_list_describe_append_read_update_delete(client):
    assert client.list_streams() == []
    client.create_message_stream(MessageStreamDefinition(name="SomeStream", strategy_on_full=REJECT))
    assert client.list_streams() == ["SomeStream"]
    assert [client.append_message("SomeStream", b"m%d" % i) for i in range(3)] == [0, 1, 2]

    one = client.read_messages("SomeStream")  # no options: one message from 0
    assert [(m.sequence_number, m.payload, m.stream_name) for m in one] == [(0, b"m0", "SomeStream")]
    msgs = client.read_messages("SomeStream", opts(start=1, mn=1, mx=10))
    assert [(m.sequence_number, m.payload) for m in msgs] == [(1, b"m1"), (2, b"m2")]
    assert msgs[0].ingest_time > 1_600_000_000_000

    info = client.describe_message_stream("SomeStream")
    assert info.definition.name == "SomeStream"
    assert info.definition.max_size == 268435456 and info.definition.stream_segment_size == 16777216
    assert info.definition.strategy_on_full == REJECT and info.definition.persistence == Persistence.File
    assert info.definition.flush_on_write is False
    assert info.storage_status.oldest_sequence_number == 0
    assert info.storage_status.newest_sequence_number == 2
    assert info.storage_status.total_bytes == 3 * (24 + 2)

    client.update_message_stream(
        MessageStreamDefinition(
            name="SomeStream",
            strategy_on_full=OVERWRITE,
            max_size=4096,
            time_to_live_millis=3600000,
            export_definition=ExportDefinition(
                kinesis=[KinesisConfig(identifier="k", kinesis_stream_name="ks")]
            ),
        )
    )
    info = client.describe_message_stream("SomeStream")
    assert (
        info.definition.strategy_on_full,
        info.definition.max_size,
        info.definition.time_to_live_millis,
    ) == (OVERWRITE, 4096, 3600000)
    assert info.definition.export_definition.kinesis[0].kinesis_stream_name == "ks"

    client.delete_message_stream("SomeStream")
    assert client.list_streams() == []


@pytest.mark.parametrize(
    "call,exc,fragment",
    [
        (lambda c: c.append_message("missing", b"x"), ResourceNotFoundException, "'missing' does not exist"),
        (lambda c: c.read_messages("missing"), ResourceNotFoundException, "'missing'"),
        (lambda c: c.describe_message_stream("missing"), ResourceNotFoundException, "'missing'"),
        (lambda c: c.delete_message_stream("missing"), ResourceNotFoundException, "'missing'"),
        (
            lambda c: c.update_message_stream(
                MessageStreamDefinition(name="missing", strategy_on_full=REJECT)
            ),
            ResourceNotFoundException,
            "'missing'",
        ),
        (
            lambda c: c.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT)),
            InvalidRequestException,
            "already exists",
        ),
        (
            lambda c: c.read_messages("s", opts(start=1)),
            NotEnoughMessagesException,
            "fewer than minMessageCount",
        ),
        (lambda c: c.read_messages("s", opts(mn=2, mx=2)), NotEnoughMessagesException, "minMessageCount 2"),
        (
            lambda c: c.update_message_stream(
                MessageStreamDefinition(name="s", strategy_on_full=REJECT, persistence=Persistence.Memory)
            ),
            UpdateNotAllowedException,
            "persistence",
        ),
    ],
)
def test_error_statuses_map_to_client_exceptions(client, call, exc, fragment):
    client.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    client.append_message("s", b"only")
    with pytest.raises(exc) as ei:
        call(client)
    assert type(ei.value) is exc
    assert fragment in ei.value.message
    assert ei.value.request_id


def test_read_waits_for_new_data_without_blocking_the_connection(client):
    client.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    result = {}

    def reader():
        result["msgs"] = client.read_messages("s", opts(start=0, mn=2, mx=5, timeout=8000))

    t = threading.Thread(target=reader)
    t.start()
    # The same client (same connection) keeps working while its read waits.
    assert client.append_message("s", b"a") == 0
    assert client.list_streams() == ["s"]
    assert t.is_alive()
    assert client.append_message("s", b"b") == 1
    t.join(5)
    assert not t.is_alive()
    assert [m.payload for m in result["msgs"]] == [b"a", b"b"]


def test_read_timeout_expires_with_not_enough_messages(client):
    client.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    client.append_message("s", b"a")
    t0 = time.monotonic()
    with pytest.raises(NotEnoughMessagesException):
        client.read_messages("s", opts(start=0, mn=2, mx=2, timeout=300))
    assert 0.28 <= time.monotonic() - t0 < 5  # answered up to 5 % early, before the client's own timer


def test_read_from_another_connection_wakes_on_append(server, make_client):
    a, b = make_client(server.port), make_client(server.port)
    a.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    box = {}
    t = threading.Thread(
        target=lambda: box.setdefault("m", a.read_messages("s", opts(start=0, timeout=8000)))
    )
    t.start()
    b.append_message("s", b"hello")
    t.join(5)
    assert [m.payload for m in box["m"]] == [b"hello"]


@pytest.mark.parametrize("strategy", [REJECT, OVERWRITE])
def test_strategy_at_the_size_limit(client, strategy):
    client.create_message_stream(
        MessageStreamDefinition(name="s", strategy_on_full=strategy, max_size=2048, stream_segment_size=1024)
    )
    payload = b"p" * (500 - 24)
    assert [client.append_message("s", payload) for _ in range(4)] == [0, 1, 2, 3]
    if strategy == REJECT:
        with pytest.raises(InvalidRequestException) as ei:
            client.append_message("s", payload)
        assert "full" in ei.value.message and "RejectNewData" in ei.value.message
        assert client.describe_message_stream("s").storage_status.oldest_sequence_number == 0
    else:
        assert client.append_message("s", payload) == 4
        st = client.describe_message_stream("s").storage_status
        assert (st.oldest_sequence_number, st.newest_sequence_number) == (2, 4)
        assert [m.sequence_number for m in client.read_messages("s", opts(start=0, mx=10))] == [2, 3, 4]


def test_streams_persist_across_restart(server, make_client):
    c = make_client(server.port)
    c.create_message_stream(MessageStreamDefinition(name="f", strategy_on_full=REJECT, max_size=1 << 20))
    c.create_message_stream(
        MessageStreamDefinition(name="m", strategy_on_full=REJECT, persistence=Persistence.Memory)
    )
    for i in range(20):
        c.append_message("f", b"v%d" % i)
        c.append_message("m", b"v%d" % i)
    c.close()
    server.restart()
    c2 = make_client(server.port)
    assert sorted(c2.list_streams()) == ["f", "m"]
    assert [m.payload for m in c2.read_messages("f", opts(start=0, mn=20, mx=20))] == [
        b"v%d" % i for i in range(20)
    ]
    assert c2.describe_message_stream("f").definition.max_size == 1 << 20
    assert c2.describe_message_stream("m").storage_status.newest_sequence_number is None
    assert c2.append_message("f", b"next") == 20


def test_client_token_is_checked(make_server, make_client, monkeypatch):
    seen = []
    srv = make_server(authenticate_client=True, token_check=lambda tok: seen.append(tok) or tok == "good")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "bad")
    with pytest.raises(ConnectFailedException):
        StreamManagerClient(port=srv.port, request_timeout=5)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "good")
    ok = make_client(srv.port)
    assert ok.list_streams() == []
    monkeypatch.delenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    with pytest.raises(ConnectFailedException):
        StreamManagerClient(port=srv.port, request_timeout=5)
    assert seen == ["bad", "good"]
    assert srv.call(lambda: srv.server.status()["counters"]["rejected"]) == 2


def test_authentication_without_a_token_check_refuses_everyone(make_server, monkeypatch):
    srv = make_server(authenticate_client=True)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "anything")
    with pytest.raises(ConnectFailedException):
        StreamManagerClient(port=srv.port, request_timeout=5)


def test_oversize_append_is_refused_and_connection_keeps_working(make_server, make_client):
    srv = make_server(max_frame_bytes=4096)
    c = make_client(srv.port)
    c.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    with pytest.raises(RequestPayloadTooLargeException) as ei:
        c.append_message("s", b"x" * 10000)
    assert "4096" in ei.value.message
    assert c.append_message("s", b"small") == 0


def test_message_larger_than_max_size(client):
    client.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=OVERWRITE, max_size=1024))
    with pytest.raises(RequestPayloadTooLargeException):
        client.append_message("s", b"x" * 2000)


def test_status_reports_ranges_bytes_and_definitions(server, client):
    client.create_message_stream(
        MessageStreamDefinition(
            name="a", strategy_on_full=OVERWRITE, max_size=4096, persistence=Persistence.Memory
        )
    )
    client.create_message_stream(MessageStreamDefinition(name="b", strategy_on_full=REJECT))
    for i in range(3):
        client.append_message("a", b"12345")
    st = server.call(server.server.status)
    assert st["state"] == "started" and st["port"] == server.port and st["connections"] == 1
    by_name = {s["name"]: s for s in st["streams"]}
    assert by_name["a"]["oldestSequenceNumber"] == 0 and by_name["a"]["newestSequenceNumber"] == 2
    assert by_name["a"]["totalBytes"] == 3 * (24 + 5)
    assert by_name["a"]["definition"] == {
        "maxSize": 4096,
        "streamSegmentSize": 16777216,
        "timeToLiveMillis": None,
        "strategyOnFull": "OverwriteOldestData",
        "persistence": "Memory",
        "flushOnWrite": False,
    }
    assert by_name["b"]["newestSequenceNumber"] is None and by_name["b"]["exporters"] == []
    import json

    json.dumps(st)  # JSON-able for the dashboard


def test_delete_wakes_a_waiting_read_with_not_found(server, make_client):
    a, b = make_client(server.port), make_client(server.port)
    a.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    box = {}

    def reader():
        try:
            a.read_messages("s", opts(start=0, timeout=8000))
        except ResourceNotFoundException as e:
            box["e"] = e

    t = threading.Thread(target=reader)
    t.start()
    deadline = time.monotonic() + 5
    while server.call(server.server.status)["waitingReads"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the server's own count: the read is parked there, no event reaches us
    b.delete_message_stream("s")
    t.join(5)
    assert isinstance(box.get("e"), ResourceNotFoundException)


def test_failing_token_check_refuses_and_server_keeps_serving(make_server, make_client, monkeypatch):
    def broken(token):
        raise RuntimeError("group model not loaded")

    srv = make_server(authenticate_client=True, token_check=broken)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "t")
    with pytest.raises(ConnectFailedException):
        StreamManagerClient(port=srv.port, request_timeout=5)
    srv.server.token_check = lambda tok: True
    assert make_client(srv.port).list_streams() == []


def test_one_client_shared_by_threads_gets_unique_sequence_numbers(client):
    client.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    got = [[] for _ in range(4)]

    def worker(i):
        for j in range(50):
            got[i].append((client.append_message("s", b"%d-%d" % (i, j)), b"%d-%d" % (i, j)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    pairs = sorted(p for g in got for p in g)
    assert [s for s, _ in pairs] == list(range(200))
    for g in got:  # each thread's own appends are in order
        assert [s for s, _ in g] == sorted(s for s, _ in g)
    stored = client.read_messages("s", opts(start=0, mn=200, mx=200))
    assert [(m.sequence_number, m.payload) for m in stored] == pairs


def test_update_that_cannot_be_saved_raises_update_failed(server, client):
    import shutil

    from greengrasssdk.stream_manager import UpdateFailedException

    client.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    shutil.rmtree(server.root / "streams" / "s")  # the disk under the stream is gone
    with pytest.raises(UpdateFailedException) as ei:
        client.update_message_stream(MessageStreamDefinition(name="s", strategy_on_full=OVERWRITE))
    assert "could not save" in ei.value.message


def test_time_to_live_and_flush_on_write_through_the_client(make_server, make_client):
    now = [1_700_000_000.0]
    srv = make_server(clock=lambda: now[0])
    c = make_client(srv.port)
    c.create_message_stream(
        MessageStreamDefinition(
            name="s", strategy_on_full=REJECT, time_to_live_millis=60000, flush_on_write=True
        )
    )
    assert c.describe_message_stream("s").definition.flush_on_write is True
    c.append_message("s", b"old")
    now[0] += 61
    c.append_message("s", b"new")
    msgs = c.read_messages("s", opts(start=0, mx=10))
    assert [(m.sequence_number, m.payload, m.ingest_time) for m in msgs] == [(1, b"new", 1_700_000_061_000)]
    assert c.describe_message_stream("s").storage_status.oldest_sequence_number == 1


def test_response_size_cap_through_the_client(make_server, make_client):
    from greengrasssdk.stream_manager import ResponsePayloadTooLargeException

    srv = make_server(max_response_bytes=2048)
    c = make_client(srv.port)
    c.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    for _ in range(4):
        c.append_message("s", b"x" * 1000)
    assert len(c.read_messages("s", opts(start=0, mn=1, mx=4))) == 2
    with pytest.raises(ResponsePayloadTooLargeException):
        c.read_messages("s", opts(start=0, mn=3, mx=4))


def test_stop_is_prompt_with_a_read_waiting(make_server, make_client):
    srv = make_server()
    c = make_client(srv.port, request_timeout=2)
    c.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    errors = []

    def reader():
        try:
            c.read_messages("s", opts(start=0, timeout=2000))
        except Exception as e:  # whatever the client makes of the vanished server
            errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    deadline = time.monotonic() + 5
    while srv.call(srv.server.status)["waitingReads"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 2
    t.join(10)
    assert errors  # the read did not succeed against a stopped server


def test_read_timeout_equal_to_request_timeout_leaves_the_client_usable(make_server, make_client):
    srv = make_server()
    c = make_client(srv.port, request_timeout=1)
    c.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=REJECT))
    with pytest.raises(NotEnoughMessagesException):
        c.read_messages("s", opts(start=0, timeout=1000))  # the longest wait the client allows
    assert c.append_message("s", b"still usable") == 0
