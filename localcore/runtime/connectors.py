"""Greengrass connectors on the local core.

AWS connectors are Lambdas AWS publishes and runs only on real cores (their code is not public),
so the local core does not run them: ``connectors_status`` lists each with the reason. The one
exception is the Docker application deployment connector, whose job (``docker compose up`` of a
compose file) can be done here when ``docker compose`` works: ``DockerComposeApp``.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

log = logging.getLogger(__name__)

DOCKER_CONNECTOR = "DockerApplicationDeployment"


def _field(connector: Any, name: str, default=None):
    if isinstance(connector, Mapping):
        return connector.get(name, default)
    return getattr(connector, name, default)


def is_docker_connector(connector: Any) -> bool:
    arn = str(_field(connector, "arn", "") or "")
    return f":connectors/{DOCKER_CONNECTOR}/" in arn or arn.endswith(f"/{DOCKER_CONNECTOR}") or \
        DOCKER_CONNECTOR in arn


def connectors_status(connectors: Iterable[Any], docker: Optional["DockerComposeApp"] = None) -> list[dict]:
    """One JSON-able entry per connector (dicts or objects with ``name``/``arn``/``parameters``):
    ``{"name", "arn", "state": "not-run" | <docker app state>, "reason"}``."""
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


@dataclass
class _Outcome:
    returncode: int
    output: str


async def _run(argv: list[str], timeout_s: float) -> _Outcome:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return _Outcome(-1, f"{' '.join(argv)} timed out after {timeout_s:.0f} s")
    return _Outcome(proc.returncode, output.decode("utf-8", "replace").strip())


class DockerComposeApp:
    """The Docker application deployment connector done locally: ``docker compose up -d`` of a
    compose file on start, ``down`` on stop — only when ``docker compose`` works on this machine."""

    def __init__(self, compose_file: str, project: str, *, docker: str = "docker", timeout_s: float = 300.0):
        self.compose_file = compose_file
        self.project = project
        self.docker = docker
        self.timeout_s = timeout_s
        self.state = "new"
        self.reason = ""

    async def available(self) -> tuple[bool, str]:
        if shutil.which(self.docker) is None:
            return False, f"{self.docker} is not installed"
        outcome = await _run([self.docker, "compose", "version"], 20.0)
        if outcome.returncode != 0:
            detail = outcome.output or outcome.returncode
            return False, f"`{self.docker} compose` does not work here: {detail}"
        return True, outcome.output

    async def start(self) -> None:
        ok, detail = await self.available()
        if not ok:
            self.state, self.reason = "not-run", detail
            log.warning("Docker application connector not run: %s", detail)
            return
        outcome = await _run(
            [self.docker, "compose", "-f", self.compose_file, "-p", self.project, "up", "-d"], self.timeout_s)
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
