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
        [--no-mosquitto] [--no-amqtt] [--profile-dir DIR]

Needs Debian ``mosquitto`` (apt-get install -y mosquitto) and amqtt in a separate venv
(python3 -m venv /tmp/amqtt-venv && /tmp/amqtt-venv/bin/pip install amqtt); a missing broker is
skipped with a note. amqtt only asks for client certificates (CERT_OPTIONAL); mosquitto is set to
require them, like ours. Not a test: numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import asyncio
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

    profile_dir = os.environ.get(PROFILE_ENV)
    if not profile_dir:
        asyncio.run(main())
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(main())
    finally:
        profiler.disable()
        profiler.dump_stats(str(Path(profile_dir) / f"broker-{platform}.prof"))


def start_broker(kind: str, directory: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind in platforms.PLATFORMS:
        cmd = [sys.executable, __file__, "--serve-ours", str(directory), str(port), kind]
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
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; 0.0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_scenario(directory: Path, port: int, qos: int, npub: int, total: int) -> float:
    ctx = mp.get_context("spawn")
    ready, go, result = ctx.Event(), ctx.Event(), ctx.Queue()
    connected = ctx.Semaphore(0)
    sub = ctx.Process(target=subscriber, args=(directory, port, qos, total, ready, result))
    sub.start()
    if not ready.wait(30):
        sub.terminate()
        raise RuntimeError("subscriber did not subscribe within 30s")
    per = total // npub
    pubs = [ctx.Process(target=publisher, args=(directory, PUBLISHERS[i], port, qos, per, go, connected))
            for i in range(npub)]
    for p in pubs:
        p.start()
    for _ in pubs:
        if not connected.acquire(timeout=30):
            raise RuntimeError("a publisher did not connect within 30s")
    time.sleep(0.3)
    start = time.time()
    go.set()
    received, last = result.get(timeout=300)
    for p in pubs + [sub]:
        p.join(30)
    if received == 0:
        return 0.0
    rate = received / max(last - start, 1e-6)
    lost = per * npub - received
    return rate if lost == 0 else -rate  # negative marks lost messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000, help="messages per scenario (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs; the median is reported")
    parser.add_argument("--no-mosquitto", action="store_true")
    parser.add_argument("--no-amqtt", action="store_true")
    platforms.add_platform_argument(parser)
    parser.add_argument("--profile-dir", help="run our brokers under cProfile; broker-<platform>.prof goes "
                                              "here (slows them: to find where time goes, not for figures)")
    parser.add_argument("--serve-ours", nargs=3, metavar=("DIR", "PORT", "PLATFORM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ours:
        serve_ours(Path(args.serve_ours[0]), int(args.serve_ours[1]), args.serve_ours[2])
        return

    if args.profile_dir:
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
        os.environ[PROFILE_ENV] = str(Path(args.profile_dir).resolve())
    ours = platforms.platforms_of(args.platform)
    brokers = list(ours)
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
    scenarios = [(0, 1), (0, 10), (1, 1), (1, 10)]
    runs: dict[tuple[str, int, int], list[float]] = {}
    lost: set[tuple[str, int, int]] = set()
    cpu_us: dict[tuple[str, int, int], list[float]] = {}
    load_before = os.getloadavg()[0]  # other work on the machine skews every column; it is printed
    with tempfile.TemporaryDirectory(prefix="bench-router-") as tmp:
        directory = Path(tmp)
        make_certs(directory)
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
                        rate = run_scenario(directory, procs[kind][1], qos, npub, args.messages)
                        key = (kind, qos, npub)
                        runs.setdefault(key, []).append(abs(rate))
                        # the broker's own CPU per message: far less sensitive to the shared machine
                        # than msg/s (TLS handshakes of the scenario's clients included)
                        cpu_us.setdefault(key, []).append(
                            (cpu_seconds(procs[kind][0].pid) - cpu0) / args.messages * 1e6)
                        if rate < 0:
                            lost.add(key)
                        print(f"run {rep + 1} {kind:10s} QoS{qos} {npub:2d}->1: {abs(rate):10.0f} msg/s, "
                              f"broker CPU {cpu_us[key][-1]:5.1f} µs/msg"
                              + ("  (messages lost)" if rate < 0 else ""), flush=True)
        finally:
            for proc, _ in procs.values():
                stop_broker(proc)
    results = {key: statistics.median(values) for key, values in runs.items()}
    if lost:
        print("messages were lost in:", ", ".join(f"{k} QoS{q} {n}->1" for k, q, n in sorted(lost)))

    print()
    print(f"median of {args.repeat} interleaved runs, {args.messages} messages of 256 B per run; "
          f"load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs")
    others = [b for b in brokers if b not in platforms.PLATFORMS]
    both = len(ours) == 2
    cols = [f"{p} msg/s" for p in ours] + (["v2/v1"] if both else [])
    for b in others:
        cols += [f"{b} msg/s"] + [f"{p}/{b}" for p in ours]
    print("| scenario | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    ratios = []
    for qos, npub in scenarios:
        mine = {p: results[(p, qos, npub)] for p in ours}
        cells = [f"QoS {qos}, {npub}→1"] + [f"{mine[p]:.0f}" for p in ours]
        if both:
            cells.append(platforms.ratio_cell(mine["v1"], mine["v2"]))
            if mine["v1"]:
                ratios.append(mine["v2"] / mine["v1"])
        for b in others:
            other = results[(b, qos, npub)]
            cells += [f"{other:.0f}"] + [f"{mine[p] / other:.2f}" if other else "n/a" for p in ours]
        print("| " + " | ".join(cells) + " |")
    if both:
        print(f"goal v2 within 10 % of v1 on every scenario: {platforms.goal_text(ratios)}")
    print()
    print("broker CPU per message (median µs of user + system time of the broker process, whole scenario)")
    print("| scenario | " + " | ".join(f"{p} µs/msg" for p in ours) + (" | v2/v1 |" if both else " |"))
    print("|---|" + "---:|" * (len(ours) + both))
    for qos, npub in scenarios:
        us = {p: statistics.median(cpu_us[(p, qos, npub)]) for p in ours}
        cells = [f"QoS {qos}, {npub}→1"] + [f"{us[p]:.1f}" for p in ours]
        if both:
            cells.append(platforms.ratio_cell(us["v1"], us["v2"]))
        print("| " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
