#!/usr/bin/env python3
"""The traffic light (GG_TrafficLight): applies desired light changes from its shadow and reports them.

    python traffic_light.py -e HOST -r root-ca.pem -c GG_TrafficLight.cert.pem -k GG_TrafficLight.private.key

Joins the group through discovery, syncs once with shadowGet, then applies each delta. Ctrl-C or
SIGTERM exits cleanly; ``--max-changes`` / ``--duration`` bound a run.
"""
from __future__ import annotations

import argparse
import logging
import queue
import sys
import threading
import time
from typing import Optional, Sequence

from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTShadowClient

import discovery_helper
from light_states import ShadowReplies, light_from_delta, light_from_document, reported_update

LOG = logging.getLogger("traffic_light")
REPLY_TIMEOUT_S = 5


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="GG_TrafficLight device: applies shadow deltas")
    discovery_helper.add_connection_arguments(parser, thing_name="GG_TrafficLight")
    parser.add_argument("--max-changes", type=int, default=0, dest="maxChanges",
                        help="exit after applying this many light changes; 0 = no limit (default)")
    parser.add_argument("--duration", type=discovery_helper.non_negative, default=0.0,
                        help="exit after this many seconds; 0 = no limit (default)")
    args = parser.parse_args(argv)
    if args.maxChanges < 0:
        parser.error("argument --max-changes: expected a number >= 0, got {}".format(args.maxChanges))
    return discovery_helper.finish_connection_arguments(args)


class TrafficLight:
    """Applies requested lights in the main thread; SDK callbacks only enqueue them."""

    def __init__(self, handler, max_changes: int, stop: threading.Event) -> None:
        self._handler = handler
        self._max_changes = max_changes
        self._stop = stop
        self._requests = queue.Queue()  # type: queue.Queue
        self._replies = ShadowReplies()
        self.current = None  # type: Optional[str]
        self.changes = 0

    def on_delta(self, payload: str, response_status: str, token) -> None:
        try:
            light = light_from_delta(payload)
        except ValueError as exc:
            LOG.warning("ignored delta: %s", exc)
            return
        if light is not None:
            self._requests.put(light)

    def sync(self) -> None:
        """Pick up a change requested while this light was offline."""
        token = self._handler.shadowGet(self._replies.callback, REPLY_TIMEOUT_S)
        reply = self._replies.wait(token, REPLY_TIMEOUT_S + 1)
        if reply is None or reply[0] != "accepted":
            LOG.info("no shadow document yet (%s)", reply[0] if reply else "no reply")
            return
        try:
            light = light_from_document(reply[1])
        except ValueError as exc:
            LOG.warning("ignored shadow document: %s", exc)
            return
        if light is not None:
            self._requests.put(light)

    def run(self, deadline: Optional[float]) -> None:
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return
            try:
                light = self._requests.get(timeout=0.2)
            except queue.Empty:
                continue
            if light == self.current:
                # The same request seen twice (shadowGet at start and its delta): already applied.
                continue
            self.apply(light)
            if self._max_changes and self.changes >= self._max_changes:
                return

    def apply(self, light: str) -> None:
        self.current = light
        print("Light changed to: {}".format(light))
        token = self._handler.shadowUpdate(reported_update(light), self._replies.callback, REPLY_TIMEOUT_S)
        reply = self._replies.wait(token, REPLY_TIMEOUT_S + 1)
        status = reply[0] if reply else "no reply"
        if status != "accepted":
            LOG.warning("reporting light %s: %s", light, status)
        self.changes += 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    discovery_helper.configure_logging(args.verbose)
    stop = discovery_helper.stop_on_signals()
    deadline = time.monotonic() + args.duration if args.duration else None
    client = AWSIoTMQTTShadowClient(args.clientId)
    if not discovery_helper.join_group(client, args, stop):
        return 2
    try:
        handler = client.createShadowHandlerWithName(args.thingName, True)
        light = TrafficLight(handler, args.maxChanges, stop)
        handler.shadowRegisterDeltaCallback(light.on_delta)
        light.sync()
        light.run(deadline)
    finally:
        client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
