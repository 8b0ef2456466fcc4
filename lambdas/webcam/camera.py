"""Frame sources (a V4L2 camera through OpenCV, or the synthetic pattern) and JPEG files."""
from __future__ import annotations

import logging
import os
import tempfile
from typing import Optional

import cv2
import numpy as np

from frames import WebcamConfig, synthetic_frame

LOG = logging.getLogger(__name__)


class SyntheticSource:
    kind = "synthetic"

    def __init__(self, width: int, height: int) -> None:
        self._width, self._height, self._index = width, height, 0

    def read(self) -> Optional[np.ndarray]:
        frame = synthetic_frame(self._index, self._width, self._height)
        self._index += 1
        return frame

    def close(self) -> None:
        pass


class CameraSource:
    kind = "camera"

    def __init__(self, capture: "cv2.VideoCapture", width: int, height: int) -> None:
        self._capture, self._width, self._height = capture, width, height

    def read(self) -> Optional[np.ndarray]:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            return None
        if frame.shape[1] != self._width or frame.shape[0] != self._height:
            # Cameras may ignore the requested size; the output is always the configured one.
            frame = cv2.resize(frame, (self._width, self._height))
        return frame

    def close(self) -> None:
        self._capture.release()


def open_source(config: WebcamConfig):
    """The camera when it opens (mode auto/camera), else the synthetic pattern (mode auto/synthetic).

    Mode ``camera`` raises OSError when the device cannot be opened.
    """
    if config.mode != "synthetic":
        capture = cv2.VideoCapture(config.device) if os.path.exists(config.device) else None
        if capture is not None and capture.isOpened():
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
            capture.set(cv2.CAP_PROP_FPS, config.fps)
            LOG.info("capturing from %s at %dx%d, %.2f fps", config.device, config.width, config.height, config.fps)
            return CameraSource(capture, config.width, config.height)
        if capture is not None:
            capture.release()
        if config.mode == "camera":
            raise OSError("camera {} cannot be opened (CAMERA_MODE=camera)".format(config.device))
        LOG.warning("no camera at %s: using a synthetic moving test pattern", config.device)
    return SyntheticSource(config.width, config.height)


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode a frame of shape {} as JPEG".format(frame.shape))
    return buffer.tobytes()


def write_file_atomic(directory: str, name: str, data: bytes) -> str:
    """Write ``data`` to ``directory/name`` so that readers only ever see the complete file.

    The temporary file starts with a dot and does not end in ``.jpg``, so the uploader skips it.
    """
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".frame-", suffix=".part", dir=directory)
    path = os.path.join(directory, name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path
