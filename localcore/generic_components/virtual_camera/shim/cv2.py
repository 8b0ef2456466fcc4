"""Virtual-camera shim (see localcore/generic_components/virtual_camera): the real OpenCV, with ``VideoCapture`` opening a
synthetic moving test pattern for camera indices whose ``/dev/video<index>`` does not exist.

Runs inside a component's process (any Python 3.7+); imports nothing of the bundle.
"""
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_real():
    # Leave the stage to the real package: drop this folder from sys.path and this module from sys.modules,
    # import OpenCV, and make it the module every later ``import cv2`` gets.
    me = sys.modules.pop(__name__, None)
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    try:
        import cv2 as real  # noqa: E402 - the real OpenCV now
    except ImportError:
        if me is not None:
            sys.modules[__name__] = me
        raise
    finally:
        sys.path[:] = saved
    return real


_real = _load_real()
_RealCapture = _real.VideoCapture
_announced = set()


def _device_missing(index):
    return not os.path.exists("/dev/video%d" % index)


class _VirtualCapture(object):
    """The VideoCapture methods components use, over a generated pattern (BGR, uint8)."""

    def __init__(self, index, fps=30.0):
        import numpy  # OpenCV's own dependency

        self._np = numpy
        self.index = index
        self.width, self.height, self.fps = 640, 480, float(fps)
        self.frame_no = 0
        self.opened = True
        self._next = time.monotonic()
        self._last = None

    # -- the OpenCV API
    def isOpened(self):  # noqa: N802 - OpenCV's name
        return self.opened

    def set(self, prop, value):
        if prop == _real.CAP_PROP_FRAME_WIDTH and value > 0:
            self.width = int(value)
        elif prop == _real.CAP_PROP_FRAME_HEIGHT and value > 0:
            self.height = int(value)
        elif prop == _real.CAP_PROP_FPS and value > 0:
            self.fps = float(value)
        else:
            return False
        return True

    def get(self, prop):
        return {_real.CAP_PROP_FRAME_WIDTH: float(self.width), _real.CAP_PROP_FRAME_HEIGHT: float(self.height),
                _real.CAP_PROP_FPS: self.fps, _real.CAP_PROP_POS_FRAMES: float(self.frame_no)}.get(prop, 0.0)

    def grab(self):
        if not self.opened:
            return False
        # a camera delivers frames at its rate: pace reads the same way (no busy loop in the component)
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
        self._next = max(self._next, now) + 1.0 / self.fps
        self._last = self._pattern(self.frame_no)
        self.frame_no += 1
        return True

    def retrieve(self, image=None, flag=0):
        if self._last is None:
            return False, None
        return True, self._last.copy()

    def read(self, image=None):
        if not self.grab():
            return False, None
        return self.retrieve()

    def release(self):
        self.opened = False

    def __del__(self):
        self.opened = False

    # -- the picture: colour bars scrolling sideways, a square bouncing, the frame number and the time
    def _pattern(self, n):
        np, w, h = self._np, self.width, self.height
        bars = np.array([[255, 255, 255], [0, 255, 255], [255, 255, 0], [0, 255, 0], [255, 0, 255],
                         [0, 0, 255], [255, 0, 0], [16, 16, 16]], dtype=np.uint8)
        cols = (np.arange(w) * len(bars) // max(w, 1) + n // 4) % len(bars)
        frame = np.repeat(bars[cols][None, :, :], h, axis=0)
        side = max(8, min(w, h) // 6)
        span_x, span_y = max(1, w - side), max(1, h - side)
        x = (n * 7) % (2 * span_x)
        y = (n * 5) % (2 * span_y)
        x = x if x < span_x else 2 * span_x - x
        y = y if y < span_y else 2 * span_y - y
        frame[y:y + side, x:x + side] = (0, 0, 0)
        text = "virtual camera %d  frame %d  %s" % (self.index, n, time.strftime("%H:%M:%S"))
        _real.putText(frame, text, (8, max(16, h - 12)), _real.FONT_HERSHEY_SIMPLEX, max(0.3, w / 1400.0),
                      (0, 0, 0), 1, _real.LINE_AA)
        return frame


class VideoCapture(object):
    """``cv2.VideoCapture``: the virtual camera for a camera index without its /dev/video device, else OpenCV's."""

    def __new__(cls, *args, **kwargs):
        source = args[0] if args else kwargs.get("index", kwargs.get("filename"))
        if isinstance(source, int) and not isinstance(source, bool) and source >= 0 and _device_missing(source):
            if source not in _announced:
                _announced.add(source)
                sys.stderr.write("virtual camera: /dev/video%d does not exist on this machine; cv2.VideoCapture(%d) "
                                 "reads a synthetic moving test pattern (localcore virtual camera)\n" % (source, source))
                sys.stderr.flush()
            return _VirtualCapture(source)
        return _RealCapture(*args, **kwargs)


_real.VideoCapture = VideoCapture
sys.modules[__name__] = _real
