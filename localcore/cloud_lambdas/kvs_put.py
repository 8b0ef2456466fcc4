"""``deploy.py kvs-put``: put JPEG frames into a Kinesis Video stream of the running local cloud.

    deploy.py kvs-put --stream NAME (FILE | --synthetic) [--endpoint-url URL] [--region R]
                      [--retention-hours H] [--count N --fps F --size WxH] [--state-dir DIR]

The endpoint is ``--endpoint-url``, else ``$AWS_ENDPOINT_URL``, else the ``cloud_url`` of
``<state-dir>/endpoint.json`` (written by ``deploy.py run``). The stream is created with
``DataRetentionInHours`` ≥ 1 when missing (an existing one with 0 h gets its retention raised: a
stream that keeps nothing has no clip to snapshot). FILE is a video or an image (anything OpenCV
reads), timed so its last frame is now; ``--synthetic`` makes numbered test-card frames.
Frames go in through the stand-in's ingest route (``localcore.cloud.kvs.put_frames``, the local
replacement for PutMedia), so this works against the local cloud only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence, TextIO

from .errors import KvsPutError

ROOT = Path(__file__).resolve().parents[2]
LOCAL_CREDENTIALS = ("testing", "testing")
HOW_TO_START = "start it with `make run` (or `python deploy.py run`) in another terminal, or pass --endpoint-url"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deploy.py kvs-put", description=__doc__.split("\n\n")[0])
    p.add_argument("--stream", required=True, metavar="NAME", help="Kinesis Video stream name")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("file", nargs="?", metavar="FILE", help="a video or image file to put")
    src.add_argument("--synthetic", action="store_true", help="put numbered test-card frames")
    p.add_argument("--count", type=int, default=30, help="synthetic frames (default 30)")
    p.add_argument("--fps", type=float, default=10.0, help="synthetic frame rate (default 10)")
    p.add_argument("--size", default="320x240", metavar="WxH", help="synthetic frame size (default 320x240)")
    p.add_argument("--retention-hours", type=int, default=24,
                   help="DataRetentionInHours for a stream this creates (default 24, at least 1)")
    p.add_argument("--endpoint-url", help="local cloud URL (default: $AWS_ENDPOINT_URL, then the "
                                          "cloud_url of <state-dir>/endpoint.json)")
    p.add_argument("--region", help="region (default: $AWS_REGION, endpoint.json's region, us-east-1)")
    p.add_argument("--state-dir", type=Path, default=ROOT / ".gg",
                   help="where `deploy.py run` writes endpoint.json (default: .gg)")
    return p


def resolve_endpoint(endpoint_url: str | None, state_dir: Path) -> tuple[str, dict]:
    """``(cloud URL, endpoint.json content or {})``; KvsPutError when no local cloud answers."""
    info: dict = {}
    url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    source = "--endpoint-url" if endpoint_url else "$AWS_ENDPOINT_URL"
    if not url:
        path = state_dir / "endpoint.json"
        source = str(path)
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            url = info["cloud_url"]
        except FileNotFoundError:
            raise KvsPutError(f"no local cloud is running ({path} does not exist); {HOW_TO_START}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KvsPutError(f"no local cloud is running ({path} is unreadable: {exc}); {HOW_TO_START}") from None
    url = str(url).rstrip("/")
    try:
        with urllib.request.urlopen(url + "/_local/status", timeout=3):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise KvsPutError(f"{url} (from {source}) answers but is not a local cloud (no /_local/status); "
                              f"kvs-put works against the local cloud of `deploy.py run` only") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise KvsPutError(f"no local cloud is running ({url} from {source} does not answer: "
                          f"{getattr(exc, 'reason', exc)}); {HOW_TO_START}") from None
    return url, info


def ensure_stream(url: str, region: str, stream: str, retention_hours: int) -> str:
    """Create ``stream`` (or raise its retention from 0); returns what was done, for the user."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    kv = boto3.client("kinesisvideo", endpoint_url=url, region_name=region,
                      aws_access_key_id=LOCAL_CREDENTIALS[0], aws_secret_access_key=LOCAL_CREDENTIALS[1])
    try:
        try:
            info = kv.describe_stream(StreamName=stream)["StreamInfo"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            kv.create_stream(StreamName=stream, DataRetentionInHours=retention_hours)
            return f"created stream {stream} (DataRetentionInHours {retention_hours})"
        if info.get("DataRetentionInHours", 0) < 1:
            kv.update_data_retention(StreamName=stream, CurrentVersion=info["Version"],
                                     Operation="INCREASE_DATA_RETENTION",
                                     DataRetentionChangeInHours=retention_hours)
            return f"stream {stream} kept no data: DataRetentionInHours raised to {retention_hours}"
        return f"stream {stream} exists (DataRetentionInHours {info['DataRetentionInHours']})"
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise KvsPutError(f"kinesisvideo at {url}: {err.get('Code')}: {err.get('Message')}") from None
    except BotoCoreError as exc:
        raise KvsPutError(f"kinesisvideo at {url}: {exc}") from None


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise KvsPutError(f"--size {text!r} must be WIDTHxHEIGHT, e.g. 320x240") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise KvsPutError(f"--size {text!r}: width and height must be 16..4096")
    return w, h


def run(args: argparse.Namespace, out: TextIO) -> None:
    from localcore.cloud.kvs import STREAM_NAME_RE, KvsClientError, frames_from_file, put_frames, synthetic_frames

    if not STREAM_NAME_RE.match(args.stream):
        raise KvsPutError(f"--stream {args.stream!r} must be 1-256 characters of [a-zA-Z0-9_.-]")
    if args.retention_hours < 1:
        raise KvsPutError(f"--retention-hours must be at least 1 (0 keeps nothing to snapshot), "
                          f"got {args.retention_hours}")
    if args.synthetic:
        if not 1 <= args.count <= 10000:
            raise KvsPutError(f"--count must be 1..10000, got {args.count}")
        if not 0 < args.fps <= 120:
            raise KvsPutError(f"--fps must be in (0, 120], got {args.fps}")
        size = _size(args.size)
    url, info = resolve_endpoint(args.endpoint_url, args.state_dir)
    region = args.region or os.environ.get("AWS_REGION") or info.get("region") or "us-east-1"
    if args.synthetic:
        frames = list(synthetic_frames(args.count, args.fps, size=size))
        what = f"{len(frames)} synthetic {size[0]}x{size[1]} frames at {args.fps:g} fps"
    else:
        try:
            frames = frames_from_file(args.file)
        except (OSError, ValueError) as exc:
            raise KvsPutError(str(exc)) from None
        what = f"{len(frames)} frame(s) of {args.file}"
    print(ensure_stream(url, region, args.stream, args.retention_hours), file=out)
    from botocore.credentials import Credentials

    try:
        result = put_frames(url, args.stream, frames, region=region, credentials=Credentials(*LOCAL_CREDENTIALS))
    except KvsClientError as exc:
        raise KvsPutError(str(exc)) from None
    print(f"put {what} into {args.stream} at {url}: {len(result.fragments)} fragment(s) in "
          f"{result.requests} request(s)", file=out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The ``kvs-put`` command: 0 done, 1 error (message on ``err``), 2 bad usage."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse printed the usage error
        return int(exc.code or 0)
    try:
        run(args, out)
    except KvsPutError as exc:
        print(f"error: {exc}", file=err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
