"""Starting a release on an endpoint: the seam between an endpoint's definition and rollout.

Rollout owns releases but cannot read endpoint definitions (serving sits above it), so
the CLI and the REST API start a release here: the endpoint's model, resolved to a
version now, is the baseline, and the policy's sticky field must be a request field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelward.errors import InputError
from modelward.serving.endpoints import get_endpoint

if TYPE_CHECKING:
    from modelward.rollout import Release, RolloutPolicy
    from modelward.security import Principal
    from modelward.session import Session

__all__ = ["start_release"]


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
