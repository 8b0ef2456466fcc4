import json

import pytest

from localcore.shadow.errors import BadShadowRequest
from localcore.shadow.state import ShadowState, delta, parse_request_topic

T = "Light"
NOW = 1700000000


def run(state, action, body, now=NOW, thing=T):
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    replies, changed = state.handle(thing, action, payload, now)
    return {r.topic.split("/shadow/")[1]: json.loads(r.payload) for r in replies}, changed


def test_update_creates_merges_versions_and_stamps_metadata():
    s = ShadowState()
    out, changed = run(s, "update", {"state": {"desired": {"color": "red", "n": {"a": 1}}}, "clientToken": "t1"})
    assert changed and set(out) == {"update/accepted", "update/documents", "update/delta"}
    acc = out["update/accepted"]
    assert acc["version"] == 1 and acc["clientToken"] == "t1" and acc["timestamp"] == NOW
    assert acc["metadata"] == {"desired": {"color": {"timestamp": NOW}, "n": {"a": {"timestamp": NOW}}}}
    assert "previous" not in out["update/documents"]
    assert out["update/documents"]["current"]["version"] == 1
    assert out["update/delta"] == {"version": 1, "timestamp": NOW, "clientToken": "t1",
                                   "state": {"color": "red", "n": {"a": 1}},
                                   "metadata": {"color": {"timestamp": NOW}, "n": {"a": {"timestamp": NOW}}}}

    out, _ = run(s, "update", {"state": {"reported": {"color": "red", "n": {"a": 1}}}}, now=NOW + 1)
    assert "update/delta" not in out                      # in sync now
    assert "clientToken" not in out["update/accepted"]
    docs = out["update/documents"]
    assert docs["previous"]["version"] == 1 and docs["current"]["version"] == 2
    assert docs["current"]["state"] == {"desired": {"color": "red", "n": {"a": 1}},
                                        "reported": {"color": "red", "n": {"a": 1}}}

    out, _ = run(s, "update", {"state": {"desired": {"n": {"b": 2}, "color": None}}})
    current = out["update/documents"]["current"]
    assert current["state"]["desired"] == {"n": {"a": 1, "b": 2}}       # deep merge + null delete
    assert "color" not in current["metadata"]["desired"]
    assert out["update/delta"]["state"] == {"n": {"b": 2}} and out["update/delta"]["version"] == 3


def test_reported_only_update_sends_no_delta_even_if_out_of_sync():
    s = ShadowState()
    run(s, "update", {"state": {"desired": {"x": 1}}})
    out, _ = run(s, "update", {"state": {"reported": {"x": 2}}})
    assert "update/delta" not in out


def test_arrays_replace_whole_and_null_removes_section():
    s = ShadowState()
    run(s, "update", {"state": {"reported": {"l": [1, 2, 3]}, "desired": {"k": 1}}})
    run(s, "update", {"state": {"reported": {"l": [4]}}})
    out, _ = run(s, "update", {"state": {"desired": None}})
    cur = out["update/documents"]["current"]
    assert cur["state"] == {"reported": {"l": [4]}} and "desired" not in cur["metadata"]
    assert cur["metadata"]["reported"]["l"] == [{"timestamp": NOW}]


def test_get():
    s = ShadowState()
    out, changed = run(s, "get", {"clientToken": "g"})
    assert not changed
    assert out == {"get/rejected": {"code": 404, "message": "No shadow exists with name: 'Light'",
                                    "timestamp": NOW, "clientToken": "g"}}
    run(s, "update", {"state": {"desired": {"a": 1}, "reported": {"a": 0, "b": 1}}})
    out, _ = run(s, "get", {"clientToken": "g2"})
    acc = out["get/accepted"]
    assert acc["state"] == {"desired": {"a": 1}, "reported": {"a": 0, "b": 1}, "delta": {"a": 1}}
    assert acc["version"] == 1 and acc["clientToken"] == "g2"
    assert acc["metadata"]["reported"]["b"] == {"timestamp": NOW}
    out, _ = run(s, "get", b"")             # empty payload is a plain get
    assert "get/accepted" in out


def test_delete_keeps_version_counting():
    s = ShadowState()
    run(s, "update", {"state": {"reported": {"a": 1}}})
    run(s, "update", {"state": {"reported": {"a": 2}}})
    out, changed = run(s, "delete", {"clientToken": "d"})
    assert changed and out == {"delete/accepted": {"version": 2, "timestamp": NOW, "clientToken": "d"}}
    assert "get/rejected" in run(s, "get", {})[0]
    assert run(s, "delete", {})[0]["delete/rejected"]["code"] == 404
    out, _ = run(s, "update", {"state": {"reported": {"a": 3}}})
    assert out["update/accepted"]["version"] == 3 and "previous" not in out["update/documents"]


@pytest.mark.parametrize("body,code,fragment", [
    (b"not json", 400, "Invalid JSON"),
    (b"\xff\xfe", 400, "Invalid JSON"),
    (b"[1,2]", 400, "JSON object"),
    ({"clientToken": "c"}, 400, "Missing required node: state"),
    ({"state": 5, "clientToken": "c"}, 400, "state must be an object"),
    ({"state": {"bogus": {}}, "clientToken": "c"}, 400, "invalid node: 'bogus'"),
    ({"state": {"desired": [1]}, "clientToken": "c"}, 400, "state.desired must be an object"),
    ({"state": {"desired": {"a": 1}}, "version": "1", "clientToken": "c"}, 400, "version must be an integer"),
    ({"state": {"desired": {"a": 1}}, "version": 7, "clientToken": "c"}, 409, "Version conflict"),
    ({"state": {"desired": {"a": "x" * 9000}}, "clientToken": "c"}, 413, "maximum size"),
    ({"state": {"desired": {"a": 1}}, "clientToken": "x" * 65}, 400, "clientToken"),
])
def test_update_rejections(body, code, fragment):
    s = ShadowState()
    run(s, "update", {"state": {"reported": {"a": 0}}})   # version 1
    out, changed = run(s, "update", body)
    assert not changed and list(out) == ["update/rejected"]
    rej = out["update/rejected"]
    assert rej["code"] == code and fragment in rej["message"] and rej["timestamp"] == NOW
    if isinstance(body, dict) and body.get("clientToken") == "c":
        assert rej["clientToken"] == "c"
    assert s.documents[T].version == 1                    # nothing changed


def test_resulting_document_over_8k_is_413():
    s = ShadowState()
    for i in range(3):
        out, _ = run(s, "update", {"state": {"reported": {f"k{i}": "x" * 3000}}})
    assert out["update/rejected"]["code"] == 413
    assert s.documents[T].version == 2


def test_conditional_update_with_current_version_succeeds():
    s = ShadowState()
    run(s, "update", {"state": {"reported": {"a": 0}}})
    out, _ = run(s, "update", {"state": {"reported": {"a": 1}}, "version": 1})
    assert out["update/accepted"]["version"] == 2


def test_bad_action_and_thing():
    with pytest.raises(BadShadowRequest, match="action"):
        ShadowState().handle(T, "list", b"{}", NOW)
    with pytest.raises(BadShadowRequest, match="thing name"):
        ShadowState().handle("a/b", "get", b"{}", NOW)


@pytest.mark.parametrize("desired,reported,expected", [
    ({"a": 1}, {"a": 1}, {}),
    ({"a": 1}, {}, {"a": 1}),
    ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, {"a": {"c": 2}}),
    ({"a": [1, 2]}, {"a": [1]}, {"a": [1, 2]}),
    ({"a": {"b": 1}}, {"a": 5}, {"a": {"b": 1}}),
    (None, {"a": 1}, {}),
    ({"a": 1}, None, {"a": 1}),
])
def test_delta(desired, reported, expected):
    assert delta(desired, reported) == expected


@pytest.mark.parametrize("topic,expected", [
    ("$aws/things/T/shadow/update", ("T", "update")),
    ("$aws/things/T-1:x_y/shadow/get", ("T-1:x_y", "get")),
    ("$aws/things/T/shadow/delete", ("T", "delete")),
    ("$aws/things/T/shadow/update/accepted", None),
    ("$aws/things/T/shadow/name/x/update", None),
    ("$aws/things//shadow/update", None),
    ("things/T/shadow/update", None),
])
def test_parse_request_topic(topic, expected):
    assert parse_request_topic(topic) == expected
