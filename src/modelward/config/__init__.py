"""Configuration context: ``modelward.toml``, environment overrides, the workspace home."""

from modelward.config.settings import Secrets, Settings
from modelward.config.workspace import CONFIG_FILE, HOME_DIR, Workspace, find_root, init_workspace

__all__ = [
    "CONFIG_FILE",
    "HOME_DIR",
    "Secrets",
    "Settings",
    "Workspace",
    "find_root",
    "init_workspace",
]
