"""A lineage record's shape and its snapshot references, exactly.

The empty record is the schema every version's lineage starts from (stored as JSON, read
by the gates, the readiness report and the dashboard); ``check_snapshots`` keeps a record
from naming a snapshot this workspace never took. The full mutation run of
registry.lineage found both unchecked field by field.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward.config import Workspace
from modelward.data import snapshots
from modelward.errors import InputError
from modelward.registry.lineage import SCHEMA_VERSION, check_snapshots, empty_record
from modelward.session import Session


def test_the_empty_record_is_every_item_unknown() -> None:
    assert empty_record() == {
        "schema": SCHEMA_VERSION,
        "source": None,
        "run_id": None,
        "model_artifact": None,
        "datasets": None,
        "feature_views": None,
        "params": None,
        "metrics": None,
        "evaluation": None,
        "split": None,
        "environment": {"python": None, "packages": None, "packages_hash": None},
        "git": {"commit": None, "dirty": None},
        "resources": None,
        "author": None,
        "pipeline_run": None,
    }
    first = empty_record()
    first["environment"]["python"] = "3.11"
    assert empty_record()["environment"]["python"] is None  # a new record each call


def test_a_record_may_name_only_snapshots_taken_here_with_their_hash(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), path)
    with Session(workspace) as session:
        taken = snapshots.snapshot(session, path, name="rows")
        good = {"snapshot_id": taken.id, "content_hash": taken.content_hash}
        with session.store.read() as conn:
            check_snapshots(conn, {"datasets": [good]})  # no error
            check_snapshots(conn, {"datasets": None})
            check_snapshots(conn, {})

            never = {"snapshot_id": "0" * 32, "content_hash": taken.content_hash}
            with pytest.raises(InputError) as unknown:
                check_snapshots(conn, {"datasets": [good, never]})
            assert str(unknown.value) == (
                f"lineage.datasets[1].snapshot_id: snapshot {'0' * 32!r} was never taken in "
                "this workspace; lineage may only name snapshots that exist"
            )
            assert unknown.value.details == {"field": "lineage.datasets[1].snapshot_id"}

            with pytest.raises(InputError) as no_id:
                check_snapshots(conn, {"datasets": [{"snapshot_id": 7, "content_hash": "x"}]})
            assert no_id.value.details == {"field": "lineage.datasets[0].snapshot_id"}

            forged = {"snapshot_id": taken.id, "content_hash": "sha256:" + "f" * 64}
            with pytest.raises(InputError) as wrong:
                check_snapshots(conn, {"datasets": [forged]})
            assert str(wrong.value) == (
                f"lineage.datasets[0].content_hash: {'sha256:' + 'f' * 64!r} is not the "
                f"content hash of snapshot {taken.id!r} ({taken.content_hash})"
            )
            assert wrong.value.details == {"field": "lineage.datasets[0].content_hash"}
