"""Cloud Lambdas run locally, as ``sam local`` does, without Docker.

* ``runner.CloudFunctionRunner`` -- one long-lived worker process per function (the handler
  module imported once, warm reuse), line-delimited JSON over its stdin/stdout, timeout kill +
  restart, crash restart.
* ``events`` -- API Gateway HTTP API (payload 2.0) events and responses (pure).
* ``http.snapshot_route`` / ``http.snapshot_via_runner`` -- the snapshot Lambda behind aiohttp
  and behind the dashboard facade.
* ``kvs_put.main`` -- ``deploy.py kvs-put``: frames into the local Kinesis Video stand-in.
"""
from .errors import (CloudFunctionError, FunctionConfigError, FunctionStartError, KvsPutError,
                     RunnerNotStarted, SnapshotFailed)
from .runner import CloudFunctionRunner, local_environment

__all__ = [
    "CloudFunctionError", "CloudFunctionRunner", "FunctionConfigError", "FunctionStartError",
    "KvsPutError", "RunnerNotStarted", "SnapshotFailed", "local_environment",
]
