"""Kinesis Video Streams stand-in for the local cloud.

moto's kinesisvideo backend answers the control plane but hands out a real AWS host from
GetDataEndpoint and cannot serve GetClip (see docs/moto-gaps.md §1, §4). This
package fills that gap with layers, each usable on its own (this module re-exports them):

* ``kvs_state.KvsStore`` -- pure state (no sockets): the stream registry and the archived fragments, kept
  under ``state_dir`` with bounded retention (DataRetentionInHours, a fragment cap and a byte cap).
* ``kvs_media.assemble_clip`` -- turns the JPEG frames of selected fragments into a real MP4 (OpenCV mp4v).
* ``kvs_api.KinesisVideoStandIn`` -- the wire: a LocalCloud handler (``CloudRequest -> CloudResponse |
  None``, mounted by ``mount(cloud)``) for the requests signed as service ``kinesisvideo`` (the
  ``kinesisvideo`` and ``kinesis-video-archived-media`` clients both sign with that name). It
  answers CreateStream, DescribeStream, ListStreams, DeleteStream, UpdateDataRetention,
  GetDataEndpoint (with the front's own URL), GetClip and ListFragments in the rest-json shapes
  of botocore's service models, plus a local ingest route
  ``POST /_local/kinesisvideo/streams/<name>/frames`` that replaces PutMedia (MKV). Anything
  else returns ``None`` so the front falls through to moto.

``kvs_client.put_frames`` is the client side of the ingest route (SigV4-signed, so a front that routes by
credential scope sends it here); ``synthetic_frames`` and ``frames_from_file`` make its input.
"""

from __future__ import annotations

from .kvs_api import KinesisVideoStandIn, mount
from .kvs_client import KvsClientError, PutResult, put_frames
from .kvs_media import assemble_clip, clip_fps, decode_size, frames_from_file, synthetic_frames
from .kvs_state import (
    API_NAMES, DEFAULT_ACCOUNT, DEFAULT_REGION, INGEST_PREFIX, MAX_CLIP_FRAGMENTS, MAX_CLIP_RANGE_S,
    SELECTOR_TYPES, SERVER_CLOCK_SLACK_S, SERVICE_NAME, STREAM_NAME_RE, FragmentRecord, Frame,
    InvalidArgumentException, InvalidMediaFrameException, KvsError, KvsStore, NoDataRetentionException,
    ResourceInUseException, ResourceNotFoundException, RetentionLimits, StreamRecord, VersionMismatchException,
    fragment_duration_ms, parse_timestamp, select_fragments, split_fragments, validate_stream_name,
)

__all__ = [
    "API_NAMES", "DEFAULT_ACCOUNT", "DEFAULT_REGION", "INGEST_PREFIX", "MAX_CLIP_FRAGMENTS",
    "MAX_CLIP_RANGE_S", "SELECTOR_TYPES", "SERVER_CLOCK_SLACK_S", "SERVICE_NAME", "STREAM_NAME_RE",
    "FragmentRecord", "Frame", "InvalidArgumentException", "InvalidMediaFrameException",
    "KinesisVideoStandIn", "KvsClientError", "KvsError", "KvsStore", "NoDataRetentionException",
    "PutResult", "ResourceInUseException", "ResourceNotFoundException", "RetentionLimits",
    "StreamRecord", "VersionMismatchException", "assemble_clip", "clip_fps", "decode_size",
    "fragment_duration_ms", "frames_from_file", "mount", "parse_timestamp", "put_frames",
    "select_fragments", "split_fragments", "synthetic_frames", "validate_stream_name",
]
