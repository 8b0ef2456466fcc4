"""Configuration of the snapshot Lambda: argument > environment > default."""
from __future__ import annotations

import os
from typing import Mapping, Optional

from .errors import ConfigError

TIMESTAMP_SOURCES = ("SERVER_TIMESTAMP", "PRODUCER_TIMESTAMP")


class Config(object):
    """Settings, validated. Environment variables (all optional except the bucket):

    ``SNAPSHOT_BUCKET``            S3 bucket for the JPEGs (required)
    ``SNAPSHOT_KEY_PREFIX``        key prefix, default ``snapshots/``
    ``SNAPSHOT_WINDOW_S``          how far back to look, default 3 (seconds, 0 < w <= 300)
    ``SNAPSHOT_JPEG_QUALITY``      1..100, default 80
    ``SNAPSHOT_URL_TTL_S``         presigned URL lifetime, default 600 (1..604800)
    ``SNAPSHOT_TIMESTAMP_SOURCE``  SERVER_TIMESTAMP (default) or PRODUCER_TIMESTAMP
    ``SNAPSHOT_TMP_DIR``           where the clip is written, default the system temp dir (/tmp)
    """

    def __init__(self, bucket, key_prefix="snapshots/", window_s=3.0, jpeg_quality=80,
                 url_ttl_s=600, timestamp_source="SERVER_TIMESTAMP", tmp_dir=None):
        # type: (str, str, float, int, int, str, Optional[str]) -> None
        if not bucket:
            raise ConfigError("configuration: SNAPSHOT_BUCKET is not set")
        if not 0 < window_s <= 300:
            raise ConfigError("configuration: SNAPSHOT_WINDOW_S must be in (0, 300], got %r" % (window_s,))
        if not 1 <= jpeg_quality <= 100:
            raise ConfigError("configuration: SNAPSHOT_JPEG_QUALITY must be 1..100, got %r" % (jpeg_quality,))
        if not 1 <= url_ttl_s <= 604800:
            raise ConfigError("configuration: SNAPSHOT_URL_TTL_S must be 1..604800, got %r" % (url_ttl_s,))
        if timestamp_source not in TIMESTAMP_SOURCES:
            raise ConfigError("configuration: SNAPSHOT_TIMESTAMP_SOURCE must be one of %s, got %r"
                              % (", ".join(TIMESTAMP_SOURCES), timestamp_source))
        self.bucket = bucket
        self.key_prefix = key_prefix
        self.window_s = float(window_s)
        self.jpeg_quality = int(jpeg_quality)
        self.url_ttl_s = int(url_ttl_s)
        self.timestamp_source = timestamp_source
        self.tmp_dir = tmp_dir or None

    @classmethod
    def from_env(cls, environ=None):
        # type: (Optional[Mapping[str, str]]) -> Config
        env = os.environ if environ is None else environ
        return cls(
            bucket=env.get("SNAPSHOT_BUCKET", ""),
            key_prefix=env.get("SNAPSHOT_KEY_PREFIX", "snapshots/"),
            window_s=_number(env, "SNAPSHOT_WINDOW_S", "3", float),
            jpeg_quality=_number(env, "SNAPSHOT_JPEG_QUALITY", "80", int),
            url_ttl_s=_number(env, "SNAPSHOT_URL_TTL_S", "600", int),
            timestamp_source=env.get("SNAPSHOT_TIMESTAMP_SOURCE", "SERVER_TIMESTAMP"),
            tmp_dir=env.get("SNAPSHOT_TMP_DIR") or None,
        )


def _number(env, name, default, kind):
    raw = env.get(name, default)
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError("configuration: %s must be %s, got %r"
                          % (name, "an integer" if kind is int else "a number", raw))
