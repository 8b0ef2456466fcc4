"""Device scripts import their siblings by plain name, as they do when run as scripts (as in tests/unit/devices)."""
import sys
from pathlib import Path

DEVICES = Path(__file__).resolve().parents[3] / "devices"
if str(DEVICES) not in sys.path:
    sys.path.append(str(DEVICES))
