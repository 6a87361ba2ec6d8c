"""plan / apply / show, with audit entries, on every metadata backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from modelward.config import Workspace
from modelward.errors import InputError, NotFound
from modelward.features import (
    Catalog,
    Entity,
    Feature,
    FeatureView,
    apply,
    note_model_version,
    plan,
    show,
    training_set,
)
from modelward.lineage import collecting
from modelward.security import entries, verify
from modelward.session import Session
from tests.unit.features.support import hours, make_density, spine, write_stats


@pytest.fixture
def session(workspace: Workspace) -> Iterator[Session]:
    with Session(workspace) as s:
        yield s


def stats(
    path: Path, *, trips_type: str = "int64", description: str = "", owner: str = "team-a"
) -> FeatureView:
    return FeatureView(
        "driver_stats",
        entities=[Entity("driver", "driver_id")],
        source=str(path),
        created_timestamp="created",
        features=[Feature("trips", trips_type, description)],  # type: ignore[arg-type]
        ttl=timedelta(hours=2),
        owner=owner,
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return write_stats(tmp_path / "stats.parquet")


def test_plan_then_apply_registers_versions_with_audit(session: Session, path: Path) -> None:
    v1 = stats(path)
    odfv = make_density(v1)
    first = plan(session, Catalog([v1, odfv]))
    assert [(c.view, c.action) for c in first.changes] == [
        ("driver_stats", "create"),
        ("trips_per_km", "create"),
    ]
    apply(session, Catalog([v1, odfv]))
    again = plan(session, Catalog([v1, odfv]))
    assert {c.action for c in again.changes} == {"unchanged"}

    v2 = stats(path, description="trips in the last hour", owner="team-b")
    changed = plan(session, Catalog([v2]))
    assert changed.changes[0].action == "update"
    assert any("owner" in d for d in changed.changes[0].details)
    assert changed.absent == ("trips_per_km",)
    apply(session, Catalog([v2]))

    info = show("driver_stats", session=session)
    assert info["owner"] == "team-b"
    assert [v["version"] for v in info["versions"]] == [1, 2]
    assert [v["definition_hash"] for v in info["versions"]] == [
        v1.definition_hash,
        v2.definition_hash,
    ]
    assert info["sources"] == [f"parquet:{path}"]
    with session.store.read() as conn:
        audited = [(e.action, e.payload["version"]) for e in entries(conn, action="features.apply")]
        assert verify(conn).ok
    assert audited == [("features.apply", 1), ("features.apply", 1), ("features.apply", 2)]


def test_type_change_between_versions_is_refused(session: Session, path: Path) -> None:
    apply(session, Catalog([stats(path)]))
    changed = Catalog([stats(path, trips_type="float64")])
    assert plan(session, changed).changes[0].action == "refused"
    with pytest.raises(InputError, match=r"feature trips: int64 -> float64"):
        apply(session, changed)
    assert [v["version"] for v in show("driver_stats", session=session)["versions"]] == [1]


def test_show_lists_models_trained_on_the_view(session: Session, path: Path) -> None:
    view = stats(path)
    apply(session, Catalog([view]))
    with collecting() as lineage, training_set(spine([1], [hours(2)]), [view]) as ts:
        ts.to_arrow()
    # what the registry does when a model trained in this run is registered
    with session.store.transaction() as conn:
        note_model_version(
            conn, model="eta", version="3", feature_views=lineage.to_dict()["feature_views"]
        )
    models = show("driver_stats", session=session)["models"]
    assert [(m["model"], m["model_version"], m["view_version"]) for m in models] == [
        ("eta", "3", 1)
    ]


def test_show_unknown_view(session: Session) -> None:
    with pytest.raises(NotFound, match="'nope' is not registered"):
        show("nope", session=session)
