"""Core-provided package ``greengrass_ipc_python_sdk`` (local Greengrass V1 core implementation)."""
