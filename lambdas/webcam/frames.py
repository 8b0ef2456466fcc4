"""Frame scheduling, collision-free JPEG names and the synthetic test pattern (pure: no I/O)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping, Optional

import numpy as np

from gglambda.env import ConfigError, choice, number, text

__all__ = ["CAMERA_MODES", "ConfigError", "EXTENSION", "FrameNamer", "NAME_FORMAT", "WebcamConfig",
           "should_save", "synthetic_frame"]

NAME_FORMAT = "%Y_%m_%d_%H.%M.%S"
EXTENSION = ".jpg"
CAMERA_MODES = ("auto", "camera", "synthetic")


@dataclass(frozen=True)
class WebcamConfig:
    device: str = "/dev/video0"
    width: int = 640
    height: int = 480
    fps: float = 5.0
    save_every: int = 10
    output_dir: str = "/tmp/s3_stream"
    jpeg_quality: int = 90
    mode: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "WebcamConfig":
        mode = choice(env, "CAMERA_MODE", cls.mode, CAMERA_MODES)
        return cls(
            device=text(env, "CAMERA_DEVICE", cls.device),
            width=number(env, "FRAME_WIDTH", cls.width, int, 16, 7680),
            height=number(env, "FRAME_HEIGHT", cls.height, int, 16, 4320),
            fps=number(env, "FPS", cls.fps, float, 0.01, 120),
            save_every=number(env, "SAVE_EVERY_N_FRAMES", cls.save_every, int, 1),
            output_dir=text(env, "OUTPUT_DIR", cls.output_dir),
            jpeg_quality=number(env, "JPEG_QUALITY", cls.jpeg_quality, int, 1, 100),
            mode=mode,
        )


def should_save(frame_index: int, every: int) -> bool:
    """Frames 0, N, 2N, ... are saved."""
    return frame_index % every == 0


class FrameNamer:
    """``%Y_%m_%d_%H.%M.%S.<microseconds>.jpg`` names that never repeat within one process.

    Names issued are strictly increasing as (timestamp, counter): a second frame in the same
    microsecond, or a clock stepped back, keeps the last timestamp and adds ``-1``, ``-2``...
    before the extension until the clock moves past it. ``taken`` lets the caller also rule out
    names already on disk (left by an earlier process). Not thread-safe: the capture thread owns it.
    """

    def __init__(self) -> None:
        self._last_base = None  # type: Optional[str]
        self._repeat = 0

    def name_for(self, when: datetime, taken: Callable[[str], bool] = lambda name: False) -> str:
        base = "{}.{:06d}".format(when.strftime(NAME_FORMAT), when.microsecond)
        if self._last_base is not None and base <= self._last_base:
            self._repeat += 1
        else:
            self._last_base, self._repeat = base, 0
        while True:
            name = self._last_base + ("-{}".format(self._repeat) if self._repeat else "") + EXTENSION
            if not taken(name):
                return name
            self._repeat += 1


def synthetic_frame(index: int, width: int, height: int) -> np.ndarray:
    """A BGR test pattern that visibly moves: colour bars scrolling right and a bouncing square."""
    columns = (np.arange(width) + index * 8) % width
    bar = (columns * 8 // max(width, 1)).astype(np.uint8)          # 8 vertical bars
    palette = np.array([[255, 255, 255], [0, 255, 255], [255, 255, 0], [0, 255, 0],
                        [255, 0, 255], [0, 0, 255], [255, 0, 0], [0, 0, 0]], dtype=np.uint8)
    frame = np.broadcast_to(palette[bar], (height, width, 3)).copy()
    side = max(8, min(width, height) // 6)
    span_x, span_y = max(1, width - side), max(1, height - side)
    x = abs((index * 12) % (2 * span_x) - span_x)
    y = abs((index * 7) % (2 * span_y) - span_y)
    frame[y:y + side, x:x + side] = (32, 32, 32)
    return frame
