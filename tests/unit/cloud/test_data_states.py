"""Pure state of the IoT Analytics and SiteWise stand-ins (no sockets)."""

from __future__ import annotations

import pytest

from localcore.cloud.errors import AlreadyExists, InvalidRequest, NotFound
from localcore.cloud.iotanalytics_state import IoTAnalyticsState
from localcore.cloud.sitewise_state import SiteWiseState, check_entry

NOW = 1_800_000_000.0


def _analytics(**kw) -> IoTAnalyticsState:
    return IoTAnalyticsState("us-east-1", "123456789012", clock=lambda: NOW, **kw)


@pytest.mark.parametrize(
    "name,ok",
    [
        ("ch_1", True),
        ("a" * 128, True),
        ("__x", False),
        ("bad-name", False),
        ("", False),
        ("a" * 129, False),
        (None, False),
    ],
)
def test_channel_names(name, ok):
    st = _analytics()
    if ok:
        assert st.create_channel(name)["arn"] == f"arn:aws:iotanalytics:us-east-1:123456789012:channel/{name}"
    else:
        with pytest.raises(InvalidRequest):
            st.create_channel(name)


def test_batch_put_keeps_order_reports_duplicates_and_bounds_history():
    st = _analytics(keep_per_channel=3)
    st.create_channel("c")
    with pytest.raises(AlreadyExists):
        st.create_channel("c")
    errs = st.batch_put(
        "c",
        [
            {"messageId": "a", "payload": b"1"},
            {"messageId": "a", "payload": b"2"},
            {"messageId": "b", "payload": b"3"},
        ],
    )
    assert [e["messageId"] for e in errs] == ["a"]
    st.batch_put("c", [{"messageId": "c", "payload": b"4"}, {"messageId": "d", "payload": b"5"}])
    assert [m.message_id for m in st.messages("c")] == ["b", "c", "d"]


@pytest.mark.parametrize(
    "channel,messages,error",
    [
        ("missing", [{"messageId": "1", "payload": b"x"}], NotFound),
        ("c", [], InvalidRequest),
        ("c", [{"messageId": "1", "payload": b"x"}] * 101, InvalidRequest),
        ("c", [{"messageId": "", "payload": b"x"}], InvalidRequest),
        ("c", [{"messageId": "1"}], InvalidRequest),
        ("c", ["not an object"], InvalidRequest),
        ("", [{"messageId": "1", "payload": b"x"}], InvalidRequest),
    ],
)
def test_batch_put_request_errors(channel, messages, error):
    st = _analytics()
    st.create_channel("c")
    with pytest.raises(error):
        st.batch_put(channel, messages)
    assert st.messages("c") == []


def test_analytics_json_round_trip():
    st = _analytics()
    st.create_channel("c")
    st.batch_put("c", [{"messageId": "1", "payload": b"\x00\xff"}])
    copy = _analytics()
    copy.load_json(st.to_json())
    assert copy.messages("c") == st.messages("c")
    assert copy.describe_channel("c")["arn"] == st.describe_channel("c")["arn"]


def _value(t=NOW, **v):
    return {"value": v or {"doubleValue": 1.0}, "timestamp": {"timeInSeconds": int(t)}}


@pytest.mark.parametrize(
    "entry,code",
    [
        ({"propertyAlias": "/a", "propertyValues": [_value()]}, None),
        ({"assetId": "x", "propertyId": "y", "propertyValues": [_value()]}, None),
        ({"propertyValues": [_value()]}, "InvalidRequestException"),
        ({"assetId": "x", "propertyValues": [_value()]}, "InvalidRequestException"),
        (
            {"assetId": "x", "propertyId": "y", "propertyAlias": "/a", "propertyValues": [_value()]},
            "InvalidRequestException",
        ),
        ({"propertyAlias": "/a", "propertyValues": []}, "InvalidRequestException"),
        ({"propertyAlias": "/a", "propertyValues": [_value()] * 11}, "InvalidRequestException"),
        (
            {"propertyAlias": "/a", "propertyValues": [_value(doubleValue=1.0, integerValue=1)]},
            "InvalidRequestException",
        ),
        (
            {"propertyAlias": "/a", "propertyValues": [{**_value(), "quality": "MEH"}]},
            "InvalidRequestException",
        ),
        (
            {"propertyAlias": "/a", "propertyValues": [{"value": {"doubleValue": 1.0}}]},
            "InvalidRequestException",
        ),
        (
            {"propertyAlias": "/a", "propertyValues": [_value(NOW - 8 * 86400)]},
            "TimestampOutOfRangeException",
        ),
        ({"propertyAlias": "/a", "propertyValues": [_value(NOW + 3600)]}, "TimestampOutOfRangeException"),
        ({"propertyAlias": "/a", "propertyValues": [_value(NOW + 300)]}, None),
    ],
)
def test_sitewise_entry_checks(entry, code):
    problem = check_entry(entry, NOW)
    assert (problem[0] if problem else None) == code


def test_sitewise_stores_good_entries_and_filters():
    st = SiteWiseState(clock=lambda: NOW)
    errs = st.batch_put(
        [
            {"entryId": "1", "propertyAlias": "/a", "propertyValues": [_value()]},
            {"entryId": "2", "propertyValues": [_value()]},
            {"entryId": "3", "assetId": "x", "propertyId": "y", "propertyValues": [_value()]},
        ]
    )
    assert [e["entryId"] for e in errs] == ["2"]
    assert [e["entryId"] for e in st.entries()] == ["1", "3"]
    assert [e["entryId"] for e in st.entries(property_alias="/a")] == ["1"]
    assert [e["entryId"] for e in st.entries(asset_id="x", property_id="y")] == ["3"]


@pytest.mark.parametrize(
    "entries",
    [
        [],
        [{"entryId": str(i), "propertyAlias": "/a", "propertyValues": [_value()]} for i in range(11)],
        [{"entryId": "bad id", "propertyAlias": "/a", "propertyValues": [_value()]}],
        [{"entryId": "d", "propertyAlias": "/a", "propertyValues": [_value()]}] * 2,
        "nope",
    ],
)
def test_sitewise_request_errors(entries):
    with pytest.raises(InvalidRequest):
        SiteWiseState(clock=lambda: NOW).batch_put(entries)
