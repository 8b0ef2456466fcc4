"""Cloud sinks of the exporters: one blocking upload function per export type. No asyncio.

Each ``*_put`` / ``s3_upload`` runs on an exporter worker thread, returns a :class:`Result`
(problems with single messages that retrying cannot fix) or raises
:class:`~.errors.ExportError` (``retryable`` says whether the same batch should be sent again).

:class:`CloudConfig` says where the cloud is: ``endpoint_url=None`` means real AWS in ``region``;
``endpoints={"iotanalytics": url, ...}`` overrides one service (e.g. the local cloud's adapter);
the environment's ``AWS_ENDPOINT_URL[_<SERVICE>]`` is honoured as boto3 does. Credentials come
from explicit keys if given, else the usual boto3 chain.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping
from urllib.parse import unquote, urlparse

from .definitions import ExportConfig
from .errors import ExportError
from .store import StoredMessage

log = logging.getLogger(__name__)

# botocore error codes that will never succeed on retry: skip the batch instead of blocking forever.
_NON_RETRYABLE_CODES = frozenset(
    {
        "ValidationException",
        "InvalidArgumentException",
        "SerializationException",
        "InvalidRequestException",
        "InvalidParameterException",
        "InvalidParameterValueException",
    }
)
_S3_DEFAULT_MULTIPART_THRESHOLD = 5 * 1024 * 1024
_S3_PERMANENT = ("NoSuchBucket", "AccessDenied", "InvalidBucketName")


@dataclass(frozen=True)
class CloudConfig:
    """Where exporters send data. ``None`` endpoint = real AWS; credentials default to the boto3 chain."""

    endpoint_url: str | None = None
    region: str | None = None
    endpoints: Mapping[str, str] = field(default_factory=dict)
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None

    def endpoint_for(self, service: str) -> str | None:
        """``endpoints[service]`` > ``endpoint_url`` > env ``AWS_ENDPOINT_URL_<SERVICE>`` > env
        ``AWS_ENDPOINT_URL`` > None (real AWS), the same environment variables boto3 honours."""
        return (
            self.endpoints.get(service)
            or self.endpoint_url
            or os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
            or os.environ.get("AWS_ENDPOINT_URL")
        )


class Clients:
    """boto3 clients, made lazily on a worker thread and shared (boto3 clients are thread-safe)."""

    def __init__(self, cloud: CloudConfig) -> None:
        self.cloud = cloud
        self._lock = threading.Lock()
        self._session: Any = None
        self._clients: dict[str, Any] = {}

    def session(self) -> Any:
        from group.clients import shared_session   # the process' parsed models (the core's, the deploy's)

        with self._lock:
            if self._session is None:
                c = self.cloud
                self._session = shared_session(
                    aws_access_key_id=c.aws_access_key_id,
                    aws_secret_access_key=c.aws_secret_access_key,
                    aws_session_token=c.aws_session_token,
                    region_name=c.region,
                )
            return self._session

    def client(self, service: str) -> Any:
        from botocore.config import Config

        session = self.session()
        with self._lock:
            if service not in self._clients:
                endpoint = self.cloud.endpoint_for(service)
                kwargs: dict[str, Any] = {
                    "retries": {"max_attempts": 2, "mode": "standard"},
                    "connect_timeout": 5,
                    "read_timeout": 60,
                }
                if endpoint is not None:
                    # A local endpoint has no data./bucket. subdomains.
                    kwargs["inject_host_prefix"] = False
                    if service == "s3":
                        kwargs["s3"] = {"addressing_style": "path"}
                self._clients[service] = session.client(
                    service, endpoint_url=endpoint, config=Config(**kwargs)
                )
            return self._clients[service]

    def region(self) -> str:
        region = self.session().region_name
        if not region:
            raise ExportError("no AWS region configured (CloudConfig.region or AWS_DEFAULT_REGION)")
        return region


def boto_error(e: Exception, what: str) -> ExportError:
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

    if isinstance(e, ParamValidationError):
        return ExportError(f"{what}: {e}", retryable=False)
    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code", "")
        return ExportError(f"{what}: {code}: {e}", retryable=code not in _NON_RETRYABLE_CODES)
    if isinstance(e, BotoCoreError):
        return ExportError(f"{what}: {e}")
    raise e


@dataclass
class Result:
    """What a sink reports for an accepted batch: per-message problems that were not retried."""

    error: str | None = None


KINESIS_MAX_RECORD = 1024 * 1024  # data + partition key, per record
KINESIS_MAX_REQUEST = 5 * 1024 * 1024  # per PutRecords call


def kinesis_chunks(records: list[dict]) -> list[list[dict]]:
    """Split PutRecords entries into calls of at most 500 records and 5 MiB."""
    chunks: list[list[dict]] = [[]]
    size = 0
    for r in records:
        n = len(r["Data"]) + len(r["PartitionKey"])
        if chunks[-1] and (len(chunks[-1]) == 500 or size + n > KINESIS_MAX_REQUEST):
            chunks.append([])
            size = 0
        chunks[-1].append(r)
        size += n
    return [c for c in chunks if c]


def kinesis_put(clients: Clients, cfg: ExportConfig, msgs: list[StoredMessage]) -> Result:
    from botocore.exceptions import BotoCoreError, ClientError

    name = cfg.params["kinesisStreamName"]
    records, problems = [], []
    for m in msgs:
        # A random partition key per record, as the Greengrass stream manager does: spreads over shards.
        record = {"Data": m.payload, "PartitionKey": uuid.uuid4().hex}
        if len(m.payload) + len(record["PartitionKey"]) > KINESIS_MAX_RECORD:
            problems.append(
                f"sequence {m.sequence_number}: {len(m.payload)} bytes is over Kinesis' 1 MiB record limit"
            )
            continue
        records.append(record)
    try:
        client = clients.client("kinesis")
        for chunk in kinesis_chunks(records):
            pending = chunk
            for _ in range(3):
                resp = client.put_records(StreamName=name, Records=pending)
                if not resp.get("FailedRecordCount"):
                    break
                failed = [(r, res) for r, res in zip(pending, resp["Records"]) if res.get("ErrorCode")]
                pending = [r for r, _ in failed]
            else:
                code = failed[0][1].get("ErrorCode")
                raise ExportError(f"kinesis stream {name!r}: {len(pending)} records still failing ({code})")
    except (ClientError, BotoCoreError) as e:
        raise boto_error(e, f"kinesis stream {name!r}") from e
    return Result("; ".join(problems) if problems else None)


def iotanalytics_put(clients: Clients, cfg: ExportConfig, msgs: list[StoredMessage]) -> Result:
    """IoT Analytics BatchPutMessage: botocore has no client any more, so sign the REST call ourselves."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import BotoCoreError
    from botocore.httpsession import URLLib3Session

    channel = cfg.params["iotChannel"]
    prefix = cfg.params.get("iotMsgIdPrefix", "")
    body = json.dumps(
        {
            "channelName": channel,
            "messages": [
                {"messageId": f"{prefix}{m.sequence_number}", "payload": base64.b64encode(m.payload).decode()}
                for m in msgs
            ],
        }
    ).encode()
    try:
        region = clients.region()
        endpoint = (
            clients.cloud.endpoint_for("iotanalytics") or f"https://iotanalytics.{region}.amazonaws.com"
        )
        creds = clients.session().get_credentials()
        if creds is None:
            raise ExportError("iotanalytics: no AWS credentials found")
        req = AWSRequest(
            method="POST",
            url=endpoint.rstrip("/") + "/messages/batch",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        SigV4Auth(creds.get_frozen_credentials(), "iotanalytics", region).add_auth(req)
        http = URLLib3Session(timeout=60)
        try:
            resp = http.send(req.prepare())
        finally:
            http.close()
    except BotoCoreError as e:
        raise ExportError(f"iotanalytics channel {channel!r}: {e}") from e
    text = resp.text if resp.content else ""
    if resp.status_code >= 300:
        code = ""
        try:
            code = json.loads(text).get("__type", "") or resp.headers.get("x-amzn-ErrorType", "")
        except ValueError:
            code = resp.headers.get("x-amzn-ErrorType", "")
        retryable = resp.status_code >= 500 or resp.status_code in (403, 404, 429) or "NotFound" in code
        raise ExportError(
            f"iotanalytics channel {channel!r}: HTTP {resp.status_code} {code} {text[:200]}",
            retryable=retryable,
        )
    errors = json.loads(text or "{}").get("batchPutMessageErrorEntries") or []
    if errors:
        return Result(f"iotanalytics rejected {len(errors)} message(s): {errors[0]}")
    return Result()


def sitewise_put(clients: Clients, cfg: ExportConfig, msgs: list[StoredMessage]) -> Result:
    from botocore.exceptions import BotoCoreError, ClientError

    entries, problems = [], []
    for m in msgs:
        try:
            entry = json.loads(m.payload)
        except ValueError as e:
            problems.append(f"sequence {m.sequence_number}: not a PutAssetPropertyValueEntry JSON ({e})")
            continue
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            problems.append(f"sequence {m.sequence_number}: not a PutAssetPropertyValueEntry JSON object")
    if entries:
        try:
            resp = clients.client("iotsitewise").batch_put_asset_property_value(entries=entries)
        except (ClientError, BotoCoreError) as e:
            raise boto_error(e, "iotsitewise batch_put_asset_property_value") from e
        for err in resp.get("errorEntries") or []:
            problems.append(f"entry {err.get('entryId')}: {err.get('errors')}")
    return Result("; ".join(problems)[:1000] if problems else None)


_JAVA_TIME = [
    ("yyyy", "%Y"),
    ("yy", "%y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("SSS", "%f"),
]
_PLACEHOLDER = re.compile(r"!\{timestamp:([^}]+)\}")


def expand_key(key: str, now: datetime) -> str:
    """Expand ``!{timestamp:<Java DateTimeFormatter pattern>}`` placeholders of an S3 key (UTC)."""

    def one(m: re.Match) -> str:
        pattern, out, i = m.group(1), [], 0
        while i < len(pattern):
            for java, py in _JAVA_TIME:
                if pattern.startswith(java, i):
                    out.append(now.strftime(py)[:3] if java == "SSS" else now.strftime(py))
                    i += len(java)
                    break
            else:
                out.append(pattern[i])
                i += 1
        return "".join(out)

    return _PLACEHOLDER.sub(one, key)


def file_path(input_url: str) -> str:
    u = urlparse(input_url)
    if u.scheme != "file":
        raise ExportError(f"inputUrl {input_url!r}: only file: URLs are supported", retryable=False)
    return unquote(u.path)


def s3_upload(clients: Clients, cfg: ExportConfig, task: dict, key: str) -> None:
    from boto3.exceptions import S3UploadFailedError
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    path = file_path(task["inputUrl"])
    threshold = cfg.params.get("sizeThresholdForMultipartUploadBytes", _S3_DEFAULT_MULTIPART_THRESHOLD)
    transfer = TransferConfig(
        multipart_threshold=threshold, multipart_chunksize=max(threshold, 5 * 1024 * 1024), use_threads=False
    )
    extra = {"Metadata": dict(task["userMetadata"])} if task.get("userMetadata") else None
    where = f"s3://{task['bucket']}/{key}"
    try:
        clients.client("s3").upload_file(path, task["bucket"], key, ExtraArgs=extra, Config=transfer)
    except FileNotFoundError as e:
        raise ExportError(f"inputUrl {task['inputUrl']!r}: file not found", retryable=False) from e
    except S3UploadFailedError as e:
        # boto3's transfer manager wraps the service error in text: a missing bucket or a denied
        # upload will not heal by retrying; anything else (throttling, 5xx) may.
        permanent = any(code in str(e) for code in _S3_PERMANENT)
        raise ExportError(f"{where}: {e}", retryable=not permanent) from e
    except (ClientError, BotoCoreError) as e:
        err = boto_error(e, where)
        if isinstance(e, ClientError) and e.response.get("Error", {}).get("Code") in _S3_PERMANENT:
            err.retryable = False
        raise err from e
