"""Greengrass discovery for the device scripts: discover -> write the group CA -> connect to a core.

Used by basic_discovery.py, traffic_light.py and light_controller.py. Works with both
``AWSIoTMQTTClient`` and ``AWSIoTMQTTShadowClient`` (they share configureEndpoint /
configureCredentials / connect).
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from AWSIoTPythonSDK.core.greengrass.discovery.models import DiscoveryInfo
from AWSIoTPythonSDK.core.greengrass.discovery.providers import DiscoveryInfoProvider
from AWSIoTPythonSDK.exception.AWSIoTExceptions import (
    DiscoveryDataNotFoundException,
    DiscoveryFailure,
    DiscoveryInvalidRequestException,
    DiscoveryThrottlingException,
    DiscoveryTimeoutException,
    DiscoveryUnauthorizedException,
    connectError,
    connectTimeoutException,
)

LOG = logging.getLogger(__name__)

# Everything DiscoveryInfoProvider.discover raises for an answer or a network problem. An invalid
# request is left out on purpose: asking again cannot fix it.
RETRYABLE = (
    DiscoveryDataNotFoundException,
    DiscoveryFailure,
    DiscoveryThrottlingException,
    DiscoveryTimeoutException,
    DiscoveryUnauthorizedException,
    OSError,
)
CONNECT_ERRORS = (OSError, connectError, connectTimeoutException)


class DiscoveryError(Exception):
    """Discovery or connection failed for good; the message says what was tried."""


@dataclass(frozen=True)
class CoreEndpoint:
    group_id: str
    core_arn: str
    connectivity_id: str
    host: str
    port: int


@dataclass(frozen=True)
class Discovered:
    group_id: str
    ca_pem: str
    endpoints: Tuple[CoreEndpoint, ...]


def add_connection_arguments(parser: argparse.ArgumentParser, thing_name: str,
                             client_id: Optional[str] = None) -> None:
    """The flags every device script shares (names and short options of AWS's samples).

    Call :func:`finish_connection_arguments` on the parsed namespace.
    """
    parser.add_argument("-e", "--endpoint", required=True, dest="host",
                        help="discovery endpoint: your AWS IoT endpoint, or the local core's host")
    parser.add_argument("-r", "--rootCA", required=True, dest="rootCAPath", help="root CA file for discovery")
    parser.add_argument("-c", "--cert", required=True, dest="certificatePath", help="device certificate file")
    parser.add_argument("-k", "--key", required=True, dest="privateKeyPath", help="device private key file")
    parser.add_argument("-n", "--thingName", default=thing_name, dest="thingName",
                        help="thing name (default: %(default)s)")
    parser.add_argument("--client-id", "--clientId", dest="clientId", default=client_id,
                        help="MQTT client id and the thing name used for discovery; it must be the thing "
                             "of the certificate (default: {})".format(client_id or "the thing name"))
    parser.add_argument("-p", "--discovery-port", type=port_number, default=8443, dest="discoveryPort",
                        help="discovery port (default: %(default)s)")
    parser.add_argument("--discovery-timeout", type=positive, default=10.0, dest="discoveryTimeout",
                        help="seconds per discovery request (default: %(default)s)")
    parser.add_argument("--discovery-attempts", type=positive_int, default=10, dest="discoveryAttempts",
                        help="discovery attempts before giving up (default: %(default)s)")
    parser.add_argument("--group-ca-dir", default="./groupCA", dest="groupCaDir",
                        help="where the group CA from discovery is cached (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log SDK and discovery details")


def port_number(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("a port is 1..65535, got {}".format(value))
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number, got {!r}".format(text)) from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected a number >= 1, got {}".format(value))
    return value


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number, got {!r}".format(text)) from None
    if not value > 0:
        raise argparse.ArgumentTypeError("expected a number > 0, got {}".format(value))
    return value


def finish_connection_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """Fill in defaults that depend on other arguments (the client id defaults to the thing name)."""
    if args.clientId is None:
        args.clientId = args.thingName
    return args


def non_negative(text: str) -> float:
    """argparse type for limits where 0 means 'no limit'."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number, got {!r}".format(text)) from None
    if value < 0:
        raise argparse.ArgumentTypeError("expected a number >= 0, got {}".format(value))
    return value


def backoff_delays(attempts: int, base: float = 1.0, cap: float = 32.0) -> List[float]:
    """Waits between ``attempts`` tries: base, 2*base, 4*base... capped at ``cap``."""
    return [min(cap, base * (2 ** i)) for i in range(max(0, attempts - 1))]


def endpoints_of(info: DiscoveryInfo) -> Discovered:
    """The first group that has a CA, with every connectivity entry of each of its cores, in order."""
    for group in info.getAllGroups():
        if not group.caList:
            continue
        endpoints = tuple(
            CoreEndpoint(group.groupId, core.coreThingArn, entry.id, entry.host, int(entry.port))
            for core in group.coreConnectivityInfoList
            for entry in core.connectivityInfoList
        )
        if endpoints:
            return Discovered(group.groupId, group.caList[0], endpoints)
    raise DiscoveryError("discovery answered, but no group has both a CA and a core endpoint")


def discover(
    args: argparse.Namespace,
    provider_factory: Callable[[], DiscoveryInfoProvider] = DiscoveryInfoProvider,
    wait: Optional[Callable[[float], object]] = None,
) -> Discovered:
    """Ask the discovery endpoint for this thing's cores, retrying with back-off.

    ``wait(seconds)`` does the back-off; a truthy result means "stop asking" (pass a
    ``threading.Event().wait`` so Ctrl-C ends the back-off at once). Default: ``time.sleep``.
    """
    provider = provider_factory()
    provider.configureEndpoint(args.host, args.discoveryPort)
    provider.configureCredentials(args.rootCAPath, args.certificatePath, args.privateKeyPath)
    provider.configureTimeout(args.discoveryTimeout)
    delays = backoff_delays(args.discoveryAttempts)
    problems = []  # type: List[str]
    for attempt in range(args.discoveryAttempts):
        try:
            info = provider.discover(args.clientId)
            return endpoints_of(info)
        except DiscoveryInvalidRequestException as exc:
            raise DiscoveryError("discovery refused the request for {} as invalid: {}".format(
                args.clientId, getattr(exc, "message", exc))) from None
        except RETRYABLE as exc:
            problem = "{}: {}".format(type(exc).__name__, getattr(exc, "message", None) or exc)
            problems.append(problem)
            if attempt < len(delays):
                LOG.warning("discovery attempt %d/%d failed (%s); retrying in %.0f s",
                            attempt + 1, args.discoveryAttempts, problem, delays[attempt])
                if (wait or time.sleep)(delays[attempt]):
                    break
    raise DiscoveryError("discovery of {} at {}:{} failed after {} attempt(s); last: {}".format(
        args.clientId, args.host, args.discoveryPort, len(problems), problems[-1] if problems else "stopped"))


def write_group_ca(directory: str, group_id: str, ca_pem: str) -> str:
    """Cache the group CA as ``<directory>/<group id>_CA.crt`` (replaced atomically); returns the path."""
    os.makedirs(directory, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", group_id) or "group"
    path = os.path.join(directory, "{}_CA.crt".format(safe))
    fd, tmp = tempfile.mkstemp(prefix=".ca-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(ca_pem)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def connect_first_reachable(client, discovered: Discovered, ca_path: str, cert_path: str,
                            key_path: str) -> CoreEndpoint:
    """Try every connectivity entry in order; returns the one that connected."""
    client.configureCredentials(ca_path, key_path, cert_path)
    problems = []  # type: List[str]
    for endpoint in discovered.endpoints:
        client.configureEndpoint(endpoint.host, endpoint.port)
        try:
            client.connect()
        except CONNECT_ERRORS as exc:
            problems.append("{}:{} ({})".format(endpoint.host, endpoint.port, type(exc).__name__))
            LOG.warning("core %s at %s:%d not reachable: %r", endpoint.core_arn, endpoint.host, endpoint.port, exc)
            continue
        LOG.info("connected to core %s at %s:%d", endpoint.core_arn, endpoint.host, endpoint.port)
        return endpoint
    raise DiscoveryError("no core endpoint of group {} was reachable; tried {}".format(
        discovered.group_id, ", ".join(problems)))


def discover_and_connect(args: argparse.Namespace, client,
                         wait: Optional[Callable[[float], object]] = None) -> CoreEndpoint:
    """The whole join: discovery (with retries) -> group CA file -> first reachable core."""
    discovered = discover(args, wait=wait)
    ca_path = write_group_ca(args.groupCaDir, discovered.group_id, discovered.ca_pem)
    LOG.info("group %s: CA cached at %s, %d endpoint(s)", discovered.group_id, ca_path, len(discovered.endpoints))
    return connect_first_reachable(client, discovered, ca_path, args.certificatePath, args.privateKeyPath)


def join_group(client, args: argparse.Namespace, stop: threading.Event) -> bool:
    """Set the SDK timeouts, discover and connect; on failure print why (for the user) and return False."""
    client.configureConnectDisconnectTimeout(10)
    client.configureMQTTOperationTimeout(5)
    try:
        discover_and_connect(args, client, wait=stop.wait)
    except DiscoveryError as exc:
        print("error: {}".format(exc), file=sys.stderr)
        return False
    return True


STOP_GRACE_S = 2.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals(grace: float = STOP_GRACE_S) -> threading.Event:
    """An event that SIGINT (Ctrl-C) and SIGTERM set; call from the main thread.

    The script sees the event, disconnects and exits 0. A blocking SDK call does not look at the event (a
    TLS handshake with an endpoint that never answers, a connect or disconnect waiting out its timeout), and
    a signal that lands just before such a call is not even seen by Python code until the call returns. So a
    thread fed by the interpreter's wakeup fd (written by the C-level handler at once) watches the signals:
    a script still running ``grace`` seconds after the first, or at a second one, exits at once with
    128 + the signal number.
    """
    stop = threading.Event()
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: stop.set())
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    # the thread holds the writer too: the wakeup fd must stay open as long as the handlers may write to it
    watcher = threading.Thread(target=_watch_signals, args=(reader, writer, stop, grace),
                               name="stop-on-signals")
    watcher.daemon = True
    watcher.start()
    return stop


def _watch_signals(reader: socket.socket, writer: socket.socket, stop: threading.Event, grace: float) -> None:
    first = None  # type: Optional[int]
    deadline = None  # type: Optional[float]
    while True:
        reader.settimeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
        try:
            data = reader.recv(64)
        except socket.timeout:
            _exit_now(first or signal.SIGTERM, "still running {:g} s after the signal".format(grace))
            return
        if not data:
            return
        for signum in bytearray(data):
            if signum not in STOP_SIGNALS:
                continue
            if first is not None:
                _exit_now(signum, "a second signal")
            first, deadline = signum, time.monotonic() + grace
            stop.set()


def _exit_now(signum: int, why: str) -> None:
    # os.write and os._exit: no lock the blocked main thread may hold (print's, logging's) is needed
    os.write(2, "stopping: {}; exiting now\n".format(why).encode())
    os._exit(128 + signum)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("AWSIoTPythonSDK").setLevel(logging.WARNING)
