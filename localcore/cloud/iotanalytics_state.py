"""IoT Analytics stand-in: channels and the messages put into them (pure state, no sockets).

The real service's ``BatchPutMessage`` (``POST /messages/batch``) appends messages to a channel;
we keep them so tests and the dashboard can read them back. botocore no longer has an
``iotanalytics`` client, so callers sign by hand (service ``iotanalytics``).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .errors import AlreadyExists, InvalidRequest, NotFound

_CHANNEL_NAME = re.compile(r"^(?!__)[a-zA-Z0-9_]{1,128}$")
MAX_BATCH = 100
MAX_MESSAGE_ID = 128
MAX_KEPT_PER_CHANNEL = 10_000


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    payload: bytes
    received_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "payload": base64.b64encode(self.payload).decode(),
            "receivedAt": self.received_at,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "StoredMessage":
        return cls(d["messageId"], base64.b64decode(d["payload"]), float(d["receivedAt"]))


class IoTAnalyticsState:
    """Channels → messages, thread-safe. ``on_change`` is called (outside the lock) after a mutation."""

    def __init__(
        self,
        region: str,
        account_id: str,
        *,
        clock: Callable[[], float] = time.time,
        keep_per_channel: int = MAX_KEPT_PER_CHANNEL,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self._clock = clock
        self._keep = keep_per_channel
        self._lock = threading.Lock()
        self._channels: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, list[StoredMessage]] = {}
        self.on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def channel_arn(self, name: str) -> str:
        return f"arn:aws:iotanalytics:{self.region}:{self.account_id}:channel/{name}"

    def create_channel(self, name: Any, retention: dict[str, Any] | None = None) -> dict[str, Any]:
        if not isinstance(name, str) or not _CHANNEL_NAME.match(name):
            raise InvalidRequest(
                f"channelName {name!r} is invalid: 1-128 letters, digits or '_', not starting with '__'"
            )
        with self._lock:
            if name in self._channels:
                raise AlreadyExists(f"channel {name} already exists")
            now = self._clock()
            self._channels[name] = {
                "name": name,
                "arn": self.channel_arn(name),
                "status": "ACTIVE",
                "retentionPeriod": retention or {"unlimited": True},
                "creationTime": now,
                "lastUpdateTime": now,
            }
            self._messages[name] = []
            out = dict(self._channels[name])
        self._changed()
        return out

    def describe_channel(self, name: str) -> dict[str, Any]:
        with self._lock:
            if name not in self._channels:
                raise NotFound(f"channel {name} does not exist")
            return dict(self._channels[name])

    def list_channels(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._channels.values()]

    def delete_channel(self, name: str) -> None:
        with self._lock:
            if name not in self._channels:
                raise NotFound(f"channel {name} does not exist")
            del self._channels[name]
            del self._messages[name]
        self._changed()

    def batch_put(self, channel: Any, messages: Any) -> list[dict[str, str]]:
        """Store a batch; returns the error entries (``[]`` when all were stored).

        Request-level problems (unknown channel, not 1..100 messages, a message that is not
        ``{messageId, payload}``) raise; a duplicate ``messageId`` inside the batch becomes an
        error entry for that message, as on AWS.
        """
        if not isinstance(channel, str) or not channel:
            raise InvalidRequest("channelName is required")
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_BATCH:
            raise InvalidRequest(f"messages must be a list of 1..{MAX_BATCH} entries")
        errors: list[dict[str, str]] = []
        accepted: list[StoredMessage] = []
        seen: set[str] = set()
        now = self._clock()
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                raise InvalidRequest(f"messages[{i}] must be an object")
            mid, payload = msg.get("messageId"), msg.get("payload")
            if not isinstance(mid, str) or not 1 <= len(mid) <= MAX_MESSAGE_ID:
                raise InvalidRequest(f"messages[{i}].messageId must be 1..{MAX_MESSAGE_ID} characters")
            if not isinstance(payload, (bytes, bytearray)):
                raise InvalidRequest(f"messages[{i}].payload is required")
            if mid in seen:
                errors.append(
                    {
                        "messageId": mid,
                        "errorCode": "InvalidRequestException",
                        "errorMessage": f"messageId {mid} is not unique in this batch",
                    }
                )
                continue
            seen.add(mid)
            accepted.append(StoredMessage(mid, bytes(payload), now))
        with self._lock:
            if channel not in self._channels:
                raise NotFound(f"channel {channel} does not exist")
            kept = self._messages[channel]
            kept.extend(accepted)
            if len(kept) > self._keep:
                del kept[: len(kept) - self._keep]
        if accepted:
            self._changed()
        return errors

    def messages(self, channel: str) -> list[StoredMessage]:
        with self._lock:
            if channel not in self._channels:
                raise NotFound(f"channel {channel} does not exist")
            return list(self._messages[channel])

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"channels": {n: len(m) for n, m in self._messages.items()}}

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "channels": list(self._channels.values()),
                "messages": {n: [m.to_json() for m in ms] for n, ms in self._messages.items()},
            }

    def load_json(self, data: dict[str, Any]) -> None:
        with self._lock:
            self._channels = {c["name"]: c for c in data.get("channels", [])}
            self._messages = {
                n: [StoredMessage.from_json(m) for m in data.get("messages", {}).get(n, [])]
                for n in self._channels
            }
