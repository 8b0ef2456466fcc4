"""Build ``components/s3_upload/stream_manager_sdk.zip``: the V2 stream manager SDK as a component artifact.

The zip holds the installed ``stream_manager`` package and its one requirement ``cbor2`` (pure-Python files
only: cbor2 falls back to its Python codec where its C extension is missing, as on a device's Python 3.7),
plus their licence files under ``LICENSES/``. The recipe unarchives it and puts the folder on ``PYTHONPATH``,
so installing the component needs no network. The zip is reproducible: entries sorted, dated 1980-01-01,
mode 0644, no ``__pycache__``; the same installed packages give the same bytes.

Usage: ``python components/build_sdk_zip.py [--out PATH] [--check]`` (``--check`` exits 1 when the file at
``--out`` differs from what would be built).
"""
from __future__ import annotations

import argparse
import io
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Dict, Iterator, Tuple

DEFAULT_OUT = Path(__file__).resolve().parent / "s3_upload" / "stream_manager_sdk.zip"
PACKAGES = (("stream-manager", "stream_manager"), ("cbor2", "cbor2"))  # (distribution, top-level package)
_DATE = (1980, 1, 1, 0, 0, 0)


def _members() -> Iterator[Tuple[str, bytes]]:
    for dist_name, package in PACKAGES:
        dist = metadata.distribution(dist_name)
        for f in dist.files or ():
            parts = Path(str(f)).parts
            name = Path(str(f)).name
            if parts[0] == package and name.endswith(".py") and "__pycache__" not in parts:
                yield "/".join(parts), Path(dist.locate_file(f)).read_bytes()
            elif parts[0].endswith(".dist-info") and name.startswith(("LICENSE", "NOTICE")):
                data = Path(dist.locate_file(f)).read_bytes()
                yield "LICENSES/{}-{}/{}".format(dist_name, dist.version, name), data


def build() -> bytes:
    """The zip's bytes."""
    members: Dict[str, bytes] = dict(_members())
    for _, package in PACKAGES:
        if f"{package}/__init__.py" not in members:
            raise SystemExit(f"build_sdk_zip: the installed {package} package has no __init__.py "
                             "(install requirements.txt into this interpreter first)")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # unix, whatever the building machine is
            z.writestr(info, members[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--check", action="store_true", help="exit 1 when --out differs from a fresh build")
    args = p.parse_args(argv)
    data = build()
    if args.check:
        same = args.out.is_file() and args.out.read_bytes() == data
        print(f"{args.out}: {'up to date' if same else 'stale: run python components/build_sdk_zip.py'}")
        return 0 if same else 1
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
