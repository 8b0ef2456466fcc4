"""Deploy steps of the group's cloud resources: DynamoDB tables, S3 buckets and the files uploaded to them,
Kinesis and Kinesis Video streams, IoT Analytics channels (local cloud only) — how each is made, checked and
deleted. An existing resource of that name is adopted or refused (:func:`group.context.adopted`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from botocore.exceptions import ClientError

from .clients import Clients, collision, error_code, is_not_found
from .context import Ctx, Delete, Exists, Step, adopted, checking, deleting, ignore_not_found
from .errors import DeployError
from .plan import Desired


def _exists_channel(ctx: Ctx, rec: Dict[str, Any]) -> bool:
    status, _ = ctx.clients.signed_json("iotanalytics", "GET", f"/channels/{rec['name']}")
    return status == 200



def _apply_table(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None and rec.get("hash_key") == [spec["hash_key"], spec["hash_key_type"]]:
        return
    if rec is not None:
        raise DeployError("table", name, "the key schema of an existing table cannot change",
                          "rename the table in the group file "
                          "(or destroy and deploy again: its items are lost)")
    try:
        found = c.dynamodb.describe_table(TableName=name)["Table"]
        arn = found.get("TableArn")
        adopted(ctx, key, d, "table", name, "DynamoDB table", arn=arn, ref=arn,
                hash_key=[spec["hash_key"], spec["hash_key_type"]])
        return
    except ClientError as err:
        if not is_not_found(err):
            raise
    resp = c.dynamodb.create_table(
        TableName=name, KeySchema=[{"AttributeName": spec["hash_key"], "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": spec["hash_key"], "AttributeType": spec["hash_key_type"]}],
        BillingMode="PAY_PER_REQUEST")
    arn = resp["TableDescription"]["TableArn"]
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": arn,
                        "hash_key": [spec["hash_key"], spec["hash_key_type"]]})


def _apply_bucket(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None:
        return
    if name in ctx.buckets():
        arn = f"arn:{c.partition}:s3:::{name}"
        adopted(ctx, key, d, "bucket", name, "S3 bucket", arn=arn, ref=arn)
        return
    kwargs: Dict[str, Any] = {"Bucket": name}
    if c.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": c.region}
    try:
        c.s3.create_bucket(**kwargs)
    except ClientError as err:
        if error_code(err) == "BucketAlreadyExists":
            raise collision("bucket", name, "S3 bucket (in another account)") from None
        raise
    arn = f"arn:{c.partition}:s3:::{name}"
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": arn})
    if ctx._buckets is not None:
        ctx._buckets.append(name)


def _apply_bucket_object(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    """Upload a file (the Docker connector's compose file) to its bucket and key."""
    c = ctx.clients
    if spec.get("path") is None and spec.get("data") is not None:
        data = str(spec["data"]).encode("utf-8")
    else:
        try:
            data = Path(spec["path"]).read_bytes()
        except OSError as exc:
            raise DeployError("bucket-object", d.name, f"cannot read {spec['path']}: {exc.strerror}",
                              "fix the file's path in group.yaml") from None
    c.s3.put_object(Bucket=spec["bucket"], Key=spec["key"], Body=data)
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": d.name, "bucket": spec["bucket"],
                        "key": spec["key"], "arn": f"arn:{c.partition}:s3:::{d.name}",
                        "ref": f"arn:{c.partition}:s3:::{d.name}"})


def _apply_kinesis(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is None:
        try:
            arn = c.kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
            adopted(ctx, key, d, "kinesis-stream", name, "Kinesis stream", arn=arn, ref=arn)
            return
        except ClientError as err:
            if not is_not_found(err):
                raise
        c.kinesis.create_stream(StreamName=name, ShardCount=spec["shards"])
        ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name})
        c.kinesis.get_waiter("stream_exists").wait(StreamName=name,
                                                   WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    else:
        c.kinesis.update_shard_count(StreamName=name, TargetShardCount=spec["shards"],
                                     ScalingType="UNIFORM_SCALING")
    arn = c.kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    ctx.state.update(key, arn=arn, ref=arn)


def _apply_video(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None:
        return
    try:
        arn = c.kinesisvideo.describe_stream(StreamName=name)["StreamInfo"]["StreamARN"]
        adopted(ctx, key, d, "video-stream", name, "Kinesis Video stream", arn=arn, ref=arn)
        return
    except ClientError as err:
        if not is_not_found(err):
            raise
    arn = c.kinesisvideo.create_stream(StreamName=name, DataRetentionInHours=24)["StreamARN"]
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": arn, "ref": arn})


def _apply_channel(ctx: Ctx, key: str, d: Desired, spec: Dict[str, Any], rec: Optional[dict]) -> None:
    c, name = ctx.clients, spec["name"]
    if rec is not None:
        return
    status, _ = c.signed_json("iotanalytics", "GET", f"/channels/{name}")
    if status == 200:
        adopted(ctx, key, d, "iotanalytics-channel", name, "IoT Analytics channel", ref=name)
        return
    status, body = c.signed_json("iotanalytics", "POST", "/channels", {"channelName": name})
    if status not in (200, 201):
        raise DeployError("iotanalytics-channel", name, f"POST /channels → HTTP {status}: "
                          f"{body.get('message') or body.get('Message') or body}",
                          "IoT Analytics channels exist only on the local cloud (AWS retired the service)")
    ctx.state.put(key, {"hash": d.hash, "applied": None, "id": name, "arn": body.get("channelArn"),
                        "ref": body.get("channelArn") or name})




def _empty_bucket(c: Clients, name: str) -> None:
    try:
        pages = c.s3.get_paginator("list_object_versions").paginate(Bucket=name)
        for page in pages:
            objs = [{"Key": o["Key"], "VersionId": o["VersionId"]}
                    for o in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for i in range(0, len(objs), 1000):
                c.s3.delete_objects(Bucket=name, Delete={"Objects": objs[i:i + 1000], "Quiet": True})
    except ClientError as err:
        if not is_not_found(err):
            raise



def _delete_channel(ctx: Ctx, rec: Dict[str, Any]) -> None:
    status, body = ctx.clients.signed_json("iotanalytics", "DELETE", f"/channels/{rec['name']}")
    if status not in (200, 204, 404):
        raise DeployError("iotanalytics-channel", rec["name"], f"DELETE /channels → HTTP {status}: {body}")


def _delete_bucket(ctx: Ctx, rec: Dict[str, Any]) -> None:
    """Empty, then delete; a writer still running (a core exporting to it) may add objects in between:
    empty again, a bounded number of times."""
    for attempt in range(_BUCKET_DELETE_ATTEMPTS):
        _empty_bucket(ctx.clients, rec["name"])
        try:
            ignore_not_found(ctx.clients.s3.delete_bucket, Bucket=rec["name"])
            return
        except ClientError as err:
            if error_code(err) != "BucketNotEmpty" or attempt == _BUCKET_DELETE_ATTEMPTS - 1:
                raise
            ctx.progress.note(f"bucket {rec['name']}: objects arrived while it was emptied; emptying again")


_BUCKET_DELETE_ATTEMPTS = 5


def _delete_video(ctx: Ctx, rec: Dict[str, Any]) -> None:
    if rec.get("arn"):
        ignore_not_found(ctx.clients.kinesisvideo.delete_stream, StreamARN=rec["arn"])



CLOUD_EXISTS: Dict[str, Exists] = {
    "table": checking(lambda c, r: c.dynamodb.describe_table(TableName=r["name"])),
    "bucket": lambda ctx, r: r["name"] in ctx.buckets(),
    "bucket-object": checking(lambda c, r: c.s3.head_object(Bucket=r["bucket"], Key=r["key"])),
    "kinesis-stream": checking(lambda c, r: c.kinesis.describe_stream_summary(StreamName=r["name"])),
    "video-stream": checking(lambda c, r: c.kinesisvideo.describe_stream(StreamName=r["name"])),
    "iotanalytics-channel": _exists_channel,
}
CLOUD_APPLY: Dict[str, Step] = {
    "table": _apply_table, "bucket": _apply_bucket, "bucket-object": _apply_bucket_object,
    "kinesis-stream": _apply_kinesis, "video-stream": _apply_video, "iotanalytics-channel": _apply_channel,
}
CLOUD_DELETE: Dict[str, Delete] = {
    "table": deleting(lambda c, r: c.dynamodb.delete_table(TableName=r["name"])),
    "bucket-object": deleting(lambda c, r: c.s3.delete_object(Bucket=r["bucket"], Key=r["key"])),
    "bucket": _delete_bucket,
    "kinesis-stream": deleting(lambda c, r: c.kinesis.delete_stream(StreamName=r["name"],
                                                                     EnforceConsumerDeletion=True)),
    "video-stream": _delete_video,
    "iotanalytics-channel": _delete_channel,
}
