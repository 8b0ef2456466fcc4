"""Pinned Lambda ``producer``: creates its stream if absent, then appends one JSON reading per interval.

The work runs in a daemon thread started by :func:`main`; see ``lambdas/README.md`` for when it starts.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable, Dict, Optional

from greengrasssdk.stream_manager import StreamManagerClient

from gglambda import lifecycle, streams
from gglambda.streams import connect_client, ensure_stream
from readings import ProducerConfig, ReadingGenerator, encode_reading, next_due, stream_definition

LOG = logging.getLogger(__name__)


class Producer(lifecycle.Worker):
    """The long-lived worker. ``client_factory`` makes a connected StreamManagerClient."""

    def __init__(
        self,
        config: ProducerConfig,
        client_factory: Callable[[], StreamManagerClient] = connect_client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super(Producer, self).__init__("producer")
        self._config = config
        self._client_factory = client_factory
        self._clock = clock
        self._generator = ReadingGenerator(config)
        self._appended = 0
        self._last_sequence = None  # type: Optional[int]

    def status(self) -> Dict[str, object]:
        return {
            "function": "producer",
            "running": self.running,
            "stream": self._config.stream_name,
            "appended": self._appended,
            "last_sequence": self._last_sequence,
            "last_error": self._last_error,
        }

    def _run(self) -> None:
        streams.run_until_stopped(self._stop, self._client_factory, self._produce, setup=self._create_stream,
                                  on_error=self._failed, log=LOG)

    def _create_stream(self, client: StreamManagerClient) -> None:
        definition = stream_definition(self._config)
        if ensure_stream(client, definition):
            LOG.info("created stream %s (export: %s)", definition.name, self._config.export_target)

    def _produce(self, client: StreamManagerClient) -> None:
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            reading = self._generator.next_reading(int(self._clock() * 1000))
            self._last_sequence = client.append_message(self._config.stream_name, encode_reading(reading))
            self._appended += 1
            due = next_due(due, time.monotonic(), self._config.interval_s)


main = lifecycle.start_once(lambda: Producer(ProducerConfig.from_env(os.environ)))
function_handler = lifecycle.status_handler(main)

if os.environ.get("MY_FUNCTION_ARN"):  # set by the Greengrass runtime for every function
    main()
