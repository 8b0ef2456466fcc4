"""components/webcam/webcam.py as a process: real OpenCV (through the local core's virtual camera where
/dev/video0 is missing), JPEG files of the configured size, clean exit on SIGTERM."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from localcore.generic_components.virtual_camera import needed, shim_dir

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "components" / "webcam" / "webcam.py"
NAME_RE = r"^\d{4}_\d{2}_\d{2}_\d{2}\.\d{2}\.\d{2}\.jpg$"


def _start(out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ)
    if needed(0):
        env["PYTHONPATH"] = os.pathsep.join([str(shim_dir()), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.Popen([sys.executable, "-u", str(SCRIPT), "--output-dir", str(out), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_saves_frames_as_timestamped_jpegs_and_stops_on_sigterm(tmp_path):
    out = tmp_path / "frames"
    proc = _start(out, "--fps", "20", "--save-every", "5")
    try:
        deadline = time.monotonic() + 30
        files = []
        while time.monotonic() < deadline and len(files) < 2 and proc.poll() is None:
            files = sorted(out.glob("*.jpg")) if out.is_dir() else []
            time.sleep(0.1)  # files appear on disk; no event to await
        if len(files) < 2:
            pytest.fail(proc.communicate(timeout=5)[0] if proc.poll() is not None else "no 2 frames in 30 s")
        assert all(re.match(NAME_RE, f.name) for f in files), files
        assert len({f.name for f in files}) == len(files)
        image = cv2.imread(str(files[0]))
        assert image is not None and image.shape == (480, 640, 3)
        assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no half-written file left visible
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()


@pytest.mark.skipif(Path("/dev/video7").exists(), reason="this machine has /dev/video7")
def test_a_camera_that_does_not_open_exits_2(tmp_path):
    # no shim on the path: the real OpenCV cannot open a missing device
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--output-dir", str(tmp_path), "--camera-index", "7"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "camera 7 cannot be opened" in done.stdout
