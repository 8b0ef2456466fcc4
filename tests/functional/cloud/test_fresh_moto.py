"""A LocalCloud that starts while no other runs in the process resets moto's global backends.

Its own module: the module-scoped ``cloud`` fixture of other modules must not be running.
"""

from __future__ import annotations

import boto3

from localcore.cloud import LocalCloud


def test_a_cloud_started_alone_begins_with_empty_moto(tmp_path):
    # moto keeps nothing across a real restart; an in-process restart must look the same.
    with LocalCloud(tmp_path / "a") as first:
        boto3.client(
            "s3",
            endpoint_url=first.url,
            region_name="us-east-1",
            aws_access_key_id="t",
            aws_secret_access_key="t",
        ).create_bucket(Bucket="left-over")
    with LocalCloud(tmp_path / "b") as second:
        s3 = boto3.client(
            "s3",
            endpoint_url=second.url,
            region_name="us-east-1",
            aws_access_key_id="t",
            aws_secret_access_key="t",
        )
        assert "left-over" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
