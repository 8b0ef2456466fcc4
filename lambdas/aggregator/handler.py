"""Pinned Lambda ``aggregator``: stream 1 readings -> per-window, per-location aggregates on stream 2.

Reads from its checkpoint (sequence 0 the first time), appends closed windows to the target
stream, then saves the checkpoint. A crash between the append and the save repeats those
aggregates on restart (at-least-once; each carries ``window_start`` + ``location`` as its key);
the input is never skipped nor counted twice. See ``lambdas/README.md`` for when the worker starts.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Callable, Dict, Optional

from greengrasssdk.stream_manager import ResourceNotFoundException, StreamManagerClient

from checkpoint import CheckpointStore
from gglambda import lifecycle, streams
from gglambda.streams import connect_client, ensure_stream, read_batch
from windows import AggregationState, AggregatorConfig, target_definition

LOG = logging.getLogger(__name__)


def checkpoint_beyond_stream(client: StreamManagerClient, stream: str, next_sequence: int) -> bool:
    """True when ``next_sequence`` lies past the stream's newest message + 1 (the stream was recreated)."""
    try:
        info = client.describe_message_stream(stream)
    except ResourceNotFoundException:
        return False
    newest = info.storage_status.newest_sequence_number
    return next_sequence > (-1 if newest is None else newest) + 1


class Aggregator(lifecycle.Worker):
    def __init__(
        self,
        config: AggregatorConfig,
        client_factory: Callable[[], StreamManagerClient] = connect_client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super(Aggregator, self).__init__("aggregator")
        self._config = config
        self._client_factory = client_factory
        self._clock = clock
        self._store = CheckpointStore(config.checkpoint_dir, config.source_stream)
        self._state = None  # type: Optional[AggregationState]
        self._emitted = 0

    def status(self) -> Dict[str, object]:
        state = self._state
        return {
            "function": "aggregator",
            "running": self.running,
            "source": self._config.source_stream,
            "target": self._config.target_stream,
            "next_sequence": state.next_sequence if state else None,
            "open_windows": state.open_windows if state else None,
            "late": state.late if state else None,
            "rejected": state.rejected if state else None,
            "emitted": self._emitted,
            "last_error": self._last_error,
        }

    def _load_state(self) -> AggregationState:
        saved = self._store.load()
        window_ms = self._config.window_seconds * 1000
        if saved is None:
            return AggregationState(window_ms)
        return AggregationState.from_json(saved, window_ms)

    def _run(self) -> None:
        streams.run_until_stopped(self._stop, self._connect, self._aggregate, setup=self._create_target,
                                  on_error=self._failed, log=LOG)

    def _connect(self) -> StreamManagerClient:
        # Every attempt restarts from the saved checkpoint, so in-memory progress that was never
        # saved after a failure is read again rather than lost.
        self._state = self._load_state()
        return self._client_factory()

    def _create_target(self, client: StreamManagerClient) -> None:
        if ensure_stream(client, target_definition(self._config)):
            LOG.info("created stream %s", self._config.target_stream)

    def _aggregate(self, client: StreamManagerClient) -> None:
        config = self._config
        state = self._state
        if checkpoint_beyond_stream(client, config.source_stream, state.next_sequence):
            # The source stream was recreated (e.g. fresh core state) while the checkpoint was kept:
            # waiting for sequence numbers it will only reach much later would stall the display.
            LOG.warning("checkpoint %d is beyond the newest message of %s; starting again from its oldest",
                        state.next_sequence, config.source_stream)
            state = AggregationState(config.window_seconds * 1000)
            self._state = state
        last_input = time.monotonic()
        while not self._stop.is_set():
            try:
                messages = read_batch(client, config.source_stream, state.next_sequence,
                                      config.read_batch, config.read_timeout_ms)
            except ResourceNotFoundException:
                LOG.info("source stream %s does not exist yet", config.source_stream)
                self._stop.wait(max(1.0, config.read_timeout_ms / 1000.0))
                continue
            if messages:
                last_input = time.monotonic()
                if messages[0].sequence_number > state.next_sequence:
                    LOG.warning("messages %d..%d were trimmed from %s before they were read",
                                state.next_sequence, messages[0].sequence_number - 1, config.source_stream)
                for message in messages:
                    problem = state.consume(message.sequence_number, message.payload)
                    if problem:
                        LOG.warning("skipped input: %s", problem)
            elif time.monotonic() - last_input >= config.idle_flush_seconds:
                state.flush_idle(int(self._clock() * 1000), config.idle_flush_seconds * 1000)
            closed = state.take_closed()
            for aggregate in closed:
                client.append_message(config.target_stream, json.dumps(aggregate, sort_keys=True).encode("utf-8"))
            self._emitted += len(closed)
            if messages or closed:
                self._store.save(state.to_json())


main = lifecycle.start_once(lambda: Aggregator(AggregatorConfig.from_env(os.environ)))
function_handler = lifecycle.status_handler(main)

if os.environ.get("MY_FUNCTION_ARN"):  # set by the Greengrass runtime for every function
    main()
