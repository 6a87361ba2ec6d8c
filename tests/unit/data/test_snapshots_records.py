"""Snapshots, read whole: the record and audit entry a snapshot leaves, each refusal's
full message, references, listing, schema diffs and the sweep of dead write areas.

The flow tests (``tests/integration/flows/test_snapshots.py``) prove a snapshot is
atomic and idempotent; these pin what a user reads back: the stored fields, the
``ContractViolation`` text that lists the failed rules (ten at most), the refusal of a
bad name (cut at 60 characters), and the id and path derived from the content hash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelward import lineage
from modelward.config import Workspace
from modelward.data import snapshots
from modelward.data.contracts import parse_contract
from modelward.errors import (
    ContractError,
    ContractViolation,
    InputError,
    NotFound,
    StorageError,
)
from modelward.security import audit
from modelward.session import Session

AS_OF = datetime(2024, 3, 10, tzinfo=UTC)


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    s = Session(sqlite_workspace)
    yield s
    s.close()


def _parquet(path: Path, values: list[int | None]) -> Path:
    pq.write_table(pa.table({"n": pa.array(values, pa.int64())}), path)
    return path


def test_the_record_of_a_snapshot_whole(session: Session, tmp_path: Path) -> None:
    source = _parquet(tmp_path / "a.parquet", [1, 2, None])
    before = datetime.now(UTC)

    snap = snapshots.snapshot(session, source, name="nums")

    digest = snap.content_hash
    assert len(digest) == 71 and digest.startswith("sha256:")
    expected_id = hashlib.sha256(f"nums\0{digest}".encode()).hexdigest()[:20]
    assert snap.id == expected_id
    assert (snap.name, snap.version, snap.ref, snap.created) == ("nums", 1, "nums@1", True)
    assert snap.schema == [{"name": "n", "type": "int64", "nullable": True}]
    assert (snap.row_count, snap.source, snap.source_kind) == (3, str(source), "parquet")
    assert snap.storage_path == f"snapshots/{digest[7:9]}/{digest[7:]}/data.parquet"
    assert snap.path == session.workspace.home / snap.storage_path
    assert snap.byte_size == snap.path.stat().st_size
    assert snap.created_by == "tester"
    assert before <= snap.created_at.replace(tzinfo=snap.created_at.tzinfo or UTC)
    assert (snap.contract, snap.contract_hash, snap.validation) == (None, None, None)
    assert (snap.validation_passed, snap.override_reason) == (None, None)
    assert pq.read_table(snap.path).column("n").to_pylist() == [1, 2, None]
    assert list(session.workspace.tmp_dir.iterdir()) == []

    with session.store.read() as conn:
        [entry] = audit.entries(conn, target="snapshot:nums@1")
    assert (entry.actor, entry.action) == ("tester", "data.snapshot.create")
    assert entry.payload == {
        "id": snap.id,
        "content_hash": digest,
        "rows": 3,
        "source": str(source),
        "contract_hash": None,
        "validation_passed": None,
        "override_reason": None,
    }


def test_to_dict_adds_the_path_the_time_and_the_reference(session: Session, tmp_path: Path) -> None:
    snap = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name="nums")

    data = snap.to_dict()

    assert data["path"] == str(snap.path)
    assert data["created_at"] == snap.created_at.isoformat()
    assert data["ref"] == "nums@1"
    assert data["id"] == snap.id
    assert data["created"] is True
    assert set(data) == {*snapshots._ROW_FIELDS, "path", "created", "ref"}


def test_the_same_content_again_is_returned_as_stored(session: Session, tmp_path: Path) -> None:
    source = _parquet(tmp_path / "a.parquet", [1, 2])
    first = snapshots.snapshot(session, source, name="nums")

    again = snapshots.snapshot(session, source, name="nums")

    assert again.created is False
    assert again == snapshots.Snapshot(**{**first.__dict__, "created": False})
    with session.store.read() as conn:
        assert len(list(audit.entries(conn, target="snapshot:nums@1"))) == 1


def test_a_passing_contract_is_stored_with_its_report(session: Session, tmp_path: Path) -> None:
    source = _parquet(tmp_path / "a.parquet", [1, 2])
    contract = parse_contract({"name": "nums", "columns": {"n": {"min": 0}}}, "inline")

    snap = snapshots.snapshot(
        session, source, name="nums", contract=contract, as_of=AS_OF, override_reason="unused"
    )

    assert snap.contract == contract.to_dict()
    assert snap.contract_hash == contract.content_hash()
    assert snap.validation_passed is True
    assert snap.validation is not None
    assert snap.validation["source"] == str(source)  # what the user gave, not the private copy
    assert snap.validation["as_of"] == AS_OF.isoformat()
    assert snap.override_reason is None  # nothing was overridden
    with session.store.read() as conn:
        [entry] = audit.entries(conn, target="snapshot:nums@1")
    assert entry.action == "data.snapshot.create"
    assert entry.payload["contract_hash"] == contract.content_hash()
    assert entry.payload["validation_passed"] is True


def test_a_contract_given_as_a_file_is_loaded(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: nums\ncolumns:\n  n: {max: 0}\n")

    with pytest.raises(ContractViolation) as info:
        snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name="x", contract=path)

    assert "violates contract 'nums'" in info.value.message


def test_the_refusal_lists_each_failed_rule_with_observed_and_threshold(
    session: Session, tmp_path: Path
) -> None:
    source = _parquet(tmp_path / "a.parquet", [1, 2, None])
    contract = parse_contract(
        {
            "name": "strict",
            "columns": {"n": {"min": 2, "nullable": False}},
            "table": {"freshness": {"column": "ts", "max_age": "1d"}},
        },
        "inline",
    )

    with pytest.raises(ContractViolation) as info:
        snapshots.snapshot(session, source, name="nums", contract=contract, as_of=AS_OF)

    assert info.value.message == (
        f"snapshot 'nums' of {source} refused: data violates contract 'strict' (3 rule(s) "
        "failed: columns.n.nullable (observed 1, threshold 0), columns.n.min (observed 1, "
        "threshold 2), table.freshness (observed None, threshold 1d)); nothing was stored. "
        "Fix the data, or store it anyway with a recorded reason (CLI: --override-contract "
        "REASON; Python: override_reason=...)"
    )
    assert info.value.details["source"] == str(source)
    assert info.value.details["report"]["source"] == str(source)
    assert info.value.details["report"]["failed"] == 3
    assert snapshots.list_snapshots(session) == []


def test_the_refusal_shows_ten_failed_rules_and_counts_the_rest(
    session: Session, tmp_path: Path
) -> None:
    columns = {f"c{i:02d}": {"type": "integer"} for i in range(12)}
    table = pa.table({name: ["x"] for name in columns})
    pq.write_table(table, tmp_path / "s.parquet")
    contract = parse_contract({"name": "many", "columns": columns}, "inline")

    with pytest.raises(ContractViolation) as info:
        snapshots.snapshot(session, tmp_path / "s.parquet", name="s", contract=contract)

    message = info.value.message
    assert "(12 rule(s) failed: columns.c00.type (observed string, threshold integer), " in message
    assert "columns.c09.type (observed string, threshold integer), and 2 more)" in message
    assert "c10" not in message


def test_an_override_is_recorded_with_its_reason(session: Session, tmp_path: Path) -> None:
    contract = parse_contract({"name": "c", "columns": {"n": {"max": 0}}}, "inline")

    snap = snapshots.snapshot(
        session,
        _parquet(tmp_path / "a.parquet", [1]),
        name="nums",
        contract=contract,
        override_reason="known bad day",
    )

    assert (snap.validation_passed, snap.override_reason) == (False, "known bad day")
    with session.store.read() as conn:
        [entry] = audit.entries(conn, target="snapshot:nums@1")
    assert entry.action == "data.snapshot.override"
    assert entry.payload["override_reason"] == "known bad day"
    assert entry.payload["validation_passed"] is False


def test_a_blank_override_reason_is_refused_naming_the_field(
    session: Session, tmp_path: Path
) -> None:
    with pytest.raises(InputError) as info:
        snapshots.snapshot(
            session, _parquet(tmp_path / "a.parquet", [1]), name="x", override_reason=" \t"
        )

    assert info.value.message == "override_reason must say why the contract is overridden"
    assert info.value.details == {"field": "override_reason"}


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("", "''"),
        ("-x", "'-x'"),
        ("a b", "'a b'"),
        ("x" * 129, repr("x" * 60 + "...")),
        ("é" * 60, repr("é" * 60)),
        ("-" + "x" * 60, repr("-" + "x" * 59 + "...")),  # 61 characters: cut at 60
    ],
)
def test_a_bad_name_is_refused_whole(
    session: Session, tmp_path: Path, name: str, shown: str
) -> None:
    with pytest.raises(InputError) as info:
        snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name=name)

    assert info.value.message == (
        f"snapshot name {shown} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    )
    assert info.value.details == {"field": "name"}


def test_names_at_the_edges_are_allowed(session: Session, tmp_path: Path) -> None:
    source = _parquet(tmp_path / "a.parquet", [1])
    for name in ("a", "9", "A._-z", "x" * 128):
        assert snapshots.snapshot(session, source, name=name).name == name


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("parquet", "/d/x.parquet", "/d/x.parquet: not a readable Parquet file: IO Error: bad"),
        ("csv", "/d/x.csv", "/d/x.csv: not a readable CSV file: IO Error: bad"),
        ("sql", "SELECT 1", "SQL source: not a valid query: IO Error: bad"),
    ],
)
def test_source_errors_name_the_source_and_what_it_should_be(
    kind: str, text: str, expected: str
) -> None:
    src = snapshots.Source(kind, text)  # type: ignore[arg-type]

    error = snapshots._source_error(src, duckdb.IOException("IO Error: bad\nsecond line"))

    assert error.message == expected
    assert error.details == {"file": src.label}
    assert snapshots._source_error(src, duckdb.IOException("")).message.endswith(": IOException")


@pytest.mark.parametrize(
    "error",
    [
        duckdb.OutOfMemoryException("failed to allocate data of size 2.0 MiB\nhint"),
        # what DuckDB's Arrow stream raises mid-read: its error's text in an OSError
        OSError("Out of Memory Error: could not allocate block of size 256.0 KiB"),
    ],
)
def test_running_out_of_memory_names_the_setting_to_raise(error: Exception) -> None:
    src = snapshots.Source("csv", "/d/x.csv")
    first_line = str(error).splitlines()[0]

    memory = snapshots._source_error(src, error)

    assert memory.message == (
        f"/d/x.csv: ran out of memory reading the data ({first_line}); raise "
        "data.duckdb_memory_limit in modelward.toml"
    )
    assert memory.details == {"file": "/d/x.csv", "field": "data.duckdb_memory_limit"}


class _FailingReader:
    """A record batch reader whose source fails on the second read."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.reads = 0

    def read_next_batch(self) -> pa.RecordBatch:
        self.reads += 1
        if self.reads == 1:
            return pa.record_batch({"n": pa.array([1], pa.int64())})
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        duckdb.InvalidInputException("Invalid Input Error: bad value"),
        pa.ArrowInvalid("Invalid Input Error: bad value"),
        OSError("Invalid Input Error: bad value"),
    ],
)
def test_a_source_failing_part_way_is_an_input_error_naming_it(error: Exception) -> None:
    src = snapshots.Source("parquet", "/d/x.parquet")
    reader = _FailingReader(error)
    read: list[pa.RecordBatch] = []

    with pytest.raises(InputError) as info:
        for batch in snapshots._batches(reader, src):  # type: ignore[arg-type]
            # bounded: a generator that stopped asking the reader would never end
            assert reader.reads == len(read) + 1, "a batch came without a read"
            read.append(batch)

    assert [b.num_rows for b in read] == [1]
    assert info.value.message == (
        "/d/x.parquet: not a readable Parquet file: Invalid Input Error: bad value"
    )
    assert info.value.details == {"file": "/d/x.parquet"}


def test_a_contract_that_cannot_apply_is_refused_as_it_is(session: Session, tmp_path: Path) -> None:
    # the contract's own error names its rule, not the private copy: nothing to retell
    contract = parse_contract({"name": "c", "columns": {"n": {"min": "not a number"}}}, "inline")

    with pytest.raises(ContractError) as info:
        snapshots.snapshot(
            session, _parquet(tmp_path / "a.parquet", [1]), name="x", contract=contract
        )

    assert info.value.message.startswith("columns.n.min: the rule cannot apply to column 'n': ")
    assert info.value.details == {"rule": "columns.n.min", "column": "n"}
    assert snapshots.list_snapshots(session) == []


def test_an_error_about_the_private_copy_is_retold_about_the_source_keeping_its_details() -> None:
    copy = snapshots.Source("parquet", "/ws/.modelward/tmp/snap-1-ab/data.parquet")
    src = snapshots.Source("csv", "/d/x.csv")
    about_copy = InputError(f"{copy.label}: ran out of memory", source=copy.label, rule="r")

    retold = snapshots._retold_about(about_copy, copy, src)

    assert type(retold) is InputError
    assert retold.message == "/d/x.csv: ran out of memory"
    assert retold.details == {"source": "/d/x.csv", "rule": "r"}


def test_a_bad_query_names_the_sql_source(session: Session) -> None:
    with pytest.raises(InputError) as info:
        snapshots.snapshot(session, "SELECT * FROM no_such_table", name="x")

    assert info.value.message.startswith("SQL source: not a valid query: Catalog Error: ")
    assert info.value.details == {"file": "sql:SELECT * FROM no_such_table"}


def test_an_empty_csv_is_refused_naming_the_file(session: Session, tmp_path: Path) -> None:
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")

    with pytest.raises(InputError) as info:
        snapshots.snapshot(session, empty, name="x")

    assert info.value.message == f"{empty}: file is empty (0 bytes)"
    assert info.value.details == {"file": str(empty)}


def test_progress_reports_rows_done_and_the_total_of_a_parquet_file(
    session: Session, tmp_path: Path
) -> None:
    seen: list[tuple[int, int | None]] = []
    csv_seen: list[tuple[int, int | None]] = []
    csv = tmp_path / "a.csv"
    csv.write_text("n\n1\n2\n")

    snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1, 2, 3]), name="p",
                       on_progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    snapshots.snapshot(session, csv, name="c",
                       on_progress=lambda done, total: csv_seen.append((done, total)))  # fmt: skip

    assert seen[-1] == (3, 3)
    assert csv_seen[-1] == (2, None)  # a CSV's row count is not known before reading it


def test_storage_errors_name_the_folder_and_the_reason() -> None:
    exc = OSError(28, "No space left on device")

    error = snapshots._storage_error(exc, "nums", Path("/ws/tmp/snap-1-ab"))

    assert isinstance(error, StorageError)
    assert error.message == (
        "cannot write snapshot 'nums' under /ws/tmp: No space left on device; nothing was stored"
    )
    assert error.details == {"errno": 28}
    bare = snapshots._storage_error(OSError("disk gone"), "n", Path("/a/b"))
    assert bare.message == "cannot write snapshot 'n' under /a: disk gone; nothing was stored"


# --- references, listing, reading --------------------------------------------------------


def test_references_by_id_name_and_version(session: Session, tmp_path: Path) -> None:
    one = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name="nums")
    two = snapshots.snapshot(session, _parquet(tmp_path / "b.parquet", [2]), name="nums")
    other = snapshots.snapshot(session, _parquet(tmp_path / "c.parquet", [3]), name="abc")

    assert snapshots.get_snapshot(session, "nums") == two
    assert snapshots.get_snapshot(session, "nums@1") == one
    assert snapshots.get_snapshot(session, one.id) == one
    assert [s.ref for s in snapshots.list_snapshots(session)] == ["abc@1", "nums@1", "nums@2"]
    assert snapshots.list_snapshots(session, "nums") == [one, two]
    assert snapshots.list_snapshots(session, "none") == []
    assert (two.version, other.version) == (2, 1)


def test_unknown_references_are_refused_whole(session: Session) -> None:
    with pytest.raises(NotFound) as missing:
        snapshots.get_snapshot(session, "ghost@3")
    with pytest.raises(NotFound):
        snapshots.get_snapshot(session, "ghost")
    with pytest.raises(InputError) as bad:
        snapshots.get_snapshot(session, "ghost@v2")

    assert missing.value.message == (
        "snapshot 'ghost@3' not found; `modelward data list` shows what exists"
    )
    assert missing.value.details == {"ref": "ghost@3"}
    assert bad.value.message == "snapshot reference 'ghost@v2': version after '@' must be a number"
    assert bad.value.details == {"field": "ref"}


def test_content_hashes_of_existing_snapshots_only(session: Session, tmp_path: Path) -> None:
    a = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name="a")
    b = snapshots.snapshot(session, _parquet(tmp_path / "b.parquet", [2]), name="b")

    with session.store.read() as conn:
        found = snapshots.content_hashes(conn, [a.id, b.id, "nope", 5])  # type: ignore[list-item]
        none = snapshots.content_hashes(conn, [])

    assert found == {a.id: a.content_hash, b.id: b.content_hash}
    assert none == {}


def test_reading_a_snapshot_and_a_missing_data_file(session: Session, tmp_path: Path) -> None:
    snap = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [4, 5]), name="nums")

    assert snapshots.read_snapshot(session, "nums").column("n").to_pylist() == [4, 5]
    assert snapshots.read_snapshot(session, "nums", columns=["n"]).column_names == ["n"]
    assert snapshots.scan_snapshot(session, "nums@1") == snapshots.Source("parquet", str(snap.path))
    snap.path.unlink()
    with pytest.raises(NotFound) as info:
        snapshots.scan_snapshot(session, "nums")
    assert info.value.message == (
        f"snapshot nums@1: data file {snap.path} is missing from the workspace"
    )


def test_schema_diff_whole(session: Session, tmp_path: Path) -> None:
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [1], "b": ["x"], "a": [1.5], "gone": [1]}), a)
    pq.write_table(pa.table({"id": [1, 2], "a": [1, 2], "b": [1, 2], "new": [True, False]}), b)
    snapshots.snapshot(session, a, name="t")
    snapshots.snapshot(session, b, name="t")

    diff = snapshots.diff_schemas(session, "t@1", "t@2")
    same = snapshots.diff_schemas(session, "t@1", "t@1")

    assert diff.to_dict() == {
        "old": "t@1",
        "new": "t@2",
        "added": [{"name": "new", "type": "bool", "nullable": True}],
        "removed": [{"name": "gone", "type": "int64", "nullable": True}],
        "changed": [
            {"name": "a", "old_type": "double", "new_type": "int64"},
            {"name": "b", "old_type": "string", "new_type": "int64"},
        ],
        "row_count": (1, 2),
        "same": False,
    }
    assert same.same
    assert same.to_dict()["same"] is True
    assert snapshots.SchemaDiff("a", "b", [{}], [], [], (0, 0)).same is False
    assert snapshots.SchemaDiff("a", "b", [], [{}], [], (0, 0)).same is False
    assert snapshots.SchemaDiff("a", "b", [], [], [{}], (0, 0)).same is False


# --- the sweep of write areas left by dead processes -----------------------------------------


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_the_sweep_removes_only_write_areas_of_dead_processes(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getppid()
    areas = {
        f"snap-{dead}-abc": False,  # its writer is gone
        f"snap-{alive}-abc": True,  # another live process is still writing
        f"snap-{os.getpid()}-abc": True,  # this process's own
        "snap-x-abc": True,  # not a pid: not ours to judge
        f"snap-{dead}": True,  # not the pattern
        f"other-{dead}-abc": True,
    }
    for area in areas:
        (tmp_path / area).mkdir()
        (tmp_path / area / "data.parquet").write_bytes(b"x")

    snapshots._sweep_stale_tmp(tmp_path)
    snapshots._sweep_stale_tmp(tmp_path / "missing")  # no folder yet: nothing to do

    assert {area: (tmp_path / area).exists() for area in areas} == areas


def test_publish_keeps_an_existing_copy_of_the_same_content(tmp_path: Path) -> None:
    tmp, final = tmp_path / "tmp", tmp_path / "store" / "ab" / "abc"
    final.mkdir(parents=True)
    (final / "data.parquet").write_bytes(b"first")
    tmp.mkdir()
    (tmp / "data.parquet").write_bytes(b"second")

    snapshots._publish(tmp, final)

    assert (final / "data.parquet").read_bytes() == b"first"
    fresh = tmp_path / "store" / "cd" / "cde"
    snapshots._publish(tmp, fresh)
    assert (fresh / "data.parquet").read_bytes() == b"second"
    assert not tmp.exists()


# --- added after the first bounded mutation run ---------------------------------------------


def test_the_refusal_counts_the_rest_only_past_ten_failed_rules(
    session: Session, tmp_path: Path
) -> None:
    def refusal(failing: int) -> str:
        columns = {f"c{i:02d}": {"type": "integer"} for i in range(failing)}
        path = tmp_path / f"s{failing}.parquet"
        pq.write_table(pa.table({name: ["x"] for name in columns}), path)
        contract = parse_contract({"name": "many", "columns": columns}, "inline")
        with pytest.raises(ContractViolation) as info:
            snapshots.snapshot(session, path, name="s", contract=contract)
        return info.value.message

    assert "columns.c09.type (observed string, threshold integer)); nothing" in refusal(10)
    assert "columns.c09.type (observed string, threshold integer), and 1 more)" in refusal(11)


def test_the_refusal_shows_a_duration_as_a_person_reads_it(
    session: Session, tmp_path: Path
) -> None:
    contract = parse_contract(
        {"name": "c", "table": {"freshness": {"column": "ts", "max_age": "36h"}}}, "inline"
    )

    with pytest.raises(ContractViolation) as info:
        snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name="x",
                           contract=contract)  # fmt: skip

    assert "table.freshness (observed None, threshold 1d12h)" in info.value.message


def test_the_latest_version_and_a_version_of_one_name(session: Session, tmp_path: Path) -> None:
    for version in range(1, 6):
        path = _parquet(tmp_path / f"v{version}.parquet", [version])
        snapshots.snapshot(session, path, name="nums")
        assert snapshots.get_snapshot(session, "nums").version == version
    other = snapshots.snapshot(session, _parquet(tmp_path / "o.parquet", [0]), name="abc")

    assert snapshots.get_snapshot(session, "abc@1") == other
    assert snapshots.get_snapshot(session, "nums@3").row_count == 1


def test_reading_notes_the_snapshot_in_the_run_lineage_whole(
    session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "two.parquet"
    pq.write_table(pa.table({"n": [1, 2], "s": ["a", "b"]}), path)
    snap = snapshots.snapshot(session, path, name="pair")

    with lineage.collecting() as collected:
        table = snapshots.read_snapshot(session, "pair", columns=["s"])

    assert table.column_names == ["s"]
    assert list(collected.datasets.values()) == [
        lineage.DatasetUse(snap.id, "pair", 1, snap.content_hash)
    ]
