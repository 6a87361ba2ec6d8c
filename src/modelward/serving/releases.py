"""Starting and switching releases: the seam between an endpoint's definition and rollout.

Rollout owns releases but cannot read endpoint definitions (serving sits above it), so
the CLI and the REST API start a release here: the endpoint's model, resolved to a
version now, is the baseline, and the policy's sticky field must be a request field.
A blue-green switch is also made here, after green answered the version's golden rows
through the gateway's HTTP path (:func:`switch`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelward.errors import CheckFailed, InputError
from modelward.serving.endpoints import get_endpoint
from modelward.serving.routing import ARM_HEADER

if TYPE_CHECKING:
    import httpx

    from modelward.rollout import GoldenRows, Release, RolloutPolicy, SmokeResult
    from modelward.security import Principal
    from modelward.session import Session

__all__ = ["advance_release", "golden_rows_of", "start_release", "switch"]


def start_release(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    candidate: str,
    strategy: str,
    policy: RolloutPolicy | None = None,
) -> Release:
    """Roll ``candidate`` out on ``endpoint``, whose current model is the baseline."""
    from modelward import rollout
    from modelward.registry import get_version

    spec = get_endpoint(session, endpoint).spec
    chosen = policy or rollout.RolloutPolicy()
    if chosen.sticky_by is not None and chosen.sticky_by not in spec.request:
        raise InputError(
            f"policy.sticky_by: {chosen.sticky_by!r} is not a request field of {endpoint} "
            f"({', '.join(spec.request)})",
            field="policy.sticky_by",
        )
    baseline = get_version(session, spec.model).ref
    return rollout.start_release(
        session,
        principal,
        endpoint=endpoint,
        baseline=baseline,
        candidate=candidate,
        strategy=strategy,
        policy=chosen,
    )


def golden_rows_of(session: Session, ref: str) -> GoldenRows | None:
    """The golden set stored with a version (``modelward/golden_set.json`` of the run that
    registered it, as pipelines store it); None when it has none."""
    from modelward.registry import get_version, using_workspace
    from modelward.rollout import parse_golden

    version = get_version(session, ref)
    if not version.run_id:
        return None
    import mlflow

    try:
        with using_workspace(session.workspace):
            data = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/modelward/golden_set.json")
    except Exception:  # no such artifact (a version not registered by a pipeline)
        return None
    return parse_golden(data, f"golden set of {version.ref}")


def switch(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    gateway: httpx.Client,
    token: str,
    golden: GoldenRows | None = None,
    tolerance: float | None = None,
    expected_version: int | None = None,
    reason: str | None = None,
) -> Release:
    """Switch a blue-green release to green after a smoke test through the gateway's HTTP
    path: the golden rows (``golden``, else the candidate's stored golden set) are sent to
    ``gateway`` as one request that green answers (``X-Modelward-Arm: candidate``, which
    needs an operator's ``token``). Every row as expected: the switch, with the smoke
    result as evidence. Otherwise no switch: the result is recorded on the release
    (``release.smoke``, audited) and :class:`~modelward.errors.CheckFailed` names it."""
    from modelward import rollout

    release = rollout.current_release(session, endpoint)
    if release.strategy is not rollout.Strategy.BLUE_GREEN or release.step >= 1:
        return rollout.advance(
            session, principal, endpoint, expected_version=expected_version, reason=reason
        )
    rows = golden or golden_rows_of(session, release.candidate)
    if rows is None:
        raise CheckFailed(
            f"{release.candidate} has no golden set to smoke-test green with: give one "
            "(--golden FILE, rows and expected predictions) or switch with --no-smoke",
            gate_results=[_gate(None, f"{release.candidate} has no golden set")],
        )
    allowed = rollout.DEFAULT_TOLERANCE if tolerance is None else tolerance
    result = _ask_green(session, gateway, token, endpoint, release, rows, allowed)
    evidence = {"smoke": result.to_dict()}
    if result.passed:
        return rollout.advance(
            session,
            principal,
            endpoint,
            expected_version=expected_version or release.version,
            evidence=evidence,
            reason=reason or result.summary,
        )
    rollout.record_smoke(session, principal, endpoint, release_id=release.id, evidence=evidence)
    raise CheckFailed(
        f"no switch to {release.candidate} on {endpoint}: {result.summary}",
        gate_results=[_gate(result, result.summary)],
    )


def advance_release(
    session: Session,
    principal: Principal,
    endpoint: str,
    *,
    skip_smoke: bool = False,
    expected_version: int | None = None,
    reason: str | None = None,
) -> Release:
    """``advance`` where no gateway is at hand (the REST API): a blue-green switch is made
    only when the caller says to skip the smoke test (recorded as the switch's evidence,
    ``{"smoke": {"skipped": true}}``); :func:`switch` is the smoke-tested way."""
    from modelward import rollout

    release = rollout.current_release(session, endpoint)
    blue_green = release.strategy is rollout.Strategy.BLUE_GREEN and release.step == 0
    if blue_green and not skip_smoke:
        raise CheckFailed(
            f"a blue-green switch on {endpoint} is smoke-tested through the gateway first: "
            "`modelward rollout advance` does it; or switch without it (no_smoke=true)",
            gate_results=[_gate(None, "the switch was asked without a smoke test")],
        )
    return rollout.advance(
        session,
        principal,
        endpoint,
        expected_version=expected_version,
        evidence={"smoke": {"skipped": True}} if blue_green else None,
        reason=reason,
    )


def _gate(result: SmokeResult | None, message: str) -> dict[str, Any]:
    return {
        "gate": "blue_green_smoke",
        "passed": False,
        "message": message,
        "evidence": result.to_dict() if result is not None else {},
    }


def _ask_green(
    session: Session,
    gateway: httpx.Client,
    token: str,
    endpoint: str,
    release: Release,
    golden: GoldenRows,
    tolerance: float,
) -> SmokeResult:
    import httpx

    from modelward import rollout

    spec = get_endpoint(session, endpoint).spec
    fields = list(spec.request) if isinstance(spec.request, dict) else None
    # a golden row holds every column the model saw; the request takes its fields only
    rows = [{k: v for k, v in row.items() if fields is None or k in fields} for row in golden.rows]
    try:
        answer = gateway.post(
            f"/v1/endpoints/{endpoint}/predict",
            json={"inputs": rows},
            headers={"Authorization": f"Bearer {token}", ARM_HEADER: "candidate"},
        )
    except httpx.HTTPError as exc:
        return rollout.failed_smoke(golden, f"the gateway cannot be reached: {exc}", tolerance)
    if answer.status_code != 200:
        try:
            problem = answer.json().get("detail") or answer.json().get("title")
        except ValueError:
            problem = answer.text[:200]
        return rollout.failed_smoke(
            golden, f"the gateway answered {answer.status_code}: {problem}", tolerance
        )
    body = answer.json()
    served_by = f"{body.get('model')}@{body.get('model_version')}"
    if served_by != release.candidate and not body.get("degraded"):
        return rollout.failed_smoke(
            golden,
            f"{served_by} answered, not {release.candidate}: the gateway has not loaded green "
            "yet (try again after its next poll)",
            tolerance,
        )
    degraded = [int(d["row"]) for d in body.get("degraded_rows") or []]
    return rollout.smoke_test(
        golden, body.get("predictions") or [], degraded=degraded, tolerance=tolerance
    )
