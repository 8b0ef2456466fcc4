import itertools
import json
import threading

import pytest

from light_states import (
    ShadowReplies, desired_update, light_from_delta, light_from_document, light_sequence, next_light,
    reported_update,
)


@pytest.mark.parametrize("current, following", [("G", "Y"), ("Y", "R"), ("R", "G")])
def test_next_light(current, following):
    assert next_light(current) == following


def test_unknown_light_is_refused():
    with pytest.raises(ValueError, match="unknown light 'B'"):
        next_light("B")
    with pytest.raises(ValueError):
        list(light_sequence("B", 1))


def test_sequences():
    assert list(light_sequence("G", 2)) == ["G", "Y", "R", "G", "Y", "R"]
    assert list(light_sequence("R", 1)) == ["R", "G", "Y"]
    assert list(itertools.islice(light_sequence("Y", 0), 7)) == ["Y", "R", "G", "Y", "R", "G", "Y"]


def test_switch_payload():
    assert json.loads(desired_update("Y")) == {"state": {"desired": {"property": "Y"}}}


@pytest.mark.parametrize("delta, light", [
    ('{"state": {"property": "Y"}, "version": 7, "timestamp": 1}', "Y"),
    ('{"state": {"other": 1}, "version": 8}', None),
    ('{"version": 8}', None),
])
def test_delta_application(delta, light):
    assert light_from_delta(delta) == light
    if light:
        assert json.loads(reported_update(light)) == {"state": {"reported": {"property": light}}}


@pytest.mark.parametrize("delta, problem", [
    ('{"state": {"property": "B"}}', "asks for light 'B'"),
    ("not json", "not JSON"),
    ('["state"]', "expected an object"),
])
def test_bad_deltas(delta, problem):
    with pytest.raises(ValueError, match=problem):
        light_from_delta(delta)


def test_light_still_to_apply_from_get_document():
    doc = {"state": {"desired": {"property": "R"}, "reported": {"property": "G"}, "delta": {"property": "R"}},
           "version": 3}
    assert light_from_document(json.dumps(doc)) == "R"
    in_sync = {"state": {"desired": {"property": "R"}, "reported": {"property": "R"}}, "version": 4}
    assert light_from_document(json.dumps(in_sync)) is None


def test_replies_are_matched_by_token_across_threads():
    replies = ShadowReplies()
    replies.callback('{"x": 1}', "accepted", "early")          # answered before anyone waits
    assert replies.wait("early", 0) == ("accepted", '{"x": 1}')
    assert replies.wait("early", 0) is None                     # taken once
    later = threading.Timer(0.05, replies.callback, ('{}', "rejected", "t2"))
    later.start()
    assert replies.wait("t2", 5) == ("rejected", "{}")
    replies.callback("{}", "delta/GG_TrafficLight", None)       # deltas carry no token: ignored
    assert replies.wait("t3", 0.01) is None
