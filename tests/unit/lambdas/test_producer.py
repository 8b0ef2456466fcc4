import json

import pytest
from greengrasssdk.stream_manager import Persistence, StrategyOnFull, Util

from readings import ConfigError, ProducerConfig, ReadingGenerator, encode_reading, next_due, stream_definition


def test_defaults_without_environment():
    config = ProducerConfig.from_env({})
    assert config == ProducerConfig()
    assert config.max_size_bytes == 268435456
    assert config.export_target == "kinesis" and config.export_priority == 10
    assert config.interval_s == 1.0 and config.random_seed is None


@pytest.mark.parametrize("env, message", [
    ({"INTERVAL_SECONDS": "fast"}, "INTERVAL_SECONDS must be a float number, got 'fast'"),
    ({"INTERVAL_SECONDS": "0"}, "INTERVAL_SECONDS must be > 0"),
    ({"EXPORT_TARGET": "s3"}, "EXPORT_TARGET must be one of kinesis, iotanalytics, none, got 's3'"),
    ({"EXPORT_PRIORITY": "11"}, "EXPORT_PRIORITY must be 1..10"),
    ({"STREAM_MAX_SIZE_BYTES": "100"}, "STREAM_MAX_SIZE_BYTES must be >= 1024"),
    ({"STREAM_STRATEGY_ON_FULL": "drop"}, "STREAM_STRATEGY_ON_FULL must be one of"),
    ({"VALUE_MIN": "10", "VALUE_MAX": "5"}, "VALUE_MAX must be >= 10.0"),
])
def test_bad_environment_names_the_variable(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        ProducerConfig.from_env(env)


def test_kinesis_definition_wire_form():
    config = ProducerConfig.from_env({"STREAM_NAME": "Readings", "KINESIS_STREAM_NAME": "k1",
                                      "STREAM_PERSISTENCE": "memory", "STREAM_STRATEGY_ON_FULL": "rejectnewdata"})
    definition = stream_definition(config)
    assert definition.name == "Readings"
    assert definition.max_size == 256 * 1024 * 1024
    assert definition.strategy_on_full is StrategyOnFull.RejectNewData
    assert definition.persistence is Persistence.Memory
    wire = definition.as_dict()
    assert wire["exportDefinition"]["kinesis"] == [
        {"identifier": "KinesisExport", "kinesisStreamName": "k1", "priority": 10}]
    assert "iotAnalytics" not in wire["exportDefinition"]


def test_iotanalytics_and_no_export():
    config = ProducerConfig.from_env({"EXPORT_TARGET": "IoTAnalytics", "IOT_ANALYTICS_CHANNEL": "chan"})
    wire = stream_definition(config).as_dict()
    assert wire["exportDefinition"]["iotAnalytics"] == [
        {"identifier": "IoTAnalyticsExport", "iotChannel": "chan", "priority": 10}]
    assert "exportDefinition" not in stream_definition(ProducerConfig.from_env({"EXPORT_TARGET": "none"})).as_dict()


def test_readings_are_deterministic_for_a_seed():
    config = ProducerConfig.from_env({"RANDOM_SEED": "42", "LOCATIONS": "a, b"})
    other = ProducerConfig.from_env({"RANDOM_SEED": "43", "LOCATIONS": "a, b"})
    gen_a, gen_b, gen_c = ReadingGenerator(config), ReadingGenerator(config), ReadingGenerator(other)
    seq_a = [gen_a.next_reading(i) for i in range(20)]
    seq_b = [gen_b.next_reading(i) for i in range(20)]
    seq_c = [gen_c.next_reading(i) for i in range(20)]
    assert seq_a == seq_b
    assert seq_a != seq_c
    assert {r["location"] for r in seq_a} == {"a", "b"}
    for i, reading in enumerate(seq_a):
        assert set(reading) == {"device_id", "location", "value", "timestamp"}
        assert reading["device_id"] == "sensor-" + reading["location"]
        assert 15.0 <= reading["value"] <= 30.0
        assert reading["timestamp"] == i


def test_encoding_is_compact_sorted_json():
    payload = encode_reading({"value": 1.5, "location": "x", "device_id": "d", "timestamp": 7})
    assert payload == b'{"device_id":"d","location":"x","timestamp":7,"value":1.5}'
    assert json.loads(payload)["value"] == 1.5


@pytest.mark.parametrize("previous, now, interval, expected", [
    (10.0, 10.0, 1.0, 11.0),   # on time
    (10.0, 10.9, 1.0, 11.0),   # work took a while: keep the grid
    (10.0, 11.5, 1.0, 11.0),   # slightly late: wait 0, stay on the grid
    (10.0, 15.0, 1.0, 15.0),   # far behind: restart from now, no burst
])
def test_next_due(previous, now, interval, expected):
    assert next_due(previous, now, interval) == expected


def test_definition_passes_sdk_validation():
    # The SDK validates before sending; a definition it refuses would never reach the core.
    Util.validate_and_serialize_to_json_bytes(stream_definition(ProducerConfig()))


def test_stream_definitions_are_checked_when_configured():
    from upload_tasks import ConfigError as UploaderConfigError, UploaderConfig
    from windows import AggregatorConfig, ConfigError as AggregatorConfigError

    with pytest.raises(ConfigError, match="definition for 'bad/name' from the environment is invalid"):
        ProducerConfig.from_env({"STREAM_NAME": "bad/name"})
    with pytest.raises(ConfigError, match="invalid"):
        ProducerConfig.from_env({"EXPORT_IDENTIFIER": "no/slash"})
    with pytest.raises(AggregatorConfigError, match="definition for 'a:b'"):
        AggregatorConfig.from_env({"TARGET_STREAM_NAME": "a:b"})
    with pytest.raises(UploaderConfigError, match="maximum length of 255"):
        UploaderConfig.from_env({"BUCKET_NAME": "b", "STATUS_STREAM_NAME": "x" * 256})
