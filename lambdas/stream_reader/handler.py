"""On-demand Lambda ``stream_reader``: on each MQTT message, summarise the stream's new messages.

It reads from the last message this instance saw (sequence 0 the first time) up to
``MAX_MESSAGES``, publishes the summary on ``SUMMARY_TOPIC`` and returns it. The cursor lives in
the instance; a new instance starts from the oldest message still in the stream.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Dict, List, Optional

import greengrasssdk
from greengrasssdk.stream_manager import ResourceNotFoundException

from gglambda import lifecycle
from gglambda.publish import publish_errors
from gglambda.streams import STREAM_ERRORS, close_quietly, connect_client, read_batch
from stream_summary import Cursor, StreamReaderConfig, summarize, trigger_topic

LOG = logging.getLogger(__name__)


class StreamReader:
    """Per-instance state: the cursor and lazily created clients (both injectable)."""

    def __init__(self, config: StreamReaderConfig, stream_client=None, iot_client=None) -> None:
        self.config = config
        self.cursor = Cursor()
        self._stream_client = stream_client
        self._iot = iot_client

    def read_new(self, topic: Optional[str] = None) -> Dict[str, object]:
        """Read what arrived since the last call, advance the cursor and summarise it."""
        config = self.config
        with self.cursor.lock:
            start = self.cursor.next_sequence
            if self._stream_client is None:
                self._stream_client = connect_client()
            messages = []  # type: List
            exists = True
            position = start
            try:
                while len(messages) < config.max_messages:
                    wanted = min(config.read_batch, config.max_messages - len(messages))
                    batch = read_batch(self._stream_client, config.stream_name, position, wanted, 0)
                    messages.extend(batch)
                    if batch:
                        position = batch[-1].sequence_number + 1
                    if len(batch) < wanted:
                        break
            except ResourceNotFoundException:
                exists = False
            except STREAM_ERRORS:
                # The cursor has not moved: the next invocation reads these messages again.
                self._close_stream_client()
                raise
            self.cursor.advance([m.sequence_number for m in messages])
            return summarize(config.stream_name, [(m.sequence_number, m.payload) for m in messages], start,
                             topic, stream_exists=exists)

    def publish(self, summary: Dict[str, object]) -> bool:
        if self._iot is None:
            self._iot = greengrasssdk.client("iot-data")
        try:
            self._iot.publish(topic=self.config.summary_topic, payload=json.dumps(summary, sort_keys=True))
            return True
        except publish_errors() as exc:
            LOG.error("publish to %s failed: %s", self.config.summary_topic, exc)
            return False

    def _close_stream_client(self) -> None:
        client, self._stream_client = self._stream_client, None
        if client is not None:
            close_quietly(client)


get_reader = lifecycle.created_once(lambda: StreamReader(StreamReaderConfig.from_env(os.environ)))


def function_handler(event, context):
    reader = get_reader()
    try:
        summary = reader.read_new(trigger_topic(context))
    except STREAM_ERRORS as exc:
        LOG.error("reading %s failed: %s: %s", reader.config.stream_name, type(exc).__name__, exc)
        return {"stream": reader.config.stream_name, "error": "{}: {}".format(type(exc).__name__, exc)}
    reader.publish(summary)
    LOG.info("%s: %d new message(s) up to sequence %s", summary["stream"], summary["count"], summary["last_sequence"])
    return summary
