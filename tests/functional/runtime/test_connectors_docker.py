"""The Docker application connector on a machine without ``docker compose``: one plain INFO line
and the same sentence in the connectors status (the dashboard's connector panel).

Real executables on a PATH made for the test: none at all, or a ``docker`` that refuses
``compose`` the way a docker CLI without the compose plugin does."""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from localcore.runtime import DockerComposeApp, connectors_status
from localcore.runtime.connectors import NO_COMPOSE

CONNECTOR = {"name": "docker-app",
             "arn": "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/7"}
LOGGER = "localcore.runtime.connectors"

# what docker 25+ prints without the compose plugin (exit 1); older ones say "is not a docker command"
OLD_DOCKER = """#!/bin/sh
if [ "$1" = "compose" ]; then
  echo "docker: unknown command: docker compose" >&2
  echo "" >&2
  echo "Run 'docker --help' for more information" >&2
  exit 1
fi
echo "Docker version 24.0.0, build fake"
"""


def _path_with(tmp_path: Path, docker_script: str | None) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if docker_script is not None:
        docker = bin_dir / "docker"
        docker.write_text(docker_script)
        docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    # /bin for sh; make sure no docker lives there on this machine
    for directory in ("/usr/bin", "/bin"):
        assert not os.path.exists(os.path.join(directory, "docker")), f"{directory}/docker exists"
    return os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"])


async def _start_twice(tmp_path: Path, caplog) -> list[dict]:
    """Two starts in one process (a run and a redeploy): the status rows of both."""
    rows = []
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        for n in range(2):
            app = DockerComposeApp(str(tmp_path / f"compose-{n}.yml"), f"p{n}")
            await app.start()
            [row] = connectors_status([CONNECTOR], docker=app)
            rows.append(row)
            await app.stop()
    return rows


@pytest.mark.parametrize("docker_script", [None, OLD_DOCKER], ids=["no-docker-on-path", "docker-without-compose"])
async def test_no_docker_compose_is_said_once_plainly_at_info(tmp_path, monkeypatch, caplog, docker_script):
    monkeypatch.setenv("PATH", _path_with(tmp_path, docker_script))
    rows = await _start_twice(tmp_path, caplog)

    text = "Docker application connector: not run — no `docker compose` on this machine"
    assert NO_COMPOSE == text
    for row in rows:
        assert (row["name"], row["state"], row["reason"]) == ("docker-app", "not-run", text)
    records = [r for r in caplog.records if r.name == LOGGER]
    assert [(r.levelno, r.getMessage()) for r in records] == [(logging.INFO, text)]
    assert "unknown command" not in caplog.text and "--help" not in caplog.text


async def test_a_docker_engine_that_does_not_answer_is_a_warning_once(tmp_path, monkeypatch, caplog):
    """``docker compose`` exists but no engine answers: worth a warning (someone meant to run it), once."""
    script = """#!/bin/sh
if [ "$1" = "compose" ]; then echo "Docker Compose version v2.24.0"; exit 0; fi
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
exit 1
"""
    monkeypatch.setenv("PATH", _path_with(tmp_path, script))
    rows = await _start_twice(tmp_path, caplog)
    for row in rows:
        assert row["state"] == "not-run"
        assert row["reason"].startswith("Docker application connector: not run — the Docker engine does not answer")
        assert "Is the docker daemon running?" in row["reason"]
    records = [r for r in caplog.records if r.name == LOGGER]
    assert [r.levelno for r in records] == [logging.WARNING]
