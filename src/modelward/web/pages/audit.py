"""The audit log, newest first, with the chain's verify status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from modelward import security
from modelward.security import Permission
from modelward.web.rendering import Page, signed_in

__all__ = ["router"]

router = APIRouter(prefix="/audit")
Viewer = Annotated[Page, Depends(signed_in)]
Filter = Annotated[str, Query(max_length=500)]


@router.get("", response_class=HTMLResponse)
def audit(
    page: Viewer,
    target: Filter = "",
    action: Filter = "",
    actor: Filter = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> HTMLResponse:
    page.need(Permission.AUDIT_READ)
    with page.session.store.read() as conn:
        found = list(
            security.entries(
                conn,
                target=target or None,
                action=action or None,
                actor=actor or None,
                newest=limit,
            )
        )
        report = security.verify(conn)
    found.reverse()
    return page.render(
        "audit.html",
        entries=found,
        report=report,
        target=target,
        action=action,
        actor=actor,
        limit=limit,
    )
