"""group/package.py: reproducible Lambda zips with the SDK vendored."""
from __future__ import annotations

import io
import os
import zipfile

import pytest

from group.package import FIXED_DATE, PackageError, build


@pytest.fixture()
def code_dir(tmp_path):
    d = tmp_path / "fn"
    (d / "pkg").mkdir(parents=True)
    (d / "handler.py").write_text("def function_handler(event, context):\n    return event\n")
    (d / "pkg" / "logic.py").write_text("X = 1\n")
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\0junk")
    (d / "pkg" / "logic.pyc").write_bytes(b"\0junk")
    return d


def test_same_input_same_hash(code_dir):
    a = build("fn", code_dir)
    os.utime(code_dir / "handler.py", (1_000_000, 1_000_000))  # mtime must not matter
    (code_dir / "pkg" / "logic.py").chmod(0o755)               # nor permissions
    b = build("fn", code_dir)
    assert a.data == b.data and a.sha256_hex == b.sha256_hex and a.code_sha256 == b.code_sha256


def test_changed_file_changes_hash(code_dir):
    a = build("fn", code_dir)
    (code_dir / "pkg" / "logic.py").write_text("X = 2\n")
    b = build("fn", code_dir)
    assert a.code_sha256 != b.code_sha256
    (code_dir / "extra.py").write_text("")
    assert build("fn", code_dir).code_sha256 not in (a.code_sha256, b.code_sha256)


def test_a_rebuild_reuses_no_zip_of_other_entries(code_dir):
    """Builds of the same entries share one zip in a process; a rename or a moved byte is another zip."""
    a = build("fn", code_dir)
    (code_dir / "pkg" / "logic.py").rename(code_dir / "pkg" / "logic2.py")
    b = build("fn", code_dir)
    assert "pkg/logic2.py" in b.files and "pkg/logic.py" not in b.files and b.data != a.data
    (code_dir / "pkg" / "logic2.py").write_text("X = 1\n\n")
    (code_dir / "handler.py").write_text("def function_handler(event, context):\n    return event")
    c = build("fn", code_dir)  # same total bytes, moved across two files
    assert c.data not in (a.data, b.data)
    with zipfile.ZipFile(io.BytesIO(c.data)) as zf:
        assert zf.read("pkg/logic2.py") == b"X = 1\n\n"
    (code_dir / "pkg" / "logic2.py").rename(code_dir / "pkg" / "logic.py")
    (code_dir / "pkg" / "logic.py").write_text("X = 1\n")
    (code_dir / "handler.py").write_text("def function_handler(event, context):\n    return event\n")
    again = build("other-name", code_dir)
    assert again.data == a.data and again.name == "other-name"


def test_entries_sorted_fixed_and_clean(code_dir):
    pkg = build("fn", code_dir)
    with zipfile.ZipFile(io.BytesIO(pkg.data)) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        assert {i.date_time for i in infos} == {FIXED_DATE}
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        assert not any("__pycache__" in n or n.endswith((".pyc", ".so")) for n in names)
        assert "handler.py" in names and "pkg/logic.py" in names
        # the SDK and its dependency, pure Python only (no cpython-311 extension for a 3.7 core)
        assert "greengrasssdk/stream_manager/streammanagerclient.py" in names
        assert "cbor2/decoder.py" in names
        assert not any(n.startswith("_cbor2") for n in names)
        assert zf.read("handler.py").startswith(b"def function_handler")


def test_size_limit(code_dir):
    (code_dir / "blob.bin").write_bytes(os.urandom(300_000))
    with pytest.raises(PackageError, match="over Lambda's"):
        build("fn", code_dir, limit=200_000)


def test_missing_vendor_distribution(code_dir):
    with pytest.raises(PackageError, match="not installed"):
        build("fn", code_dir, vendor=("no-such-distribution-xyz",))


def test_library_folders_land_at_the_zip_root(tmp_path):
    import io
    import zipfile

    from group.package import build

    code = tmp_path / "fn"
    lib = tmp_path / "_lib" / "sharedpkg"
    code.mkdir()
    lib.mkdir(parents=True)
    (code / "handler.py").write_text("import sharedpkg\n")
    (lib / "__init__.py").write_text("X = 1\n")
    pkg = build("fn", code, vendor=(), libraries=[tmp_path / "_lib"])
    names = zipfile.ZipFile(io.BytesIO(pkg.data)).namelist()
    assert "sharedpkg/__init__.py" in names and "handler.py" in names
    (lib / "__init__.py").write_text("X = 2\n")
    assert build("fn", code, vendor=(), libraries=[tmp_path / "_lib"]).sha256_hex != pkg.sha256_hex
