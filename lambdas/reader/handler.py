"""Pinned Lambda ``reader``: stream 2 aggregates -> latest per location -> display topic + snapshot file.

It reads stream 2 from sequence 0 at every start, which rebuilds the latest aggregates after a
restart; it publishes one snapshot per batch that changed something, so catching up costs one
publish per batch. See ``lambdas/README.md`` for when the worker starts.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from typing import Callable, Dict

import greengrasssdk
from greengrasssdk.stream_manager import ResourceNotFoundException, StreamManagerClient

from gglambda import lifecycle, streams
from gglambda.publish import publish_errors
from gglambda.streams import connect_client, read_batch
from latest import LatestAggregates, ReaderConfig, parse_aggregate

LOG = logging.getLogger(__name__)


def write_json_atomic(path: str, document: Dict[str, object]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".snapshot-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class Reader(lifecycle.Worker):
    def __init__(
        self,
        config: ReaderConfig,
        client_factory: Callable[[], StreamManagerClient] = connect_client,
        iot_client=None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super(Reader, self).__init__("reader")
        self._config = config
        self._client_factory = client_factory
        self._iot = iot_client
        self._clock = clock
        self._latest = LatestAggregates()
        self._next_sequence = 0
        self._published = 0

    def status(self) -> Dict[str, object]:
        return {
            "function": "reader",
            "running": self.running,
            "source": self._config.source_stream,
            "next_sequence": self._next_sequence,
            "published": self._published,
            "last_error": self._last_error,
        }

    def _run(self) -> None:
        streams.run_until_stopped(self._stop, self._client_factory, self._follow, on_error=self._failed, log=LOG)

    def _follow(self, client: StreamManagerClient) -> None:
        config = self._config
        while not self._stop.is_set():
            try:
                messages = read_batch(client, config.source_stream, self._next_sequence,
                                      config.read_batch, config.read_timeout_ms)
            except ResourceNotFoundException:
                LOG.info("stream %s does not exist yet", config.source_stream)
                self._stop.wait(max(1.0, config.read_timeout_ms / 1000.0))
                continue
            changed = False
            for message in messages:
                self._next_sequence = message.sequence_number + 1
                try:
                    aggregate = parse_aggregate(message.payload)
                except ValueError as exc:
                    LOG.warning("skipped %s sequence %d: %s", config.source_stream, message.sequence_number, exc)
                    continue
                changed = self._latest.update(message.sequence_number, aggregate) or changed
            if changed:
                self._show(self._latest.snapshot(int(self._clock() * 1000)))

    def _show(self, snapshot: Dict[str, object]) -> None:
        try:
            write_json_atomic(self._config.snapshot_path, snapshot)
        except OSError as exc:
            LOG.error("cannot write snapshot %s: %s", self._config.snapshot_path, exc)
        if self._iot is None:
            self._iot = greengrasssdk.client("iot-data")
        try:
            self._iot.publish(topic=self._config.display_topic, payload=json.dumps(snapshot, sort_keys=True))
            self._published += 1
        except publish_errors() as exc:
            LOG.error("publish to %s failed: %s", self._config.display_topic, exc)


main = lifecycle.start_once(lambda: Reader(ReaderConfig.from_env(os.environ)))
function_handler = lifecycle.status_handler(main)

if os.environ.get("MY_FUNCTION_ARN"):  # set by the Greengrass runtime for every function
    main()
