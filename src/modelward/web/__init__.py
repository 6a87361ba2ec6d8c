"""The web dashboard: server-rendered pages over the contexts' public functions.

``modelward server`` mounts it at ``/ui`` beside the REST API (``/api/v1``), in the same
process (:func:`mount_dashboard`). Everything it serves ships in this package (templates,
one stylesheet); charts are inline SVG drawn on the server; no page runs a script.

>>> app = create_app(session)            # the REST API  # doctest: +SKIP
>>> mount_dashboard(app, session)        # + /ui, and / redirecting to it  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward._exports import lazy_exports

if TYPE_CHECKING:
    from modelward.web.mounting import create_dashboard, mount_dashboard
    from modelward.web.rendering import MOUNT

__all__ = ["MOUNT", "create_dashboard", "mount_dashboard"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {"MOUNT": "rendering", "create_dashboard": "mounting", "mount_dashboard": "mounting"},
)
