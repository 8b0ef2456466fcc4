"""``greengrass-cli pubsub pub|sub`` and ``greengrass-cli iotcore pub|sub``: local pub/sub and IoT Core through the
core's IPC, as the CLI client (``greengrass-cli#user-<uid>``, which the core lets publish and subscribe on every
topic while ``aws.greengrass.Cli`` is deployed).

Follows aws-greengrass/aws-greengrass-cli ``commands/topic/{PubSubCommand,IotCoreCommand,TopicBaseInfo}.java`` and
``adapter/impl/NucleusAdapterIpcClientImpl`` (publishToTopic, subscribeToTopic, publishToIoTCore,
subscribeToIoTCore):

* ``-t/--topic`` is required; a blank one prints ``Topic name cannot be empty`` on stderr and does nothing;
* ``-m/--message`` is a file's content when it names an existing file (``~/`` expanded), else the text itself; it
  goes out as bytes (``binaryMessage`` on local pub/sub, ``payload`` to IoT Core); ``-q/--qos`` (IoT Core, default
  ``0``);
* a subscription prints ``Successfully subscribed to topic: <t>``, then each message on its own line — a local
  ``jsonMessage`` as compact JSON, a ``binaryMessage`` or an IoT Core payload as UTF-8 text — until the core closes
  the stream (``Subscribe to topic stream closed.`` / ``Subscribe to IoT Core stream closed.``) or Ctrl-C;
* an ``UnauthorizedError`` prints ``Unauthorized error while publishing to topic: <t>`` (or ``subscribing``) on
  stderr; another IPC error is printed and exits 1 (the real client prints ``Exception occurred when using IPC.``
  and a stack trace).
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any, Optional, TextIO

from .errors import CliError

TOPIC_EMPTY = "Topic name cannot be empty"


def content(message: str) -> str:
    """``TopicBaseInfo.getContent``: a file's text when ``message`` names an existing file, else ``message``."""
    if message:
        path = Path(message).expanduser()
        try:
            if path.is_file():
                return path.read_text(encoding="utf-8")
        except OSError as e:
            sys.stderr.write(f"{e}\n")
        except ValueError:      # an embedded NUL: not a path (deTilde's InvalidPathException)
            pass
    return message


def _blank(topic: Optional[str]) -> bool:
    return topic is None or not topic.strip()


def run(args: argparse.Namespace, nucleus: Any, out: TextIO) -> int:
    """One ``pubsub``/``iotcore`` action over ``nucleus`` (a :class:`~.client.Nucleus`)."""
    if _blank(args.topic):
        sys.stderr.write(TOPIC_EMPTY + "\n")
        return 0
    iot = args.command == "iotcore"
    if args.action == "pub":
        return _publish(nucleus, args.topic, content(args.message), args.qos if iot else None)
    return _subscribe(nucleus, args.topic, args.qos if iot else None, out)


def _publish(nucleus: Any, topic: str, message: str, qos: Optional[str]) -> int:
    from awsiot.greengrasscoreipc import model

    data = message.encode("utf-8")
    if qos is None:
        request: Any = model.PublishToTopicRequest(
            topic=topic, publish_message=model.PublishMessage(binary_message=model.BinaryMessage(message=data)))
        operation = "publish_to_topic"
    else:
        request = model.PublishToIoTCoreRequest(topic_name=topic, payload=data, qos=qos)
        operation = "publish_to_iot_core"
    try:
        nucleus.call(operation, request, raw_errors=True)
    except model.UnauthorizedError:
        sys.stderr.write(f"Unauthorized error while publishing to topic: {topic}\n")
    except model.GreengrassCoreIPCError as e:
        raise CliError(f"Exception occurred when using IPC: {type(e).__name__}: {getattr(e, 'message', None)}") \
            from None
    return 0


def _subscribe(nucleus: Any, topic: str, qos: Optional[str], out: TextIO) -> int:
    from awsiot.eventstreamrpc import StreamResponseHandler
    from awsiot.greengrasscoreipc import model

    closed = threading.Event()
    interrupted = threading.Event()       # Ctrl-C: the process ends, nothing more is printed
    write_lock = threading.Lock()

    def emit(text: str, stream: TextIO = out) -> None:
        with write_lock:
            stream.write(text + "\n")
            stream.flush()

    class Handler(StreamResponseHandler):
        def on_stream_event(self, event: Any) -> None:
            if qos is not None:
                emit((event.message.payload or b"").decode("utf-8", "replace"))
            elif event.json_message is not None:
                if event.json_message.message is not None:
                    emit(json.dumps(event.json_message.message, separators=(",", ":")))
            elif event.binary_message is not None:
                emit((event.binary_message.message or b"").decode("utf-8", "replace"))

        def on_stream_error(self, error: Exception) -> bool:
            emit("Received a stream error.", sys.stderr)
            emit(f"{type(error).__name__}: {getattr(error, 'message', None) or error}", sys.stderr)
            return False            # keep the stream open, as the real client does

        def on_stream_closed(self) -> None:
            if interrupted.is_set():
                return
            emit("Subscribe to IoT Core stream closed." if qos is not None else "Subscribe to topic stream closed.")
            closed.set()

    if qos is None:
        request: Any = model.SubscribeToTopicRequest(topic=topic, receive_mode=model.ReceiveMode.RECEIVE_ALL_MESSAGES)
        operation = "subscribe_to_topic"
    else:
        request = model.SubscribeToIoTCoreRequest(topic_name=topic, qos=qos)
        operation = "subscribe_to_iot_core"
    try:
        op = nucleus.call(operation, request, handler=Handler(), raw_errors=True, keep=True)
    except model.UnauthorizedError:
        sys.stderr.write(f"Unauthorized error while subscribing to topic: {topic}\n")
        return 0
    except model.GreengrassCoreIPCError as e:
        raise CliError(f"Exception occurred when using IPC: {type(e).__name__}: {getattr(e, 'message', None)}") \
            from None
    emit(f"Successfully subscribed to topic: {topic}")
    try:
        closed.wait()           # until the core closes the stream, or Ctrl-C
    except KeyboardInterrupt:
        interrupted.set()
        op.close()
        return 130
    return 0
