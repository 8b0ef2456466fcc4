"""The virtual camera shim with the real OpenCV, in a child interpreter as a component would run it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from localcore.generic_components.virtual_camera import needed, shim_dir

pytestmark = pytest.mark.skipif(not needed(0), reason="this machine has /dev/video0: the shim must not be used")


def run(code: str, tmp_path) -> tuple[dict, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim_dir()), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_index_without_device_reads_a_moving_pattern_of_the_asked_size(tmp_path):
    out, err = run("""
        import json, cv2, numpy
        cap = cv2.VideoCapture(0)
        ok = cap.isOpened()
        first = [cap.read() for _ in range(3)]
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, 320); cap.set(cv2.CAP_PROP_FRAME_HEIGHT, 240)
        ok2, small = cap.read()
        again = cv2.VideoCapture(0)
        ok3, f3 = again.read()
        cap.release()
        print(json.dumps({"opened": ok, "oks": [r[0] for r in first], "shape": list(first[0][1].shape),
                          "dtype": str(first[0][1].dtype), "changes": bool(numpy.any(first[0][1] != first[2][1])),
                          "small": list(small.shape), "after_release": cap.read()[0], "again": ok3,
                          "real": cv2.__file__, "jpeg": bool(cv2.imencode(".jpg", first[0][1])[0]),
                          "w": cap.get(cv2.CAP_PROP_FRAME_WIDTH)}))
    """, tmp_path)
    assert out["opened"] and out["oks"] == [True, True, True] and out["again"]
    assert out["shape"] == [480, 640, 3] and out["dtype"] == "uint8" and out["small"] == [240, 320, 3]
    assert out["changes"], "consecutive frames must differ (a moving pattern)"
    assert out["after_release"] is False and out["jpeg"] and out["w"] == 320.0
    assert "cv2" in out["real"] and str(shim_dir()) not in out["real"]  # the real OpenCV module
    assert err.count("virtual camera: /dev/video0 does not exist") == 1  # announced once


def test_other_sources_open_the_real_capture(tmp_path):
    # a file written with the real OpenCV: the shim passes it through untouched
    out, err = run("""
        import json, cv2, numpy
        w = cv2.VideoWriter("clip.mp4", cv2.VideoWriter_fourcc(*"mp4v"), 5, (64, 48))
        for i in range(5):
            w.write(numpy.full((48, 64, 3), i * 40, numpy.uint8))
        w.release()
        cap = cv2.VideoCapture("clip.mp4")
        ok, frame = cap.read()
        missing = cv2.VideoCapture("nothere.mp4")
        print(json.dumps({"ok": ok, "shape": list(frame.shape), "type": type(cap).__module__,
                          "missing": missing.isOpened()}))
    """, tmp_path)
    assert out["ok"] and out["shape"] == [48, 64, 3] and out["type"] == "cv2" and out["missing"] is False
    assert "virtual camera" not in err
