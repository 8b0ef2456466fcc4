"""localcore.run.settle_environment: numpy's and OpenCV's imports, which the local cloud runs lazily on a request
thread, change no key of os.environ once it was called — a thread iterating os.environ meanwhile (botocore making a
client) does not fail. Each check runs in a fresh interpreter without those keys."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from localcore.run import IMPORT_TIME_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[3]
PROBE = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "settled":
    from localcore.run import settle_environment
    settle_environment()
before = set(os.environ)
changes = []
import numpy
changes.append(sorted(set(os.environ) ^ before))
import cv2
changes.append(sorted(set(os.environ) ^ before))
print(json.dumps(changes))
"""


def _key_changes(mode: str) -> list:
    env = {k: v for k, v in os.environ.items() if k not in IMPORT_TIME_ENVIRONMENT}
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), mode], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_without_it_the_imports_add_keys():
    numpy_changes, cv2_changes = _key_changes("plain")
    assert "LD_LIBRARY_PATH" in cv2_changes   # numpy removes its keys again; OpenCV's stays


def test_settled_the_imports_change_no_key():
    assert _key_changes("settled") == [[], []]
