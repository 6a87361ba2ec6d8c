"""Helpers for the rollout tests: a session with a baseline and a candidate version.

The versions are written straight into the registry's tables (lineage complete, or
empty), not trained and registered through MLflow: the rollout tests are about releases,
and a lookup that hits the table costs one read and no MLflow call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from modelward.config import Workspace
from modelward.registry.lineage import empty_record, missing_items
from modelward.registry.tables import model_versions, registered_models
from modelward.security import Principal, Role
from modelward.session import Session
from tests.unit.registry.support import principal
from tests.unit.registry.test_lineage import complete


@dataclass
class Setup:
    session: Session
    operator: Principal
    viewer: Principal
    baseline: str
    candidate: str
    #: a registered version with no lineage (its lineage gate fails)
    incomplete: str


def catalogue(session: Session, name: str, lineages: list[dict[str, Any]]) -> list[str]:
    """Versions 1..N of ``name`` with these lineage records; their refs."""
    now = datetime.now(UTC)
    with session.store.transaction() as conn:
        conn.execute(
            insert(registered_models).values(
                name=name,
                created_by="test-setup",
                created_at=now,
                revision=0,
                approval_policy={},
                gate_policy={},
            )
        )
        for number, lineage in enumerate(lineages, start=1):
            missing = missing_items(lineage)
            conn.execute(
                insert(model_versions).values(
                    model_name=name,
                    version=number,
                    stage="None",
                    source="modelward",
                    run_id=None,
                    model_uri=f"models:/{name}/{number}",
                    lineage=lineage,
                    lineage_complete=not missing,
                    lineage_missing=missing,
                    created_by="test-setup",
                    created_at=now,
                )
            )
    return [f"{name}@{n}" for n in range(1, len(lineages) + 1)]


def setup(workspace: Workspace) -> Setup:
    session = Session(workspace)
    base, cand, bare = catalogue(session, "churn", [complete(), complete(), empty_record()])
    return Setup(
        session,
        principal(session, "olga", Role.OPERATOR),
        principal(session, "vic", Role.VIEWER),
        base,
        cand,
        bare,
    )
