"""``CloudFunctionRunner``: a cloud Lambda run locally the way ``sam local`` runs it, without Docker.

One long-lived worker process per function (``worker.py``, the handler module imported once, so
invocations after the first are warm), one invocation at a time, over a line-delimited JSON
protocol on the worker's stdin/stdout. What Lambda does, and this does too:

* timeout → the worker is killed (its whole process group), the caller gets a 504-style error
  ``Sandbox.Timedout`` "Task timed out after N seconds", and a fresh worker is started;
* the process dies mid-invocation → 502 ``Runtime.ExitError``, fresh worker;
* the handler raises → 502 with the exception's type and message; the traceback stays in the
  function's log (forwarded to the logger ``localcore.cloud_lambdas.<name>``), never in the result;
* peak RSS above ``memory_mb`` after an invocation → 502 ``Runtime.OutOfMemory``, fresh worker
  (Lambda kills during the call; here the check is after it);
* the environment is the function's own plus the Lambda reserved variables; nothing else of the
  caller's environment leaks in (``~/.aws`` is hidden unless the caller names config files).
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Mapping

from localcore import processes

from .errors import FunctionConfigError, FunctionStartError, RunnerNotStarted

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("worker.py")
MAX_EVENT_BYTES = 6 * 1024 * 1024  # Lambda's synchronous request payload limit
_LINE_LIMIT = 8 * 1024 * 1024  # the worker caps a response at 6 MB of JSON
_INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit
_STOP_GRACE_S = 2.0
_LOG_TAIL = 20
_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_HANDLER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_ENV_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
_RESERVED = ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
             "AWS_LAMBDA_LOG_GROUP_NAME", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_EXECUTION_ENV")

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def local_environment(function_env: Mapping[str, str], cloud_url: str, region: str) -> dict[str, str]:
    """The environment of a cloud function on the local target: its own variables, then
    ``AWS_ENDPOINT_URL`` (the LocalCloud URL), ``AWS_REGION``/``AWS_DEFAULT_REGION`` and dummy
    credentials, as ``sam local invoke --env-vars`` + ``AWS_ENDPOINT_URL`` would give it."""
    return {**function_env, "AWS_ENDPOINT_URL": cloud_url, "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region, **DUMMY_CREDENTIALS}


def _error(status: int, error_type: str, message: str, **extra: Any) -> dict:
    return {"ok": False, "status": status, "errorType": error_type, "errorMessage": message, **extra}


class _Worker:
    """One worker process and the task forwarding its stderr to the function's logger."""

    def __init__(self, proc: asyncio.subprocess.Process, logger: logging.Logger) -> None:
        self.proc = proc
        self.what = f"cloud function worker {proc.pid} ({logger.name})"
        self.tail: collections.deque[str] = collections.deque(maxlen=_LOG_TAIL)
        self._pump = asyncio.create_task(self._forward(logger))
        self.max_rss_kb = 0
        self.calls = 0  # the first call after init is the cold one

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def _forward(self, logger: logging.Logger) -> None:
        assert self.proc.stderr is not None
        while True:
            try:
                line = await self.proc.stderr.readline()
            except ValueError:  # a log line over the limit: keep going with the next one
                logger.warning("worker %d: log line too long, dropped", self.proc.pid)
                continue
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            self.tail.append(text)
            logger.info("%s", text)

    async def kill(self) -> None:
        """SIGKILL the worker's process group (the handler's children too), then :meth:`close`."""
        await processes.end_group(self.proc.pid, 0, proc=self.proc, first=signal.SIGKILL, what=self.what)
        await self.close()

    async def close(self) -> None:
        """Wait for the exit (bounded; the caller stops or kills it first): the worker's group gets SIGKILL
        when it is not gone within the grace period."""
        await processes.end_group(self.proc.pid, _STOP_GRACE_S, proc=self.proc, first=None, what=self.what)
        try:
            await asyncio.wait_for(self._pump, _STOP_GRACE_S)
        except asyncio.TimeoutError:
            self._pump.cancel()  # a grandchild still holds stderr open
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    async def stop(self) -> None:
        """End of input: the worker returns from its loop; killed if it does not within the grace."""
        if self.alive and self.proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self.proc.stdin.close()
        await self.close()


def _exit_text(returncode: int | None) -> str:
    if returncode is None:
        return "Runtime exited"
    if returncode < 0:
        try:
            return f"Runtime exited with error: signal: {signal.Signals(-returncode).name}"
        except ValueError:
            return f"Runtime exited with error: signal {-returncode}"
    return f"Runtime exited with error: exit status {returncode}"


class CloudFunctionRunner:
    """A cloud Lambda as a local worker process. See the module docstring.

    ``code_dir`` is the root of the deployment package (``cloud/`` for ``snapshot/`` at the zip
    root); ``handler`` is Lambda's ``module.function`` (``snapshot.handler.lambda_handler``);
    ``environment`` is the whole environment the function sees (see ``local_environment``).

    ``invoke(event)`` returns ``{"ok": True, "payload": <handler's return value>, "duration_ms",
    "cold": bool}`` or ``{"ok": False, "status": 502|504, "errorType", "errorMessage",
    "duration_ms"}``. Invocations are serialised (one container, as Lambda with reserved
    concurrency 1); waiting for the previous one is not counted in the timeout.
    """

    def __init__(self, name: str, code_dir: str | os.PathLike, handler: str = "handler.lambda_handler",
                 environment: Mapping[str, str] | None = None, timeout_s: float = 3.0,
                 memory_mb: int = 128, *, region: str | None = None, account_id: str = "123456789012",
                 python: str | None = None) -> None:
        where = f"cloud function {name!r}"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise FunctionConfigError(f"{where}: the name must be 1-64 characters of [a-zA-Z0-9_-]")
        code = Path(code_dir).resolve()
        if not code.is_dir():
            raise FunctionConfigError(f"{where}: code dir {code} does not exist")
        if not isinstance(handler, str) or not _HANDLER_RE.match(handler):
            raise FunctionConfigError(f"{where}: handler {handler!r} must be module.function "
                                      f"(e.g. snapshot.handler.lambda_handler)")
        module = handler.rpartition(".")[0].replace(".", "/")
        if not (code / f"{module}.py").is_file() and not (code / module / "__init__.py").is_file():
            raise FunctionConfigError(f"{where}: handler module {handler.rpartition('.')[0]!r} not "
                                      f"found under {code} (expected {module}.py)")
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s <= 900:
            raise FunctionConfigError(f"{where}: timeout_s must be in (0, 900] seconds, got {timeout_s!r}")
        if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or not 128 <= memory_mb <= 10240:
            raise FunctionConfigError(f"{where}: memory_mb must be an integer 128..10240, got {memory_mb!r}")
        env = dict(environment or {})
        for key, value in env.items():
            if key in _RESERVED:
                raise FunctionConfigError(f"{where}: environment variable {key} is reserved by Lambda")
            if not isinstance(key, str) or not _ENV_NAME_RE.match(key):
                raise FunctionConfigError(f"{where}: environment variable name {key!r} is invalid")
            if not isinstance(value, str):
                raise FunctionConfigError(f"{where}: environment variable {key} must be a string, "
                                          f"got {type(value).__name__}")
        self.name = name
        self.code_dir = code
        self.handler = handler
        self.environment = env
        self.timeout_s = float(timeout_s)
        self.memory_mb = memory_mb
        self.region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.arn = f"arn:aws:lambda:{self.region}:{account_id}:function:{name}"
        self.python = python or sys.executable
        self.fn_log = logging.getLogger(f"localcore.cloud_lambdas.{name}")
        self._state = "new"
        self._worker: _Worker | None = None
        self._restart: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._stats = {"invocations": 0, "errors": 0, "timeouts": 0, "crashes": 0, "cold_starts": 0,
                       "restarts": 0}
        self._last: dict[str, Any] = {"duration_ms": None, "init_ms": None, "error": None, "at": None}
        self._max_rss_kb = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the worker (the handler module is imported now). Raises FunctionStartError."""
        if self._state != "new":
            raise RunnerNotStarted(f"cloud function {self.name}: start() in state {self._state}")
        self._state = "starting"
        try:
            self._worker = await self._spawn()
        except BaseException:
            self._state = "stopped"
            raise
        self._state = "started"

    async def stop(self) -> None:
        if self._state in ("stopped", "new"):
            self._state = "stopped"
            return
        self._state = "stopping"
        if self._lock.locked() and self._worker is not None:
            await self._worker.kill()  # the invocation in flight ends now (Runtime.ExitError), not at its timeout
        if self._restart is not None:
            task, self._restart = self._restart, None
            task.cancel()
            try:
                spare = await task
            except asyncio.CancelledError:
                spare = None
            if spare is not None:
                await spare.stop()
        async with self._lock:  # the invocation in flight has returned (its worker was killed above)
            worker, self._worker = self._worker, None
            if worker is not None:
                await worker.stop()
        self._state = "stopped"

    @classmethod
    def from_cloud_function(cls, fn: Any, root: str | os.PathLike, cloud_url: str, region: str,
                            **kwargs: Any) -> "CloudFunctionRunner":
        """The runner of a group file's ``cloud.functions`` entry (``group.model.CloudFunction``:
        ``name``, ``code_dir(root)``, ``handler``, ``environment``, ``timeout_s``, ``memory_mb``)
        on the local target: its environment plus ``local_environment``'s endpoint and keys."""
        return cls(fn.name, fn.code_dir(Path(root)), fn.handler,
                   environment=local_environment(fn.environment, cloud_url, region),
                   timeout_s=fn.timeout_s, memory_mb=fn.memory_mb, region=region, **kwargs)

    async def __aenter__(self) -> "CloudFunctionRunner":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def status(self) -> dict[str, Any]:
        worker = self._worker
        return {
            "name": self.name,
            "handler": self.handler,
            "state": self._state,
            "pid": worker.proc.pid if worker is not None and worker.alive else None,
            **self._stats,
            "last_duration_ms": self._last["duration_ms"],
            "last_init_ms": self._last["init_ms"],
            "last_error": self._last["error"],
            "last_invocation_at": self._last["at"],
            "max_rss_mb": round(self._max_rss_kb / 1024, 1),
            "timeout_s": self.timeout_s,
            "memory_mb": self.memory_mb,
        }

    # ------------------------------------------------------------------ worker processes
    def _env(self) -> dict[str, str]:
        base = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT") if k in os.environ}
        base.setdefault("LANG", "C.UTF-8")
        # Lambda has no ~/.aws: keep the host's profiles out unless the caller names files.
        base.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "TZ": "UTC"})
        base.update(self.environment)
        base.update({
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "LAMBDA_TASK_ROOT": str(self.code_dir),
            "_HANDLER": self.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}",
        })
        base.setdefault("AWS_REGION", self.region)
        base.setdefault("AWS_DEFAULT_REGION", self.region)
        return base

    async def _spawn(self) -> _Worker:
        config = json.dumps({"name": self.name, "code_dir": str(self.code_dir), "handler": self.handler,
                             "memory_mb": self.memory_mb, "arn": self.arn})
        t0 = time.monotonic()
        # -I: no PYTHONPATH/user site and no script dir on sys.path (the code dir goes first);
        # -B: no __pycache__ written into the code dir.
        try:
            proc = await processes.start(
                [self.python, "-I", "-u", "-B", str(WORKER), config], name=f"cloud function {self.name}",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                cwd=str(self.code_dir), env=self._env(), limit=_LINE_LIMIT)
        except OSError as exc:
            raise FunctionStartError(f"cloud function {self.name}: cannot run {self.python} in "
                                     f"{self.code_dir}: {exc}") from exc
        worker = _Worker(proc, self.fn_log)
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), _INIT_TIMEOUT_S)  # type: ignore[union-attr]
        except asyncio.TimeoutError:
            await worker.kill()
            raise FunctionStartError(f"cloud function {self.name}: init did not finish within "
                                     f"{_INIT_TIMEOUT_S:.0f} s (importing {self.handler})") from None
        except BaseException:
            await worker.kill()
            raise
        try:
            hello = json.loads(line) if line else {}
        except ValueError:
            hello = {}
        if hello.get("type") != "ready":
            await worker.kill()
            if hello.get("type") == "init_error":
                reason = f"{hello.get('errorType')}: {hello.get('errorMessage')}"
                if "relative import" in reason and (self.code_dir / "__init__.py").is_file():
                    reason += (f" (the code dir {self.code_dir} is itself a package: give its parent as "
                               f"the code dir and {self.code_dir.name}.{self.handler} as the handler)")
            else:
                last = worker.tail[-1] if worker.tail else "no output"
                reason = f"{_exit_text(proc.returncode)} during init ({last})"
            self._last["error"] = reason
            raise FunctionStartError(f"cloud function {self.name}: {reason}")
        self._last["init_ms"] = hello.get("init_ms")
        self._stats["cold_starts"] += 1
        worker.max_rss_kb = hello.get("max_rss_kb", 0)
        log.info("cloud function %s: worker %d ready in %.0f ms", self.name, proc.pid,
                 (time.monotonic() - t0) * 1000)
        return worker

    def _schedule_restart(self) -> None:
        """Start a fresh worker in the background, so the next call does not wait for its init."""
        if self._state != "started":
            return
        self._stats["restarts"] += 1

        async def restart() -> _Worker | None:
            try:
                return await self._spawn()
            except FunctionStartError as exc:
                log.error("%s", exc)
                return None

        self._restart = asyncio.create_task(restart())

    async def _ready_worker(self) -> _Worker:
        """The live worker: the current one, the restarted one, or a new one."""
        if self._restart is not None:
            restart, self._restart = self._restart, None
            self._worker = await restart
            if self._worker is not None:
                return self._worker
        if self._worker is not None and self._worker.alive:
            return self._worker
        if self._worker is not None:  # died between invocations
            self._stats["crashes"] += 1
            old, self._worker = self._worker, None
            log.warning("cloud function %s: worker %d died while idle (%s)", self.name, old.proc.pid,
                        _exit_text(old.proc.returncode))
            await old.close()
        self._worker = await self._spawn()
        return self._worker

    # ------------------------------------------------------------------ invocations
    async def invoke(self, event: Any) -> dict[str, Any]:
        """Run the handler on ``event`` (JSON-able). See the class docstring for the result."""
        if self._state != "started":
            raise RunnerNotStarted(f"cloud function {self.name} is {self._state}; call start() first")
        try:
            data = json.dumps(event, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cloud function {self.name}: the event is not JSON-serialisable: {exc}") from exc
        if len(data) > MAX_EVENT_BYTES:
            return self._finish(_error(413, "RequestEntityTooLargeException",
                                       f"Request payload size ({len(data)} bytes) exceeded maximum "
                                       f"allowed payload size ({MAX_EVENT_BYTES} bytes)."), 0.0)
        async with self._lock:
            if self._state != "started":
                raise RunnerNotStarted(f"cloud function {self.name} is {self._state}")
            try:
                worker = await self._ready_worker()
            except FunctionStartError as exc:
                return self._finish(_error(502, "Runtime.InitError", str(exc)), 0.0)
            return await self._call(worker, data)

    async def _call(self, worker: _Worker, data: str) -> dict[str, Any]:
        cold = worker.calls == 0
        worker.calls += 1
        ident = next(self._ids)
        request_id = str(uuid.uuid4())
        line = json.dumps({"type": "invoke", "id": ident, "request_id": request_id,
                           "remaining_ms": int(self.timeout_s * 1000)}, separators=(",", ":"))
        line = line[:-1] + ',"event":' + data + "}\n"
        t0 = time.monotonic()
        assert worker.proc.stdin is not None and worker.proc.stdout is not None
        try:
            try:
                worker.proc.stdin.write(line.encode("utf-8"))
                await worker.proc.stdin.drain()
            except ConnectionError:  # the worker is gone; its exit status says why
                raw = b""
            else:
                raw = await asyncio.wait_for(worker.proc.stdout.readline(), self.timeout_s)
        except asyncio.TimeoutError:
            self._stats["timeouts"] += 1
            log.warning("cloud function %s: request %s timed out after %.2f s; killing worker %d",
                        self.name, request_id, self.timeout_s, worker.proc.pid)
            await self._discard(worker)
            return self._finish(_error(504, "Sandbox.Timedout",
                                       f"Task timed out after {self.timeout_s:.2f} seconds",
                                       requestId=request_id), time.monotonic() - t0)
        except ValueError:  # a line over the limit: the protocol is lost
            log.error("cloud function %s: response line over %d bytes", self.name, _LINE_LIMIT)
            await self._discard(worker)
            return self._finish(_error(502, "Runtime.InvalidResponse", "the function's response could not be read",
                                       requestId=request_id), time.monotonic() - t0)
        except asyncio.CancelledError:  # the caller gave up: the worker is busy with a dead call
            await self._discard(worker)
            raise
        elapsed = time.monotonic() - t0
        if not raw:
            await worker.close()
            self._stats["crashes"] += 1
            text = _exit_text(worker.proc.returncode)
            log.error("cloud function %s: worker %d exited during request %s: %s (last log: %s)",
                      self.name, worker.proc.pid, request_id, text, worker.tail[-1] if worker.tail else "-")
            self._worker = None
            self._schedule_restart()
            return self._finish(_error(502, "Runtime.ExitError", f"RequestId: {request_id} Error: {text}",
                                       requestId=request_id), elapsed)
        try:
            reply = json.loads(raw)
            if reply.get("type") != "result" or reply.get("id") != ident:
                raise ValueError(f"unexpected reply {str(reply)[:200]}")
        except ValueError as exc:
            log.error("cloud function %s: protocol error: %s", self.name, exc)
            await self._discard(worker)
            return self._finish(_error(502, "Runtime.InvalidResponse", "the function's response could not be read",
                                       requestId=request_id), elapsed)
        rss_kb = int(reply.get("max_rss_kb") or 0)
        self._max_rss_kb = max(self._max_rss_kb, rss_kb)
        if rss_kb > self.memory_mb * 1024:
            self._stats["crashes"] += 1
            await self._discard(worker)
            return self._finish(_error(502, "Runtime.OutOfMemory",
                                       f"RequestId: {request_id} Error: Runtime exited with error: memory "
                                       f"limit exceeded ({rss_kb // 1024} MB > {self.memory_mb} MB)",
                                       requestId=request_id), elapsed)
        if reply.get("ok"):
            return self._finish({"ok": True, "payload": reply.get("payload"), "cold": cold,
                                 "requestId": request_id}, elapsed)
        return self._finish(_error(502, str(reply.get("errorType") or "Error"), str(reply.get("errorMessage") or ""),
                                   requestId=request_id, cold=cold), elapsed)

    async def _discard(self, worker: _Worker) -> None:
        await worker.kill()
        if self._worker is worker:
            self._worker = None
        self._schedule_restart()

    def _finish(self, result: dict[str, Any], elapsed: float) -> dict[str, Any]:
        result["duration_ms"] = round(elapsed * 1000, 3)
        self._stats["invocations"] += 1
        self._last["duration_ms"] = result["duration_ms"]
        self._last["at"] = time.time()
        if not result["ok"]:
            self._stats["errors"] += 1
            self._last["error"] = f"{result['errorType']}: {result['errorMessage']}"
        return result
