"""Lambda deployment packages: the function's folder + ``greengrasssdk`` and its dependencies.

The zip is **reproducible**: entries sorted by name, a fixed timestamp (1980-01-01), fixed
permissions (0644 files), no ``__pycache__`` / ``*.pyc``, same compression; the same input gives
the same bytes and so the same SHA-256 (Lambda's ``CodeSha256`` is its base64). That is what
lets a re-deploy see "code unchanged" without uploading.

The SDKs are vendored from the running interpreter's site-packages (the pinned versions of
requirements.txt), pure-Python files only: compiled extensions (``_cbor2.cpython-311-*.so``) are
for this interpreter, not for the core's Python 3.7/3.8, and cbor2 falls back to its pure-Python
implementation without them.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import re
import sys
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import GroupError

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
ZIP_LIMIT_BYTES = 50 * 1024 * 1024  # Lambda: direct-upload zipped package limit
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
DEFAULT_VENDOR = ("greengrasssdk",)
_SKIP_DIRS = {"__pycache__", ".git", ".pytest_cache", ".mypy_cache", "tests"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib")


class PackageError(GroupError):
    """A package cannot be built (missing distribution, over the size limit)."""


@dataclass(frozen=True)
class Package:
    name: str
    data: bytes
    files: Tuple[str, ...]
    unzipped_size: int

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def code_sha256(self) -> str:
        """As Lambda reports it: base64 of the SHA-256 digest of the zip."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()

    @property
    def size(self) -> int:
        return len(self.data)


def _requirement_name(req: str) -> Optional[str]:
    if ";" in req and "extra ==" in req.split(";", 1)[1]:
        return None  # optional extra
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)", req)
    return m.group(1) if m else None


def vendored_files(dists: Sequence[str] = DEFAULT_VENDOR) -> List[Tuple[str, Path]]:
    """``(archive name, file)`` for every pure-Python file of ``dists`` and their requirements."""
    return list(_vendored_files(tuple(dists)))


@functools.lru_cache(maxsize=16)  # the interpreter's installed distributions do not change while it runs
def _vendored_files(dists: Tuple[str, ...]) -> Tuple[Tuple[str, Path], ...]:
    seen: set = set()
    todo = list(dists)
    out: Dict[str, Path] = {}
    while todo:
        name = todo.pop(0)
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PackageError(f"cannot vendor '{name}': not installed in {sys.prefix} "
                               "(fix: .venv/bin/pip install -r requirements.txt)") from None
        for f in dist.files or ():
            parts = PurePosixPath(str(f)).parts
            if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")) or parts[0] == "..":
                continue
            if any(p in _SKIP_DIRS for p in parts) or str(f).endswith(_SKIP_SUFFIXES):
                continue
            path = Path(dist.locate_file(f))
            if path.is_file():
                out[str(PurePosixPath(*parts))] = path
        for req in dist.requires or ():
            dep = _requirement_name(req)
            if dep:
                todo.append(dep)
    return tuple(sorted(out.items()))


def code_files(code_dir: Path) -> List[Tuple[str, Path]]:
    out = []
    if not code_dir.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(code_dir):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for fn in filenames:
            if fn.startswith(".") or fn.endswith(_SKIP_SUFFIXES):
                continue
            path = Path(dirpath) / fn
            out.append((path.relative_to(code_dir).as_posix(), path))
    return sorted(out)


def build(name: str, code_dir: Path, vendor: Sequence[str] = DEFAULT_VENDOR,
          limit: int = ZIP_LIMIT_BYTES, libraries: Sequence[Path] = ()) -> Package:
    """Zip ``code_dir`` + the vendored SDKs + the group's shared library dirs (their contents at the
    zip root, as the local runtime puts them on ``sys.path``) reproducibly; raise PackageError past
    the size limit."""
    entries: Dict[str, Path] = {}
    for arc, path in vendored_files(vendor):
        entries[arc] = path
    for lib in libraries:
        for arc, path in code_files(Path(lib)):
            entries[arc] = path
    for arc, path in code_files(Path(code_dir)):
        entries[arc] = path  # the function's own file wins over a vendored one of that name
    contents = [(arc, entries[arc].read_bytes()) for arc in sorted(entries)]
    data, total = _zipped(tuple(contents))
    pkg = Package(name, data, tuple(arc for arc, _ in contents), total)
    if pkg.size > limit:
        raise PackageError(f"package of '{name}' is {pkg.size / 1e6:.1f} MB zipped, over Lambda's "
                           f"{limit / 1e6:.0f} MB limit (fix: remove large files from {code_dir})")
    if total > UNZIPPED_LIMIT_BYTES:
        raise PackageError(f"package of '{name}' is {total / 1e6:.1f} MB unzipped, "
                           "over Lambda's 250 MB limit "
                           f"(fix: remove large files from {code_dir})")
    return pkg


_ZIPPED: "OrderedDict[bytes, Tuple[bytes, int]]" = OrderedDict()  # digest of the entries → (zip, unzipped size)
_ZIPPED_MAX = 64
_zipped_lock = threading.Lock()


def _zipped(contents: Tuple[Tuple[str, bytes], ...]) -> Tuple[bytes, int]:
    """The reproducible zip of ``contents`` (sorted ``(name, bytes)``) and its unzipped size.

    The zip is a function of the entries alone (fixed dates, modes and compression), so a build whose
    entries are byte for byte those of an earlier one in this process reuses its zip: ``plan``,
    ``deploy`` and ``run`` each package every function, and compressing the vendored SDKs at level 9 is
    most of a package's cost.
    """
    digest = hashlib.sha256()
    for arc, data in contents:
        digest.update(b"%d:%s\0%d\0" % (len(arc), arc.encode("utf-8"), len(data)))
        digest.update(data)
    key = digest.digest()
    with _zipped_lock:
        hit = _ZIPPED.get(key)
        if hit is not None:
            _ZIPPED.move_to_end(key)
            return hit
    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for arc, data in contents:
            total += len(data)
            info = zipfile.ZipInfo(arc, date_time=FIXED_DATE)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=9)
    made = (buf.getvalue(), total)
    with _zipped_lock:
        _ZIPPED[key] = made
        while len(_ZIPPED) > _ZIPPED_MAX:
            _ZIPPED.popitem(last=False)
    return made


def build_all(group, root: Path, vendor: Sequence[str] = DEFAULT_VENDOR) -> Dict[str, Package]:
    """One package per function of ``group`` (a ``group.model.Group``), keyed by function name."""
    return {f.name: build(f.name, f.code_dir(root), vendor, libraries=f.library_dirs(root))
            for f in group.functions}
