"""The bundle's own webcam -> S3 flow as V2 generic components under ``deploy.py run --platform v2``.

``com.ggbundle.WebCam`` (components/webcam) saves JPEGs of ``cv2.VideoCapture(0)`` (the local core's
virtual camera where ``/dev/video0`` is missing) into its output folder; ``com.ggbundle.S3Upload``
(components/s3_upload) hands each to the stream manager's S3 export with the V2 ``stream_manager`` SDK
from its unzipped artifact, and deletes it after the export's ``Success`` status. The shared run's v2 instance
(``group_run``); its group copy (``write_test_group``) moves the output folder to ``<bundle>/frames_v2``.
"""
from __future__ import annotations

import json
import re

import pytest

import e2e_gg

# the shared run's v2 instance (tests/e2e/conftest.py: the same run and xdist group as the other v2 tests)
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("platform", ["v2"], indirect=True)]

KEY_RE = re.compile(r"^\d{4}/\d{2}/\d{2}/\d{2}\.\d{2}\.\d{2}\.jpg$")
BUCKET = "gg-bundle-v2-frames"
WEBCAM, UPLOAD = "com.ggbundle.WebCam", "com.ggbundle.S3Upload"
FLOW_TIMEOUT_S = 60.0


def _keys(s3) -> list:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _status(run) -> dict:
    done = run.deploy_cli("status", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    # deploy.py prints "<file>: N warning(s)" on stdout before the JSON when the group file has warnings
    # (the seed's components: warning does); the JSON document is the rest
    text = done.stdout
    start = text.find("\n{") + 1 if not text.startswith("{") else 0
    return json.loads(text[start:])


def _component_log(run, name: str) -> str:
    path = run.state_dir / "v2" / "greengrass" / "logs" / f"{name}.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else f"(no log at {path})"


def test_webcam_frames_reach_the_bucket_and_leave_the_folder(group_run):
    run = group_run
    s3 = run.client("s3")
    frames = run.bundle / "frames_v2"

    def uploaded():
        keys = _keys(s3)
        return keys if len(keys) >= 3 else None

    try:
        keys = e2e_gg.wait_for(uploaded, FLOW_TIMEOUT_S, f"3 JPEGs in s3://{BUCKET}", interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- {WEBCAM} log:\n{_component_log(run, WEBCAM)}\n--- {UPLOAD} log:\n"
                             f"{_component_log(run, UPLOAD)}") from None
    assert all(KEY_RE.match(k) for k in keys), keys
    body = s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()
    assert body[:3] == b"\xff\xd8\xff" and body[-2:] == b"\xff\xd9", body[:16]  # a whole JPEG
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (480, 640, 3), None if image is None else image.shape

    # each uploaded file is deleted from the output folder after its Success status
    def gone():
        names = {p.name for p in frames.glob("*.jpg")}
        left = [k for k in keys if k.replace("/", "_") in names]
        return not left or None

    e2e_gg.wait_for(gone, 30.0, f"the uploaded files gone from {frames}", interval=0.2)
    # the webcam keeps saving into the test copy's folder while the uploader empties it
    e2e_gg.wait_for(lambda: len(_keys(s3)) > len(keys), 20.0, "more JPEGs in the bucket", interval=0.5)


def test_status_lists_both_components_running(group_run):
    st = _status(group_run)
    assert st["device_status"] == "SUCCEEDED", st
    components = st["components"]
    for name in (WEBCAM, UPLOAD):
        assert name in components, sorted(components)
        assert components[name]["state"] == "RUNNING", components[name]
