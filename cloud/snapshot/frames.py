"""Video → frame → JPEG, with OpenCV. No AWS here."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def last_frame(path):
    """The last frame OpenCV can decode from the video file at ``path`` and its position in
    milliseconds from the start of the clip, or ``None`` when no frame decodes."""
    import cv2  # heavy: imported on first use, not at module import

    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            log.info("OpenCV cannot open %s as a video", path)
            return None
        best = None
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if frame is not None and frame.size:
                best = (frame, max(0.0, float(cap.get(cv2.CAP_PROP_POS_MSEC))))
        return best
    finally:
        cap.release()


def encode_jpeg(frame, quality):
    """JPEG bytes of a BGR ``frame`` at ``quality`` (1..100)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return buf.tobytes()
