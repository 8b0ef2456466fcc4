"""Greengrass connectors on the local core.

AWS connectors are Lambdas AWS publishes and runs only on real cores (their code is not public),
so the local core does not run them: ``connectors_status`` lists each with the reason. The one
exception is the Docker application deployment connector, whose job (``docker compose up`` of a
compose file) can be done here when ``docker compose`` works: ``DockerAppConnector`` downloads the
compose file from (local) S3 as the real connector does, then ``DockerComposeApp`` runs it.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from localcore import processes

from .errors import ConnectorError

log = logging.getLogger(__name__)

DOCKER_CONNECTOR = "DockerApplicationDeployment"
NO_COMPOSE = "Docker application connector: not run — no `docker compose` on this machine"
NO_ENGINE = "Docker application connector: not run — the Docker engine does not answer"

# What was said about this machine's docker, once per process: a redeploy starts the connector
# again, and a machine without Docker is a fact, not news on every start.
_said: set[tuple[str, str]] = set()
_said_lock = threading.Lock()


def _say_once(level: int, docker: str, message: str) -> None:
    key = (shutil.which(docker) or docker, message)
    with _said_lock:
        if key in _said:
            return
        _said.add(key)
    log.log(level, "%s", message)


def _field(connector: Any, name: str, default=None):
    if isinstance(connector, Mapping):
        return connector.get(name, default)
    return getattr(connector, name, default)


def is_docker_connector(connector: Any) -> bool:
    arn = str(_field(connector, "arn", "") or "")
    return f":connectors/{DOCKER_CONNECTOR}/" in arn or arn.endswith(f"/{DOCKER_CONNECTOR}") or \
        DOCKER_CONNECTOR in arn


def connectors_status(connectors: Iterable[Any], docker: Any = None) -> list[dict]:
    """One JSON-able entry per connector (dicts or objects with ``name``/``arn``/``parameters``):
    ``{"name", "arn", "state": "not-run" | <docker app state>, "reason"}``. ``docker``: a
    ``DockerAppConnector`` / ``DockerComposeApp`` (anything with ``status()``) for the Docker one."""
    out = []
    for connector in connectors:
        name = _field(connector, "name", "") or ""
        arn = _field(connector, "arn", "") or ""
        if is_docker_connector(connector) and docker is not None:
            entry = {"name": name, "arn": arn, **docker.status()}
        elif is_docker_connector(connector):
            entry = {"name": name, "arn": arn, "state": "not-run",
                     "reason": "Docker application deployment connector: no compose runner started"}
        else:
            entry = {"name": name, "arn": arn, "state": "not-run",
                     "reason": "AWS-provided connector: its code runs only on a real Greengrass core "
                               "(not published by AWS); not run by the local core"}
        out.append(entry)
    return out


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


@dataclass
class _Outcome:
    returncode: int
    output: str


async def _run(argv: list[str], timeout_s: float) -> _Outcome:
    """One docker CLI call in a process group of its own that dies with the core (``localcore/processes.py``)."""
    proc = await processes.start(argv, name=f"docker CLI: {' '.join(argv[1:3])}", stdin=asyncio.subprocess.DEVNULL,
                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except asyncio.TimeoutError:
        await processes.end_group(proc.pid, 0.0, proc=proc, first=signal.SIGKILL)
        return _Outcome(-1, f"{' '.join(argv)} timed out after {timeout_s:.0f} s")
    except asyncio.CancelledError:  # the core is stopping: leave no docker CLI behind
        await asyncio.shield(processes.end_group(proc.pid, 0.0, proc=proc, first=signal.SIGKILL))
        raise
    return _Outcome(proc.returncode, output.decode("utf-8", "replace").strip())


class DockerComposeApp:
    """The Docker application deployment connector done locally: ``docker compose up -d`` of a
    compose file on start, ``down`` on stop — only when ``docker compose`` works on this machine."""

    def __init__(self, compose_file: str, project: str, *, docker: str = "docker", timeout_s: float = 300.0,
                 pull: bool = False):
        self.compose_file = compose_file
        self.project = project
        self.docker = docker
        self.timeout_s = timeout_s
        self.pull = pull
        self.state = "new"
        self.reason = ""

    async def available(self) -> tuple[bool, str]:
        """Whether ``docker compose`` works and a Docker engine answers; else why not, in one
        plain sentence (``NO_COMPOSE`` when docker or its compose command is missing)."""
        explicit = os.sep in self.docker
        if shutil.which(self.docker) is None:
            # a path someone configured is named; no docker on PATH is the common, plain case
            return False, (f"{self.docker} is not installed" if explicit else NO_COMPOSE)
        outcome = await _run([self.docker, "compose", "version"], 20.0)
        if outcome.returncode != 0:
            # "unknown command: docker compose" (or "'compose' is not a docker command"): no plugin
            return False, NO_COMPOSE
        engine = await _run([self.docker, "version", "--format", "{{.Server.Version}}"], 20.0)
        if engine.returncode != 0:
            detail = _first_line(engine.output) or f"exit code {engine.returncode}"
            return False, f"{NO_ENGINE} ({detail})"
        return True, outcome.output

    async def start(self) -> None:
        ok, detail = await self.available()
        if not ok:
            self.state, self.reason = "not-run", detail
            # no docker at all is how most machines are (INFO); docker without its engine or a
            # configured binary that is missing is something someone meant to work (WARNING)
            _say_once(logging.INFO if detail == NO_COMPOSE else logging.WARNING, self.docker, detail)
            return
        base = [self.docker, "compose", "-f", self.compose_file, "-p", self.project]
        if self.pull:
            outcome = await _run(base + ["pull"], self.timeout_s)
            if outcome.returncode != 0:
                self.state, self.reason = "failed", outcome.output
                log.error("docker compose pull of %s failed: %s", self.compose_file, outcome.output)
                return
        outcome = await _run(base + ["up", "-d"], self.timeout_s)
        if outcome.returncode == 0:
            self.state, self.reason = "running", f"compose project {self.project} up"
        else:
            self.state, self.reason = "failed", outcome.output
            log.error("docker compose up of %s failed: %s", self.compose_file, outcome.output)

    async def stop(self) -> None:
        if self.state != "running":
            return
        outcome = await _run([self.docker, "compose", "-f", self.compose_file, "-p", self.project, "down"],
                             self.timeout_s)
        self.state = "stopped" if outcome.returncode == 0 else "failed"
        self.reason = outcome.output

    def status(self) -> dict:
        return {"state": self.state, "reason": self.reason, "compose_file": self.compose_file}


def compose_project(name: str) -> str:
    """A compose project name (lower-case letters, digits, ``-``, ``_``) for a connector."""
    return re.sub(r"[^a-z0-9_-]", "-", f"greengrass-{name}".lower()).strip("-_") or "greengrass"


class DockerAppConnector:
    """The Docker application deployment connector on the local core.

    Like the real one: fetch ``DockerComposeFileS3Bucket``/``DockerComposeFileS3Key`` (``fetch(bucket,
    key) -> bytes``, which raises ``ConnectorError``), write it as ``docker-compose.yml`` in
    ``DockerComposeFileDestinationPath`` — mapped under ``dest_root`` (the core's state dir), not the
    host's path — then ``docker compose up -d`` when docker compose works (``DockerPullBeforeUp``:
    pull first); ``down`` on stop. ``DockerUserId`` is not used: compose runs as the core's user.
    ``status()`` says what happened and why (``not-run`` with the reason when there is no Docker).
    """

    def __init__(self, name: str, parameters: Mapping[str, Any], *, fetch: Callable[[str, str], bytes],
                 dest_root: str | os.PathLike, docker: str = "docker", timeout_s: float = 300.0) -> None:
        self.name = name
        self.parameters = dict(parameters)
        missing = [k for k in ("DockerComposeFileS3Bucket", "DockerComposeFileS3Key")
                   if not parameters.get(k)]
        if missing:
            raise ConnectorError(f"connector {name}: parameter(s) {', '.join(missing)} missing")
        self.bucket = str(parameters["DockerComposeFileS3Bucket"])
        self.key = str(parameters["DockerComposeFileS3Key"])
        dest = str(parameters.get("DockerComposeFileDestinationPath") or "compose").lstrip("/")
        target = (Path(dest_root) / dest).resolve()
        if not target.is_relative_to(Path(dest_root).resolve()):
            raise ConnectorError(f"connector {name}: DockerComposeFileDestinationPath {dest!r} "
                                 f"leaves {dest_root}")
        self.compose_file = target / "docker-compose.yml"
        self.pull = str(parameters.get("DockerPullBeforeUp", "false")).lower() == "true"
        self._fetch = fetch
        self.app = DockerComposeApp(str(self.compose_file), compose_project(name), docker=docker,
                                    timeout_s=timeout_s, pull=self.pull)
        self.state = "new"
        self.reason = ""
        self.sha256: Optional[str] = None
        self._settled = asyncio.Event()

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    async def start(self) -> None:
        """Fetch and bring up; never raises for what can go wrong (``status()`` says it)."""
        self.state, self.reason = "starting", f"fetching {self.source}"
        try:
            try:
                body = await asyncio.to_thread(self._fetch, self.bucket, self.key)
                await asyncio.to_thread(self._write, body)
            except (ConnectorError, OSError) as e:
                self.state, self.reason = "failed", f"cannot get the compose file {self.source}: {e}"
                log.error("Docker application connector %s: %s", self.name, self.reason)
                return
            self.sha256 = hashlib.sha256(body).hexdigest()
            await self.app.start()
            self.state, self.reason = self.app.state, self.app.reason
        finally:
            self._settled.set()

    async def wait_started(self, timeout: float) -> None:
        """Until ``start()`` has finished (whatever its outcome); TimeoutError after ``timeout`` s."""
        await asyncio.wait_for(self._settled.wait(), timeout)

    def _write(self, body: bytes) -> None:
        self.compose_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.compose_file.with_suffix(".tmp")
        tmp.write_bytes(body)
        os.replace(tmp, self.compose_file)

    async def stop(self) -> None:
        await self.app.stop()
        if self.app.state in ("stopped", "failed") and self.state == "running":
            self.state, self.reason = self.app.state, self.app.reason

    def status(self) -> dict:
        return {"state": self.state, "reason": self.reason, "compose_file": str(self.compose_file),
                "source": self.source, "sha256": self.sha256}
