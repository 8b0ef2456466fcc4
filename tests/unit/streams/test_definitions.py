"""MessageStreamDefinition parsing: defaults, limits, error messages that name the key."""

from __future__ import annotations

import pytest

from localcore.streams.definitions import DEFAULT_MAX_SIZE, DEFAULT_SEGMENT_SIZE, parse_definition
from localcore.streams.errors import InvalidDefinition


def test_defaults_are_filled_in():
    d = parse_definition({"name": "s", "strategyOnFull": 1})
    assert d.to_wire() == {
        "name": "s",
        "maxSize": DEFAULT_MAX_SIZE,
        "streamSegmentSize": DEFAULT_SEGMENT_SIZE,
        "strategyOnFull": 1,
        "persistence": 0,
        "flushOnWrite": False,
    }


def test_export_configs_parsed_with_defaults_and_sitewise_casing():
    d = parse_definition(
        {
            "name": "s",
            "strategyOnFull": 0,
            "exportDefinition": {
                "kinesis": [{"identifier": "k1", "kinesisStreamName": "ks", "priority": 2}],
                "IotSitewise": [{"identifier": "sw"}],
                "iotAnalytics": [{"identifier": "ia", "iotChannel": "ch", "iotMsgIdPrefix": "p"}],
                "http": [{"identifier": "h", "uri": "http://x/", "exportFormat": 1}],
                "s3TaskExecutor": [
                    {"identifier": "s3", "statusConfig": {"statusLevel": 2, "statusStreamName": "st"}}
                ],
            },
        }
    )
    by_id = {e.identifier: e for e in d.exports}
    assert (by_id["k1"].batch_size, by_id["k1"].priority, by_id["k1"].start_sequence_number) == (500, 2, 0)
    assert (by_id["sw"].kind, by_id["sw"].batch_size, by_id["sw"].priority) == ("IotSitewise", 10, 10)
    assert by_id["ia"].batch_size == 100 and by_id["ia"].params["iotMsgIdPrefix"] == "p"
    assert by_id["s3"].params["statusConfig"] == {"statusLevel": 2, "statusStreamName": "st"}
    wire = d.to_wire()["exportDefinition"]
    assert set(wire) == {"kinesis", "IotSitewise", "iotAnalytics", "http", "s3TaskExecutor"}
    assert parse_definition(d.to_wire()) == d


BAD = [
    ({"strategyOnFull": 0}, "definition.name: required"),
    ({"name": "", "strategyOnFull": 0}, "definition.name"),
    ({"name": "a/b", "strategyOnFull": 0}, "definition.name"),
    ({"name": "s"}, "definition.strategyOnFull: required"),
    ({"name": "s", "strategyOnFull": 2}, "definition.strategyOnFull: must be between 0 and 1"),
    ({"name": "s", "strategyOnFull": 0, "maxSize": 1023}, "definition.maxSize"),
    ({"name": "s", "strategyOnFull": 0, "maxSize": True}, "definition.maxSize: must be an integer"),
    ({"name": "s", "strategyOnFull": 0, "streamSegmentSize": 2**31}, "definition.streamSegmentSize"),
    ({"name": "s", "strategyOnFull": 0, "timeToLiveMillis": 59999}, "definition.timeToLiveMillis"),
    ({"name": "s", "strategyOnFull": 0, "persistence": 2}, "definition.persistence"),
    ({"name": "s", "strategyOnFull": 0, "flushOnWrite": 1}, "definition.flushOnWrite"),
    (
        {"name": "s", "strategyOnFull": 0, "exportDefinition": []},
        "definition.exportDefinition: must be a map",
    ),
    (
        {"name": "s", "strategyOnFull": 0, "exportDefinition": {"kinesis": [{"identifier": "k"}]}},
        "definition.exportDefinition.kinesis[0].kinesisStreamName: required",
    ),
    (
        {
            "name": "s",
            "strategyOnFull": 0,
            "exportDefinition": {
                "kinesis": [{"identifier": "k", "kinesisStreamName": "x", "batchSize": 501}]
            },
        },
        "kinesis[0].batchSize",
    ),
    (
        {
            "name": "s",
            "strategyOnFull": 0,
            "exportDefinition": {"IotSitewise": [{"identifier": "k", "batchSize": 11}]},
        },
        "IotSitewise[0].batchSize",
    ),
    (
        {
            "name": "s",
            "strategyOnFull": 0,
            "exportDefinition": {"kinesis": [{"identifier": "k", "kinesisStreamName": "x", "priority": 0}]},
        },
        "kinesis[0].priority",
    ),
    (
        {
            "name": "s",
            "strategyOnFull": 0,
            "exportDefinition": {"http": [{"identifier": "k", "uri": "u", "batchIntervalMillis": 10}]},
        },
        "http[0].batchIntervalMillis",
    ),
    (
        {
            "name": "s",
            "strategyOnFull": 0,
            "exportDefinition": {
                "kinesis": [{"identifier": "k", "kinesisStreamName": "x"}],
                "http": [{"identifier": "k", "uri": "u"}],
            },
        },
        "used twice",
    ),
    (
        {
            "name": "s",
            "strategyOnFull": 0,
            "exportDefinition": {
                "s3TaskExecutor": [{"identifier": "k", "sizeThresholdForMultipartUploadBytes": 5}]
            },
        },
        "sizeThresholdForMultipartUploadBytes",
    ),
    ("not a map", "definition: must be a map"),
]


@pytest.mark.parametrize("wire,message", BAD)
def test_bad_definitions_name_the_key(wire, message):
    with pytest.raises(InvalidDefinition) as ei:
        parse_definition(wire)
    assert message in ei.value.message
    assert ei.value.status == 3
