"""Helpers of the end-to-end tests: a test copy of group.yaml, a ``deploy.py run`` subprocess,
device-script subprocesses, the dashboard's SSE console, bounded polling and process checks.

Test-only code: it starts real processes and talks to them over real sockets.
"""
from __future__ import annotations

import copy
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

import yaml

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SEED_GROUP = ROOT / "group" / "group.yaml"
SEED_VOLUME = "/tmp/s3_stream"
V2_FRAMES = "/tmp/s3_stream_v2"  # the seed's generic components' frame folder (components/README.md)
# configuration merged into the seed's generic components in the test copy (V2_FRAMES -> <bundle>/frames_v2)
COMPONENT_TEST_CONFIG: Dict[str, Dict[str, Any]] = {
    "webcam": {"outputDir": V2_FRAMES, "fps": 4, "saveEveryNFrames": 4},
    "s3_upload": {"inputDir": V2_FRAMES, "retryDelaySeconds": 2},
}
MARKER_VAR = "GG_E2E_MARKER"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


# -- polling -------------------------------------------------------------------------------------
def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Call ``predicate`` until it returns something truthy (returned); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # a service still starting; reported if the deadline passes
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {type(last_exc).__name__}: {last_exc})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


# -- the test copy of group.yaml -------------------------------------------------------------------
def _abs(path: str) -> str:
    return str((ROOT / path).resolve())


def write_test_group(bundle: Path, marker: str, overrides: Optional[Dict[str, Dict[str, str]]] = None,
                     source: Path = SEED_GROUP) -> Path:
    """``bundle/group.yaml``: the seed group with test-friendly settings.

    Same functions, devices, subscriptions, streams and cloud resources; code paths (functions'
    ``path`` and ``libraries``, cloud functions' ``path``, connectors' ``compose_file``) made absolute
    so they resolve to this repository's ``lambdas/``, ``cloud/``, ``docker/`` whatever the bundle root is
    (``deploy.py run`` resolves against the repo, ``deploy.py plan`` against the file's folder);
    every file path under ``bundle``; short intervals and windows; fixed seeds; a synthetic camera;
    the stream manager without client authentication (the tests read streams with the SDK); the generic
    components' folders copied to ``bundle/components/`` (their paths are relative to the bundle root) and
    their frame folder moved to ``bundle/frames_v2`` (``COMPONENT_TEST_CONFIG``, a configuration merge).
    One subscription more when the group has the device: ``cloud → HelloWorld_Subscriber`` on ``console/test``,
    so that the dashboard's MQTT console (source ``cloud``) can reach a device (the browser tests; under v2 it
    becomes a Bridge IotCore → LocalMqtt mapping).
    ``overrides``: function name -> environment values applied last.
    """
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    doc = copy.deepcopy(doc)
    console_row = {"source": "cloud", "target": "HelloWorld_Subscriber", "topic": "console/test"}
    if any(d.get("thing") == console_row["target"] for d in doc.get("devices") or []):
        subscriptions = doc.setdefault("subscriptions", [])
        if console_row not in subscriptions:
            subscriptions.append(console_row)
    frames = bundle / "frames"
    frames.mkdir(parents=True, exist_ok=True)
    env_for = {
        "producer": {"RANDOM_SEED": "1234", "INTERVAL_SECONDS": "0.2"},
        "aggregator": {"WINDOW_SECONDS": "2", "IDLE_FLUSH_SECONDS": "2", "READ_TIMEOUT_MS": "500",
                       "CHECKPOINT_DIR": str(bundle / "aggregator")},
        "reader": {"SNAPSHOT_PATH": str(bundle / "reader" / "latest_aggregates.json"),
                   "READ_TIMEOUT_MS": "500"},
        "hello_world": {"INTERVAL_SECONDS": "1"},
        "car_aggregator": {"RANDOM_SEED": "99"},
        "webcam": {"CAMERA_MODE": "synthetic", "FPS": "4", "SAVE_EVERY_N_FRAMES": "4",
                   "FRAME_WIDTH": "160", "FRAME_HEIGHT": "120"},
        "s3_uploader": {"RETRY_DELAY_SECONDS": "2", "STATUS_READ_TIMEOUT_MS": "500"},
    }
    for fn in doc.get("functions", []):
        name = fn["name"]
        fn["path"] = _abs(fn.get("path") or f"lambdas/{name}")
        if fn.get("libraries"):
            fn["libraries"] = [_abs(lib) for lib in fn["libraries"]]
        env = {k: (str(frames) if v == SEED_VOLUME else v) for k, v in (fn.get("environment") or {}).items()}
        env.update(env_for.get(name, {}))
        env.update((overrides or {}).get(name, {}))
        env[MARKER_VAR] = marker
        fn["environment"] = env
        if name == "car_aggregator":
            # Its totals live in the instance (as in the seed), and the runtime grows an on-demand
            # pool to 4 instances while the first one cold-starts, each with its own totals; the
            # group's `max_instances: 1` would be the fix but is not passed to the runtime (see the
            # e2e report). One long-lived instance keeps the statistics in one place.
            fn["pinned"] = True
            fn.pop("max_instances", None)
    for res in doc.get("resources", []):
        vol = res.get("volume")
        if vol:
            for key in ("source", "dest"):
                if vol.get(key) == SEED_VOLUME:
                    vol[key] = str(frames)
    for conn in doc.get("connectors") or []:
        if conn.get("compose_file"):
            conn["compose_file"] = _abs(conn["compose_file"])
    # Generic components: a component path is ``components/<dir>`` of the bundle root (the copy's folder), so
    # their folders are copied there; their file folders go under ``bundle`` (the seed's are under /tmp).
    v2_frames = bundle / "frames_v2"
    for comp in doc.get("components") or []:
        src = (ROOT / comp["path"]).resolve()
        shutil.copytree(src, bundle / comp["path"], dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        merge = COMPONENT_TEST_CONFIG.get(Path(comp["path"]).name, {})
        if merge:
            update = comp.setdefault("configuration_update", {})
            update["merge"] = {**(update.get("merge") or {}),
                               **{k: (str(v2_frames) if v == V2_FRAMES else v) for k, v in merge.items()}}
    sm = doc.setdefault("stream_manager", {})
    sm["authenticate_client"] = False
    for fn in (doc.get("cloud") or {}).get("functions", []):
        fn["path"] = _abs(fn.get("path") or f"cloud/{fn['name']}")
        env = dict(fn.get("environment") or {})
        env[MARKER_VAR] = marker
        fn["environment"] = env
    text = yaml.safe_dump(doc, sort_keys=False)
    if SEED_VOLUME in text:
        raise AssertionError(f"test group still refers to {SEED_VOLUME}: update write_test_group")
    if doc.get("components") and V2_FRAMES in text:
        raise AssertionError(f"test group still refers to {V2_FRAMES}: update write_test_group")
    out = bundle / "group.yaml"
    out.write_text(text, encoding="utf-8")
    # deploy.py plan/status resolve relative paths against the copy's folder: a path field this
    # function does not rewrite yet shows up here, with the validator's message
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from group.model import load

    load(out, root=bundle)
    return out


# -- processes -------------------------------------------------------------------------------------
def _ppid(pid: int) -> Optional[int]:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[1].split()[0] != "Z"


def _pids() -> List[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def descendants(pid: int) -> List[int]:
    parents: Dict[int, List[int]] = {}
    for p in _pids():
        pp = _ppid(p)
        if pp is not None:
            parents.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def marked_processes(marker: str) -> List[int]:
    """Live processes whose environment carries ``GG_E2E_MARKER=<marker>`` (this uid's only)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for p in _pids():
        if p == os.getpid():
            continue
        try:
            env = Path(f"/proc/{p}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0") and _alive(p):
            found.append(p)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return "?"


class OutputProcess:
    """A subprocess whose stdout+stderr lines are collected by a thread; waits are bounded."""

    def __init__(self, argv: List[str], name: str, env: Optional[Dict[str, str]] = None,
                 cwd: Optional[str] = None, log_file: Optional[Path] = None) -> None:
        self.name = name
        self.argv = argv
        self.lines: List[str] = []
        self._cond = threading.Condition()
        self._log = open(log_file, "w", encoding="utf-8") if log_file else None
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, cwd=cwd, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, name=f"out-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if self._log:
                self._log.write(line + "\n")
                self._log.flush()
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def matches(self, pattern: str) -> List[re.Match]:
        rx = re.compile(pattern)
        with self._cond:
            return [m for m in (rx.search(line) for line in self.lines) if m]

    def wait_for_line(self, pattern: str, timeout: float, count: int = 1) -> List[re.Match]:
        """The first ``count`` lines matching ``pattern``; AssertionError (with output) on timeout/exit."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in (rx.search(line) for line in self.lines) if m]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    tail = "\n".join(self.lines[-40:])
                    state = "exited %s" % self.proc.returncode if self.proc.poll() is not None else "running"
                    raise AssertionError(f"{self.name} ({state}): {len(found)}/{count} line(s) matching "
                                         f"{pattern!r} within {timeout:.0f} s; last output:\n{tail}")
                self._cond.wait(min(left, 0.5))

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout:.0f} s:\n" +
                                 "\n".join(self.lines[-40:])) from None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGINT (as Ctrl-C), wait; SIGKILL its process group if it did not end (then AssertionError)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"{self.name} ignored SIGINT for {timeout:.0f} s (killed)") from None
        self._reader.join(5)
        if self._log:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


# -- the dashboard's console (server-sent events) ---------------------------------------------------
class Console:
    """One ``GET /api/events`` stream of the dashboard, read by a thread.

    ``subscribe(filter)`` adds a console subscription (messages that reach the cloud);
    ``messages(topic)`` / ``wait_messages`` return the ``message`` events seen so far.
    """

    def __init__(self, dashboard_url: str, timeout: float = 10.0) -> None:
        url = urllib.parse.urlsplit(dashboard_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.token = urllib.parse.parse_qs(url.query)["token"][0]
        self.events: List[tuple] = []
        self._cond = threading.Condition()
        self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self._conn.request("GET", "/api/events", headers={"X-Dashboard-Token": self.token,
                                                           "Accept": "text/event-stream"})
        self._resp = self._conn.getresponse()
        if self._resp.status != 200:
            raise AssertionError(f"/api/events answered {self._resp.status}: {self._resp.read()[:300]!r}")
        # the server writes at least a heartbeat every 15 s; a quiet stream must not end the reader
        self._conn.sock.settimeout(60.0)
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="sse", daemon=True)
        self._thread.start()
        hello = self.wait_event("hello", lambda d: True, timeout)
        self.client_id = hello["client"]

    def _read(self) -> None:
        event, data = None, []
        try:
            while True:
                raw = self._resp.fp.readline()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif line == "":
                    if event is not None:
                        try:
                            payload = json.loads("\n".join(data))
                        except ValueError:
                            payload = "\n".join(data)
                        with self._cond:
                            self.events.append((event, payload))
                            self._cond.notify_all()
                    event, data = None, []
        except (OSError, ValueError, AttributeError):
            pass  # closed by close() or by the server stopping
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        return _api(self.host, self.port, self.token, method, path, body, timeout)

    def subscribe(self, topic_filter: str) -> str:
        body = {"client": self.client_id, "filter": topic_filter}
        return self.api("POST", "/api/subscriptions", body)["id"]

    def publish(self, topic: str, payload: Any) -> dict:
        return self.api("POST", "/api/publish", {"topic": topic, "payload": payload})

    def wait_event(self, kind: str, predicate: Callable[[Any], bool], timeout: float, count: int = 1) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [d for e, d in self.events if e == kind and predicate(d)]
                if len(found) >= count:
                    return found[count - 1] if count == 1 else found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    raise AssertionError(f"{len(found)}/{count} '{kind}' event(s) within {timeout:.0f} s "
                                         f"(stream {'closed' if self._closed else 'open'}; "
                                         f"{len(self.events)} events in all)")
                self._cond.wait(min(left, 0.5))

    def messages(self, topic: str) -> List[dict]:
        with self._cond:
            return [d for e, d in self.events if e == "message" and d.get("topic") == topic]

    def wait_messages(self, topic: str, timeout: float, count: int = 1,
                      predicate: Callable[[dict], bool] = lambda d: True) -> List[dict]:
        found = self.wait_event("message", lambda d: d.get("topic") == topic and predicate(d), timeout, count)
        return found if count > 1 else [found]

    def close(self) -> None:
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._resp.close()
        self._conn.close()


def _api(host: str, port: int, token: str, method: str, path: str, body: Any, timeout: float) -> Any:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"X-Dashboard-Token": token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        text = resp.read()
        if resp.status != 200:
            raise AssertionError(f"{method} {path} -> {resp.status}: {text[:500]!r}")
        return json.loads(text)
    finally:
        conn.close()


def dashboard_api(dashboard_url: str, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
    """``method path`` on the dashboard of ``dashboard_url`` (its ``?token=``), JSON in and out."""
    url = urllib.parse.urlsplit(dashboard_url)
    token = urllib.parse.parse_qs(url.query)["token"][0]
    return _api(url.hostname or "127.0.0.1", url.port or 80, token, method, path, body, timeout)


def message_payload(event: dict) -> Any:
    """The payload of a console ``message`` event, decoded from JSON when it is JSON."""
    for key in ("payload", "json", "text"):
        if key in event:
            value = event[key]
            if isinstance(value, str):
                try:
                    return json.loads(value)
                except ValueError:
                    return value
            return value
    return None


# -- a running group -----------------------------------------------------------------------------
@dataclass
class RunningGroup:
    """A ``deploy.py run`` subprocess and what its endpoint.json says."""

    run: OutputProcess
    bundle: Path
    group_file: Path
    state_dir: Path
    certs_dir: Path
    marker: str
    endpoint: Dict[str, Any]
    ready_seconds: float
    devices: List[OutputProcess] = field(default_factory=list)
    _consoles: List[Console] = field(default_factory=list)
    platform: str = "v1"  # the Greengrass platform the run deployed the group as (deploy.py run --platform)

    # endpoint info
    @property
    def cloud_url(self) -> str:
        return self.endpoint["cloud_url"]

    @property
    def region(self) -> str:
        return self.endpoint.get("region", "us-east-1")

    @property
    def dashboard_url(self) -> str:
        return self.endpoint["dashboard_url"]

    @property
    def frames_dir(self) -> Path:
        return self.bundle / "frames"

    def function_log(self, name: str) -> Path:
        return self.state_dir / "runtime" / "logs" / f"{name}.log"

    # clients
    def create_component(self, bucket: str, name: str, version: str, script_name: str, script: str,
                         configuration: Dict[str, Any]) -> None:
        """What a user does for a component of their own: its script to S3 (``bucket`` made), a component version
        from an inline recipe that runs it with ``python3 -u`` (``configuration``: the DefaultConfiguration)."""
        import json

        s3, gg = self.client("s3"), self.client("greengrassv2")
        s3.create_bucket(Bucket=bucket)
        key = f"{name}/{version}/{script_name}"
        s3.put_object(Bucket=bucket, Key=key, Body=script.encode())
        recipe = {"RecipeFormatVersion": "2020-01-25", "ComponentName": name, "ComponentVersion": version,
                  "ComponentConfiguration": {"DefaultConfiguration": configuration},
                  "Manifests": [{"Platform": {"os": "linux"},
                                 "Lifecycle": {"Run": f"python3 -u {{artifacts:path}}/{script_name}"},
                                 "Artifacts": [{"URI": f"s3://{bucket}/{key}"}]}]}
        gg.create_component_version(inlineRecipe=json.dumps(recipe).encode())

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.cloud_url, region_name=self.region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        """A dashboard API call with the run's token (no event stream)."""
        return dashboard_api(self.dashboard_url, method, path, body, timeout)

    def console(self) -> Console:
        c = Console(self.dashboard_url)
        self._consoles.append(c)
        return c

    def stream_client(self):
        """The unmodified greengrasssdk StreamManagerClient on the core's stream manager port."""
        from greengrasssdk.stream_manager import StreamManagerClient

        return StreamManagerClient(host="127.0.0.1", port=self.endpoint["stream_manager_port"])

    def deploy_cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """``deploy.py <args> --target local --state-dir <state> --group-file <copy> --certs-dir <certs>``."""
        argv = [PYTHON, str(ROOT / "deploy.py"), *args, "--target", "local", "--platform", self.platform,
                "--state-dir", str(self.state_dir), "--group-file", str(self.group_file),
                "--certs-dir", str(self.certs_dir)]
        return subprocess.run(argv, cwd=str(ROOT), capture_output=True, text=True, timeout=timeout,
                              env=_env(self.marker))

    # devices
    def start_device(self, script: str, thing: str, *extra: str,
                     client_id: Optional[str] = None) -> OutputProcess:
        """``devices/<script>`` with the certificate of ``client_id or thing`` and discovery on this core."""
        cred = self.certs_dir / (client_id or thing)
        argv = [PYTHON, "-u", str(ROOT / "devices" / script), "-e", "127.0.0.1",
                "-r", str(self.certs_dir / "root-ca.pem"),
                "-c", str(cred / "cert.pem"), "-k", str(cred / "private.key"),
                "--discovery-port", str(self.endpoint["discovery_port"]),
                "--group-ca-dir", str(self.bundle / "groupCA" / (client_id or thing)),
                "--discovery-timeout", "5", "-n", thing]
        if client_id:
            argv += ["--clientId", client_id]
        argv += list(extra)
        logs = self.bundle / "device-logs"
        logs.mkdir(exist_ok=True)
        n = len(self.devices)
        proc = OutputProcess(argv, f"{script}:{client_id or thing}", env=_env(self.marker),
                             cwd=str(self.bundle), log_file=logs / f"{n:02d}-{client_id or thing}.log")
        self.devices.append(proc)
        return proc

    # lifecycle
    def stop(self) -> Dict[str, Any]:
        """Stop devices, then the run with SIGINT; returns what the teardown checks need."""
        for dev in self.devices:
            dev.stop()
        for c in self._consoles:
            c.close()
        children = descendants(self.run.pid)
        t = time.monotonic()
        self.run.proc.send_signal(signal.SIGINT)
        try:
            code = self.run.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        stop_seconds = time.monotonic() - t
        sockets = ""
        if code is None:  # leave nothing behind even when the assertion below fails
            sockets = _tcp_sockets_of(self.run.pid)   # what a call still waiting is connected to
            self.run.proc.send_signal(signal.SIGABRT)   # first its threads' stacks into the output (faulthandler)
            try:
                self.run.proc.wait(3.0)
            except subprocess.TimeoutExpired:
                pass
            for pid in [self.run.pid, *children]:
                try:
                    os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.run.kill()
        self.run.stop()
        left = wait_gone(children, 3.0)
        return {"code": code, "stop_seconds": stop_seconds, "children": children, "left": left, "sockets": sockets,
                "marked": marked_processes(self.marker),
                "endpoint_exists": (self.state_dir / "endpoint.json").exists()}


def _tcp_sockets_of(pid: int) -> str:
    """``ss``'s lines for the TCP sockets of ``pid`` (listening ones too); "" where ``ss`` is missing."""
    try:
        out = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return "\n".join(line for line in out.splitlines() if f"pid={pid}," in line)


def wait_gone(pids: Iterable[int], timeout: float) -> List[int]:
    """The pids still alive after ``timeout`` (children are reparented and reaped by init)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if _alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _env(marker: str) -> Dict[str, str]:
    env = dict(os.environ)
    env[MARKER_VAR] = marker
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("PYTHONFAULTHANDLER", "1")   # SIGABRT prints every thread's stack: what a stop that hangs waits for
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):  # never reach anything but the local cloud
        env.pop(key, None)
    env["AWS_ACCESS_KEY_ID"] = "testing"
    env["AWS_SECRET_ACCESS_KEY"] = "testing"
    return env


def start_group(bundle: Path, overrides: Optional[Dict[str, Dict[str, str]]] = None,
                extra_args: Iterable[str] = (), timeout: float = READY_TIMEOUT_S,
                source: Path = SEED_GROUP, platform: str = "v1") -> RunningGroup:
    """Write the test copy of ``source`` (default the seed group.yaml) into ``bundle`` and start
    ``deploy.py run --no-devices --ephemeral-ports --platform <platform>`` on it; returns once
    ``endpoint.json`` is there (AssertionError with the output otherwise)."""
    bundle.mkdir(parents=True, exist_ok=True)
    marker = uuid.uuid4().hex
    group_file = write_test_group(bundle, marker, overrides, source=source)
    state_dir, certs_dir = bundle / "state", bundle / "certs"
    argv = [PYTHON, str(ROOT / "deploy.py"), "run", "--group-file", str(group_file),
            "--state-dir", str(state_dir),
            "--certs-dir", str(certs_dir), "--ephemeral-ports", "--no-devices", "--platform", platform,
            *extra_args]
    env = _env(marker)
    env.setdefault("LOG_LEVEL", "WARNING")
    t0 = time.monotonic()
    run = OutputProcess(argv, "deploy.py run", env=env, cwd=str(ROOT), log_file=bundle / "run.log")
    endpoint_file = state_dir / "endpoint.json"
    deadline = t0 + timeout
    while not endpoint_file.exists():
        if run.proc.poll() is not None or time.monotonic() >= deadline:
            run.kill()
            run.stop()
            raise AssertionError(f"deploy.py run not ready within {timeout:.0f} s "
                                 f"(exit {run.proc.returncode}):\n" + run.output()[-4000:])
        time.sleep(0.05)
    ready = time.monotonic() - t0
    endpoint = json.loads(endpoint_file.read_text())
    return RunningGroup(run=run, bundle=bundle, group_file=group_file, state_dir=state_dir,
                        certs_dir=certs_dir, marker=marker, endpoint=endpoint, ready_seconds=ready,
                        platform=platform)


def assert_clean_stop(result: Dict[str, Any], run: OutputProcess) -> None:
    problems = []
    if result["code"] != 0:
        problems.append(f"exit code {result['code']} (want 0 within {STOP_TIMEOUT_S:.0f} s)")
    if result["left"]:
        problems.append("child processes left: " + "; ".join(f"{p} {cmdline(p)}" for p in result["left"]))
    if result["marked"]:
        problems.append("processes of this run left: "
                        + "; ".join(f"{p} {cmdline(p)}" for p in result["marked"]))
    if result["endpoint_exists"]:
        problems.append("endpoint.json still there after the stop")
    # a stop that hung ends with the run's thread stacks (SIGABRT, faulthandler): keep them whole
    tail = 3000 if result["code"] is not None else 20000
    sockets = f"\nits TCP sockets then:\n{result['sockets']}" if result.get("sockets") else ""
    assert not problems, "; ".join(problems) + sockets + "\nlast output:\n" + run.output()[-tail:]
