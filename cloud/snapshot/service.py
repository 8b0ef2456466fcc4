"""The snapshot itself: Kinesis Video clip of the last seconds → last frame → JPEG in S3.

Pure orchestration over injectable clients; no event parsing (see ``api``), no import-time work.
"""
from __future__ import annotations

import datetime
import logging
import os
import re
import tempfile

from .errors import BadRequest, NotFound, UpstreamError
from .frames import encode_jpeg, last_frame

log = logging.getLogger(__name__)

STREAM_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,256}$")  # botocore's StreamName shape
_CHUNK = 256 * 1024


def validate_stream_name(value):
    """The stream name, or BadRequest saying what is wrong with it."""
    if value is None or value == "":
        raise BadRequest("missing query parameter stream_name")
    if not isinstance(value, str) or not STREAM_NAME_RE.match(value):
        raise BadRequest("invalid stream_name %r: use 1-256 characters of a-z A-Z 0-9 _ . -"
                         % (value if isinstance(value, str) else type(value).__name__,))
    return value


def iso(when):
    """``2026-01-02T03:04:05.678Z`` for an aware datetime."""
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def snapshot_key(prefix, stream, when):
    """Time-based object key: ``<prefix><stream>/YYYY/MM/DD/HHMMSS.mmmZ.jpg`` (UTC)."""
    utc = when.astimezone(datetime.timezone.utc)
    return "%s%s/%s/%sZ.jpg" % (prefix, stream, utc.strftime("%Y/%m/%d"),
                                utc.strftime("%H%M%S.%f")[:-3])


def error_cause(exc):
    """``Code: message`` of a botocore ClientError, else the exception's text."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return "%s: %s" % (err.get("Code", "?"), err.get("Message", ""))
    return "%s: %s" % (type(exc).__name__, exc)


def error_code(exc):
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def _client_config():
    from botocore.config import Config as BotoConfig

    # Fail inside the Lambda's time budget rather than at its timeout.
    return BotoConfig(connect_timeout=3, read_timeout=8, retries={"max_attempts": 2, "mode": "standard"},
                      signature_version="v4")


class Snapshotter(object):
    """Takes snapshots. Clients are created on first use and reused (warm invocations); pass
    ``kinesisvideo``, ``s3`` or ``archived_media`` (a callable ``endpoint_url -> client``) to
    supply your own. Endpoints and region come from the usual boto3 configuration, so
    ``AWS_ENDPOINT_URL`` points the control plane and S3 at a local cloud; the archived-media
    client always uses the DataEndpoint that GetDataEndpoint returns."""

    def __init__(self, config, kinesisvideo=None, s3=None, archived_media=None, session=None):
        self.config = config
        self._kinesisvideo = kinesisvideo
        self._s3 = s3
        self._archived_media_factory = archived_media
        self._archived_media = {}
        self._session = session

    # clients ------------------------------------------------------------------------------

    def _boto_session(self):
        if self._session is None:
            import boto3

            self._session = boto3.session.Session()
        return self._session

    @property
    def kinesisvideo(self):
        if self._kinesisvideo is None:
            self._kinesisvideo = self._boto_session().client("kinesisvideo", config=_client_config())
        return self._kinesisvideo

    @property
    def s3(self):
        if self._s3 is None:
            from botocore.config import Config as BotoConfig

            # SigV4 presigned URLs (SigV2 ones are refused in newer regions).
            cfg = _client_config().merge(BotoConfig(signature_version="s3v4"))
            self._s3 = self._boto_session().client("s3", config=cfg)
        return self._s3

    def archived_media(self, endpoint):
        client = self._archived_media.get(endpoint)
        if client is None:
            if self._archived_media_factory is not None:
                client = self._archived_media_factory(endpoint)
            else:
                client = self._boto_session().client(
                    "kinesis-video-archived-media", endpoint_url=endpoint, config=_client_config())
            self._archived_media[endpoint] = client
        return client

    # the snapshot ---------------------------------------------------------------------------

    def take(self, stream_name, now=None):
        """Snapshot of ``stream_name``: ``{"url", "key", "frame_time"}``.

        ``now`` (aware datetime, default the current time) ends the window. Raises BadRequest,
        NotFound (unknown stream, or no decodable frame in the window) or UpstreamError."""
        stream_name = validate_stream_name(stream_name)
        cfg = self.config
        end = now or datetime.datetime.now(datetime.timezone.utc)
        start = end - datetime.timedelta(seconds=cfg.window_s)
        nothing = "no frame in the last %g s" % cfg.window_s

        endpoint = self._data_endpoint(stream_name)
        path = self._fetch_clip(endpoint, stream_name, start, end, nothing)
        try:
            found = last_frame(path)
        finally:
            _remove(path)
        if found is None:
            raise NotFound(nothing, cause="the clip holds no decodable frame")
        frame, pos_ms = found
        jpeg = encode_jpeg(frame, cfg.jpeg_quality)
        # GetClip's MP4 starts at the first fragment at or after the window start, so this is
        # the earliest the frame can be (exact when a fragment starts at the window start).
        frame_time = iso(start + datetime.timedelta(milliseconds=pos_ms))
        key = snapshot_key(cfg.key_prefix, stream_name, end)
        url = self._upload(key, jpeg, stream_name, frame_time)
        log.info("snapshot of %s: %d bytes at s3://%s/%s", stream_name, len(jpeg), cfg.bucket, key)
        return {"url": url, "key": key, "frame_time": frame_time}

    def _data_endpoint(self, stream_name):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp = self.kinesisvideo.get_data_endpoint(StreamName=stream_name, APIName="GET_CLIP")
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise NotFound("stream %r not found" % stream_name)
            raise UpstreamError("kinesis video GetDataEndpoint failed", cause=error_cause(exc))
        except BotoCoreError as exc:
            raise UpstreamError("kinesis video GetDataEndpoint failed", cause=error_cause(exc))
        endpoint = resp.get("DataEndpoint")
        if not endpoint:
            raise UpstreamError("kinesis video GetDataEndpoint failed", cause="no DataEndpoint in the answer")
        return endpoint

    def _fetch_clip(self, endpoint, stream_name, start, end, nothing):
        """Download the clip into a temp file and return its path (the caller removes it)."""
        from botocore.exceptions import BotoCoreError, ClientError

        fd, path = tempfile.mkstemp(prefix="snapshot-", suffix=".mp4", dir=self.config.tmp_dir)
        body = None
        try:
            with os.fdopen(fd, "wb") as out:
                resp = self.archived_media(endpoint).get_clip(
                    StreamName=stream_name,
                    ClipFragmentSelector={
                        "FragmentSelectorType": self.config.timestamp_source,
                        "TimestampRange": {"StartTimestamp": start, "EndTimestamp": end},
                    })
                body = resp["Payload"]
                for chunk in body.iter_chunks(_CHUNK):
                    out.write(chunk)
            return path
        except ClientError as exc:
            _remove(path)
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise NotFound(nothing, cause=error_cause(exc))
            if code == "NoDataRetentionException":
                raise NotFound(nothing, cause="the stream keeps no data (DataRetentionInHours is 0)")
            raise UpstreamError("kinesis video GetClip failed", cause=error_cause(exc))
        except BotoCoreError as exc:
            _remove(path)
            raise UpstreamError("kinesis video GetClip failed", cause=error_cause(exc))
        except BaseException:
            _remove(path)
            raise
        finally:
            if body is not None:
                body.close()

    def _upload(self, key, jpeg, stream_name, frame_time):
        from botocore.exceptions import BotoCoreError, ClientError

        cfg = self.config
        try:
            self.s3.put_object(Bucket=cfg.bucket, Key=key, Body=jpeg, ContentType="image/jpeg",
                               Metadata={"stream-name": stream_name, "frame-time": frame_time})
            return self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": cfg.bucket, "Key": key}, ExpiresIn=cfg.url_ttl_s)
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError("s3 upload to bucket %r failed" % cfg.bucket, cause=error_cause(exc))


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove temp file %s: %s", path, exc)
