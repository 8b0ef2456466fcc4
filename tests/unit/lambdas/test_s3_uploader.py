import json

import pytest
from greengrasssdk.stream_manager import (
    EventType, S3ExportTaskDefinition, Status, StatusContext, StatusLevel, StatusMessage, Util,
    ValidationException,
)

from upload_tasks import (
    ConfigError, UploaderConfig, UploadTracker, export_task, input_url, is_candidate, key_for, status_definition,
    task_definition,
)

CONFIG = UploaderConfig(bucket="frames-bucket", watch_dir="/tmp/s3_stream", retry_delay_s=30,
                        pending_timeout_s=600, max_in_flight=3)
NAME = "2026_11_23_11.40.05.123456.jpg"


@pytest.mark.parametrize("name, prefix, key", [
    (NAME, "", "2026/11/23/11.40.05.123456.jpg"),
    (NAME, "cam1", "cam1/2026/11/23/11.40.05.123456.jpg"),
    (NAME, "/cam1/", "cam1/2026/11/23/11.40.05.123456.jpg"),
    ("2026_11_23_11.40.05.123456-1.jpg", "", "2026/11/23/11.40.05.123456-1.jpg"),
    ("plain.jpg", "", "plain.jpg"),
])
def test_key_derivation(name, prefix, key):
    assert key_for(name, prefix) == key


def test_task_json_as_the_sdk_writes_it():
    task = export_task(CONFIG, "/tmp/s3_stream/" + NAME)
    assert json.loads(Util.validate_and_serialize_to_json_bytes(task)) == {
        "inputUrl": "file:/tmp/s3_stream/" + NAME, "bucket": "frames-bucket",
        "key": "2026/11/23/11.40.05.123456.jpg"}
    assert input_url("relative.jpg").startswith("file:/")
    with pytest.raises(ValidationException):
        Util.validate_and_serialize_to_json_bytes(export_task(CONFIG, "/tmp/s3_stream/bad{name}.jpg"))


def test_stream_definitions():
    status = status_definition(CONFIG).as_dict()
    assert status["name"] == "S3ExportTaskStatus" and "exportDefinition" not in status
    tasks = task_definition(CONFIG).as_dict()
    assert tasks["exportDefinition"]["s3TaskExecutor"] == [{
        "identifier": "S3TaskExecutor",
        "statusConfig": {"statusLevel": 2, "statusStreamName": "S3ExportTaskStatus"}}]


@pytest.mark.parametrize("name, ok", [(NAME, True), (".frame-x.part", False), (".hidden.jpg", False),
                                      ("notes.txt", False), ("a.jpg.part", False)])
def test_candidates(name, ok):
    assert is_candidate(name, ".jpg") is ok


def status(sequence, state, stream="S3ExportTasks", path=NAME):
    """A StatusMessage exactly as the stream manager writes it (JSON bytes) and the SDK reads it."""
    message = StatusMessage(
        event_type=EventType.S3Task, status_level=StatusLevel.INFO, status=state,
        status_context=StatusContext(
            s3_export_task_definition=S3ExportTaskDefinition(input_url="file:/tmp/s3_stream/" + path,
                                                             bucket="frames-bucket", key="k"),
            export_identifier="S3TaskExecutor", stream_name=stream, sequence_number=sequence),
        message="m", timestamp_epoch_ms=1)
    return Util.deserialize_json_bytes_to_obj(Util.validate_and_serialize_to_json_bytes(message), StatusMessage)


def test_success_deletes_only_after_confirmation():
    tracker = UploadTracker(CONFIG)
    path = "/tmp/s3_stream/" + NAME
    assert tracker.to_submit([NAME, ".x.part", "a.txt"], now=0) == [path]
    tracker.submitted(path, 7, now=0)
    assert tracker.to_submit([NAME], now=1) == []                    # in flight: not twice
    assert tracker.on_status(status(7, Status.InProgress), "S3ExportTasks", 1) is None
    assert tracker.on_status(status(7, Status.Warning), "S3ExportTasks", 1) is None
    assert tracker.on_status(status(6, Status.Success), "S3ExportTasks", 1) is None         # another task
    assert tracker.on_status(status(7, Status.Success, stream="Other"), "S3ExportTasks", 1) is None
    assert tracker.on_status(status(7, Status.Success), "S3ExportTasks", 2) == ("delete", path)
    assert (tracker.in_flight, tracker.uploaded) == (0, 1)
    assert tracker.on_status(status(7, Status.Success), "S3ExportTasks", 3) is None          # repeated status


@pytest.mark.parametrize("final", [Status.Failure, Status.Canceled])
def test_failure_keeps_the_file_and_retries_after_the_delay(final):
    tracker = UploadTracker(CONFIG)
    path = "/tmp/s3_stream/" + NAME
    tracker.submitted(path, 0, now=0)
    assert tracker.on_status(status(0, final), "S3ExportTasks", 10) == ("retry", path)
    assert tracker.to_submit([NAME], now=39.9) == []
    assert tracker.to_submit([NAME], now=40) == [path]
    tracker.submitted(path, 1, now=40)
    assert tracker.on_status(status(0, Status.Success), "S3ExportTasks", 41) is None   # stale attempt
    assert tracker.on_status(status(1, Status.Success), "S3ExportTasks", 42) == ("delete", path)
    assert (tracker.failed, tracker.uploaded) == (1, 1)


def test_statuses_from_an_earlier_run_change_nothing():
    tracker = UploadTracker(CONFIG)
    for sequence in range(5):
        assert tracker.on_status(status(sequence, Status.Success), "S3ExportTasks", 0) is None
    assert tracker.uploaded == 0


def test_attempt_without_final_status_is_resubmitted_after_timeout():
    tracker = UploadTracker(CONFIG)
    path = "/tmp/s3_stream/" + NAME
    tracker.submitted(path, 0, now=0)
    assert tracker.to_submit([NAME], now=599) == []
    assert tracker.to_submit([NAME], now=600) == [path]


def test_in_flight_limit_and_rejected_files():
    tracker = UploadTracker(CONFIG)
    names = ["2026_01_01_00.00.0{}.000000.jpg".format(i) for i in range(5)]
    first = tracker.to_submit(names, now=0)
    assert [p.rsplit("/", 1)[1] for p in first] == names[:3]
    tracker.rejected(first[0])
    assert tracker.to_submit(names[:1], now=1) == []


def test_config_requires_a_bucket():
    with pytest.raises(ConfigError, match="BUCKET_NAME must name the S3 bucket"):
        UploaderConfig.from_env({})
    with pytest.raises(ConfigError, match="STATUS_READ_TIMEOUT_MS must be in 0..59000, got '60000'"):
        UploaderConfig.from_env({"BUCKET_NAME": "b", "STATUS_READ_TIMEOUT_MS": "60000"})
    with pytest.raises(ConfigError, match="MAX_IN_FLIGHT must be >= 1, got '0'"):
        UploaderConfig.from_env({"BUCKET_NAME": "b", "MAX_IN_FLIGHT": "0"})
    config = UploaderConfig.from_env({"BUCKET_NAME": "b-1", "WATCH_DIR": "/v", "KEY_PREFIX": "p"})
    assert (config.bucket, config.watch_dir, config.key_prefix, config.task_stream) == ("b-1", "/v", "p",
                                                                                         "S3ExportTasks")
