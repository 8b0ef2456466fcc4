"""The V2 stream manager SDK (PyPI ``stream-manager``, module ``stream_manager``) against our server.

V2 components authenticate with their SVCUID, sent as ``AWS_CONTAINER_AUTHORIZATION_TOKEN``; a wrong
token gets the SDK's own ``ConnectFailedException``.
"""
from __future__ import annotations

import pytest
from stream_manager import MessageStreamDefinition, ReadMessagesOptions, StrategyOnFull, StreamManagerClient
from stream_manager.exceptions import ConnectFailedException

from localcore.generic_components.tokens import ComponentTokens


def v2_client(monkeypatch, port, token):
    if token is None:
        monkeypatch.delenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", raising=False)
    else:
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", token)
    return StreamManagerClient(port=port, connect_timeout=3, request_timeout=10)


@pytest.fixture
def tokens():
    return ComponentTokens()


@pytest.fixture
def srv(make_server, tokens):
    s = make_server(authenticate_client=True, token_check=lambda tok: tok == "lambda-token")
    s.call(s.server.add_token_check, tokens.valid)
    return s


def test_component_token_create_append_read(srv, tokens, monkeypatch):
    token = tokens.issue("com.example.S3Sample")
    client = v2_client(monkeypatch, srv.port, token)
    try:
        client.create_message_stream(MessageStreamDefinition(name="v2", strategy_on_full=StrategyOnFull.OverwriteOldestData))
        assert [client.append_message("v2", b"m%d" % i) for i in range(3)] == [0, 1, 2]
        msgs = client.read_messages("v2", ReadMessagesOptions(desired_start_sequence_number=0, min_message_count=3,
                                                               max_message_count=3, read_timeout_millis=5000))
        assert [(m.sequence_number, m.payload) for m in msgs] == [(0, b"m0"), (1, b"m1"), (2, b"m2")]
        assert "v2" in client.list_streams()
    finally:
        client.close()
    # the V1 runtime's tokens still work beside the components'
    lam = v2_client(monkeypatch, srv.port, "lambda-token")
    try:
        assert lam.read_messages("v2", ReadMessagesOptions(desired_start_sequence_number=2))[0].payload == b"m2"
    finally:
        lam.close()


@pytest.mark.parametrize("token", ["wrong", "", None])
def test_wrong_or_missing_token_gets_the_sdk_error(srv, tokens, monkeypatch, token):
    tokens.issue("com.example.A")
    with pytest.raises(ConnectFailedException):
        v2_client(monkeypatch, srv.port, token)
    assert srv.call(lambda: srv.server.status()["counters"]["rejected"]) == 1


def test_revoked_component_is_refused(srv, tokens, monkeypatch):
    token = tokens.issue("com.example.A")
    v2_client(monkeypatch, srv.port, token).close()
    tokens.revoke("com.example.A")
    with pytest.raises(ConnectFailedException):
        v2_client(monkeypatch, srv.port, token)


def test_a_failing_check_does_not_hide_the_others(make_server, tokens, monkeypatch):
    def broken(tok):
        raise RuntimeError("boom")

    s = make_server(authenticate_client=True, token_check=broken)
    s.call(s.server.add_token_check, tokens.valid)
    v2_client(monkeypatch, s.port, tokens.issue("c")).close()
    with pytest.raises(ConnectFailedException):
        v2_client(monkeypatch, s.port, "nope")


def test_component_tokens_are_distinct_and_stable(tokens):
    a, b = tokens.issue("a"), tokens.issue("b")
    assert a != b and tokens.issue("a") == a and len(a) >= 32
    assert (tokens.component_of(a), tokens.component_of(b), tokens.component_of("x"), tokens.component_of(None)) == (
        "a", "b", None, None)
