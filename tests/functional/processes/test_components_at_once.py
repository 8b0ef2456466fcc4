"""Generic components started together: nine runners of one core write the interpreter shims at the same
time without a race (each through a temporary file of its own), and a runner that cannot prepare its files
reports BROKEN at once (what a deployment waits for) instead of dying silently in NEW."""
from __future__ import annotations

import asyncio
import json

from group.v2.recipe import parse_recipe
from localcore.generic_components.lifecycle import State
from localcore.generic_components.runner import ComponentRunner
from localcore.generic_components.tokens import ComponentTokens

COMPONENTS = 9


def recipe(name: str, run: str = "python3 -c 'import sys; print(\"python\", sys.version_info[0])'"):
    return parse_recipe(json.dumps({
        "RecipeFormatVersion": "2020-01-25", "ComponentName": name, "ComponentVersion": "1.0.0",
        "Manifests": [{"Platform": {"os": "*"}, "Lifecycle": {"Run": run}}],
    }))


async def test_nine_components_at_once_write_their_shims_without_a_race(tmp_path):
    tokens = ComponentTokens()
    runners = [ComponentRunner(recipe(f"com.example.C{i}"), root=tmp_path / "gg", tokens=tokens, thing_name="Core",
                               region="us-east-1", kill_grace_s=1.0) for i in range(COMPONENTS)]
    try:
        await asyncio.gather(*(r.start() for r in runners))
        reached = await asyncio.gather(*(r.wait_for(State.FINISHED, State.BROKEN, timeout=60) for r in runners))
        assert reached == [State.FINISHED] * COMPONENTS, [r.status()["reason"] for r in runners]
        for r in runners:  # each ran python3 through the shim
            assert "python 3" in r.paths.log.read_text(), r.paths.log.read_text()[-2000:]
        assert sorted(p.name for p in (tmp_path / "gg" / "bin").iterdir()) == ["pip", "pip3", "python", "python3"]
    finally:
        await asyncio.gather(*(r.stop() for r in runners))


async def test_a_runner_that_cannot_prepare_its_files_reports_broken_at_once(tmp_path):
    root = tmp_path / "gg"
    root.mkdir()
    (root / "bin").write_text("a file where the shims' folder goes\n")
    tokens = ComponentTokens()
    runner = ComponentRunner(recipe("com.example.Blocked"), root=root, tokens=tokens, thing_name="Core",
                             region="us-east-1", kill_grace_s=1.0)
    try:
        await runner.start()
        assert await runner.wait_for(State.BROKEN, State.RUNNING, State.FINISHED, timeout=10) == State.BROKEN
        status = runner.status()
        assert status["statusCode"] == "INSTALL_ERROR"
        assert "FileExistsError" in status["reason"] and "bin" in status["reason"], status
    finally:
        await runner.stop()

