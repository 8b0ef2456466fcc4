"""com.ggbundle.WebCam — the bundle's webcam capture component (our own implementation, not AWS's sample).

Reads frames with OpenCV from ``cv2.VideoCapture(<camera index>)`` at 640x480 and saves one frame in N
(default 10) as a JPEG named ``YYYY_MM_DD_HH.MM.SS.jpg`` (UTC) in the output folder, where
com.ggbundle.S3Upload picks it up and uploads it under the key ``YYYY/MM/DD/HH.MM.SS.jpg``. Because the key
has a resolution of one second, at most one frame per second is saved: a frame that falls due within the
second of the previous saved one waits for the next second. Files appear atomically (written as a dot-file,
then renamed), so the uploader never sees half a JPEG.

Runs until SIGTERM or SIGINT (exit 0); exits 2 when the camera does not open and 3 after
``--max-read-failures`` failed reads in a row, so the nucleus restarts it. Python 3.7+; needs OpenCV, numpy.
"""
from __future__ import annotations

import argparse
import datetime
import logging
import os
import signal
import sys
import tempfile
import threading
from typing import Callable, List, Optional

NAME_FORMAT = "%Y_%m_%d_%H.%M.%S"
EXTENSION = ".jpg"

LOG = logging.getLogger("com.ggbundle.WebCam")


def frame_name(when: datetime.datetime) -> str:
    """``2026_01_02_03.04.05.jpg`` for 2026-01-02 03:04:05.xxx."""
    return when.strftime(NAME_FORMAT) + EXTENSION


class FrameSchedule:
    """Which frames to save: every ``every``-th frame, never two in the same second (pure; not thread-safe).

    A frame that falls due within the second of the last saved one stays due: the first frame of a later
    second is saved instead, and the count of ``every`` frames starts again from it.
    """

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError("save every N frames: N must be at least 1, not {}".format(every))
        self.every = every
        self._since_saved: Optional[int] = None
        self._last_name: Optional[str] = None

    def offer(self, when: datetime.datetime) -> Optional[str]:
        """The file name to save this frame as, or None to drop it."""
        due = self._since_saved is None or self._since_saved + 1 >= self.every
        if not due:
            self._since_saved += 1
            return None
        name = frame_name(when)
        if name == self._last_name:
            return None  # still due; the same S3 key would be overwritten
        self._since_saved, self._last_name = 0, name
        return name


def write_atomic(directory: str, name: str, data: bytes) -> str:
    """Write ``directory/name`` so that readers only ever see the complete file."""
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".frame-", suffix=".part", dir=directory)
    path = os.path.join(directory, name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="webcam.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", required=True, help="folder the JPEG files are written to")
    p.add_argument("--camera-index", type=int, default=0, help="cv2.VideoCapture index (default 0)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=float, default=10.0, help="frame rate asked of the camera (default 10)")
    p.add_argument("--save-every", type=int, default=10, help="save one frame in N (default 10)")
    p.add_argument("--jpeg-quality", type=int, default=90)
    p.add_argument("--max-read-failures", type=int, default=50,
                   help="exit 3 after this many failed reads in a row (default 50)")
    args = p.parse_args(argv)
    for name in ("width", "height", "save_every", "max_read_failures"):
        if getattr(args, name) < 1:
            p.error("--{} must be at least 1, not {}".format(name.replace("_", "-"), getattr(args, name)))
    if not 1 <= args.jpeg_quality <= 100:
        p.error("--jpeg-quality must be within 1..100, not {}".format(args.jpeg_quality))
    if args.fps <= 0:
        p.error("--fps must be positive, not {}".format(args.fps))
    return args


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def capture(args: argparse.Namespace, stop: threading.Event,
            now: Callable[[], datetime.datetime] = _utc_now) -> int:
    """Read frames until ``stop`` is set; returns the exit code."""
    import cv2  # here, not at import: the pure parts above need no OpenCV

    camera = cv2.VideoCapture(args.camera_index)
    try:
        if not camera.isOpened():
            LOG.error("camera %d cannot be opened (is /dev/video%d there, and readable by this user?)",
                      args.camera_index, args.camera_index)
            return 2
        camera.set(cv2.CAP_PROP_FRAME_WIDTH, args.width)
        camera.set(cv2.CAP_PROP_FRAME_HEIGHT, args.height)
        camera.set(cv2.CAP_PROP_FPS, args.fps)
        LOG.info("capturing from camera %d at %dx%d, saving one frame in %d to %s", args.camera_index,
                 args.width, args.height, args.save_every, args.output_dir)
        schedule = FrameSchedule(args.save_every)
        failures = saved = 0
        while not stop.is_set():
            ok, frame = camera.read()  # paced by the camera's frame rate
            if not ok or frame is None:
                failures += 1
                if failures >= args.max_read_failures:
                    LOG.error("camera %d: %d reads in a row failed; exiting", args.camera_index, failures)
                    return 3
                stop.wait(0.1)
                continue
            failures = 0
            name = schedule.offer(now())
            if name is None:
                continue
            if frame.shape[1] != args.width or frame.shape[0] != args.height:
                frame = cv2.resize(frame, (args.width, args.height))  # cameras may ignore the asked size
            ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, args.jpeg_quality])
            if not ok:
                LOG.warning("OpenCV could not encode a frame of shape %s; skipped", frame.shape)
                continue
            path = write_atomic(args.output_dir, name, jpeg.tobytes())
            saved += 1
            LOG.debug("saved %s", path)
            if saved == 1 or saved % 100 == 0:
                LOG.info("%d frame(s) saved, latest %s", saved, path)
        LOG.info("stopped after saving %d frame(s)", saved)
        return 0
    finally:
        camera.release()


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
        LOG.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return capture(args, stop)


if __name__ == "__main__":
    sys.exit(main())
