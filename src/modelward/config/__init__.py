"""Configuration context: ``modelward.toml``, environment overrides, the workspace home.

This module is the context's public surface; other contexts import only from here.
"""

from modelward.config.settings import (
    AlertRuleSettings,
    DataSettings,
    JobsSettings,
    MonitorScheduleSettings,
    Secrets,
    ServerSettings,
    ServingSettings,
    Settings,
)
from modelward.config.workspace import CONFIG_FILE, HOME_DIR, Workspace, find_root, init_workspace

__all__ = [
    "CONFIG_FILE",
    "HOME_DIR",
    "AlertRuleSettings",
    "DataSettings",
    "JobsSettings",
    "MonitorScheduleSettings",
    "Secrets",
    "ServerSettings",
    "ServingSettings",
    "Settings",
    "Workspace",
    "find_root",
    "init_workspace",
]
