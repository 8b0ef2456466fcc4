"""Local shadow service (classic AWS IoT device shadows)."""
from localcore.shadow.errors import ShadowError
from localcore.shadow.service import ShadowService
from localcore.shadow.state import ShadowState

__all__ = ["ShadowError", "ShadowService", "ShadowState"]
