"""What every step of ``deploy.py run`` shares, whatever the platform: the group, where it lives, where
state and credentials go, the embedded cloud and the progress lines (``localcore/run.py`` builds it;
``run_v1.py`` and ``run_v2.py`` take it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Tuple

from localcore.pki import LocalPKI


@dataclass
class RunContext:
    progress: Any  # localcore.run.Progress: step(name, seconds, ok, detail) and note(text)
    group: Any  # group.model.Group: the validated group file
    group_file: Path
    root: Path  # the group file's bundle: code paths resolve against it
    state_dir: Path
    certs_dir: Path
    cloud: Any  # localcore.cloud.LocalCloud, started
    pki: LocalPKI = field(init=False)

    def __post_init__(self) -> None:
        self.pki = LocalPKI(self.state_dir / "ca")

    def issue(self, thing: str) -> Tuple[bytes, bytes]:
        """A device or core certificate from the local root CA (the stand-in for the AWS IoT CA)."""
        issued = self.pki.root.issue_client(thing)
        return issued.cert_pem, issued.key_pem
