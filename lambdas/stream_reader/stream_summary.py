"""What the MQTT-triggered stream reader reports about the messages it has not seen yet (pure)."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from gglambda.env import ConfigError, integer, text

__all__ = ["ConfigError", "Cursor", "StreamReaderConfig", "summarize", "trigger_topic"]


@dataclass(frozen=True)
class StreamReaderConfig:
    stream_name: str = "SomeStream"
    summary_topic: str = "stream_reader/summary"
    max_messages: int = 500
    read_batch: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "StreamReaderConfig":
        return cls(
            stream_name=text(env, "STREAM_NAME", cls.stream_name),
            summary_topic=text(env, "SUMMARY_TOPIC", cls.summary_topic),
            max_messages=integer(env, "MAX_MESSAGES", cls.max_messages, 1),
            read_batch=integer(env, "READ_BATCH", cls.read_batch, 1),
        )


class Cursor:
    """The next sequence number to read; starts at 0 (never ``last + 1`` of nothing).

    Hold :attr:`lock` for a whole read-and-advance so overlapping invocations of one instance
    never report the same messages twice.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_sequence = 0

    def advance(self, sequence_numbers: Sequence[int]) -> None:
        if sequence_numbers:
            self.next_sequence = max(self.next_sequence, max(sequence_numbers) + 1)


def summarize(
    stream: str,
    messages: Sequence[Tuple[int, bytes]],
    start: int,
    trigger_topic: Optional[str],
    stream_exists: bool = True,
) -> Dict[str, object]:
    """Summary of ``(sequence_number, payload)`` pairs read from ``start``.

    JSON readings with ``location`` and a numeric ``value`` are grouped per location; other
    payloads are only counted.
    """
    per_location = {}  # type: Dict[str, List[float]]
    other = 0
    for _, payload in messages:
        try:
            data = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            other += 1
            continue
        value = data.get("value") if isinstance(data, dict) else None
        location = data.get("location") if isinstance(data, dict) else None
        if isinstance(location, str) and isinstance(value, (int, float)) and not isinstance(value, bool):
            per_location.setdefault(location, []).append(float(value))
        else:
            other += 1
    sequences = [seq for seq, _ in messages]
    return {
        "stream": stream,
        "stream_exists": stream_exists,
        "trigger_topic": trigger_topic,
        "count": len(messages),
        "first_sequence": min(sequences) if sequences else None,
        "last_sequence": max(sequences) if sequences else None,
        "skipped_before_first": (min(sequences) - start) if sequences and min(sequences) > start else 0,
        "locations": {
            name: {"count": len(values), "min": min(values), "max": max(values),
                   "mean": round(sum(values) / len(values), 6)}
            for name, values in sorted(per_location.items())
        },
        "other_payloads": other,
    }


def trigger_topic(context) -> Optional[str]:
    """The MQTT topic that triggered this invocation (``context.client_context.custom['subject']``)."""
    client_context = getattr(context, "client_context", None)
    custom = getattr(client_context, "custom", None)
    if isinstance(custom, dict):
        subject = custom.get("subject")
        return subject if isinstance(subject, str) else None
    return None
