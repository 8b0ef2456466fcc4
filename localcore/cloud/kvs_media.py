"""Kinesis Video stand-in, media: JPEG sizes, MP4 clips of stored frames (OpenCV mp4v), and
frame sources for the ingest client (synthetic test cards, a video or image file)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

from .kvs_state import Frame, InvalidMediaFrameException

log = logging.getLogger(__name__)


def decode_size(jpeg: bytes) -> tuple[int, int] | None:
    """(width, height) of a decodable JPEG, else None."""
    import cv2  # noqa: PLC0415 -- opencv is heavy; only media paths need it
    import numpy as np  # noqa: PLC0415

    if len(jpeg) < 4 or jpeg[:2] != b"\xff\xd8":
        return None
    img = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    return int(img.shape[1]), int(img.shape[0])


def clip_fps(times: Sequence[float]) -> float:
    """A constant frame rate for an MP4 of frames taken at ``times`` (median gap, 1..60 fps)."""
    gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    if not gaps:
        return 10.0
    return float(min(60.0, max(1.0, round(1.0 / gaps[len(gaps) // 2], 3))))


def assemble_clip(frames: Sequence[tuple[float, Path]], size: tuple[int, int],
                  tmp_dir: str | os.PathLike | None = None) -> bytes:
    """A real MP4 (MPEG-4 Part 2, 'mp4v': the codec the opencv wheel can encode) holding the JPEG
    files ``frames`` in order, each resized to ``size`` if it differs."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    width, height = size
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="kvs-clip-", dir=tmp_dir)
    os.close(fd)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"),
                             clip_fps([t for t, _ in frames]), (width, height))
    try:
        if not writer.isOpened():
            raise InvalidMediaFrameException("the mp4v encoder could not be opened")
        written = 0
        for ts, jpg in frames:
            img = cv2.imdecode(np.fromfile(str(jpg), dtype=np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                log.warning("kvs: frame %s (t=%.3f) is unreadable; left out of the clip", jpg, ts)
                continue
            if (img.shape[1], img.shape[0]) != (width, height):
                img = cv2.resize(img, (width, height))
            writer.write(img)
            written += 1
        writer.release()
        if not written:
            raise InvalidMediaFrameException("no frame of the selected fragments could be decoded")
        return Path(path).read_bytes()
    finally:
        writer.release()
        os.unlink(path)


def synthetic_frames(count: int = 30, fps: float = 10.0, end_time: float | None = None,
                     size: tuple[int, int] = (320, 240), quality: int = 85) -> Iterator[Frame]:
    """``count`` numbered test-card frames at ``fps`` whose last one is at ``end_time`` (now)."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    end_time = time.time() if end_time is None else end_time
    width, height = size
    for i in range(count):
        img = np.zeros((height, width, 3), dtype=np.uint8)
        img[:] = ((i * 37) % 200 + 30, (i * 91) % 200 + 30, (i * 53) % 200 + 30)
        cv2.putText(img, str(i), (width // 8, height * 2 // 3), cv2.FONT_HERSHEY_SIMPLEX,
                    height / 80, (255, 255, 255), max(2, height // 60))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        yield Frame(end_time - (count - 1 - i) / fps, buf.tobytes())


def frames_from_file(path: str | os.PathLike, end_time: float | None = None,
                     quality: int = 85) -> list[Frame]:
    """Frames of a video (any format OpenCV reads) or a single image, timed so that the last frame
    is at ``end_time`` (default now) -- a snapshot of the last seconds then sees the file's end."""
    import cv2  # noqa: PLC0415

    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    end_time = time.time() if end_time is None else end_time
    image = cv2.imread(path, cv2.IMREAD_COLOR) if path.lower().endswith(
        (".jpg", ".jpeg", ".png", ".bmp")) else None
    raw: list[tuple[float, object]] = []
    if image is not None:
        raw.append((0.0, image))
    else:
        cap = cv2.VideoCapture(path)
        try:
            fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
            n = 0
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                pos = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                raw.append((pos if pos > 0 or n == 0 else n / fps, img))
                n += 1
        finally:
            cap.release()
    if not raw:
        raise ValueError(f"{path}: OpenCV read no frame (not a video or image it can decode)")
    shift = end_time - raw[-1][0]
    out = []
    for t, img in raw:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError(f"{path}: frame at {t:.3f} s could not be encoded as JPEG")
        out.append(Frame(t + shift, buf.tobytes()))
    return out
