#!/usr/bin/env python3
"""The switch (GG_Switch): cycles GG_TrafficLight's desired light G -> Y -> R through its shadow.

    python light_controller.py -e HOST -r root-ca.pem -c GG_Switch.cert.pem -k GG_Switch.private.key \\
        --thingName GG_TrafficLight --clientId GG_Switch

``--interval`` sets the seconds per light (20 like AWS's sample); ``--cycles`` bounds a run.
Ctrl-C or SIGTERM exits cleanly.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import Optional, Sequence

from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTShadowClient

import discovery_helper
from light_states import LIGHTS, ShadowReplies, desired_update, light_sequence

LOG = logging.getLogger("light_controller")
REPLY_TIMEOUT_S = 5


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="GG_Switch device: cycles the traffic light's desired state")
    discovery_helper.add_connection_arguments(parser, thing_name="GG_TrafficLight", client_id="GG_Switch")
    parser.add_argument("--interval", type=discovery_helper.positive, default=20.0,
                        help="seconds each light stays on (default: %(default)s)")
    parser.add_argument("--cycles", type=int, default=0,
                        help="number of full G/Y/R cycles, then exit; 0 = forever (default)")
    parser.add_argument("--start", choices=LIGHTS, default="G", help="first light (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.cycles < 0:
        parser.error("argument --cycles: expected a number >= 0, got {}".format(args.cycles))
    return discovery_helper.finish_connection_arguments(args)


def cycle(handler, lights, interval: float, stop: threading.Event) -> int:
    """Set each light in turn, waiting for the shadow's answer and then ``interval``; returns updates sent."""
    replies = ShadowReplies()
    sent = 0
    for light in lights:
        if stop.is_set():
            break
        token = handler.shadowUpdate(desired_update(light), replies.callback, REPLY_TIMEOUT_S)
        sent += 1
        reply = replies.wait(token, REPLY_TIMEOUT_S + 1)
        status = reply[0] if reply else "no reply"
        print("Switch set light to {} ({})".format(light, status))
        if status != "accepted":
            LOG.warning("desired light %s: %s", light, reply[1] if reply else "no reply")
        stop.wait(interval)
    return sent


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    discovery_helper.configure_logging(args.verbose)
    stop = discovery_helper.stop_on_signals()
    client = AWSIoTMQTTShadowClient(args.clientId)
    if not discovery_helper.join_group(client, args, stop):
        return 2
    try:
        handler = client.createShadowHandlerWithName(args.thingName, True)
        cycle(handler, light_sequence(args.start, args.cycles), args.interval, stop)
    finally:
        client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
