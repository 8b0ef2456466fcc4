"""Output (#22.8): switching one state folder between V1 and V2 (``deploy.py run`` then ``deploy.py run
--platform v2``) sums the adopted objects up in one line (each one with ``--verbose``); with output that is not a
terminal no ✓ line is broken at 80 columns."""
from __future__ import annotations

import re
import subprocess
import sys


def _run(h, tmp_path, gf, *extra):
    done = subprocess.run([sys.executable, str(h.root / "deploy.py"), "run", "--group-file", str(gf),
                           "--state-dir", str(tmp_path / ".gg"), "--certs-dir", str(tmp_path / "certs"),
                           "--ephemeral-ports", "--no-devices", "--no-dashboard", "--exit-after-ready", *extra],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=90, cwd=str(tmp_path),
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "80"})
    assert done.returncode == 0, done.stdout
    return done.stdout.splitlines()


def test_switching_platforms_sums_adoptions_up_and_keeps_step_lines_whole(h, tmp_path):
    gf = h.small_bundle(tmp_path / "bundle", "switch-output-with-a-long-group-name", core="SwitchCore",
                        devices=("SwitchSensorOne", "SwitchSensorTwo"), functions=("hello", "world"),
                        cloud={"tables": [{"name": "SwitchTable", "hash_key": "Time"}],
                               "buckets": ["switch-output-bucket-22"]})
    _run(h, tmp_path, gf)                                # V1 makes everything
    lines = _run(h, tmp_path, gf, "--platform", "v2")    # V2 adopts what V1 made
    text = "\n".join(lines)
    assert not [line for line in lines if "exists already" in line], text
    summary = [line for line in lines if "adopted as they are" in line]
    assert len(summary) == 1, text
    count = int(re.search(r"(\d+) existing object\(s\) adopted", summary[0]).group(1))
    assert count >= 10 and f"{count} of them Greengrass V1's" in summary[0], summary[0]
    steps = [line for line in lines if line.startswith(("✓", "✗"))]
    assert steps and all(re.search(r"\(\s*\d+\.\d\d s\)", line) for line in steps), text
    assert any(len(line) > 80 for line in steps), text  # long lines stay whole
    assert not [line for line in lines if re.fullmatch(r"[0-9a-f-]{8,}.*\)|\d+ components", line.strip())], text

    again = _run(h, tmp_path, gf)                        # back to V1: nothing new to adopt, nothing said
    assert not [line for line in again if "adopted" in line], "\n".join(again)
