"""Dataset snapshots: immutable, content-addressed, idempotent, never half-written.

The faults that need another process (a full disk, a denied folder, a writer killed
with -9, writers racing) are in ``test_snapshot_crashes.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from modelward import lineage
from modelward.config import Workspace
from modelward.data import snapshots
from modelward.data.tables import snapshots as snapshots_table
from modelward.errors import ContractViolation, InputError, NotFound
from modelward.examples.churn import AS_OF, CONTRACT_YAML, write_customers
from modelward.security import audit
from modelward.session import Session


@pytest.fixture
def session(workspace: Workspace) -> Session:
    s = Session(workspace)
    yield s
    s.close()


@pytest.fixture
def sqlite_session(sqlite_workspace: Workspace) -> Session:
    s = Session(sqlite_workspace)
    yield s
    s.close()


def _parquet(path: Path, rows: int = 1_000, offset: int = 0) -> Path:
    duckdb.sql(
        f"COPY (SELECT range + {offset} AS id, 'c' || (range % 7) AS cat, range * 0.5 AS v "
        f"FROM range({rows})) TO '{path}' (FORMAT parquet)"
    )
    return path


def _stored_files(ws: Workspace) -> list[Path]:
    return sorted(p for p in ws.snapshots_dir.rglob("*") if p.is_file())


def _row_count(session: Session) -> int:
    with session.store.read() as conn:
        return conn.execute(select(func.count()).select_from(snapshots_table)).scalar_one()


# ------------------------------------------------------------------ identity and versions


def test_snapshot_records_what_a_user_asks_about(session: Session, tmp_path: Path) -> None:
    snap = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet"), name="customers")
    assert (snap.name, snap.version, snap.row_count) == ("customers", 1, 1_000)
    assert snap.content_hash.startswith("sha256:") and len(snap.content_hash) == 71
    assert [c["name"] for c in snap.schema] == ["id", "cat", "v"]
    assert snap.created_by == "tester"
    assert snap.source.endswith("a.parquet") and snap.source_kind == "parquet"
    assert pq.read_table(snap.path).num_rows == 1_000
    assert snapshots.get_snapshot(session, "customers@1") == snap
    assert snapshots.get_snapshot(session, snap.id).ref == "customers@1"


def test_same_content_again_returns_the_same_snapshot(session: Session, tmp_path: Path) -> None:
    source = _parquet(tmp_path / "a.parquet")
    first = snapshots.snapshot(session, source, name="customers")
    files = _stored_files(session.workspace)
    again = snapshots.snapshot(session, source, name="customers")
    assert again.created is False
    assert (again.id, again.version) == (first.id, first.version)
    assert _stored_files(session.workspace) == files
    assert _row_count(session) == 1


def test_new_content_gets_the_next_version_and_latest_resolves(
    session: Session, tmp_path: Path
) -> None:
    snapshots.snapshot(session, _parquet(tmp_path / "a.parquet"), name="customers")
    second = snapshots.snapshot(
        session, _parquet(tmp_path / "b.parquet", offset=5), name="customers"
    )
    assert second.version == 2
    assert snapshots.get_snapshot(session, "customers").version == 2
    assert [s.ref for s in snapshots.list_snapshots(session)] == ["customers@1", "customers@2"]


def test_equal_content_is_stored_once_across_names(session: Session, tmp_path: Path) -> None:
    source = _parquet(tmp_path / "a.parquet")
    a = snapshots.snapshot(session, source, name="train")
    b = snapshots.snapshot(session, source, name="holdout")
    assert a.content_hash == b.content_hash and a.id != b.id
    assert len(_stored_files(session.workspace)) == 1


def test_csv_and_sql_sources(session: Session, tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("id,name\n1,ana\n2,bo\n")
    snap = snapshots.snapshot(session, csv, name="people")
    assert snap.row_count == 2 and snap.source_kind == "csv"
    q = snapshots.snapshot(session, f"SELECT * FROM read_csv('{csv}') WHERE id > 1", name="some")
    assert q.row_count == 1 and q.source_kind == "sql"


def test_snapshot_writes_an_audit_entry_in_the_same_transaction(
    session: Session, tmp_path: Path
) -> None:
    snap = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet"), name="customers")
    with session.store.read() as conn:
        entries = list(audit.entries(conn, target="snapshot:customers@1"))
        assert audit.verify(conn).ok
    assert [e.action for e in entries] == ["data.snapshot.create"]
    assert entries[0].payload["content_hash"] == snap.content_hash


def test_schema_diff_names_added_removed_and_retyped(session: Session, tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS id, 'x' AS name, 1.5 AS score) TO '{a}' (FORMAT parquet)")
    duckdb.sql(f"COPY (SELECT 1 AS id, 2 AS score, true AS active) TO '{b}' (FORMAT parquet)")
    snapshots.snapshot(session, a, name="t")
    snapshots.snapshot(session, b, name="t")
    d = snapshots.diff_schemas(session, "t@1", "t@2")
    assert [c["name"] for c in d.added] == ["active"]
    assert [c["name"] for c in d.removed] == ["name"]
    assert [c["name"] for c in d.changed] == ["score"]


def test_reading_a_snapshot_is_noted_in_run_lineage(session: Session, tmp_path: Path) -> None:
    snap = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet"), name="customers")
    with lineage.collecting() as collected:
        table = snapshots.read_snapshot(session, "customers", columns=["id"])
    assert table.num_rows == 1_000
    assert [d.content_hash for d in collected.datasets.values()] == [snap.content_hash]


def test_streams_in_batches(sqlite_session: Session, tmp_path: Path) -> None:
    """The source is read and written batch by batch, never as one table."""
    ws = sqlite_session.workspace
    small = Workspace(
        ws.root,
        ws.settings.model_copy(
            update={"data": ws.settings.data.model_copy(update={"batch_rows": 1_024})}
        ),
        ws.secrets,
    )
    calls: list[int] = []
    with Session(small) as session:
        snap = snapshots.snapshot(
            session,
            _parquet(tmp_path / "a.parquet", rows=300_000),
            name="big",
            on_progress=lambda done, total: calls.append(done),
        )
    assert len(calls) >= 300_000 // 1_024
    assert calls == sorted(calls) and calls[-1] == 300_000
    # row groups of 262,144 rows (256 batches): big enough for fast scans, bounded memory
    meta = pq.ParquetFile(snap.path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [262_144, 37_856]


# ------------------------------------------------------------------ contracts


def _contract(tmp_path: Path) -> Path:
    path = tmp_path / "customers.yaml"
    path.write_text(CONTRACT_YAML)
    return path


def test_data_that_passes_its_contract_is_stored_with_the_report(
    session: Session, tmp_path: Path
) -> None:
    data = write_customers(tmp_path / "good.parquet", rows=2_000)
    snap = snapshots.snapshot(
        session, data, name="customers", contract=_contract(tmp_path), as_of=AS_OF
    )
    assert snap.validation_passed is True
    assert snap.contract_hash and snap.contract_hash.startswith("sha256:")
    assert snap.validation is not None and snap.validation["results"]


def test_violating_data_is_refused_and_nothing_is_stored(session: Session, tmp_path: Path) -> None:
    data = write_customers(tmp_path / "bad.parquet", rows=2_000, broken=True)
    with pytest.raises(ContractViolation) as info:
        snapshots.snapshot(
            session, data, name="customers", contract=_contract(tmp_path), as_of=AS_OF
        )
    failed = {r["rule"] for r in info.value.details["report"]["results"] if not r["passed"]}
    assert {"columns.plan.nullable", "columns.tenure_months.min"} <= failed
    assert info.value.exit_code == 1
    assert _stored_files(session.workspace) == []
    assert list(session.workspace.tmp_dir.iterdir()) == []
    assert _row_count(session) == 0


def test_override_stores_violating_data_and_records_why(session: Session, tmp_path: Path) -> None:
    data = write_customers(tmp_path / "bad.parquet", rows=2_000, broken=True)
    snap = snapshots.snapshot(
        session,
        data,
        name="customers",
        contract=_contract(tmp_path),
        as_of=AS_OF,
        override_reason="backfill of a known-bad day, JIRA-12",
    )
    assert (snap.validation_passed, snap.override_reason) == (
        False,
        "backfill of a known-bad day, JIRA-12",
    )
    with session.store.read() as conn:
        [entry] = audit.entries(conn, target="snapshot:customers@1")
    assert entry.action == "data.snapshot.override"
    assert entry.payload["override_reason"] == "backfill of a known-bad day, JIRA-12"


def test_blank_override_reason_is_refused(session: Session, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="override_reason"):
        snapshots.snapshot(
            session,
            _parquet(tmp_path / "a.parquet"),
            name="x",
            contract=_contract(tmp_path),
            override_reason="  ",
        )


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "", "-x", "x" * 10_000, "a b", "name\n"])
def test_bad_names_are_refused(sqlite_session: Session, tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="snapshot name"):
        snapshots.snapshot(sqlite_session, _parquet(tmp_path / "a.parquet"), name=name)


def test_missing_file(sqlite_session: Session, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.parquet: file not found"):
        snapshots.snapshot(sqlite_session, tmp_path / "nope.parquet", name="x")


def test_corrupt_parquet_names_the_file(sqlite_session: Session, tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not really parquet" * 10)
    with pytest.raises(InputError, match=r"bad\.parquet: not a readable Parquet file"):
        snapshots.snapshot(sqlite_session, bad, name="x")
    assert _stored_files(sqlite_session.workspace) == []


def test_truncated_parquet_names_the_file(sqlite_session: Session, tmp_path: Path) -> None:
    good = _parquet(tmp_path / "good.parquet", rows=50_000)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match=r"cut\.parquet"):
        snapshots.snapshot(sqlite_session, cut, name="x")


def test_empty_file(sqlite_session: Session, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="file is empty"):
        snapshots.snapshot(sqlite_session, empty, name="x")


def test_header_only_csv_is_an_empty_snapshot(sqlite_session: Session, tmp_path: Path) -> None:
    csv = tmp_path / "h.csv"
    csv.write_text("id,name\n")
    snap = snapshots.snapshot(sqlite_session, csv, name="x")
    assert snap.row_count == 0 and [c["name"] for c in snap.schema] == ["id", "name"]


def test_csv_with_mixed_types_keeps_every_value_as_text(
    sqlite_session: Session, tmp_path: Path
) -> None:
    """A column that turns from numbers to words deep in the file is read as text, not cut."""
    csv = tmp_path / "mixed.csv"
    csv.write_text("id,amount\n" + "".join(f"{i},{i}\n" for i in range(50_000)) + "50000,abc\n")
    snap = snapshots.snapshot(sqlite_session, csv, name="x")
    assert snap.row_count == 50_001
    assert {c["name"]: c["type"] for c in snap.schema}["amount"] == "string"


def test_bad_sql_is_an_input_error(sqlite_session: Session) -> None:
    with pytest.raises(InputError, match="SQL source"):
        snapshots.snapshot(sqlite_session, "SELECT * FROM no_such_table", name="x")


def test_unknown_reference(sqlite_session: Session) -> None:
    with pytest.raises(NotFound, match="modelward data list"):
        snapshots.get_snapshot(sqlite_session, "ghost@3")
    with pytest.raises(InputError, match="must be a number"):
        snapshots.get_snapshot(sqlite_session, "ghost@latest")


# ------------------------------------------------------------------ faults


def test_interrupted_snapshot_leaves_nothing_behind(
    sqlite_session: Session, tmp_path: Path
) -> None:
    def interrupt(done: int, total: int | None) -> None:
        if done > 100_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        snapshots.snapshot(
            sqlite_session,
            _parquet(tmp_path / "a.parquet", rows=400_000),
            name="x",
            on_progress=interrupt,
        )
    assert _stored_files(sqlite_session.workspace) == []
    assert list(sqlite_session.workspace.tmp_dir.iterdir()) == []
    assert _row_count(sqlite_session) == 0


def test_json_of_a_snapshot_round_trips(sqlite_session: Session, tmp_path: Path) -> None:
    snap = snapshots.snapshot(sqlite_session, _parquet(tmp_path / "a.parquet"), name="x")
    data = json.loads(json.dumps(snap.to_dict()))
    assert data["ref"] == "x@1" and data["content_hash"] == snap.content_hash


def test_arrow_types_survive(sqlite_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table(
            {
                "d": pa.array([1.5, None]),
                "s": ["a", None],
                "t": pa.array([0, 1], pa.timestamp("ms", tz="Europe/Paris")),
            }
        ),
        path,
    )
    snap = snapshots.snapshot(sqlite_session, path, name="x")
    types = {c["name"]: c["type"] for c in snap.schema}
    assert types["d"] == "double" and types["s"] == "string"
    assert types["t"].endswith("tz=UTC]")


def test_pii_never_reaches_the_stored_report(sqlite_session: Session, tmp_path: Path) -> None:
    """Offending rows are kept as evidence, but a PII column is redacted before storing."""
    data = tmp_path / "people.parquet"
    duckdb.sql(
        f"COPY (SELECT range AS id, 'person' || range || '@corp.example' AS email, -1 AS age "
        f"FROM range(10)) TO '{data}' (FORMAT parquet)"
    )
    contract = tmp_path / "people.yaml"
    contract.write_text(
        "name: people\ncolumns:\n  id: {type: integer}\n"
        "  email: {type: string, pii: true, regex: '[a-z]+@example\\.com'}\n"
        "  age: {type: integer, min: 0}\n"
    )
    snap = snapshots.snapshot(
        sqlite_session, data, name="people", contract=contract, override_reason="test of redaction"
    )
    stored = json.dumps(snap.validation)
    assert "corp.example" not in stored
    assert "<redacted>" in stored
    failed = {r["rule"]: r for r in snap.validation["results"] if not r["passed"]}
    assert failed["columns.age.min"]["examples"][0]["id"] == 0
