"""A component that opens cv2.VideoCapture(0) gets the virtual camera through the runner's extra_pythonpath hook,
first on PYTHONPATH even when the recipe sets its own PYTHONPATH."""
from __future__ import annotations

import json

import pytest

from group.v2.recipe import parse_recipe
from localcore.generic_components.lifecycle import State
from localcore.generic_components.runner import ComponentRunner
from localcore.generic_components.tokens import ComponentTokens
from localcore.generic_components.virtual_camera import needed, shim_dir

pytestmark = pytest.mark.skipif(not needed(0), reason="this machine has /dev/video0: the shim must not be used")

SCRIPT = ("import cv2, json, os, sys; c = cv2.VideoCapture(0); ok, f = c.read(); "
          "json.dump({'ok': ok, 'shape': list(f.shape), 'path': os.environ['PYTHONPATH']}, open(sys.argv[1], 'w'))")


async def test_the_component_reads_frames_from_the_virtual_camera(tmp_path):
    out = tmp_path / "frame.json"
    doc = {"RecipeFormatVersion": "2020-01-25", "ComponentName": "com.example.Cam", "ComponentVersion": "1.0.0",
           "Manifests": [{"Platform": {"os": "*"}, "Lifecycle": {
               "Setenv": {"PYTHONPATH": "/opt/sdk"},
               "Run": f"python3 -c \"{SCRIPT}\" {out}"}}]}
    runner = ComponentRunner(parse_recipe(json.dumps(doc)), root=tmp_path / "gg", tokens=ComponentTokens(),
                             thing_name="Core", region="us-east-1", kill_grace_s=1.0,
                             extra_pythonpath=(shim_dir(),))
    await runner.start()
    try:
        assert await runner.wait_for(State.FINISHED, State.BROKEN, timeout=60) == State.FINISHED
        got = json.loads(out.read_text())
        assert got["ok"] and got["shape"] == [480, 640, 3]
        assert got["path"].split(":")[:2] == [str(shim_dir()), "/opt/sdk"]
        log = runner.paths.log.read_text()
        assert log.count("virtual camera: /dev/video0 does not exist") == 1
    finally:
        await runner.stop()
