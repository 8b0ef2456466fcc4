"""The core's MQTT 3.1.1 broker over mutual TLS, feeding the subscription-table router.

* A client's certificate must chain to the local IoT root CA (TLS layer) and
  ``authorize(client_id, cert_der)`` must accept it; the client id is the thing name.
  Otherwise CONNACK 5 and close.
* A PUBLISH from thing T enters the router as ``Message(source="device:T", ...)``; the broker
  registers each connected client as the router's sink for ``device:T`` and hands it a routed
  message only when one of the client's own MQTT subscriptions matches.
* QoS 0 and 1 (QoS 2 is refused, as by AWS IoT), clean sessions only (no session state kept
  across connections), retained flag ignored, last will routed with the device as source.
* Any protocol violation disconnects that client only.
* PUBLISHes that arrive in a row from one client on one topic and QoS (one read of a pipelining
  client) are routed together (``Router.publish_run``), exactly as one by one: same deliveries,
  order, counters and PUBACKs; any other packet, or a protocol error, ends the run first. A run's
  ``Message`` objects are made only if a sink other than a connected client asks for them.

With a ``client_policy`` (V2: ``aws.greengrass.clientdevices.Auth``) the broker asks it as Moquette
asks the Auth component (aws-greengrass-moquette-mqtt ``ClientDeviceAuthorizer`` + moquette 0.17):
an empty client id gets CONNACK 2; a certificate not attached to the thing, or ``can_connect``
false, gets CONNACK 4 (bad user name or password) and the connection closes; a refused
SUBSCRIBE entry gets 0x80 in the SUBACK (the others are granted); a refused PUBLISH is dropped —
no PUBACK even for QoS 1 — and the connection stays open. A last will is checked as a publish
when it fires (moquette itself does not check it). Without a policy nothing changes (V1).
"""
from __future__ import annotations

import asyncio
import collections.abc
import logging
import ssl
import struct
import threading
import time
from collections import Counter
from itertools import chain, repeat
from typing import Callable, Iterator, Optional, Sequence

from localcore.broker import codec
from localcore.broker.errors import ProtocolError
from localcore.interfaces import ClientPolicy, Message, device
from localcore.router.errors import TopicError
from localcore.router.index import FilterIndex
from localcore.router.topics import validate_filter, validate_topic

log = logging.getLogger(__name__)

MAX_PAYLOAD = 128 * 1024
_MAX_PACKET = MAX_PAYLOAD + 2 + 256 * 4 + 2  # payload + topic (≤256 bytes, UTF-8 headroom) + id
_WRITE_BUFFER_LIMIT = 8 * 1024 * 1024
_U16 = struct.Struct("!H")
_PUBACK_TYPE = b"\x40"  # a PUBACK: this fixed-header byte, remaining length 2, the packet identifier
_PUBACK_LENGTH = b"\x02"
_PUBACK_HEAD = _PUBACK_TYPE + _PUBACK_LENGTH
_GRANTED_CACHE = 4096  # topics per client whose delivery QoS is remembered until its subscriptions change
_PROTOCOLS = {("MQTT", 4), ("MQIsdp", 3)}
# what Moquette answers when the Auth component refuses a CONNECT
# (CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD)
REFUSED_BAD_CREDENTIALS = 4


class _Run:
    """PUBLISHes in a row from one client on one topic and QoS, as the ``Sequence[Message]`` that
    ``Router.publish_run`` takes. A connected client's :meth:`_Client.deliver_run` reads the payloads
    as they are; the ``Message`` objects are made only when another sink asks for them, once, so
    every such sink gets the same objects, as it would from one-by-one routing."""

    __slots__ = ("source", "topic", "qos", "payloads", "_first", "_messages")

    def __init__(self, source: str, topic: str, qos: int, payloads: list[bytes]) -> None:
        self.source = source
        self.topic = topic
        self.qos = qos
        self.payloads = payloads
        self._first: Message | None = None  # run[0] (the router reads its source and topic)
        self._messages: list[Message] | None = None

    def messages(self) -> list[Message]:
        made = self._messages
        if made is None or len(made) != len(self.payloads):
            source, topic, qos = self.source, self.topic, self.qos
            made = [Message(source, topic, payload, qos) for payload in self.payloads]
            if self._first is not None:
                made[0] = self._first
            self._messages = made
        return made

    def __len__(self) -> int:
        return len(self.payloads)

    def __getitem__(self, index):
        if index == 0 and self._messages is None:
            if self._first is None:
                self._first = Message(self.source, self.topic, self.payloads[0], self.qos)
            return self._first
        return self.messages()[index]

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages())


collections.abc.Sequence.register(_Run)


def _packet_ids(first: int, count: int):
    """``count`` outgoing packet identifiers from ``first`` on, 65535 followed by 1."""
    if first + count <= 0x10000:
        return range(first, first + count)
    return chain(range(first, 0x10000), range(1, first + count - 0xFFFF))


class _Client(asyncio.Protocol):
    """One MQTT connection; also the router's sink for its thing while connected."""

    def __init__(self, broker: "Broker") -> None:
        self.broker = broker
        self.transport: asyncio.Transport | None = None
        self.reader = codec.PacketReader(_MAX_PACKET)
        self.reader.group_publishes = True  # a run's PUBLISHes after its first come as MorePublishes
        self.thing: str | None = None
        self.endpoint = ""
        self.peer = "?"
        self.cert_der = b""
        self.subscriptions: FilterIndex[int] = FilterIndex()  # topic filter -> granted QoS
        self._granted: dict[str, int] = {}  # topic -> QoS it is delivered at, -1 none (cache of the above)
        self._prefixes: dict[tuple[str, int, int], bytes] = {}  # (topic, payload size, QoS) -> PUBLISH prefix
        self.will: Message | None = None
        self.keep_alive = 0.0
        self.last_rx = time.monotonic()
        self.closing = False
        self.clean_disconnect = False
        # outgoing packets of this loop tick, written as one TLS write; payloads are not copied until then
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._backlog = 0  # the transport's write buffer after the last flush
        self._flush_scheduled = False
        self._out_own = False  # PUBACKs queued by the read in progress
        # allowed PUBLISHes in a row on one topic and QoS, within one read: routed together
        self._run: list[bytes] | None = None  # their payloads, None when there is no run
        self._run_topic = ""
        self._run_qos = 0
        self._run_acks: list[bytes] = []  # their QoS 1 packet identifiers (2 bytes each), acknowledged
        # once the run is routed
        self._last: tuple[str, int] = ("", 0)  # topic and QoS of the last PUBLISH packet
        self._timer: asyncio.TimerHandle | None = None
        self._next_id = 0

    # -- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.cert_der = der or b""
        self.broker._pending.add(self)
        self._timer = self.broker._loop.call_later(self.broker.connect_timeout, self._connect_timeout)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_rx = time.monotonic()
        try:
            for packet in self.reader.feed(data):
                kind = packet[0]
                if kind == codec.MORE_PUBLISHES:  # the same topic and QoS as the PUBLISH before
                    self._more_publishes(packet)
                    continue
                if self._run is not None:
                    self._end_run()  # what came before this packet is routed before it takes effect
                if kind == codec.PUBLISH and self.thing is not None:
                    self._on_publish(packet)  # the per-message path, ahead of the dispatch chain
                    continue
                self._dispatch(packet)
                if self.closing:
                    return
            if self._run is not None:
                self._end_run()
            if self._out_own:
                self._out_own = False
                self._flush()  # this read's PUBACKs now, not at the next turn of the loop
        except (ProtocolError, TopicError) as exc:
            if self._run is not None:
                self._end_run()  # the packets before the bad one count, as they would one by one
            self.broker._counts["protocol_errors"] += 1
            log.warning("MQTT client %s (%s) disconnected: %s", self.thing or "?", self.peer, exc)
            self.close()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.broker._pending.discard(self)
        if self.thing is not None:
            self.broker._forget(self)
            if not self.clean_disconnect and self.will is not None:
                will, self.will = self.will, None
                policy = self.broker.client_policy
                allowed = policy is None or self.broker._allowed(policy.can_publish, self.thing, will.topic)
                if not allowed:
                    self.broker._counts["publish_refused"] += 1
                    log.info("last will of %s on %s dropped: the client policy refuses it", self.thing,
                             will.topic)
                else:
                    log.info("routing last will of %s on %s", self.thing, will.topic)
                    self.broker._route(will)
            log.info("MQTT client %s (%s) disconnected", self.thing, self.peer)

    # -- outgoing ----------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        self._out.append(data)
        self._out_bytes += len(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.broker._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if not out:
            return
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(b"".join(out))
            self._backlog = transport.get_write_buffer_size()
        out.clear()
        self._out_bytes = 0

    def close(self) -> None:
        """Flush what is queued (a CONNACK refusal) and close the connection."""
        if self.closing:
            return
        self.closing = True
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def deliver(self, message: Message) -> None:
        """Router sink: send ``message`` if one of this client's subscriptions matches (at the lower of
        its QoS and the best matching subscription's; a slow client's backlog over the limit drops)."""
        broker = self.broker
        if broker._loop_thread != threading.get_ident():
            broker._loop.call_soon_threadsafe(self.deliver, message)
            return
        if self.closing or self.transport is None:
            return
        topic = message.topic
        granted = self._granted.get(topic)
        if granted is None:
            granted = self._grant_for(topic)
        if granted < 0:
            broker._not_subscribed += 1
            return
        self._queue(topic, ((message.payload, granted if message.qos else 0),))

    def deliver_run(self, messages: Sequence[Message]) -> None:
        """Router sink for a run of messages on one topic (``Router.publish_run``): what :meth:`deliver`
        does for each in order (QoS the lower of the message's and the best matching subscription's; a
        slow client's backlog over the limit drops), with one subscription lookup for the run."""
        broker = self.broker
        if broker._loop_thread != threading.get_ident():
            broker._loop.call_soon_threadsafe(self.deliver_run, messages)
            return
        if self.closing or self.transport is None:
            return
        if type(messages) is _Run:
            topic = messages.topic
            payloads = messages.payloads
        else:
            topic = messages[0].topic
            payloads = None
        granted = self._granted.get(topic)
        if granted is None:
            granted = self._grant_for(topic)
        if granted < 0:
            broker._not_subscribed += len(messages)
            return
        if payloads is not None:
            qos = granted if messages.qos else 0
            count = len(payloads)
            size = len(payloads[0])
            if count == 1 or len(set(map(len, payloads))) == 1:
                # one size: one prefix, and the run is queued without a step per message when even its
                # last message finds the backlog under the limit (no drop, as one by one)
                key = (topic, size, qos)
                prefix = self._prefixes.get(key)
                if prefix is None:
                    prefix = self._prefix(key)
                each = len(prefix) + size + 2 * qos
                if self._backlog + self._out_bytes + each * (count - 1) <= _WRITE_BUFFER_LIMIT:
                    if qos:
                        first = self._next_id % 0xFFFF + 1
                        self._next_id = (first + count - 2) % 0xFFFF + 1
                        self._out.extend(chain.from_iterable(
                            zip(repeat(prefix, count), map(_U16.pack, _packet_ids(first, count)), payloads)))
                    else:
                        self._out.extend(chain.from_iterable(zip(repeat(prefix, count), payloads)))
                    self._out_bytes += each * count
                    broker._sent += count
                    if not self._flush_scheduled:
                        self._flush_scheduled = True
                        broker._loop.call_soon(self._flush)
                    return
            self._queue(topic, zip(payloads, repeat(qos)))
        else:
            self._queue(topic, ((message.payload, granted if message.qos else 0) for message in messages))

    def _queue(self, topic: str, messages) -> None:
        """Queue ``(payload, QoS)`` PUBLISHes on ``topic`` one by one; over the backlog limit, drop."""
        broker = self.broker
        out = self._out
        key: tuple[str, int, int] | None = None
        prefix = b""
        sent = 0
        for payload, qos in messages:
            size = len(payload)
            if self._backlog + self._out_bytes > _WRITE_BUFFER_LIMIT:
                self._backlog = self.transport.get_write_buffer_size()
                if self._backlog + self._out_bytes > _WRITE_BUFFER_LIMIT:
                    broker._counts["dropped_slow_client"] += 1
                    log.debug("dropped %s for slow client %s", topic, self.thing)
                    continue
            if key is None or key[1] != size or key[2] != qos:
                key = (topic, size, qos)
                prefix = self._prefixes.get(key)  # type: ignore[assignment]
                if prefix is None:
                    prefix = self._prefix(key)
            out.append(prefix)
            if qos:
                self._next_id = self._next_id % 0xFFFF + 1
                out.append(_U16.pack(self._next_id))
                self._out_bytes += 2
            out.append(payload)
            self._out_bytes += len(prefix) + size
            sent += 1
        if sent and not self._flush_scheduled:
            self._flush_scheduled = True
            broker._loop.call_soon(self._flush)
        broker._sent += sent

    def _prefix(self, key: tuple[str, int, int]) -> bytes:
        """The PUBLISH prefix for (topic, payload size, QoS), remembered."""
        prefixes = self._prefixes
        if len(prefixes) >= _GRANTED_CACHE:
            prefixes.clear()
        prefix = prefixes[key] = codec.publish_prefix(*key)
        return prefix

    def _grant_for(self, topic: str) -> int:
        """The QoS ``topic`` is delivered at: the highest QoS granted to a matching subscription, -1
        when none matches; remembered until the subscriptions change."""
        matched = self.subscriptions.match(topic)
        qos = max(matched) if matched else -1
        if len(self._granted) >= _GRANTED_CACHE:
            self._granted.clear()
        self._granted[topic] = qos
        return qos

    # -- timers ------------------------------------------------------------------------------
    def _connect_timeout(self) -> None:
        self._timer = None
        if self.thing is None and not self.closing:
            log.warning("MQTT client %s sent no CONNECT within %.0fs; closing", self.peer,
                        self.broker.connect_timeout)
            self.close()

    def _check_keep_alive(self) -> None:
        self._timer = None
        if self.closing:
            return
        limit = self.keep_alive * 1.5
        idle = time.monotonic() - self.last_rx
        if idle >= limit:
            log.warning("MQTT client %s silent for %.0fs (keep-alive %ds); closing", self.thing, idle,
                        self.keep_alive)
            self.close()
            return
        self._timer = self.broker._loop.call_later(limit - idle, self._check_keep_alive)

    # -- incoming ----------------------------------------------------------------------------
    def _dispatch(self, packet: codec.Packet) -> None:
        kind = packet.type
        if self.thing is None:
            if kind != codec.CONNECT:
                raise ProtocolError(f"first packet is {codec.NAMES.get(kind, kind)}, not CONNECT")
            self._on_connect(codec.decode_connect(packet))
        elif kind == codec.PUBLISH:
            self._on_publish(packet)
        elif kind == codec.PUBACK:
            if len(packet.body) != 2:  # nothing to do with a well-formed one: QoS 1 out has no session
                codec.decode_packet_id(packet)  # raises, saying what is wrong
        elif kind == codec.SUBSCRIBE:
            self._on_subscribe(packet)
        elif kind == codec.UNSUBSCRIBE:
            packet_id, filters = codec.decode_unsubscribe(packet)
            for topic_filter in filters:
                self.subscriptions.pop(topic_filter, None)
            self._granted.clear()
            self._send(codec.encode_unsuback(packet_id))
        elif kind == codec.PINGREQ:
            if packet.body or packet.flags:
                raise ProtocolError("PINGREQ: must be empty with flags 0")
            self._send(codec.PINGRESP_BYTES)
        elif kind == codec.DISCONNECT:
            self.clean_disconnect = True
            self.will = None
            self.close()
        elif kind == codec.CONNECT:
            raise ProtocolError("second CONNECT on one connection")
        else:
            name = codec.NAMES.get(kind, f"packet type {kind}")
            raise ProtocolError(f"{name} is not accepted by this server")

    def _refuse(self, code: int, reason: str) -> None:
        self.broker._counts["refused"] += 1
        log.warning("MQTT CONNECT from %s refused (CONNACK %d): %s", self.peer, code, reason)
        self._send(codec.encode_connack(code))
        self.close()

    def _on_connect(self, connect: codec.Connect) -> None:
        if (connect.protocol_name, connect.level) not in _PROTOCOLS:
            if connect.protocol_name in ("MQTT", "MQIsdp"):
                self._refuse(codec.REFUSED_PROTOCOL_VERSION,
                             f"protocol level {connect.level} is not supported (3.1.1 and 3.1 are)")
                return
            raise ProtocolError(f"CONNECT: unknown protocol name {connect.protocol_name!r}")
        client_id = connect.client_id
        policy = self.broker.client_policy
        if not client_id:
            self._refuse(codec.REFUSED_IDENTIFIER if policy is not None else codec.REFUSED_NOT_AUTHORIZED,
                         "empty client id; it must be the thing name")
            return
        if not self.broker._authorize(client_id, self.cert_der):
            if policy is not None:
                self._refuse(REFUSED_BAD_CREDENTIALS,
                             f"client id {client_id!r} is not a thing whose certificate the client "
                             "presented")
            else:
                self._refuse(codec.REFUSED_NOT_AUTHORIZED,
                             f"client id {client_id!r} is not a thing of this group whose certificate "
                             "the client presented")
            return
        # the session's thing is the one the client id names (CreateIoTThingSession)
        if policy is not None and not self.broker._allowed(policy.can_connect, client_id, client_id):
            self._refuse(REFUSED_BAD_CREDENTIALS,
                         f"the client policy does not allow {client_id!r} to connect (mqtt:connect)")
            return
        if connect.will_topic is not None:
            validate_topic(connect.will_topic)
            if len(connect.will_payload) > MAX_PAYLOAD:
                raise ProtocolError("CONNECT: will message exceeds 128 KB")
            if connect.will_qos > 1:
                raise ProtocolError("CONNECT: will QoS 2 is not supported")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.thing = client_id
        self.endpoint = device(client_id)
        if connect.will_topic is not None:
            self.will = Message(self.endpoint, connect.will_topic, connect.will_payload, connect.will_qos)
        self.keep_alive = float(connect.keep_alive)
        self.reader.skip_pubacks = True  # from now on a PUBACK acknowledges what we sent; nothing to do
        self.broker._register(self)
        self._send(codec.encode_connack(codec.ACCEPTED))
        if self.keep_alive:
            self._timer = self.broker._loop.call_later(self.keep_alive * 1.5, self._check_keep_alive)
        log.info("MQTT client %s connected from %s (MQTT level %d)", client_id, self.peer, connect.level)

    def _on_publish(self, packet: codec.Packet) -> None:
        # a PUBLISH packet: one decode, the topic checked (validate_topic remembers valid ones); the
        # MorePublishes after it, if any, share its topic and QoS (_more_publishes)
        topic, payload, qos, packet_id, _retain, _dup = codec.decode_publish(packet)
        if qos == 2:
            raise ProtocolError("PUBLISH: QoS 2 is not supported")
        validate_topic(topic)
        if len(payload) > MAX_PAYLOAD:
            raise ProtocolError(f"PUBLISH: payload of {len(payload)} bytes exceeds 128 KB")
        self._last = (topic, qos)
        self._accept(topic, payload, qos, _U16.pack(packet_id) if qos else b"")

    def _accept(self, topic: str, payload: bytes, qos: int, packet_id: bytes) -> None:
        """A checked PUBLISH: the policy asked (it remembers allowed ones), then it joins the run; routing
        and the PUBACK come with the run (_end_run)."""
        broker = self.broker
        broker._received += 1
        policy = broker.client_policy
        if policy is not None:
            try:
                allowed = policy.can_publish(self.thing, topic)
            except Exception:  # a policy bug must refuse, not crash the connection handler
                log.exception("client policy can_publish(%r, %r) failed; refusing", self.thing, topic)
                allowed = False
            if not allowed:
                # Moquette: logged, released, no PUBACK; the connection stays open
                broker._counts["publish_refused"] += 1
                return
        run = self._run
        if run is None:
            self._run = [payload]
            self._run_topic = topic
            self._run_qos = qos
        else:
            run.append(payload)
        if qos:
            self._run_acks.append(packet_id)

    def _more_publishes(self, more: codec.MorePublishes) -> None:
        """PUBLISHes after the last PUBLISH packet with its topic and QoS. When that one joined the run,
        these do too with no more checks (the topic is valid and the policy's answer is the one just
        given). Otherwise, or when a payload is over the limit, one by one as if each came alone: the
        policy is asked until it allows one, and an oversized payload is a protocol error after the
        ones before it have joined the run."""
        payloads = more.payloads
        run = self._run
        if run is not None and max(map(len, payloads)) <= MAX_PAYLOAD:
            self.broker._received += len(payloads)
            run += payloads
            if more.packet_ids:
                self._run_acks.append(more.packet_ids)
            return
        topic, qos = self._last
        ids = more.packet_ids
        for index, payload in enumerate(payloads):
            if len(payload) > MAX_PAYLOAD:
                raise ProtocolError(f"PUBLISH: payload of {len(payload)} bytes exceeds 128 KB")
            packet_id = ids[2 * index:2 * index + 2]
            run = self._run
            if run is None:  # not allowed so far: asked again, as a PUBLISH of its own would be
                self._accept(topic, payload, qos, packet_id)
                continue
            self.broker._received += 1
            run.append(payload)
            if qos:
                self._run_acks.append(packet_id)

    def _end_run(self) -> None:
        """Route the run (Router.publish_run: as one publish per message, in order), then acknowledge
        its QoS 1 messages."""
        payloads, acks = self._run, self._run_acks
        self._run, self._run_acks = None, []
        topic, qos = self._run_topic, self._run_qos
        publish_run = getattr(self.broker.router, "publish_run", None)
        if publish_run is None or len(payloads) == 1:
            for payload in payloads:
                self.broker._route(Message(self.endpoint, topic, payload, qos))
        else:
            try:
                publish_run(_Run(self.endpoint, topic, qos, payloads))
            except (TopicError, ValueError) as exc:
                log.warning("router refused %s from %s: %s", topic, self.endpoint, exc)
        if acks:
            # the run's PUBACKs in one buffer: 0x40 0x02 and each identifier as it came
            ids = acks[0] if len(acks) == 1 else b"".join(acks)
            count = len(ids) // 2
            if count == 1:
                pubacks = _PUBACK_HEAD + ids
            else:
                pubacks = bytearray(4 * count)
                pubacks[0::4] = _PUBACK_TYPE * count
                pubacks[1::4] = _PUBACK_LENGTH * count
                pubacks[2::4] = ids[0::2]
                pubacks[3::4] = ids[1::2]
            self._out.append(pubacks)
            self._out_bytes += 4 * count
            self._out_own = True  # written at the end of this read (data_received)

    def _on_subscribe(self, packet: codec.Packet) -> None:
        packet_id, requested = codec.decode_subscribe(packet)
        codes: list[int] = []
        policy = self.broker.client_policy
        for topic_filter, qos in requested:
            if qos > 2:
                raise ProtocolError(f"SUBSCRIBE: QoS {qos} for {topic_filter!r} is invalid")
            if policy is not None and not self.broker._allowed(policy.can_subscribe, self.thing,
                                                               topic_filter):
                self.broker._counts["subscribe_refused"] += 1
                codes.append(0x80)  # Moquette asks the policy before it checks the filter
                continue
            try:
                validate_filter(topic_filter)
            except TopicError as exc:
                log.warning("client %s: SUBSCRIBE %r refused: %s", self.thing, topic_filter, exc)
                codes.append(0x80)
                continue
            granted = min(qos, 1)
            self.subscriptions[topic_filter] = granted
            self._granted.clear()
            codes.append(granted)
        self._send(codec.encode_suback(packet_id, codes))


class Broker:
    """MQTT broker of the local core.

    ``router`` needs ``publish(Message)``, ``attach(endpoint, sink)`` and
    ``detach(endpoint, sink)`` (:class:`localcore.router.Router`). ``authorize(thing, cert_der)``
    decides whether the TLS client certificate (DER) belongs to ``thing`` and whether the thing
    may connect (group member or the core); see :class:`localcore.broker.auth.CertificateAuthorizer`.
    ``client_policy`` (a :class:`localcore.platform.ClientPolicy`, V2) is asked per CONNECT, PUBLISH
    and SUBSCRIBE entry (see the module docstring); ``None`` keeps V1 behaviour. It may be replaced
    while running (a new deployment); connected clients keep their granted subscriptions.
    """

    def __init__(
        self,
        router,
        *,
        ssl_context: ssl.SSLContext,
        authorize: Callable[[str, bytes], bool],
        host: str = "127.0.0.1",
        port: int = 8883,
        connect_timeout: float = 10.0,
        client_policy: Optional["ClientPolicy"] = None,
    ) -> None:
        self.router = router
        self.ssl_context = ssl_context
        self.authorize = authorize
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.client_policy = client_policy
        self._server: asyncio.base_events.Server | None = None
        self._clients: dict[str, _Client] = {}
        self._pending: set[_Client] = set()
        self._counts: Counter[str] = Counter()
        # the per-message counters, plain ints (only the loop thread touches them); status() merges them
        self._received = self._sent = self._not_subscribed = 0
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._loop_thread = 0
        self.state = "new"

    async def start(self) -> None:
        self.state = "starting"
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._server = await self._loop.create_server(
            lambda: _Client(self), self.host, self.port, ssl=self.ssl_context,
            ssl_handshake_timeout=self.connect_timeout, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        self.state = "started"
        log.info("MQTT broker listening on %s:%d (TLS, client certificates required)", self.host, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self.state = "stopping"
        self._server.close()
        for client in list(self._clients.values()) + list(self._pending):
            client.clean_disconnect = True  # the core going away is not the device dying
            if client.transport is not None:
                client.transport.abort()
        try:
            await asyncio.wait_for(self._server.wait_closed(), 5)
        except asyncio.TimeoutError:
            log.warning("MQTT broker: connections still closing after 5s")
        self._server = None
        self.state = "stopped"

    # -- called by clients -------------------------------------------------------------------
    def _authorize(self, thing: str, cert_der: bytes) -> bool:
        try:
            return bool(self.authorize(thing, cert_der))
        except Exception:  # an authorizer bug must refuse, not crash the connection handler
            log.exception("authorize(%r) failed; refusing the connection", thing)
            return False

    @staticmethod
    def _allowed(check: Callable[[str, str], bool], thing: str, what: str) -> bool:
        try:
            return bool(check(thing, what))
        except Exception:  # a policy bug must refuse, not crash the connection handler
            log.exception("client policy %s(%r, %r) failed; refusing", getattr(check, "__name__", check),
                          thing, what)
            return False

    def _register(self, client: _Client) -> None:
        self._pending.discard(client)
        old = self._clients.get(client.thing)  # type: ignore[arg-type]
        if old is not None and old is not client:
            log.info("MQTT client %s connected again; closing its previous connection", client.thing)
            self._forget(old)
            old.close()
        self._clients[client.thing] = client  # type: ignore[index]
        self.router.attach(client.endpoint, client)
        self._counts["connections"] += 1

    def _forget(self, client: _Client) -> None:
        if self._clients.get(client.thing) is client:  # type: ignore[arg-type]
            del self._clients[client.thing]  # type: ignore[arg-type]
        self.router.detach(client.endpoint, client)

    def _route(self, message: Message) -> None:
        try:
            self.router.publish(message)
        except (TopicError, ValueError) as exc:
            log.warning("router refused %s from %s: %s", message.topic, message.source, exc)

    # -- introspection -----------------------------------------------------------------------
    def connected(self) -> list[str]:
        return sorted(self._clients)

    def status(self) -> dict:
        return {
            "state": self.state,
            "host": self.host,
            "port": self.port,
            "connected": self.connected(),
            "counts": {**dict(self._counts), **{name: n for name, n in (
                ("received", self._received), ("sent", self._sent), ("not_subscribed", self._not_subscribed))
                if n}},
            **({"client_policy": self.client_policy.status()} if self.client_policy is not None else {}),
        }
