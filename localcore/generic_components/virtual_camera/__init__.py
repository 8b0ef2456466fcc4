"""A virtual camera for generic components on a machine without one.

``shim_dir()`` is a folder holding a ``cv2`` module; the component service puts it first on a component's
``PYTHONPATH`` when ``/dev/video0`` does not exist. Imported inside the component, that module loads the real
OpenCV and replaces ``cv2.VideoCapture`` so that ``cv2.VideoCapture(<index>)`` for an index whose
``/dev/video<index>`` does not exist reads a synthetic moving test pattern (announced once on stderr, i.e. in
the component's log); every other source (an existing device, a file, a URL) opens the real OpenCV capture.
Nothing of the component's code changes. Why a shim and not a v4l2loopback device: docs/decisions.md.
"""
from __future__ import annotations

from pathlib import Path

SHIM_DIR = Path(__file__).resolve().parent / "shim"


def shim_dir() -> Path:
    """The folder to put first on ``PYTHONPATH`` (it holds ``cv2.py``)."""
    return SHIM_DIR


def needed(index: int = 0) -> bool:
    """Whether a component would get the virtual camera for ``index``: ``/dev/video<index>`` does not exist."""
    return not Path(f"/dev/video{index}").exists()


__all__ = ["shim_dir", "needed", "SHIM_DIR"]
