"""IoT Analytics / SiteWise stand-ins and proxying to moto, through real clients on a real LocalCloud."""

from __future__ import annotations

import base64
import json
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from localcore.cloud import LocalCloud


def _b64(obj) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def test_iotanalytics_batch_put_hand_signed_then_read_back(signed, local_get):
    assert signed("iotanalytics", "POST", "/channels", {"channelName": "traffic_ch"})[0] == 201
    status, body = signed(
        "iotanalytics",
        "POST",
        "/messages/batch",
        {
            "channelName": "traffic_ch",
            "messages": [
                {"messageId": "m1", "payload": _b64({"cars": 3})},
                {"messageId": "m2", "payload": _b64({"cars": 5})},
                {"messageId": "m1", "payload": _b64({"dup": True})},
            ],
        },
    )
    assert status == 200
    assert [e["messageId"] for e in body["batchPutMessageErrorEntries"]] == ["m1"]

    status, back = local_get("/_local/iotanalytics/channels/traffic_ch/messages")
    assert status == 200
    assert [m["messageId"] for m in back["messages"]] == ["m1", "m2"]
    assert [json.loads(base64.b64decode(m["payload"])) for m in back["messages"]] == [
        {"cars": 3},
        {"cars": 5},
    ]
    assert local_get("/_local/iotanalytics/channels")[1]["channels"]["traffic_ch"] == 2


def test_iotanalytics_errors_are_aws_shaped(signed):
    status, body = signed(
        "iotanalytics",
        "POST",
        "/messages/batch",
        {"channelName": "no_such_channel", "messages": [{"messageId": "1", "payload": "eA=="}]},
    )
    assert (status, body["__type"]) == (404, "ResourceNotFoundException")
    status, body = signed("iotanalytics", "POST", "/channels", {"channelName": "bad-name"})
    assert (status, body["__type"]) == (400, "InvalidRequestException")
    signed("iotanalytics", "POST", "/channels", {"channelName": "twice"})
    assert signed("iotanalytics", "POST", "/channels", {"channelName": "twice"})[0] == 409
    status, body = signed("iotanalytics", "POST", "/messages/batch", {"channelName": "twice", "messages": []})
    assert (status, body["__type"]) == (400, "InvalidRequestException")
    status, body = signed("iotanalytics", "POST", "/datasets", {"datasetName": "d"})  # not emulated
    assert (status, body["__type"]) == (404, "UnknownOperationException")


def test_sitewise_batch_put_with_boto3_and_read_back(client, local_get):
    sw = client("iotsitewise", no_host_prefix=True)
    now = int(time.time())
    resp = sw.batch_put_asset_property_value(
        entries=[
            {
                "entryId": "ok1",
                "propertyAlias": "/traffic/light1/cars",
                "propertyValues": [
                    {"value": {"integerValue": 7}, "timestamp": {"timeInSeconds": now}, "quality": "GOOD"}
                ],
            },
            {
                "entryId": "noid",
                "propertyValues": [{"value": {"doubleValue": 1.5}, "timestamp": {"timeInSeconds": now}}],
            },
            {
                "entryId": "old",
                "assetId": "a" * 36,
                "propertyId": "p" * 36,
                "propertyValues": [
                    {"value": {"doubleValue": 1.5}, "timestamp": {"timeInSeconds": now - 8 * 86400}}
                ],
            },
        ]
    )
    errors = {e["entryId"]: e["errors"][0]["errorCode"] for e in resp["errorEntries"]}
    assert errors == {"noid": "InvalidRequestException", "old": "TimestampOutOfRangeException"}

    status, back = local_get("/_local/iotsitewise/entries?propertyAlias=/traffic/light1/cars")
    assert status == 200
    assert [e["entryId"] for e in back["entries"]] == ["ok1"]
    assert back["entries"][0]["propertyValues"][0]["value"] == {"integerValue": 7}


def test_sitewise_request_level_error_is_a_client_error(client):
    sw = client("iotsitewise", no_host_prefix=True)
    v = {"value": {"integerValue": 1}, "timestamp": {"timeInSeconds": int(time.time())}}
    with pytest.raises(ClientError) as exc:
        sw.batch_put_asset_property_value(
            entries=[
                {"entryId": "x", "propertyAlias": "/a", "propertyValues": [v]},
                {"entryId": "x", "propertyAlias": "/b", "propertyValues": [v]},
            ]
        )
    assert exc.value.response["Error"]["Code"] == "InvalidRequestException"


def test_ordinary_calls_are_proxied_to_moto(client):
    s3 = client("s3")
    s3.create_bucket(Bucket="proxy-bucket")
    s3.put_object(Bucket="proxy-bucket", Key="dir/a b.txt", Body=b"hello", Metadata={"camera_id": "c1"})
    head = s3.head_object(Bucket="proxy-bucket", Key="dir/a b.txt")
    assert head["ContentLength"] == 5 and head["Metadata"] == {"camera_id": "c1"}
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "proxy-bucket", "Key": "dir/a b.txt"})
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"hello"

    ddb = client("dynamodb")
    ddb.create_table(
        TableName="proxy_table",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
    )
    ddb.put_item(TableName="proxy_table", Item={"k": {"S": "1"}, "v": {"N": "42"}})
    assert ddb.get_item(TableName="proxy_table", Key={"k": {"S": "1"}})["Item"]["v"] == {"N": "42"}

    kin = client("kinesis")
    kin.create_stream(StreamName="proxy_stream", ShardCount=1)
    kin.put_records(
        StreamName="proxy_stream", Records=[{"Data": b"r%d" % i, "PartitionKey": "p"} for i in range(3)]
    )
    shard = kin.describe_stream(StreamName="proxy_stream")["StreamDescription"]["Shards"][0]["ShardId"]
    it = kin.get_shard_iterator(StreamName="proxy_stream", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    assert [r["Data"] for r in kin.get_records(ShardIterator=it["ShardIterator"])["Records"]] == [
        b"r0",
        b"r1",
        b"r2",
    ]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="proxy-bucket", Key="missing")
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"

    data = client("iot-data")  # signing name "iotdata": shadows for cloud sync
    client("iot").create_thing(thingName="GG_TrafficLight")
    data.update_thing_shadow(
        thingName="GG_TrafficLight", payload=json.dumps({"state": {"desired": {"light": "G"}}})
    )
    shadow = json.loads(data.get_thing_shadow(thingName="GG_TrafficLight")["payload"].read())
    assert shadow["state"]["delta"] == {"light": "G"}


def test_registered_extension_answers_before_moto(cloud, client):
    from localcore.cloud import json_response

    seen = []

    def handler(req):
        seen.append(req.path)
        return (
            json_response({"QueueUrls": ["http://example/extension"]})
            if req.path == "/" and b"ListQueues" in req.body + req.headers.get("X-Amz-Target", "").encode()
            else None
        )

    cloud.register("sqs", handler)
    sqs = client("sqs")
    assert sqs.list_queues()["QueueUrls"] == ["http://example/extension"]
    url = sqs.create_queue(QueueName="fallthrough")["QueueUrl"]  # None → moto answers
    assert url.endswith("/fallthrough") and len(seen) == 2


def test_status_and_unknown_local_route(cloud, local_get):
    status, body = local_get("/_local/status")
    assert status == 200 and body["state"] == "started" and body["url"] == cloud.url
    assert "iotanalytics" in body["services"]
    assert local_get("/_local/iotanalytics/nothing-here")[0] == 404


def test_adapter_state_persists_across_restart(tmp_path):
    first = LocalCloud(tmp_path)
    first.start()
    try:
        first.iotanalytics.create_channel("kept")
        first.iotanalytics.batch_put("kept", [{"messageId": "1", "payload": b"{}"}])
    finally:
        first.stop()
    second = LocalCloud(tmp_path)
    second.start()
    try:
        assert [m.message_id for m in second.iotanalytics.messages("kept")] == ["1"]
    finally:
        second.stop()


def test_streamed_and_async_extension_handlers(cloud):
    from localcore.cloud import CloudResponse

    def chunks():
        for i in range(3):
            yield b"chunk%d;" % i

    async def async_handler(req):
        if req.path == "/_local/teststream/async":
            return CloudResponse(200, b"from the loop", {"Content-Type": "text/plain"})
        return None

    cloud.register("teststream", async_handler)
    cloud.register(
        "teststream",
        lambda req: CloudResponse(200, chunks(), {"Content-Type": "text/plain"})
        if req.path == "/_local/teststream/chunks"
        else None,
    )
    with urllib.request.urlopen(cloud.url + "/_local/teststream/chunks", timeout=10) as r:
        assert r.read() == b"chunk0;chunk1;chunk2;"
    with urllib.request.urlopen(cloud.url + "/_local/teststream/async", timeout=10) as r:
        assert r.read() == b"from the loop"


def test_a_failing_handler_answers_500_and_the_cloud_keeps_serving(cloud, local_get):
    def broken(req):
        raise RuntimeError("bug in an extension")

    cloud.register("brokenext", broken)
    status, body = local_get("/_local/brokenext/x")
    assert (status, body["__type"]) == (500, "InternalFailureException")
    assert "bug in an extension" in body["message"]
    assert local_get("/_local/status")[0] == 200
