"""webcam (synthetic camera) → JPEG in the shared volume → s3_uploader's S3 export task →
object in moto under the key derived from the file name → the local file deleted."""
import re
import threading

import pytest

import e2e_gg

pytestmark = pytest.mark.slow

NAME = re.compile(r"^\d{4}_\d{2}_\d{2}_\d{2}\.\d{2}\.\d{2}\.\d{6}(?:_\d+)?\.jpg$")


def test_webcam_frames_land_in_s3_and_leave_the_volume(group_run):
    s3 = group_run.client("s3")
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    bucket = next((b for b in buckets if b.endswith("gg-bundle-frames")), None)
    assert bucket, buckets

    # watch the volume: the names the webcam writes (the uploader deletes them once exported)
    seen, stop = set(), threading.Event()

    def watch():
        while not stop.is_set():
            seen.update(p.name for p in group_run.frames_dir.glob("*.jpg"))
            stop.wait(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        def uploaded_seen_frames():
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
            names = {k: k.replace("/", "_") for k in keys}
            return [k for k, n in names.items() if n in seen and not (group_run.frames_dir / n).exists()]

        keys = e2e_gg.wait_for(uploaded_seen_frames, 40,
                               "a frame written to the volume, uploaded and deleted")
    finally:
        stop.set()
        watcher.join(2)
    assert all(NAME.match(name) for name in seen), sorted(seen)
    for key in keys:
        name = key.replace("/", "_")
        assert NAME.match(name), key
        assert key == name[:4] + "/" + name[5:7] + "/" + name[8:10] + "/" + name[11:], key
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert body[:3] == b"\xff\xd8\xff" and body.rstrip(b"\0")[-2:] == b"\xff\xd9", key
        try:
            import cv2
            import numpy as np
        except ImportError:
            continue
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        # FRAME_HEIGHT × FRAME_WIDTH of the test group
        assert image is not None and image.shape[:2] == (120, 160), key
