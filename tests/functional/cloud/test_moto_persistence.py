"""moto's data survives a stop/start of a LocalCloud on the same state_dir (its own module:
the restore happens only when no other LocalCloud runs in the process)."""

from __future__ import annotations

import io
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from localcore.cloud import LocalCloud
from localcore.pki import LocalPKI


def _clients(url: str):
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    return {
        n: boto3.client(n, **kw)
        for n in ("greengrass", "iot", "iam", "lambda", "s3", "dynamodb", "kinesis", "iot-data")
    }


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def function_handler(event, context):\n    return event\n")
    return buf.getvalue()


def test_moto_data_survives_a_restart(tmp_path):
    pem = LocalPKI(tmp_path / "pki").root.issue_client("GG_Core").cert_pem.decode()
    with LocalCloud(tmp_path / "cloud") as first:
        c = _clients(first.url)
        group = c["greengrass"].create_group(Name="kept")
        c["iot"].create_thing(thingName="GG_Core")
        cert = c["iot"].register_certificate_without_ca(certificatePem=pem, status="ACTIVE")
        role = c["iam"].create_role(RoleName="lambda-exec", AssumeRolePolicyDocument="{}")["Role"]
        c["lambda"].create_function(
            FunctionName="producer",
            Runtime="python3.7",
            Role=role["Arn"],
            Handler="handler.function_handler",
            Code={"ZipFile": _zip()},
        )
        c["lambda"].publish_version(FunctionName="producer")
        c["lambda"].create_alias(FunctionName="producer", Name="live", FunctionVersion="1")
        c["s3"].create_bucket(Bucket="kept-bucket")
        c["s3"].put_object(Bucket="kept-bucket", Key="frame.jpg", Body=b"\xff\xd8jpeg")
        c["dynamodb"].create_table(
            TableName="stats",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        )
        c["dynamodb"].put_item(TableName="stats", Item={"k": {"S": "cars"}, "n": {"N": "7"}})
        c["kinesis"].create_stream(StreamName="SomeStream", ShardCount=1)
        c["kinesis"].put_record(StreamName="SomeStream", Data=b"rec0", PartitionKey="p")
        c["iot-data"].update_thing_shadow(
            thingName="GG_Core", payload=b'{"state": {"reported": {"on": true}}}'
        )
    assert first.status()["moto_snapshot"]["saved"]["skipped"] == {}

    with LocalCloud(tmp_path / "cloud") as second:
        c = _clients(second.url)
        assert second.status()["moto_snapshot"]["restored"]["error"] is None
        assert c["greengrass"].get_group(GroupId=group["Id"])["Name"] == "kept"
        assert (
            c["iot"]
            .describe_certificate(certificateId=cert["certificateId"])["certificateDescription"][
                "certificatePem"
            ]
            .strip()
            == pem.strip()
        )
        assert c["lambda"].get_alias(FunctionName="producer", Name="live")["FunctionVersion"] == "1"
        assert c["iam"].get_role(RoleName="lambda-exec")["Role"]["Arn"] == role["Arn"]
        assert c["s3"].get_object(Bucket="kept-bucket", Key="frame.jpg")["Body"].read() == b"\xff\xd8jpeg"
        assert c["dynamodb"].get_item(TableName="stats", Key={"k": {"S": "cars"}})["Item"]["n"] == {"N": "7"}
        shard = c["kinesis"].describe_stream(StreamName="SomeStream")["StreamDescription"]["Shards"][0][
            "ShardId"
        ]
        it = c["kinesis"].get_shard_iterator(
            StreamName="SomeStream", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        assert [r["Data"] for r in c["kinesis"].get_records(ShardIterator=it)["Records"]] == [b"rec0"]
        assert b'"on": true' in c["iot-data"].get_thing_shadow(thingName="GG_Core")["payload"].read()
        c["lambda"].delete_function(FunctionName="producer")  # the restored storage still works

    with LocalCloud(tmp_path / "other") as fresh:  # another state_dir: nothing of the above
        with pytest.raises(ClientError):
            _clients(fresh.url)["greengrass"].get_group(GroupId=group["Id"])


def test_a_corrupt_snapshot_starts_empty_and_says_why(tmp_path):
    (tmp_path / "moto.pickle").write_bytes(b"not a pickle")
    with LocalCloud(tmp_path) as cloud:
        assert "cannot read" in cloud.status()["moto_snapshot"]["restored"]["error"]
        assert _clients(cloud.url)["s3"].list_buckets()["Buckets"] == []


def test_persistence_can_be_turned_off(tmp_path):
    with LocalCloud(tmp_path, persist_moto=False) as cloud:
        _clients(cloud.url)["s3"].create_bucket(Bucket="not-kept")
    assert not (tmp_path / "moto.pickle").exists()


def test_a_lambda_zip_is_written_once_and_restored(tmp_path):
    """The zip (and its base64 form) of a function and of each version published from it are
    large values in files of their own: written by the save that first saw them, not by later
    saves of the Lambda service, and loaded back as they were."""
    import os

    from moto.backends import get_backend

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("handler.py", "def function_handler(event, context):\n    return event\n")
        z.writestr("blob.bin", os.urandom(200_000))
    code = buf.getvalue()
    files = tmp_path / "cloud" / "moto.pickle.d"
    with LocalCloud(tmp_path / "cloud") as first:
        c = _clients(first.url)
        role = c["iam"].create_role(RoleName="lambda-exec", AssumeRolePolicyDocument="{}")["Role"]
        c["lambda"].create_function(FunctionName="big", Runtime="python3.7", Role=role["Arn"],
                                    Handler="handler.function_handler", Code={"ZipFile": code})
        values = {p.name: p.stat().st_ino for p in files.glob("*.value")}
        assert len(values) == 2  # the zip's bytes and its base64 text
        c["lambda"].publish_version(FunctionName="big")
        c["lambda"].update_function_configuration(FunctionName="big", Description="again")
        c["lambda"].publish_version(FunctionName="big")
        c["lambda"].tag_resource(Resource=c["lambda"].get_function(FunctionName="big")["Configuration"]["FunctionArn"],
                                 Tags={"k": "v"})
        assert {p.name: p.stat().st_ino for p in files.glob("*.value")} == values
        assert first.status()["moto_snapshot"]["writer"]["failures"] == 0
    with LocalCloud(tmp_path / "cloud") as second:
        assert second.status()["moto_snapshot"]["restored"]["error"] is None
        c = _clients(second.url)
        versions = [v["Version"] for v in c["lambda"].list_versions_by_function(FunctionName="big")["Versions"]]
        assert versions == ["$LATEST", "1", "2"]
        backend = get_backend("lambda")["123456789012"]["us-east-1"]
        assert backend.get_function("big", "2").code_bytes == code
        assert backend.get_function("big").code_bytes == code
