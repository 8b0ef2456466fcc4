"""The dashboard keeps a copy of the newest webcam frame between status rounds: the S3 uploader deletes a
frame ~0.3 s after it is written, often before the next status names it."""
import asyncio
import os

from web.app import _LastFrame


async def test_a_frame_written_and_deleted_between_status_rounds_is_kept(tmp_path):
    frames = _LastFrame()
    first = tmp_path / "a.jpg"
    first.write_bytes(b"first")
    await frames.remember({"webcam": {"latest_jpeg_path": str(first)}})  # the status names the folder once
    watch = asyncio.create_task(frames.watch())
    try:
        second = tmp_path / "b.jpg"
        (tmp_path / ".b.jpg.tmp").write_bytes(b"partial")  # files being written start with '.': never read
        second.write_bytes(b"second")
        os.utime(second, (first.stat().st_mtime + 1, first.stat().st_mtime + 1))
        for _ in range(40):  # bounded: 40 × 0.05 s
            if frames.data == b"second":
                break
            await asyncio.sleep(0.05)
        assert frames.data == b"second" and frames.path == str(second)
        second.unlink()  # uploaded and deleted: the copy stays
        await asyncio.sleep(frames.WATCH_S * 2)
        assert frames.data == b"second"
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)


async def test_the_folder_is_watched_from_a_status_that_names_no_frame(tmp_path):
    """Frames written every second and a status every second can stay in phase so that no status ever
    sees a frame: the section names the folder, and the copy is kept from the start."""
    frames = _LastFrame()
    await frames.remember({"webcam": {"frames_dir": str(tmp_path), "latest_jpeg_path": None}})
    watch = asyncio.create_task(frames.watch())
    try:
        (tmp_path / "c.jpg").write_bytes(b"third")
        for _ in range(40):
            if frames.data == b"third":
                break
            await asyncio.sleep(0.05)
        assert frames.data == b"third"
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
