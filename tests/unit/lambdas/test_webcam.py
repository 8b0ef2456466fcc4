import os
from datetime import datetime

import cv2
import numpy as np
import pytest

from camera import SyntheticSource, encode_jpeg, open_source, write_file_atomic
from frames import ConfigError, FrameNamer, WebcamConfig, should_save, synthetic_frame

T = datetime(2026, 11, 23, 11, 40, 5, 123456)


def test_names_follow_the_pattern_with_sub_second_suffix():
    assert FrameNamer().name_for(T) == "2026_11_23_11.40.05.123456.jpg"
    assert FrameNamer().name_for(T.replace(microsecond=7)) == "2026_11_23_11.40.05.000007.jpg"


def test_names_never_collide():
    namer = FrameNamer()
    same_instant = [namer.name_for(T) for _ in range(3)]
    assert same_instant == ["2026_11_23_11.40.05.123456.jpg", "2026_11_23_11.40.05.123456-1.jpg",
                            "2026_11_23_11.40.05.123456-2.jpg"]
    later = namer.name_for(T.replace(microsecond=123457))
    assert later == "2026_11_23_11.40.05.123457.jpg"
    # a clock stepped back onto a name that is still on disk
    on_disk = {"2026_11_23_11.40.05.123456.jpg", "2026_11_23_11.40.05.123456-1.jpg"}
    assert FrameNamer().name_for(T, on_disk.__contains__) == "2026_11_23_11.40.05.123456-2.jpg"
    # a clock jumping back and forth (files may be gone already: no help from the disk)
    many = FrameNamer()
    names = [many.name_for(T if i % 2 else T.replace(second=6)) for i in range(50)]
    assert len(set(names)) == 50
    assert names[:3] == ["2026_11_23_11.40.06.123456.jpg", "2026_11_23_11.40.06.123456-1.jpg",
                         "2026_11_23_11.40.06.123456-2.jpg"]


def test_names_sort_in_time_order():
    namer = FrameNamer()
    times = [T.replace(microsecond=m) for m in (5, 50, 500, 5000, 50000, 500000)]
    names = [namer.name_for(t) for t in times]
    assert names == sorted(names)


@pytest.mark.parametrize("index, every, saved", [(0, 10, True), (9, 10, False), (10, 10, True), (3, 1, True)])
def test_should_save(index, every, saved):
    assert should_save(index, every) is saved


def test_synthetic_frames_have_the_configured_size_and_move():
    first, second = synthetic_frame(0, 640, 480), synthetic_frame(1, 640, 480)
    assert first.shape == (480, 640, 3) and first.dtype == np.uint8
    assert not np.array_equal(first, second)
    assert np.array_equal(first, synthetic_frame(0, 640, 480))
    assert synthetic_frame(1000, 33, 17).shape == (17, 33, 3)


def test_jpeg_round_trip():
    data = encode_jpeg(synthetic_frame(3, 640, 480), 80)
    assert data[:3] == b"\xff\xd8\xff"
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (480, 640, 3)


def test_no_camera_falls_back_to_synthetic(tmp_path, caplog):
    config = WebcamConfig(device=str(tmp_path / "video9"), width=64, height=48)
    source = open_source(config)
    assert isinstance(source, SyntheticSource) and source.read().shape == (48, 64, 3)
    assert "synthetic moving test pattern" in caplog.text
    with pytest.raises(OSError, match="cannot be opened"):
        open_source(WebcamConfig(device=str(tmp_path / "video9"), mode="camera"))


def test_atomic_write_leaves_only_the_finished_file(tmp_path):
    path = write_file_atomic(str(tmp_path / "out"), "a.jpg", b"data")
    assert path == str(tmp_path / "out" / "a.jpg")
    assert os.listdir(str(tmp_path / "out")) == ["a.jpg"]


def test_config():
    assert WebcamConfig.from_env({}) == WebcamConfig()
    config = WebcamConfig.from_env({"FPS": "2.5", "SAVE_EVERY_N_FRAMES": "3", "OUTPUT_DIR": "/v",
                                    "CAMERA_MODE": "Synthetic"})
    assert (config.fps, config.save_every, config.output_dir, config.mode) == (2.5, 3, "/v", "synthetic")
    with pytest.raises(ConfigError, match="JPEG_QUALITY must be in 1..100, got '0'"):
        WebcamConfig.from_env({"JPEG_QUALITY": "0"})
    with pytest.raises(ConfigError, match="SAVE_EVERY_N_FRAMES must be >= 1, got '0'"):
        WebcamConfig.from_env({"SAVE_EVERY_N_FRAMES": "0"})
    with pytest.raises(ConfigError, match="CAMERA_MODE must be one of auto, camera, synthetic"):
        WebcamConfig.from_env({"CAMERA_MODE": "usb"})


def test_worker_saves_every_nth_frame_as_jpeg(tmp_path, handler_of):
    webcam = handler_of("webcam")
    config = WebcamConfig(device=str(tmp_path / "none"), width=64, height=48, fps=100, save_every=2,
                          output_dir=str(tmp_path / "frames"), mode="synthetic")
    worker = webcam.Webcam(config)
    worker.start()
    try:
        deadline = 200
        while worker.status()["saved"] < 3 and deadline:
            deadline -= 1
            worker._stop.wait(0.05)
    finally:
        worker.stop()
    status = worker.status()
    assert status["running"] is False and status["source"] == "synthetic"
    files = sorted(os.listdir(str(tmp_path / "frames")))
    assert len(files) == status["saved"] >= 3
    assert status["frames"] >= 2 * status["saved"] - 1
    assert all(name.endswith(".jpg") and not name.startswith(".") for name in files)
