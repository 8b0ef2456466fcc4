"""The webcam panel's "frames captured": the unmodified webcam Lambda (``lambdas/webcam``) runs in
a real ``LambdaRuntime`` with its synthetic camera; its handler answers an invocation with its
worker's status (``frames``), which ``web.facade.Polled`` + ``webcam_section(worker=...)`` read."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from localcore.interfaces import FunctionSpec
from localcore.router import Router
from localcore.runtime import LambdaRuntime
from web.facade import Polled, webcam_section

REPO = Path(__file__).resolve().parents[3]
WAIT_S = 20.0


@pytest.fixture
async def webcam(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    spec = FunctionSpec(
        name="webcam", code_dir=str(REPO / "lambdas" / "webcam"), handler="handler.function_handler",
        arn="arn:aws:lambda:us-east-1:123456789012:function:webcam:live", pinned=True, timeout_s=10,
        encoding="binary", libraries=(str(REPO / "lambdas" / "_lib"),),
        environment={"CAMERA_MODE": "synthetic", "FPS": "40", "SAVE_EVERY_N_FRAMES": "4",
                     "FRAME_WIDTH": "64", "FRAME_HEIGHT": "48", "OUTPUT_DIR": str(frames)})
    runtime = LambdaRuntime([spec], Router(), None, tmp_path / "state", ipc_port=0)
    await runtime.start()
    try:
        yield runtime, frames
    finally:
        await runtime.stop()


async def test_frames_captured_come_from_the_webcam_lambdas_own_status(webcam):
    runtime, frames = webcam

    async def worker_status():
        result = await runtime.invoke("webcam", b"")
        assert result.function_error == "", result.payload
        return result.json()

    worker = Polled(worker_status, max_age_s=0.1)
    try:
        async def captured_enough() -> dict:
            while True:
                section = webcam_section(str(frames), worker=worker())
                if isinstance(section["captured"], int) and section["captured"] >= 12 and section["saved"] >= 3:
                    return section
                await asyncio.sleep(0.05)  # the Lambda reports only when asked: ask again shortly
        section = await asyncio.wait_for(captured_enough(), WAIT_S)
    finally:
        await worker.aclose()
    # every 4th captured frame is saved (frames 0, 4, 8...), so the counts agree with the Lambda's own settings.
    # The section's "captured" is the worker's status of up to a poll ago while "saved" counts the files now:
    # compare the files with a status asked for after they were counted.
    later = await worker_status()
    assert section["captured"] <= later["frames"]
    assert later["frames"] >= 4 * (section["saved"] - 1) + 1
    assert section["source"] == "synthetic" and section["last_error"] is None
    assert section["latest_jpeg_path"].startswith(str(frames))


async def test_polled_gives_none_and_recovers_when_the_fetch_fails(caplog):
    answers = [RuntimeError("function not running"), {"frames": 5}]

    async def fetch():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    polled = Polled(fetch, max_age_s=0.0)
    seen = []

    async def until_answered():
        while not seen or seen[-1] is None:
            seen.append(polled())  # returns at once; starts a refresh when none is under way
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(until_answered(), 2.0)
    finally:
        await polled.aclose()
    assert seen[0] is None and seen[-1] == {"frames": 5} and answers == []
    assert "function not running" in caplog.text


def test_webcam_section_without_the_lambdas_status_leaves_captured_unknown(tmp_path):
    section = webcam_section(str(tmp_path))
    assert section["captured"] is None and "source" not in section
    assert webcam_section(str(tmp_path), worker={"frames": 9, "source": "camera"})["captured"] == 9
    assert webcam_section(str(tmp_path), captured=3, worker={"frames": 9})["captured"] == 3
