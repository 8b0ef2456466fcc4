"""A generic component's files on the core: artifacts put in place, ZIPs unpacked, the ``python3``/``pip3`` shims.

What the nucleus' ``ComponentStore`` and ``Unarchiver`` do for a component version, with the runner's layout
(:class:`~.interpolate.ComponentPaths`): artifacts copied into ``packages/artifacts/<name>/<version>/`` with
their ``Permission`` applied and the folders read-only, ``Unarchive: ZIP`` into
``packages/artifacts-unarchived/<name>/<version>/<zip name>/`` (entries that would land outside refused).
Blocking file work: the runner calls it off the event loop.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Mapping

from group.v2.recipe import Artifact

from .errors import ArtifactError
from .interpolate import ComponentPaths

log = logging.getLogger(__name__)


def install_artifacts(paths: ComponentPaths, artifacts: tuple[Artifact, ...], files: Mapping[str, Path]) -> None:
    """Put the downloaded ``files`` (artifact URI → local file) of ``artifacts`` in place under ``paths``."""
    dest = paths.artifacts
    unarchived = paths.unarchived
    for d in (dest, unarchived):
        if d.exists():
            _make_writable(d)
        d.mkdir(parents=True, exist_ok=True)
    try:
        for a in artifacts:
            src = files.get(a.uri)
            if src is None:
                raise ArtifactError(f"artifact {a.uri} of {paths.name} was not downloaded (no local file given)")
            if not src.is_file():
                raise ArtifactError(f"artifact {a.uri} of {paths.name}: {src} does not exist")
            target = dest / a.file_name
            changed = not target.exists() or _sha256(target) != _sha256(src)
            if changed:
                shutil.copyfile(src, target)
            _apply_permission(target, a)
            if a.unarchive == "ZIP":
                out = unarchived / a.unarchived_dir_name
                if changed or not out.exists():
                    if out.exists():
                        shutil.rmtree(out)
                    _safe_unzip(target, out)
                for p in [out, *out.rglob("*")]:
                    if p.is_file():
                        _apply_permission(p, a)
    finally:
        for d in (dest, unarchived):
            _make_read_only_dirs(d)


def write_shims(bindir: Path, python: str) -> None:
    """``python3``/``python``/``pip3``/``pip`` in ``bindir`` (first on every component's PATH): ``python``."""
    pyver = _python_version(python)
    site = f'$PYTHONUSERBASE/lib/python{pyver}/site-packages'
    python3 = (
        "#!/bin/sh\n"
        "# python3 inside a component: the bundle's interpreter, with the component's user site\n"
        "# (PYTHONUSERBASE) importable even when that interpreter is a virtualenv's.\n"
        f'PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site}"; export PYTHONPATH\n'
        f'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then shift 2; exec "{bindir}/pip3" "$@"; fi\n'
        f'exec "{python}" "$@"\n'
    )
    pip3 = (
        "#!/bin/sh\n"
        "# pip3 inside a component: '--user' installs into $PYTHONUSERBASE (as --prefix, which a\n"
        "# virtualenv allows), i.e. under the component's work folder, never the user's home.\n"
        'n=$#; i=0\n'
        'while [ "$i" -lt "$n" ]; do a=$1; shift; i=$((i+1))\n'
        '  if [ "$a" = "--user" ]; then set -- "$@" --prefix "$PYTHONUSERBASE"; else set -- "$@" "$a"; fi\n'
        'done\n'
        f'exec "{python}" -m pip "$@"\n'
    )
    for name, body in (("python3", python3), ("python", python3), ("pip3", pip3), ("pip", pip3)):
        path = bindir / name
        if path.exists() and path.read_text() == body:
            continue
        # Runners of one core write these at the same time: each through a temporary file of its own.
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=bindir)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(body)
            os.chmod(tmp, 0o755)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _python_version(python: str) -> str:
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _apply_permission(path: Path, a: Artifact) -> None:
    mode = 0
    mode |= {"NONE": 0, "OWNER": stat.S_IRUSR, "ALL": stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH}[a.permission.read]
    mode |= {"NONE": 0, "OWNER": stat.S_IXUSR, "ALL": stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH}[a.permission.execute]
    path.chmod(mode)


def _make_writable(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        try:
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
            elif p.is_file():
                p.chmod(p.stat().st_mode | stat.S_IWUSR | stat.S_IRUSR)
        except OSError as e:
            log.warning("cannot make %s writable: %s", p, e)


def _make_read_only_dirs(root: Path) -> None:
    if not root.exists():
        return
    for p in sorted([root, *root.rglob("*")], key=lambda x: len(x.parts), reverse=True):
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o555)


def _safe_unzip(zip_path: Path, out: Path) -> None:
    try:
        with zipfile.ZipFile(zip_path) as z:
            for info in z.infolist():
                name = PurePosixPath(info.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise ArtifactError(f"{zip_path.name}: entry {info.filename!r} would land outside its folder")
            out.mkdir(parents=True)
            z.extractall(out)
    except zipfile.BadZipFile as e:
        raise ArtifactError(f"{zip_path.name} is not a ZIP file ({e}); set Unarchive: NONE or fix the file") from None
