#!/usr/bin/env python3
"""Greengrass discovery publisher / subscriber (the flags of AWS's basicDiscovery.py sample).

    python basic_discovery.py -e HOST -r root-ca.pem -c cert.pem -k private.key \\
        -n HelloWorld_Publisher -t hello/world/pubsub -m publish -M "Hello, World!"

Differences from the sample: ``-p`` is the discovery port (``--print-discover-resp-only`` keeps the
sample's other meaning), ``--count`` / ``--duration`` bound a run, and Ctrl-C / SIGTERM exit cleanly.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from typing import List, Optional, Sequence

from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient

import discovery_helper

LOG = logging.getLogger("basic_discovery")
MODES = ("publish", "subscribe", "both")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    discovery_helper.add_connection_arguments(parser, thing_name="HelloWorld_Publisher")
    parser.add_argument("-t", "--topic", default="hello/world/pubsub", help="topic (default: %(default)s)")
    parser.add_argument("-m", "--mode", default="both", choices=MODES, help="operation mode (default: %(default)s)")
    parser.add_argument("-M", "--message", default="Hello World!", help="message to publish (default: %(default)s)")
    parser.add_argument("--interval", type=discovery_helper.positive, default=1.0,
                        help="seconds between publishes (default: %(default)s)")
    parser.add_argument("--count", type=int, default=0,
                        help="stop after publishing (publish/both) or receiving (subscribe) this many "
                             "messages; 0 = no limit (default)")
    parser.add_argument("--duration", type=discovery_helper.non_negative, default=0.0,
                        help="stop after this many seconds; 0 = no limit (default)")
    parser.add_argument("--print-discover-resp-only", action="store_true", dest="printOnly",
                        help="print the discovered endpoints and exit")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("argument --count: expected a number >= 0, got {}".format(args.count))
    return discovery_helper.finish_connection_arguments(args)


def message_payload(message: str, sequence: int) -> str:
    """The sample's publish payload."""
    return json.dumps({"message": message, "sequence": sequence})


class Run:
    """Counts messages and decides when the run is over (``--count``, ``--duration``, a signal)."""

    def __init__(self, count: int, duration: float, clock=time.monotonic,
                 stop: Optional[threading.Event] = None) -> None:
        self.stop = stop or threading.Event()
        self._count = count
        self._clock = clock
        self._deadline = clock() + duration if duration > 0 else None
        self._lock = threading.Lock()
        self.received = []  # type: List[str]
        self.published = 0

    def remaining_time(self) -> Optional[float]:
        return None if self._deadline is None else max(0.0, self._deadline - self._clock())

    def on_message(self, topic: str, payload: str) -> None:
        with self._lock:
            self.received.append(payload)
            if self._count and len(self.received) >= self._count:
                self.stop.set()

    def on_published(self) -> None:
        self.published += 1

    def publishing_done(self) -> bool:
        return bool(self._count) and self.published >= self._count

    def timed_out(self) -> bool:
        remaining = self.remaining_time()
        return remaining is not None and remaining <= 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    discovery_helper.configure_logging(args.verbose)
    run = Run(args.count, args.duration, stop=discovery_helper.stop_on_signals())

    if args.printOnly:
        discovered = discovery_helper.discover(args, wait=run.stop.wait)
        print("group {}".format(discovered.group_id))
        for endpoint in discovered.endpoints:
            print("  core {} {} -> {}:{}".format(endpoint.core_arn, endpoint.connectivity_id, endpoint.host,
                                                 endpoint.port))
        return 0

    client = AWSIoTMQTTClient(args.clientId)
    if not discovery_helper.join_group(client, args, run.stop):
        return 2
    try:
        if args.mode in ("subscribe", "both"):
            def on_message(_client, _userdata, message):
                payload = message.payload.decode("utf-8", "replace")
                print("Received message on topic {}: {}".format(message.topic, payload))
                run.on_message(message.topic, payload)

            client.subscribe(args.topic, 0, on_message)
        sequence = 0
        while not run.stop.is_set() and not run.timed_out():
            if args.mode in ("publish", "both") and not run.publishing_done():
                payload = message_payload(args.message, sequence)
                client.publish(args.topic, payload, 0)
                run.on_published()
                print("Published topic {}: {}".format(args.topic, payload))
                sequence += 1
                if run.publishing_done() and args.mode == "publish":
                    break
            wait = args.interval
            remaining = run.remaining_time()
            run.stop.wait(wait if remaining is None else min(wait, remaining))
    finally:
        client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
