"""Snapshot Lambda: the newest frame of a Kinesis Video stream as a JPEG in S3, via a presigned URL.

Deployed as the package directory ``snapshot/`` at the zip root; handler
``snapshot.handler.lambda_handler``. Imports only boto3/botocore, OpenCV/numpy and itself.
"""
