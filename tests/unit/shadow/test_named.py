"""Named shadows beside the classic one, the nesting and size limits, request topics (pure state), and their files."""
import json

import pytest

from localcore.shadow.errors import BadShadowRequest
from localcore.shadow.state import ShadowState, parse_shadow_topic, topic
from localcore.shadow.store import ShadowStore

NOW = 1700000000


def run(state, action, body, shadow_name="", thing="Light"):
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    replies, changed = state.handle(thing, action, payload, NOW, shadow_name)
    return {r.topic: json.loads(r.payload) for r in replies}, changed


def test_named_shadows_are_documents_of_their_own():
    s = ShadowState()
    out, changed = run(s, "update", {"state": {"desired": {"mode": "eco"}}}, "config")
    base = "$aws/things/Light/shadow/name/config/update"
    assert changed and set(out) == {f"{base}/accepted", f"{base}/documents", f"{base}/delta"}
    assert out[f"{base}/accepted"]["version"] == 1
    assert s.document("Light") is None and "Light" not in s.documents      # the classic shadow is untouched
    run(s, "update", {"state": {"reported": {"x": 1}}})
    out, _ = run(s, "update", {"state": {"reported": {"mode": "eco"}}}, "config")
    assert out[f"{base}/documents"]["previous"]["version"] == 1 and s.document("Light").version == 1
    out, _ = run(s, "get", b"", "config")
    assert out["$aws/things/Light/shadow/name/config/get/accepted"]["state"] == {
        "desired": {"mode": "eco"}, "reported": {"mode": "eco"}}
    run(s, "update", {"state": {"reported": {}}}, "b")
    assert s.named_shadows("Light") == ["b", "config"] and s.named_shadows("Other") == []
    out, _ = run(s, "delete", b"", "config")
    assert out["$aws/things/Light/shadow/name/config/delete/accepted"]["version"] == 2
    assert s.named_shadows("Light") == ["b"]
    out, _ = run(s, "get", b"", "config")
    assert out["$aws/things/Light/shadow/name/config/get/rejected"]["message"] == "No shadow exists with name: 'config'"
    out, _ = run(s, "update", {"state": {"reported": {}}, "version": 2}, "config")   # the version survives the delete
    assert out[f"{base}/accepted"]["version"] == 3


@pytest.mark.parametrize("name", ["bad/name", "n" * 65, "spa ce"])
def test_invalid_shadow_names_are_refused(name):
    with pytest.raises(BadShadowRequest, match="shadow name"):
        ShadowState().handle("Light", "get", b"", NOW, name)


def test_nesting_deeper_than_six_levels_is_refused():
    s = ShadowState()
    six = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}          # desired + 5 nested objects: 6 levels
    out, changed = run(s, "update", {"state": {"desired": six}})
    assert changed
    seven = {"a": {"b": {"c": {"d": {"e": {"f": [1]}}}}}}
    out, changed = run(s, "update", {"state": {"reported": seven}})
    assert not changed
    assert out["$aws/things/Light/shadow/update/rejected"]["message"] == (
        "JSON contains too many levels of nesting; maximum is 6")
    out, changed = run(s, "update", {"state": {"reported": {"a": {"b": {"c": {"d": {"e": {"f": {}}}}}}}}})
    assert changed                                             # an empty object is no level


def test_the_size_limit_can_be_raised():
    big = {"state": {"desired": {"x": "y" * 10000}}}
    out, changed = run(ShadowState(), "update", big)
    assert not changed and out["$aws/things/Light/shadow/update/rejected"]["code"] == 413
    _, changed = run(ShadowState(max_document_bytes=20000), "update", big)
    assert changed


@pytest.mark.parametrize("topic_name, parsed", [
    ("$aws/things/T/shadow/update", ("T", "", "update")),
    ("$aws/things/T/shadow/name/n:1/get", ("T", "n:1", "get")),
    ("$aws/things/T/shadow/name/n/delete", ("T", "n", "delete")),
    ("$aws/things/T/shadow/update/accepted", None),
    ("$aws/things/T/shadow/name/n/update/delta", None),
    ("$aws/things/T/shadow/name/update", None),
    ("$aws/things/T/shadow/name/n/list", None),
    ("$aws/things/+/shadow/update", None),
    ("things/T/shadow/update", None),
])
def test_request_topics(topic_name, parsed):
    assert parse_shadow_topic(topic_name) == parsed


def test_topics():
    assert topic("T", "update", "delta", "n") == "$aws/things/T/shadow/name/n/update/delta"
    assert topic("T", "get") == "$aws/things/T/shadow/get"


def test_named_shadows_are_stored_beside_the_classic_ones(tmp_path):
    s = ShadowState()
    run(s, "update", {"state": {"reported": {"x": 1}}}, "config")
    run(s, "update", {"state": {"reported": {"x": 2}}})
    store = ShadowStore(tmp_path)
    store.save("Light", s.document("Light", "config"), "config")
    store.save("Light", s.document("Light"))
    assert (tmp_path / "named" / "Light" / "config.json").is_file()
    assert set(store.load_all()) == {"Light"}
    named = store.load_named()
    assert set(named) == {("Light", "config")} and named[("Light", "config")].state == {"reported": {"x": 1}}
