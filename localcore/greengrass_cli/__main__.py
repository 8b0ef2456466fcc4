"""``python -m localcore.greengrass_cli ...``: the ``greengrass-cli`` of the local V2 core (see :mod:`.client`)."""
import sys

from .client import main

sys.exit(main())
