"""Models, their versions, and one version: lineage, gates, approvals, stage history.

Actions (approve, move to a stage, roll back) call ``registry.approve``,
``registry.transition`` and ``registry.rollback``: the functions behind
``modelward models ...`` and ``/api/v1/models/...``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from modelward import registry
from modelward.security import Permission
from modelward.web.rendering import Page, act, form_of, signed_in

__all__ = ["router"]

router = APIRouter(prefix="/models")
Viewer = Annotated[Page, Depends(signed_in)]
ModelName = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
Number = Annotated[int, Path(ge=1, le=2**63 - 1)]
_PER_PAGE = 100
_STAGES = ("Staging", "Production", "Archived", "None")


@router.get("", response_class=HTMLResponse)
def models(page: Viewer, q: Annotated[str, Query(max_length=128)] = "") -> HTMLResponse:
    page.need(Permission.MODELS_READ)
    found = [m for m in registry.list_models(page.session) if q.lower() in m.name.lower()]
    return page.render("models.html", models=found, q=q)


@router.get("/{name}", response_class=HTMLResponse)
def model(
    page: Viewer, name: ModelName, p: Annotated[int, Query(ge=1, le=1_000_000)] = 1
) -> HTMLResponse:
    page.need(Permission.MODELS_READ)
    found = registry.get_model(page.session, name)
    # what modelward recorded, one page of it (MLflow is asked on lookups and by
    # `models sync`, not per page); one more than shown says whether there are older ones
    versions = registry.list_versions(
        page.session, name, discover=False, newest=_PER_PAGE + 1, skip=(p - 1) * _PER_PAGE
    )
    return page.render(
        "model.html",
        model=found,
        versions=versions[:_PER_PAGE],
        page_no=p,
        older=len(versions) > _PER_PAGE,
    )


@router.get("/{name}/{version}", response_class=HTMLResponse)
def version(page: Viewer, name: ModelName, version: Number) -> HTMLResponse:
    page.need(Permission.MODELS_READ)
    ref = f"{name}@{version}"
    report = registry.lineage_report(page.session, ref)
    model = registry.get_model(page.session, name)
    gate_policy = model.gate_policy
    registered_views = set()
    if report.get("feature_views") and page.can(Permission.DATASETS_READ):
        from modelward import features

        # only views with a page are links (an on-demand view may not be registered)
        registered_views = {v["name"] for v in features.list_views(page.session)}
    return page.render(
        "version.html",
        ref=ref,
        name=name,
        number=version,
        r=report,
        model=model,
        gate_policy=gate_policy,
        registered_views=registered_views,
        stages=_STAGES,
        can_approve=page.can(Permission.MODELS_APPROVE),
        can_move=page.can(Permission.MODELS_TRANSITION),
        can_override=page.can(Permission.MODELS_OVERRIDE),
    )


@router.post("/{name}/{version}/approve")
async def approve(
    request: Request, page: Viewer, name: ModelName, version: Number
) -> RedirectResponse:
    form = await form_of(request, page)
    ref = f"{name}@{version}"

    def run() -> str:
        page.need(Permission.MODELS_APPROVE)
        stage = form.get("stage", "Production")
        registry.approve(page.session, page.who, ref, stage, form.get("comment", "")[:2000])
        return f"{page.who.name} approved {ref} for {stage}"

    return act(page, f"/models/{name}/{version}", run)


@router.post("/{name}/{version}/transition")
async def transition(
    request: Request, page: Viewer, name: ModelName, version: Number
) -> RedirectResponse:
    form = await form_of(request, page)
    ref = f"{name}@{version}"

    def run() -> str:
        page.need(Permission.MODELS_TRANSITION)
        stage = form.get("to_stage", "")
        override = form.get("override_reason", "").strip() or None
        done = registry.transition(
            page.session,
            page.who,
            ref,
            stage,
            reason=form.get("reason", "").strip()[:2000],
            override_reason=override[:2000] if override else None,
        )
        return f"{ref} moved {done.from_stage} -> {done.to_stage}"

    return act(page, f"/models/{name}/{version}", run)


@router.post("/{name}/rollback")
async def rollback(request: Request, page: Viewer, name: ModelName) -> RedirectResponse:
    form = await form_of(request, page)

    def run() -> str:
        page.need(Permission.MODELS_ROLLBACK)
        done = registry.rollback(
            page.session, page.who, name, reason=form.get("reason", "").strip()[:2000]
        )
        return f"{name}: Production is back on version {done.version}"

    return act(page, f"/models/{name}", run)
