"""Core-provided package ``greengrass_common`` (local Greengrass V1 core implementation)."""
