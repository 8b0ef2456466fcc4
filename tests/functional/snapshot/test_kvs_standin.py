"""The Kinesis Video stand-in behind LocalCloud, driven by real boto3 clients over HTTP."""
from __future__ import annotations

import base64
import json
import time
import urllib.request
import uuid

import cv2
import pytest
from botocore.exceptions import ClientError

from localcore.cloud import LocalCloud
from localcore.cloud.kvs import KvsClientError, put_frames, synthetic_frames

from snapshot_media import BLUE, GREEN, RED, REGION, close_to, frames


def clip(clients, cloud, name, start, end, kind="PRODUCER_TIMESTAMP"):
    ep = clients("kinesisvideo").get_data_endpoint(StreamName=name, APIName="GET_CLIP")["DataEndpoint"]
    am = clients("kinesis-video-archived-media", ep)
    return am.get_clip(StreamName=name, ClipFragmentSelector={
        "FragmentSelectorType": kind, "TimestampRange": {"StartTimestamp": start, "EndTimestamp": end}})


def decode_all(mp4: bytes, tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4)
    cap = cv2.VideoCapture(str(path))
    out = []
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                break
            out.append(img)
    finally:
        cap.release()
    return out


def centre(img):
    h, w = img.shape[:2]
    return tuple(float(x) for x in img[h // 3: 2 * h // 3, w // 3: 2 * w // 3].reshape(-1, 3).mean(axis=0))


def test_control_plane_round_trip(clients):
    kv = clients("kinesisvideo")
    name = f"ctl-{uuid.uuid4().hex[:6]}"
    arn = kv.create_stream(StreamName=name, DataRetentionInHours=2, MediaType="video/h264")["StreamARN"]
    assert arn.startswith(f"arn:aws:kinesisvideo:{REGION}:123456789012:stream/{name}/")
    info = kv.describe_stream(StreamName=name)["StreamInfo"]
    assert (info["StreamName"], info["DataRetentionInHours"], info["Status"]) == (name, 2, "ACTIVE")
    assert kv.describe_stream(StreamARN=arn)["StreamInfo"]["StreamName"] == name
    listed = kv.list_streams(StreamNameCondition={"ComparisonOperator": "BEGINS_WITH",
                                                  "ComparisonValue": "ctl-"})["StreamInfoList"]
    assert name in [s["StreamName"] for s in listed]
    with pytest.raises(ClientError) as exc:
        kv.create_stream(StreamName=name)
    assert exc.value.response["Error"]["Code"] == "ResourceInUseException"
    kv.update_data_retention(StreamName=name, CurrentVersion="1", Operation="INCREASE_DATA_RETENTION",
                             DataRetentionChangeInHours=3)
    assert kv.describe_stream(StreamName=name)["StreamInfo"]["DataRetentionInHours"] == 5
    kv.delete_stream(StreamARN=arn)
    with pytest.raises(ClientError) as exc:
        kv.describe_stream(StreamName=name)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_data_endpoint_is_the_front(clients, cloud, stream):
    ep = clients("kinesisvideo").get_data_endpoint(StreamName=stream, APIName="GET_CLIP")["DataEndpoint"]
    assert ep == cloud.url


@pytest.mark.parametrize("api", ["GET_CLIP", "LIST_FRAGMENTS"])
def test_unknown_stream_is_resource_not_found(clients, api):
    with pytest.raises(ClientError) as exc:
        clients("kinesisvideo").get_data_endpoint(StreamName="no-such-stream", APIName=api)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_get_clip_is_a_real_mp4_of_the_range(clients, cloud, stream, now, tmp_path):
    t0 = now - 20
    put_frames(cloud.url, stream, frames(t0, 10, RED))              # 20 s ago: outside
    put_frames(cloud.url, stream, frames(t0 + 10, 15, GREEN, last_colour=BLUE))
    resp = clip(clients, cloud, stream, t0 + 5, t0 + 15)
    assert resp["ContentType"] == "video/mp4"
    decoded = decode_all(resp["Payload"].read(), tmp_path)
    assert len(decoded) == 15
    assert close_to(centre(decoded[0]), GREEN)
    assert close_to(centre(decoded[-1]), BLUE)


def test_get_clip_for_unknown_stream(clients, cloud, now):
    am = clients("kinesis-video-archived-media")
    with pytest.raises(ClientError) as exc:
        am.get_clip(StreamName="no-such-stream", ClipFragmentSelector={
            "FragmentSelectorType": "SERVER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": now - 3, "EndTimestamp": now}})
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_get_clip_with_no_fragments_in_range(clients, cloud, stream, now):
    put_frames(cloud.url, stream, frames(now - 100, 5, RED))
    with pytest.raises(ClientError) as exc:
        clip(clients, cloud, stream, now - 10, now)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert "No fragments" in exc.value.response["Error"]["Message"]


def test_stream_without_retention_keeps_nothing(clients, cloud, now):
    name = f"noret-{uuid.uuid4().hex[:6]}"
    clients("kinesisvideo").create_stream(StreamName=name)  # AWS default: 0 hours
    result = put_frames(cloud.url, name, frames(now - 1, 3, RED))
    assert (result.frames, result.fragments, result.archived) == (3, [], False)
    with pytest.raises(ClientError) as exc:
        clip(clients, cloud, name, now - 3, now)
    assert exc.value.response["Error"]["Code"] == "NoDataRetentionException"


def test_server_timestamp_end_in_future_is_invalid(clients, cloud, stream, now):
    with pytest.raises(ClientError) as exc:
        clip(clients, cloud, stream, now - 3, now + 60, kind="SERVER_TIMESTAMP")
    assert exc.value.response["Error"]["Code"] == "InvalidArgumentException"


def test_end_before_start_is_invalid(clients, cloud, stream, now):
    with pytest.raises(ClientError) as exc:
        clip(clients, cloud, stream, now, now - 3)
    assert exc.value.response["Error"]["Code"] == "InvalidArgumentException"


def test_list_fragments_in_range(clients, cloud, stream, now):
    put_frames(cloud.url, stream, frames(now - 10, 50, RED))  # 5 s at 10 fps -> 3 fragments of <= 2 s
    ep = clients("kinesisvideo").get_data_endpoint(StreamName=stream, APIName="LIST_FRAGMENTS")["DataEndpoint"]
    am = clients("kinesis-video-archived-media", ep)
    frags = am.list_fragments(StreamName=stream)["Fragments"]
    starts = sorted(f["ProducerTimestamp"].timestamp() for f in frags)
    assert starts == pytest.approx([now - 10, now - 8, now - 6], abs=1e-3)
    some = am.list_fragments(StreamName=stream, FragmentSelector={
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": now - 8.5, "EndTimestamp": now}})["Fragments"]
    assert len(some) == 2


def test_ingest_rejects_a_non_jpeg_frame(cloud, stream, now):
    with pytest.raises(KvsClientError, match=r"HTTP 400.*InvalidMediaFrameException.*frames\[1\]"):
        put_frames(cloud.url, stream, [(now, frames(now, 1, RED)[0].jpeg), (now + 0.1, b"not a jpeg")])


def test_ingest_rejects_time_going_backwards(cloud, stream, now):
    jpeg = frames(now, 1, RED)[0].jpeg
    with pytest.raises(KvsClientError, match="InvalidArgumentException.*goes back in time"):
        put_frames(cloud.url, stream, [(now, jpeg), (now - 1, jpeg)])


def test_ingest_to_unknown_stream(cloud, now):
    with pytest.raises(KvsClientError, match="HTTP 404.*ResourceNotFoundException"):
        put_frames(cloud.url, "no-such-stream", frames(now, 1, RED))


def test_unsigned_local_ingest_route(cloud, clients, stream, now, tmp_path):
    """/_local/kinesisvideo/... reaches the stand-in without a SigV4 signature (curl-friendly)."""
    body = json.dumps({"frames": [{"producer_timestamp": now - 1,
                                   "jpeg_b64": base64.b64encode(frames(now, 1, GREEN)[0].jpeg).decode()}]})
    req = urllib.request.Request(f"{cloud.url}/_local/kinesisvideo/streams/{stream}/frames",
                                 data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["Frames"] == 1
    decoded = decode_all(clip(clients, cloud, stream, now - 2, now)["Payload"].read(), tmp_path)
    assert len(decoded) == 1 and close_to(centre(decoded[0]), GREEN)


def test_put_frames_batches_large_uploads(cloud, stream):
    result = put_frames(cloud.url, stream, synthetic_frames(40, 10.0), max_request_bytes=64 * 1024)
    assert result.frames == 40 and result.requests > 1


def test_streams_and_fragments_survive_a_restart(tmp_path, now):
    state = tmp_path / "state"
    with LocalCloud(state, region=REGION) as first:
        kv = clients_for(first, "kinesisvideo")
        kv.create_stream(StreamName="persist", DataRetentionInHours=1)
        put_frames(first.url, "persist", frames(now - 2, 5, GREEN, last_colour=BLUE))
    with LocalCloud(state, region=REGION) as second:
        kv = clients_for(second, "kinesisvideo")
        assert kv.describe_stream(StreamName="persist")["StreamInfo"]["DataRetentionInHours"] == 1
        ep = kv.get_data_endpoint(StreamName="persist", APIName="GET_CLIP")["DataEndpoint"]
        resp = clients_for(second, "kinesis-video-archived-media", ep).get_clip(
            StreamName="persist", ClipFragmentSelector={
                "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                "TimestampRange": {"StartTimestamp": now - 3, "EndTimestamp": now}})
        decoded = decode_all(resp["Payload"].read(), tmp_path)
    assert len(decoded) == 5 and close_to(centre(decoded[-1]), BLUE)


def clients_for(cloud, service, endpoint=None):
    import boto3

    return boto3.client(service, endpoint_url=endpoint or cloud.url, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_status_reports_streams(cloud, stream, now):
    put_frames(cloud.url, stream, frames(now - 1, 3, RED))
    status = cloud.status()["kinesisvideo"]
    assert status["streams"][f"{REGION}/{stream}"]["fragments"] == 1
    assert time.time() - status["streams"][f"{REGION}/{stream}"]["newest_producer_timestamp"] < 60


def test_clips_while_ingesting_concurrently(clients, cloud, stream, tmp_path):
    """The front runs handlers on worker threads: clips and ingest of one stream interleave."""
    import concurrent.futures

    put_frames(cloud.url, stream, frames(time.time() - 2, 10, RED))
    stop = time.monotonic() + 1.5

    def feed():
        n = 0
        while time.monotonic() < stop:
            put_frames(cloud.url, stream, frames(time.time() - 0.3, 3, GREEN))
            n += 1
        return n

    def read():
        sizes = []
        while time.monotonic() < stop:
            now = time.time()
            sizes.append(len(clip(clients, cloud, stream, now - 3, now, kind="SERVER_TIMESTAMP")["Payload"].read()))
        return sizes

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        feeders = [pool.submit(feed)]
        readers = [pool.submit(read) for _ in range(3)]
        assert feeders[0].result(timeout=30) > 0
        for r in readers:
            sizes = r.result(timeout=30)
            assert sizes and all(s > 1000 for s in sizes)
