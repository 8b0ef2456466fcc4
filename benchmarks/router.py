"""Device-to-device MQTT throughput over TLS: our broker + router (V1, V2) vs mosquitto vs amqtt.

Each scenario: one subscriber and 1 or 10 publishers, every client a paho-mqtt client in its own
process over TLS with client certificates, 256-byte payloads, QoS 0 or 1. Publisher ``Pub<i>``
publishes on ``bench/Pub<i>``; the subscriber ``Sub`` subscribes to those ten topics. The group is
the seed group plus these devices and one subscription ``Pub<i> → Sub`` on ``bench/Pub<i>`` each:

* **v1**: our broker routes through that subscription table (the seed's routes included) and checks
  the subscriber's own subscription, as in a V1 group;
* **v2**: the same group converted to its V2 deployment (``group.v2.convert``) and read back by the V2
  reader (``localcore.readers.v2.setup_from_deployment``): routes synthesised from the deployment, and
  the broker asks the ``clientdevices.Auth`` policy the converter wrote (``localcore.clientauth``) on
  every CONNECT, SUBSCRIBE and PUBLISH, as a V2 core's Moquette does.

The figure is messages/s received by the subscriber, measured from the moment the publishers are
released to the last message; v1 and v2 (and the comparison brokers) are measured in interleaved
rounds in one run and printed side by side with ratios; the goal v2 ≥ 0.90 × v1 is printed as met or not.

    .venv/bin/python benchmarks/router.py [--platform v1|v2|both] [--messages 20000] [--repeat 3]
        [--client paho|raw] [--window 100] [--qos 0|1] [--baseline REV] [--uvloop]
        [--no-mosquitto] [--no-amqtt] [--profile-dir DIR]

``--client raw`` replaces the paho clients with pipelining ones (asyncio streams + ssl, the same
mutual TLS): every publisher is a task of one process writing batches of PUBLISHes back to back (QoS 1:
at most ``--window`` unacknowledged per publisher), the subscriber counts frames and acknowledges
QoS 1, so the broker, not the Python clients, sets the pace; its goals are printed as met or not
(QoS 0 ≥ 0.8 × mosquitto, broker CPU ≤ 7 µs per message). ``--baseline REV`` also runs our brokers as
committed at git revision REV (``v1@REV``, ``v2@REV``: that revision's own code), so before and after
are measured in one run; ``--uvloop`` also runs them on uvloop (``v1+uvloop``) when it is installed.

Needs Debian ``mosquitto`` (apt-get install -y mosquitto) and amqtt in a separate venv
(python3 -m venv /tmp/amqtt-venv && /tmp/amqtt-venv/bin/pip install amqtt); a missing broker is
skipped with a note. amqtt only asks for client certificates (CERT_OPTIONAL); mosquitto is set to
require them, like ours. Not a test: numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing as mp
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import platforms  # noqa: E402  (benchmarks/platforms.py: the seed group per platform)

PAYLOAD = b"x" * 256
PUBLISHERS = [f"Pub{i}" for i in range(10)]
TOPICS = [f"bench/{p}" for p in PUBLISHERS]
AMQTT = os.environ.get("AMQTT_BIN", "/tmp/amqtt-venv/bin/amqtt")
PROFILE_ENV = "BENCH_ROUTER_PROFILE_DIR"  # set by --profile-dir: our brokers run under cProfile
LOOP_ENV = "BENCH_ROUTER_LOOP"  # "uvloop": our broker runs on uvloop (a "+uvloop" broker kind)
BASELINES: dict[str, Path] = {}  # git revision -> its tree, for "<platform>@<rev>" broker kinds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(directory: Path) -> None:
    from localcore.pki import LocalPKI

    pki = LocalPKI(directory / "pki")
    server = pki.group_ca("bench").issue_server("core", ["127.0.0.1", "localhost"])
    server.write(directory / "server.pem", directory / "server.key")
    (directory / "root.pem").write_bytes(pki.root.cert_pem)
    (directory / "group-ca.pem").write_bytes(pki.group_ca("bench").cert_pem)
    for thing in ["Sub", *PUBLISHERS]:
        pki.root.issue_client(thing).write(directory / thing / "cert.pem", directory / thing / "key.pem")


def bench_group(directory: Path, platform: str):
    """(routes, client policy or None, device things) of the seed group + the benchmark's devices."""
    from localcore.core import routes_of

    group = platforms.seed_plus(["Sub", *PUBLISHERS],
                                [{"source": p, "target": "Sub", "topic": t}
                                 for p, t in zip(PUBLISHERS, TOPICS)],
                                root=platforms.ROOT, file=directory / f"group-{platform}.yaml")
    things = [d.thing for d in group.devices]
    if platform == "v1":
        return routes_of(group), None, things
    setup = platforms.v2_setup(group, platforms.ROOT)
    return routes_of(setup.group), setup.profile.client_policy, things


# -- our broker, served from a child process --------------------------------------------------
def serve_ours(directory: Path, port: int, platform: str) -> None:
    from localcore.broker import Broker, CertificateAuthorizer, server_ssl_context
    from localcore.router import Router

    routes, policy, things = bench_group(directory, platform)
    ctx = server_ssl_context((directory / "server.pem").read_bytes(), (directory / "server.key").read_bytes(),
                             (directory / "root.pem").read_bytes())
    auth = CertificateAuthorizer({t: set() for t in things})
    extra = {"client_policy": policy} if policy is not None else {}

    async def main() -> None:
        broker = Broker(Router(routes), ssl_context=ctx, authorize=auth, port=port, **extra)
        await broker.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await broker.stop()

    run = asyncio.run
    if os.environ.get(LOOP_ENV) == "uvloop":
        import uvloop

        run = uvloop.run
    profile_dir = os.environ.get(PROFILE_ENV)
    if not profile_dir:
        run(main())
        return
    import cProfile

    # CPU time, not wall time: on a shared machine a process is often descheduled inside a send()
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        run(main())
    finally:
        profiler.disable()
        profiler.dump_stats(str(Path(profile_dir) / f"broker-{platform}.prof"))


def start_broker(kind: str, directory: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = None
    if _platform_of(kind):
        # "v1", "v2@<rev>" (that revision's own router.py serves it), "v1+uvloop"
        base, _, loop = kind.partition("+")
        platform, _, rev = base.partition("@")
        script = BASELINES[rev] / "benchmarks" / "router.py" if rev else Path(__file__)
        cmd = [sys.executable, str(script), "--serve-ours", str(directory), str(port), platform]
        env = dict(os.environ, **{LOOP_ENV: loop}) if loop else None
    elif kind == "mosquitto":
        conf = directory / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\n"
            f"cafile {directory / 'root.pem'}\ncertfile {directory / 'server.pem'}\n"
            f"keyfile {directory / 'server.key'}\nrequire_certificate true\nallow_anonymous true\n"
            "max_queued_messages 0\nmax_inflight_messages 0\npersistence false\nlog_type error\n"
            "user root\n")  # keep access to the 0600 key in the private temp dir
        cmd = ["mosquitto", "-c", str(conf)]
    else:
        conf = directory / "amqtt.yaml"
        conf.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{port}\n    ssl: true\n    cafile: {directory / 'root.pem'}\n"
            f"    certfile: {directory / 'server.pem'}\n    keyfile: {directory / 'server.key'}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n")
        cmd = [AMQTT, "-c", str(conf)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} broker exited with {proc.returncode}: {' '.join(cmd)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} broker did not listen on {port} within 20s")


def _platform_of(kind: str) -> str:
    """``v1`` / ``v2`` for one of our broker kinds (``v2``, ``v2@<rev>``, ``v2+uvloop``), else ''."""
    platform = kind.partition("+")[0].partition("@")[0]
    return platform if platform in platforms.PLATFORMS else ""


def extract_revision(rev: str, dest: Path) -> Path:
    """The repository's tree at git revision ``rev`` (committed files only) under ``dest``."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def stop_broker(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# -- clients ------------------------------------------------------------------------------------
def _client(directory: Path, thing: str, port: int):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=thing)
    client.tls_set(ca_certs=str(directory / "group-ca.pem"), certfile=str(directory / thing / "cert.pem"),
                   keyfile=str(directory / thing / "key.pem"), cert_reqs=ssl.CERT_REQUIRED)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port, keepalive=120)
    return client


def subscriber(directory: Path, port: int, qos: int, expected: int, ready, result) -> None:
    client = _client(directory, "Sub", port)
    state = {"n": 0, "last": 0.0}

    def on_message(c, u, m):
        state["n"] += 1
        state["last"] = time.time()

    client.on_message = on_message
    client.on_subscribe = lambda *a: ready.set()
    client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, qos) for t in TOPICS])
    client.loop_start()
    began = time.time()
    while state["n"] < expected:
        time.sleep(0.1)
        now = time.time()
        if state["last"] and now - state["last"] > 10:
            break  # nothing more for 10 s: the rest is lost
        if now - began > 240:
            break
    client.loop_stop()
    client.disconnect()
    result.put((state["n"], state["last"]))


def publisher(directory: Path, thing: str, port: int, qos: int, count: int, go, connected) -> None:
    client = _client(directory, thing, port)
    client.loop_start()
    connected.release()
    go.wait()
    info = None
    for i in range(count):
        info = client.publish(f"bench/{thing}", PAYLOAD, qos)
    if info is not None:
        info.wait_for_publish(120)
    time.sleep(0.5)  # let QoS 0 data leave the socket before disconnecting
    client.loop_stop()
    client.disconnect()


# -- raw pipelining clients (asyncio streams + ssl): the brokers, not the clients, set the pace ---------
RAW_BATCH = 64  # packets per write


def _mqtt_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw


def _mqtt_packet(first: int, body: bytes) -> bytes:
    size, length = len(body), bytearray()
    while True:
        byte, size = size % 128, size // 128
        length.append(byte | (0x80 if size else 0))
        if not size:
            return bytes((first,)) + bytes(length) + body


def _raw_context(directory: Path, thing: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(directory / "group-ca.pem"))
    ctx.load_cert_chain(str(directory / thing / "cert.pem"), str(directory / thing / "key.pem"))
    return ctx


async def _raw_connect(directory: Path, thing: str, port: int):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=_raw_context(directory, thing)), 30)
    body = _mqtt_string("MQTT") + bytes((4, 0x02)) + (120).to_bytes(2, "big") + _mqtt_string(thing)
    writer.write(_mqtt_packet(0x10, body))
    connack = await asyncio.wait_for(reader.readexactly(4), 30)
    if connack[0] != 0x20 or connack[3] != 0:
        raise RuntimeError(f"{thing}: CONNECT refused ({connack.hex()})")
    return reader, writer


async def _raw_close(writer: asyncio.StreamWriter) -> None:
    writer.write(b"\xe0\x00")  # DISCONNECT: a clean end, no last will
    try:
        await asyncio.wait_for(writer.drain(), 10)
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 10)
    except (OSError, asyncio.TimeoutError, ssl.SSLError):
        pass  # the broker may close first; the figures are already taken


def _publish_prefix(topic: str, qos: int) -> bytes:
    """A PUBLISH's bytes up to its packet identifier (QoS 1) or payload (QoS 0)."""
    whole = _mqtt_packet(0x30 | (qos << 1), _mqtt_string(topic) + b"\0\0" * qos + PAYLOAD)
    return whole[:len(whole) - len(PAYLOAD) - 2 * qos]


async def _raw_subscribe_run(directory: Path, port: int, qos: int, expected: int, ready, result) -> None:
    reader, writer = await _raw_connect(directory, "Sub", port)
    writer.write(_mqtt_packet(0x82, (1).to_bytes(2, "big")
                              + b"".join(_mqtt_string(t) + bytes((qos,)) for t in TOPICS)))
    suback = await asyncio.wait_for(reader.readexactly(4 + len(TOPICS)), 30)
    if suback[0] != 0x90 or any(code == 0x80 for code in suback[4:]):
        raise RuntimeError(f"Sub: SUBSCRIBE refused ({suback.hex()})")
    ready.set()
    received, last, buf = 0, 0.0, bytearray()
    began = time.time()
    while received < expected and time.time() - began < 240:
        try:
            chunk = await asyncio.wait_for(reader.read(1 << 18), 10)  # nothing for 10 s: the rest is lost
        except asyncio.TimeoutError:
            break
        if not chunk:
            break
        last = time.time()
        buf += chunk
        pos, end, acks = 0, len(buf), []
        while end - pos >= 2:
            length, shift, i = 0, 0, pos + 1
            while i < end:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            else:
                break
            if i + length > end:
                break
            if buf[pos] >> 4 == 3:
                received += 1
                if buf[pos] & 0x06:  # QoS 1: acknowledge, as a real subscriber does
                    topic_end = i + 2 + int.from_bytes(buf[i:i + 2], "big")
                    acks.append(b"\x40\x02" + bytes(buf[topic_end:topic_end + 2]))
            pos = i + length
        del buf[:pos]
        if acks:
            writer.write(b"".join(acks))
    await _raw_close(writer)
    result.put((received, last))


def raw_subscriber(directory: Path, port: int, qos: int, expected: int, ready, result) -> None:
    asyncio.run(_raw_subscribe_run(directory, port, qos, expected, ready, result))


async def _raw_publish_one(reader, writer, thing: str, qos: int, count: int, window: int) -> None:
    prefix = _publish_prefix(f"bench/{thing}", qos)
    if qos == 0:
        batch = (prefix + PAYLOAD) * RAW_BATCH
        sent = 0
        while sent < count:
            n = min(RAW_BATCH, count - sent)
            writer.write(batch if n == RAW_BATCH else batch[:n * (len(prefix) + len(PAYLOAD))])
            await writer.drain()
            sent += n
        return
    acked, sent, room = 0, 0, asyncio.Event()

    async def read_acks() -> None:
        nonlocal acked
        pending = b""
        while acked < count:
            data = await reader.read(1 << 16)
            if not data:
                raise RuntimeError(f"{thing}: connection closed with {count - acked} PUBACKs missing")
            data = pending + data
            whole = len(data) // 4 * 4
            if data[:whole:4].count(0x40) != whole // 4:  # every packet to a publisher is a PUBACK
                raise RuntimeError(f"{thing}: expected PUBACKs, got {data[:8].hex()}")
            acked += whole // 4
            pending = data[whole:]
            room.set()

    acks = asyncio.ensure_future(read_acks())
    try:
        while sent < count:
            free = window - (sent - acked)
            if free <= 0:
                room.clear()
                await asyncio.wait_for(room.wait(), 30)
                continue
            n = min(free, RAW_BATCH, count - sent)
            writer.write(b"".join(prefix + ((sent + k) % 0xFFFF + 1).to_bytes(2, "big") + PAYLOAD
                                  for k in range(n)))
            sent += n
            await writer.drain()
        await asyncio.wait_for(acks, 60)
    finally:
        acks.cancel()


async def _raw_publish_run(directory: Path, port: int, qos: int, things, count: int, window: int,
                           go, connected) -> None:
    conns = []
    for thing in things:
        conns.append(await _raw_connect(directory, thing, port))
        connected.release()
    await asyncio.to_thread(go.wait, 60)
    await asyncio.gather(*(_raw_publish_one(r, w, t, qos, count, window) for (r, w), t in zip(conns, things)))
    await asyncio.gather(*(_raw_close(w) for _, w in conns))


def raw_publishers(directory: Path, port: int, qos: int, things, count: int, window: int, go,
                   connected) -> None:
    """Every publisher of the scenario as one task of one asyncio process (each its own connection)."""
    asyncio.run(_raw_publish_run(directory, port, qos, things, count, window, go, connected))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; 0.0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_scenario(directory: Path, port: int, qos: int, npub: int, total: int, client: str = "paho",
                 window: int = 100) -> float:
    """Messages/s the subscriber received (negative when some were lost)."""
    ctx = mp.get_context("spawn")
    ready, go, result = ctx.Event(), ctx.Event(), ctx.Queue()
    connected = ctx.Semaphore(0)
    per = total // npub
    sub_target = raw_subscriber if client == "raw" else subscriber
    sub = ctx.Process(target=sub_target, args=(directory, port, qos, per * npub, ready, result))
    sub.start()
    if not ready.wait(30):
        sub.terminate()
        raise RuntimeError("subscriber did not subscribe within 30s")
    if client == "raw":
        pubs = [ctx.Process(target=raw_publishers,
                            args=(directory, port, qos, PUBLISHERS[:npub], per, window, go, connected))]
    else:
        pubs = [ctx.Process(target=publisher, args=(directory, PUBLISHERS[i], port, qos, per, go, connected))
                for i in range(npub)]
    for p in pubs:
        p.start()
    for _ in range(npub):
        if not connected.acquire(timeout=30):
            raise RuntimeError("a publisher did not connect within 30s")
    time.sleep(0.3)
    start = time.time()
    go.set()
    received, last = result.get(timeout=300)
    for p in pubs + [sub]:
        p.join(30)
        if p.is_alive():
            p.kill()
    if received == 0:
        return 0.0
    rate = received / max(last - start, 1e-6)
    lost = per * npub - received
    return rate if lost == 0 else -rate  # negative marks lost messages


RAW_GOAL_MOSQUITTO = 0.80  # raw clients, QoS 0: ours ≥ 0.8 × mosquitto
RAW_GOAL_CPU_US = 7.0  # raw clients: broker CPU ≤ 7 µs per message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=("paho", "raw"), default="paho",
                        help="paho: a paho-mqtt client per process; raw: pipelining asyncio clients (all "
                             "publishers in one process), so the broker sets the pace (default paho)")
    parser.add_argument("--window", type=int, default=100,
                        help="raw QoS 1: PUBLISHes in flight per publisher before it waits for PUBACKs")
    parser.add_argument("--messages", type=int,
                        help="messages per scenario (default 20000 paho, 100000 raw)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs; the median is reported")
    parser.add_argument("--qos", type=int, choices=(0, 1), action="append",
                        help="only the scenarios of this QoS (repeatable; default 0 and 1)")
    parser.add_argument("--no-mosquitto", action="store_true")
    parser.add_argument("--no-amqtt", action="store_true")
    platforms.add_platform_argument(parser)
    parser.add_argument("--baseline", metavar="REV",
                        help="also measure our brokers as of git revision REV (its own code and router.py), "
                             "as <platform>@REV: before/after in one run")
    parser.add_argument("--uvloop", action="store_true",
                        help="also measure our brokers on uvloop (<platform>+uvloop)")
    parser.add_argument("--profile-dir", help="run our brokers under cProfile; broker-<platform>.prof goes "
                                              "here (slows them: to find where time goes, not for figures)")
    parser.add_argument("--serve-ours", nargs=3, metavar=("DIR", "PORT", "PLATFORM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ours:
        serve_ours(Path(args.serve_ours[0]), int(args.serve_ours[1]), args.serve_ours[2])
        return
    messages = args.messages or (100_000 if args.client == "raw" else 20_000)
    if not 1 <= messages <= 2_000_000 or not 1 <= args.window <= 65_535:
        raise SystemExit("--messages must be 1..2000000 and --window 1..65535")

    if args.profile_dir:
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
        os.environ[PROFILE_ENV] = str(Path(args.profile_dir).resolve())
    ours = platforms.platforms_of(args.platform)
    if args.uvloop and importlib.util.find_spec("uvloop") is None:
        print("uvloop not installed (.venv/bin/pip install uvloop): the +uvloop brokers are skipped")
        args.uvloop = False
    variants = [""] + ([f"@{args.baseline}"] if args.baseline else []) + (["+uvloop"] if args.uvloop else [])
    brokers = [p + v for v in variants for p in ours]
    if not args.no_mosquitto:
        if shutil.which("mosquitto"):
            brokers.append("mosquitto")
        else:
            print("mosquitto not installed (apt-get install -y mosquitto): skipped")
    if not args.no_amqtt:
        if os.path.exists(AMQTT):
            brokers.append("amqtt")
        else:
            print(f"amqtt not found at {AMQTT}: skipped")
    scenarios = [(q, n) for q in sorted(set(args.qos or (0, 1))) for n in (1, 10)]
    runs: dict[tuple[str, int, int], list[float]] = {}
    lost: set[tuple[str, int, int]] = set()
    cpu_us: dict[tuple[str, int, int], list[float]] = {}
    load_before = os.getloadavg()[0]  # other work on the machine skews every column; it is printed
    with tempfile.TemporaryDirectory(prefix="bench-router-") as tmp:
        directory = Path(tmp)
        make_certs(directory)
        if args.baseline:
            BASELINES[args.baseline] = extract_revision(args.baseline, directory / "baseline")
        procs: dict[str, tuple[subprocess.Popen, int]] = {}
        try:
            for kind in brokers:
                procs[kind] = start_broker(kind, directory)
            # interleaved repetitions, so a busy moment of the machine hits every broker alike
            for rep in range(args.repeat):
                for qos, npub in scenarios:
                    # rotate who goes first each round: a warm-up or a busy moment favours no broker
                    for kind in brokers[rep % len(brokers):] + brokers[:rep % len(brokers)]:
                        cpu0 = cpu_seconds(procs[kind][0].pid)
                        rate = run_scenario(directory, procs[kind][1], qos, npub, messages, args.client,
                                            args.window)
                        key = (kind, qos, npub)
                        runs.setdefault(key, []).append(abs(rate))
                        # the broker's own CPU per message: far less sensitive to the shared machine
                        # than msg/s (TLS handshakes of the scenario's clients included)
                        cpu_us.setdefault(key, []).append(
                            (cpu_seconds(procs[kind][0].pid) - cpu0) / messages * 1e6)
                        if rate < 0:
                            lost.add(key)
                        print(f"run {rep + 1} {kind:14s} QoS{qos} {npub:2d}->1: {abs(rate):10.0f} msg/s, "
                              f"broker CPU {cpu_us[key][-1]:5.1f} µs/msg"
                              + ("  (messages lost)" if rate < 0 else ""), flush=True)
        finally:
            for proc, _ in procs.values():
                stop_broker(proc)
    if lost:
        print("messages were lost in:", ", ".join(f"{k} QoS{q} {n}->1" for k, q, n in sorted(lost)))
    print()
    print(f"{args.client} clients{f' (QoS 1 window {args.window})' if args.client == 'raw' else ''}; "
          f"median of {args.repeat} interleaved runs, {messages} messages of 256 B per run; "
          f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs")
    report(runs, cpu_us, brokers, ours, variants, scenarios, args.client)


def report(runs, cpu_us, brokers, ours, variants, scenarios, client) -> None:
    """The msg/s table (with ratios to each comparison broker and v2/v1 per variant) and the CPU table."""
    rate = {key: statistics.median(values) for key, values in runs.items()}
    cpu = {key: statistics.median(values) for key, values in cpu_us.items()}
    mine = [b for b in brokers if _platform_of(b)]
    others = [b for b in brokers if not _platform_of(b)]
    both = len(ours) == 2

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "n/a"

    for title, values, fmt in (("msg/s received by the subscriber", rate, "{:.0f}"),
                               ("broker CPU µs per message (user + system of the broker process, "
                                "whole scenario)", cpu, "{:.1f}")):
        cols = [f"{b}" for b in brokers]
        cols += [f"{m}/{o}" for o in others for m in mine]
        cols += [f"v2/v1{v}" for v in variants] if both else []
        cols += [f"{p}/{p}{v}" for v in variants[1:] for p in ours]
        print()
        print(title)
        print("| scenario | " + " | ".join(cols) + " |")
        print("|---|" + "---:|" * len(cols))
        for qos, npub in scenarios:
            cells = [f"QoS {qos}, {npub}→1"] + [fmt.format(values[(b, qos, npub)]) for b in brokers]
            cells += [ratio(values[(m, qos, npub)], values[(o, qos, npub)]) for o in others for m in mine]
            if both:
                cells += [ratio(values[(f"v2{v}", qos, npub)], values[(f"v1{v}", qos, npub)]) for v in variants]
            cells += [ratio(values[(p, qos, npub)], values[(p + v, qos, npub)]) for v in variants[1:] for p in ours]
            print("| " + " | ".join(cells) + " |")
    print()
    if both:
        ratios = [rate[("v2", q, n)] / rate[("v1", q, n)] for q, n in scenarios if rate[("v1", q, n)]]
        print(f"goal v2 within 10 % of v1 on every scenario: {platforms.goal_text(ratios)}")
    if client != "raw":
        return
    if "mosquitto" in others and any(q == 0 for q, _ in scenarios):
        worst = min(rate[(p, 0, n)] / rate[("mosquitto", 0, n)] for p in ours for q, n in scenarios if q == 0)
        print(f"goal raw QoS 0 ≥ {RAW_GOAL_MOSQUITTO:.2f} × mosquitto: "
              f"{'met' if worst >= RAW_GOAL_MOSQUITTO else 'NOT met'} (worst {worst:.2f})")
    worst_cpu = max(cpu[(p, q, n)] for p in ours for q, n in scenarios)
    print(f"goal broker CPU ≤ {RAW_GOAL_CPU_US:.0f} µs/msg: {'met' if worst_cpu <= RAW_GOAL_CPU_US else 'NOT met'} "
          f"(worst {worst_cpu:.1f})")


if __name__ == "__main__":
    main()
