"""Stream manager helpers: connecting, creating and reading streams, and the worker's retry loop.

A stream-manager error (server down, timeout, error status) is one of :data:`STREAM_ERRORS`;
:func:`run_until_stopped` then closes the client, waits with back-off (1 s doubling to
:data:`RETRY_MAX_S`) and starts over.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from typing import Callable, List, Optional

from greengrasssdk.stream_manager import (
    InvalidRequestException,
    MessageStreamDefinition,
    NotEnoughMessagesException,
    ReadMessagesOptions,
    StreamManagerClient,
    StreamManagerException,
    Util,
    ValidationException,
)

from .env import ConfigError

LOG = logging.getLogger(__name__)
# What a stream manager call raises when the server is down, slow or says no.
STREAM_ERRORS = (OSError, asyncio.TimeoutError, StreamManagerException)
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0


def connect_client() -> StreamManagerClient:
    """A connected StreamManagerClient (port from ``STREAM_MANAGER_SERVER_PORT``, as the SDK reads it).

    A plain TCP connect comes first: in greengrasssdk 1.6.1 a failing constructor leaves its
    event-loop thread running, so retrying against a stopped stream manager would pile threads up.
    """
    port = int(os.environ.get("STREAM_MANAGER_SERVER_PORT", "8088"))
    socket.create_connection(("127.0.0.1", port), timeout=3).close()
    return StreamManagerClient()


def close_quietly(client: StreamManagerClient) -> None:
    """Close ``client``; a stream-manager error while closing is only logged (debug)."""
    try:
        client.close()
    except STREAM_ERRORS as exc:
        LOG.debug("closing the stream manager client failed: %s", exc)


def check_definition(definition: MessageStreamDefinition) -> MessageStreamDefinition:
    """The SDK's own validation, run at start-up so a bad name fails there, not on every retry."""
    try:
        Util.validate_and_serialize_to_json_bytes(definition)
    except ValidationException as exc:
        raise ConfigError("the stream definition for {!r} from the environment is invalid: {}".format(
            definition.name, exc)) from None
    return definition


def ensure_stream(client: StreamManagerClient, definition: MessageStreamDefinition) -> bool:
    """Create the stream unless it exists; True when this call created it."""
    if definition.name in client.list_streams():
        return False
    try:
        client.create_message_stream(definition)
    except InvalidRequestException:
        # Someone created it between list and create; anything else is a real error.
        if definition.name not in client.list_streams():
            raise
        return False
    return True


def read_batch(client: StreamManagerClient, stream: str, start: int, max_count: int, timeout_ms: int) -> List:
    """Messages from ``start`` on (up to ``max_count``); [] when none arrived within the timeout."""
    options = ReadMessagesOptions(
        desired_start_sequence_number=start,
        min_message_count=1,
        max_message_count=max_count,
        read_timeout_millis=timeout_ms,
    )
    try:
        return client.read_messages(stream, options) or []
    except NotEnoughMessagesException:
        return []


def run_until_stopped(
    stop: threading.Event,
    connect: Callable[[], StreamManagerClient],
    work: Callable[[StreamManagerClient], None],
    setup: Optional[Callable[[StreamManagerClient], None]] = None,
    on_error: Optional[Callable[[str], None]] = None,
    log: logging.Logger = LOG,
) -> None:
    """Until ``stop`` is set: ``connect()``, ``setup(client)``, then ``work(client)``.

    A :data:`STREAM_ERRORS` error from any of them is reported to ``on_error`` as
    ``"<type>: <message>"`` and logged on ``log``; the client is closed and the loop waits
    ``stop.wait(delay)`` before starting over. The delay starts at 1 s, doubles up to
    :data:`RETRY_MAX_S`, and is reset once ``setup`` has succeeded. Other exceptions propagate.
    """
    delay = RETRY_FIRST_S
    while not stop.is_set():
        client = None
        try:
            client = connect()
            if setup is not None:
                setup(client)
            delay = RETRY_FIRST_S
            work(client)
        except STREAM_ERRORS as exc:
            error = "{}: {}".format(type(exc).__name__, exc)
            if on_error is not None:
                on_error(error)
            log.warning("stream manager call failed (%s); retrying in %.0f s", error, delay)
            stop.wait(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        finally:
            if client is not None:
                close_quietly(client)
