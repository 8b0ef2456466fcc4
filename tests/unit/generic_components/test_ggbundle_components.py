"""The bundle's generic components (components/): their recipes, the pure parts of their scripts, and the
committed stream manager SDK zip (it must equal what components/build_sdk_zip.py builds)."""
from __future__ import annotations

import datetime as dt
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import pytest

from group.v2.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[3]
COMPONENTS = ROOT / "components"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


webcam = _load(COMPONENTS / "webcam" / "webcam.py", "ggbundle_webcam")
s3_upload = _load(COMPONENTS / "s3_upload" / "s3_upload.py", "ggbundle_s3_upload")
build_sdk_zip = _load(COMPONENTS / "build_sdk_zip.py", "ggbundle_build_sdk_zip")


# ---------------------------------------------------------------------------------------- SDK zip
def test_the_committed_sdk_zip_is_what_the_script_builds():
    committed = (COMPONENTS / "s3_upload" / "stream_manager_sdk.zip").read_bytes()
    built = build_sdk_zip.build()
    if committed != built:
        with zipfile.ZipFile(io.BytesIO(committed)) as a, zipfile.ZipFile(io.BytesIO(built)) as b:
            old = {i.filename: a.read(i) for i in a.infolist()}
            new = {i.filename: b.read(i) for i in b.infolist()}
        differ = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
        pytest.fail("components/s3_upload/stream_manager_sdk.zip is stale (members differing: "
                    f"{differ or 'none: only the zip encoding'}); run python components/build_sdk_zip.py "
                    "and bump com.ggbundle.S3Upload's ComponentVersion")
    assert build_sdk_zip.build() == built  # reproducible: same input, same bytes


def test_the_sdk_zip_holds_the_sdk_and_cbor2_as_pure_python_with_licences():
    with zipfile.ZipFile(COMPONENTS / "s3_upload" / "stream_manager_sdk.zip") as z:
        names = z.namelist()
        infos = z.infolist()
    assert "stream_manager/__init__.py" in names and "cbor2/__init__.py" in names
    assert any(n.startswith("LICENSES/stream-manager-") for n in names)
    assert any(n.startswith("LICENSES/cbor2-") for n in names)
    assert not [n for n in names if n.endswith((".so", ".pyc")) or "__pycache__" in n], names
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert names == sorted(names)


# ---------------------------------------------------------------------------------------- recipes
@pytest.mark.parametrize("folder, name, artifacts", [
    ("webcam", "com.ggbundle.WebCam", {"webcam.py", "requirements.txt"}),
    ("s3_upload", "com.ggbundle.S3Upload", {"s3_upload.py", "stream_manager_sdk.zip"}),
])
def test_recipes_parse_and_name_only_files_of_their_folder(folder, name, artifacts):
    recipe = load_recipe(COMPONENTS / folder / "recipe.yaml")
    assert recipe.name == name
    assert not recipe.name.startswith("com.example.")  # our names, not the AWS sample's
    manifest = recipe.select_manifest({"os": "linux", "architecture": "amd64"})
    assert manifest is not None
    files = {a.uri.rsplit("/", 1)[-1] for a in manifest.artifacts}
    assert files == artifacts
    assert all((COMPONENTS / folder / f).is_file() for f in files)


def test_the_uploader_needs_stream_manager_and_unzips_the_sdk_onto_pythonpath():
    recipe = load_recipe(COMPONENTS / "s3_upload" / "recipe.yaml")
    dep = recipe.dependency("aws.greengrass.StreamManager")
    assert dep.dependency_type == "HARD"
    manifest = recipe.select_manifest({"os": "linux", "architecture": "amd64"})
    (sdk,) = [a for a in manifest.artifacts if a.file_name == "stream_manager_sdk.zip"]
    assert sdk.unarchive == "ZIP"
    assert manifest.lifecycle.setenv["PYTHONPATH"] == "{artifacts:decompressedPath}/stream_manager_sdk"


def test_both_default_to_the_v2_folder_not_the_v1_lambdas_one():
    cam = load_recipe(COMPONENTS / "webcam" / "recipe.yaml").default_configuration
    up = load_recipe(COMPONENTS / "s3_upload" / "recipe.yaml").default_configuration
    assert cam["outputDir"] == up["inputDir"] == "/tmp/s3_stream_v2"
    assert up["bucket"] == "gg-bundle-v2-frames"
    assert (cam["width"], cam["height"], cam["saveEveryNFrames"]) == (640, 480, 10)


# ---------------------------------------------------------------------------------------- webcam
T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def test_frame_names_give_the_key_format():
    name = webcam.frame_name(T0)
    assert name == "2026_01_02_03.04.05.jpg"
    assert s3_upload.key_for(name) == "2026/01/02/03.04.05.jpg"
    assert s3_upload.key_for(name, "/frames/") == "frames/2026/01/02/03.04.05.jpg"


@pytest.mark.parametrize("every, times, want", [
    # (every, frame times as seconds after T0, indices saved)
    (1, [0.0, 1.0, 2.0], [0, 1, 2]),
    (10, [i * 0.1 for i in range(30)], [0, 10, 20]),                    # 10 fps: one a second
    (2, [0.0, 0.3, 0.6, 0.9, 1.2, 1.5], [0, 4]),           # due at 0.6 (same second): waits for 1.x
    (3, [0.0, 0.1, 0.2, 0.95, 1.0, 1.1, 1.2], [0, 4]),    # 0.95 is due but in second 5: 1.0 saved
    (1, [0.0, 0.0, 0.5, 1.0], [0, 3]),                                 # never two in one second
])
def test_frame_schedule(every, times, want):
    schedule = webcam.FrameSchedule(every)
    saved = [i for i, t in enumerate(times) if schedule.offer(T0 + dt.timedelta(seconds=t)) is not None]
    assert saved == want


def test_frame_schedule_refuses_zero():
    with pytest.raises(ValueError, match="at least 1"):
        webcam.FrameSchedule(0)


def test_write_atomic_leaves_only_the_finished_file(tmp_path):
    path = webcam.write_atomic(str(tmp_path / "out"), "a.jpg", b"\xff\xd8data")
    assert Path(path).read_bytes() == b"\xff\xd8data"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.jpg"]


@pytest.mark.parametrize("argv, message", [
    (["--output-dir", "/x", "--save-every", "0"], "--save-every must be at least 1"),
    (["--output-dir", "/x", "--jpeg-quality", "101"], "--jpeg-quality must be within 1..100"),
    (["--output-dir", "/x", "--fps", "0"], "--fps must be positive"),
])
def test_webcam_arguments_are_checked(argv, message, capsys):
    with pytest.raises(SystemExit):
        webcam.parse_args(argv)
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- uploader
def test_candidates_are_finished_jpegs_only():
    assert s3_upload.is_candidate("2026_01_02_03.04.05.jpg")
    assert not s3_upload.is_candidate(".frame-abc.part")
    assert not s3_upload.is_candidate(".x.jpg")
    assert not s3_upload.is_candidate("notes.txt")


def test_tracker_deletes_on_success_of_its_own_task_only():
    t = s3_upload.UploadTracker(retry_delay_s=5, max_in_flight=10)
    paths = t.to_submit("/d", ["b.jpg", ".tmp.part", "a.jpg"], now=0)
    assert paths == ["/d/a.jpg", "/d/b.jpg"]
    t.submitted("/d/a.jpg", 7)
    t.submitted("/d/b.jpg", 8)
    assert t.to_submit("/d", ["a.jpg", "b.jpg"], now=1) == []        # in flight: not again
    assert t.on_status("InProgress", "Tasks", 7, "Tasks", now=1) is None
    assert t.on_status("Success", "Other", 7, "Tasks", now=1) is None  # another stream's task
    assert t.on_status("Success", "Tasks", 3, "Tasks", now=1) is None  # an earlier run's task
    assert t.on_status("Success", "Tasks", 7, "Tasks", now=1) == ("delete", "/d/a.jpg")
    assert t.on_status("Success", "Tasks", 7, "Tasks", now=1) is None  # once
    assert (t.uploaded, t.in_flight) == (1, 1)


def test_tracker_retries_a_failed_upload_after_the_delay():
    t = s3_upload.UploadTracker(retry_delay_s=5, max_in_flight=10)
    t.submitted("/d/a.jpg", 1)
    assert t.on_status("Failure", "Tasks", 1, "Tasks", now=10) == ("retry", "/d/a.jpg")
    assert t.to_submit("/d", ["a.jpg"], now=14) == []
    assert t.to_submit("/d", ["a.jpg"], now=15) == ["/d/a.jpg"]
    assert t.failed == 1


def test_tracker_keeps_within_max_in_flight_and_skips_rejected():
    t = s3_upload.UploadTracker(max_in_flight=2)
    t.submitted("/d/a.jpg", 1)
    assert t.to_submit("/d", ["a.jpg", "b.jpg", "c.jpg"], now=0) == ["/d/b.jpg"]
    t.rejected("/d/b.jpg")
    assert t.to_submit("/d", ["b.jpg", "c.jpg"], now=0) == ["/d/c.jpg"]


def test_stream_definitions_export_to_s3_with_the_status_stream():
    args = s3_upload.parse_args(["--input-dir", "/d", "--bucket", "b"])
    status, tasks = s3_upload.stream_definitions(args)
    (executor,) = tasks.export_definition.s3_task_executor
    assert executor.status_config.status_stream_name == status.name == "GGBundleV2S3Status"
    assert tasks.name == "GGBundleV2S3Tasks"


@pytest.mark.parametrize("argv, message", [
    (["--input-dir", "/d", "--bucket", " "], "--bucket must name the S3 bucket"),
    (["--input-dir", "/d", "--bucket", "b", "--status-read-timeout-ms", "60000"], "within 0..59000"),
])
def test_uploader_arguments_are_checked(argv, message, capsys):
    with pytest.raises(SystemExit):
        s3_upload.parse_args(argv)
    assert message in capsys.readouterr().err
