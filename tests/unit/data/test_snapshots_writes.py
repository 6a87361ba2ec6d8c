"""Snapshots, how they are written: the stored file's compression, the writer thread and
the bound on what waits for it, publishing into a store folder that is not there yet, the
record's retries when another writer takes its version, and the workspace's data settings
applied to the contract check.

Each of these is invisible in the rows read back, so the record tests beside this file
cannot tell them apart from their mutants; these pin them in process (mutation tests do
not reach the subprocesses of the flow tests' races and crashes).
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import event, func, select

from modelward.config import Workspace
from modelward.data import snapshots
from modelward.data.contracts import parse_contract
from modelward.data.tables import snapshots as snapshots_table
from modelward.errors import Conflict, InputError, StorageError
from modelward.security import audit
from modelward.session import Session

WRITER_THREAD = "modelward-snapshot-writer"


@pytest.fixture
def session(sqlite_workspace: Workspace) -> Iterator[Session]:
    s = Session(sqlite_workspace)
    yield s
    s.close()


def _parquet(path: Path, values: list[int]) -> Path:
    pq.write_table(pa.table({"n": pa.array(values, pa.int64())}), path)
    return path


def _wait_until(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)


# --- the stored file and its writer ---------------------------------------------------------


def test_the_stored_file_is_zstd_compressed(session: Session, tmp_path: Path) -> None:
    snap = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1, 2, 3]), name="n")

    meta = pq.ParquetFile(snap.path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_the_creation_time_is_an_instant_in_utc(session: Session, tmp_path: Path) -> None:
    snap = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name="n")

    assert snap.created_at.utcoffset() == timedelta(0)
    assert snap.to_dict()["created_at"].endswith("+00:00")
    assert snapshots.get_snapshot(session, "n@1").created_at == snap.created_at


def test_the_writer_is_a_named_daemon_thread_gone_once_the_snapshot_returns(
    session: Session, tmp_path: Path
) -> None:
    # named so a thread dump of a stuck snapshot says what it is; a daemon so an interrupted
    # process can still exit while a write is pending
    seen: list[tuple[str, bool]] = []

    def note_writer(done: int, total: int | None) -> None:
        seen.extend((t.name, t.daemon) for t in threading.enumerate() if t.name == WRITER_THREAD)

    snapshots.snapshot(
        session, _parquet(tmp_path / "a.parquet", [1, 2]), name="n", on_progress=note_writer
    )

    assert seen == [(WRITER_THREAD, True)]
    assert WRITER_THREAD not in {t.name for t in threading.enumerate()}


class _HeldWriter:
    """Stands in for the Parquet writer: each write waits until the test releases it."""

    def __init__(self, real: pq.ParquetWriter) -> None:
        self.real = real
        self.release = threading.Event()
        self.writing = threading.Event()

    def write_table(self, table: pa.Table) -> None:
        self.writing.set()
        self.release.wait(timeout=10)
        self.real.write_table(table)

    def close(self) -> None:
        self.real.close()


def test_at_most_two_row_groups_wait_for_a_slow_disk_and_all_are_written(
    tmp_path: Path,
) -> None:
    # the bound on memory: a source read faster than the disk writes it holds two row groups
    # in the queue at most, then the reader waits
    schema = pa.schema([pa.field("n", pa.int64())])
    dest = tmp_path / "data.parquet"
    sink = snapshots._ParquetSink(dest, schema)
    held = _HeldWriter(sink._writer)
    sink._writer = held  # type: ignore[assignment]
    groups = [[pa.record_batch([pa.array([i], pa.int64())], schema=schema)] for i in range(4)]
    queued = threading.Event()

    def read_ahead() -> None:
        for group in groups[:3]:  # one being written, two waiting
            sink.put(group)
        queued.set()

    reader = threading.Thread(target=read_ahead, daemon=True)
    reader.start()
    _wait_until(queued.is_set, "three row groups were handed over")

    assert held.writing.is_set()
    assert sink._queue.full()  # a fourth would wait for the disk
    held.release.set()
    sink.put(groups[3])
    sink.close()
    assert pq.read_table(dest).column("n").to_pylist() == [0, 1, 2, 3]


def test_the_write_area_names_its_process_so_a_later_sweep_can_judge_it(
    session: Session, tmp_path: Path
) -> None:
    areas: list[str] = []

    def note_area(done: int, total: int | None) -> None:
        areas.extend(p.name for p in session.workspace.tmp_dir.iterdir())

    snapshots.snapshot(
        session, _parquet(tmp_path / "a.parquet", [1]), name="n", on_progress=note_area
    )

    [area] = areas
    assert re.fullmatch(rf"snap-{os.getpid()}-[0-9a-f]{{12}}", area)


class _FailingWriter:
    """Stands in for the Parquet writer on a disk that is full."""

    def __init__(self, real: pq.ParquetWriter) -> None:
        self.real = real

    def write_table(self, table: pa.Table) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        self.real.close()


def test_a_write_error_on_the_writer_thread_reaches_the_reader(tmp_path: Path) -> None:
    schema = pa.schema([pa.field("n", pa.int64())])
    sink = snapshots._ParquetSink(tmp_path / "data.parquet", schema)
    sink._writer = _FailingWriter(sink._writer)  # type: ignore[assignment]
    group = [pa.record_batch([pa.array([1], pa.int64())], schema=schema)]
    sink.put(group)

    def a_later_put_fails() -> bool:
        try:
            sink.put(group)
        except OSError as exc:
            return exc.errno == errno.ENOSPC
        return False

    _wait_until(a_later_put_fails, "a put after the failed write raised its error")
    with pytest.raises(OSError, match="No space left on device"):
        sink.close()


# --- publishing -----------------------------------------------------------------------------


def test_publishing_creates_the_store_folders_and_shares_a_prefix_folder(tmp_path: Path) -> None:
    store = tmp_path / "snapshots"  # not there yet (a workspace whose folder was removed)
    written = []
    for content in ("abc", "abd"):  # both under the prefix folder "ab"
        tmp = tmp_path / f"tmp-{content}"
        tmp.mkdir()
        (tmp / "data.parquet").write_bytes(content.encode())
        snapshots._publish(tmp, store / "ab" / content)
        written.append((store / "ab" / content / "data.parquet").read_bytes())

    assert written == [b"abc", b"abd"]
    assert sorted(p.name for p in (store / "ab").iterdir()) == ["abc", "abd"]


def test_a_snapshot_into_a_workspace_without_its_store_folder_creates_it(
    session: Session, tmp_path: Path
) -> None:
    store, work = session.workspace.snapshots_dir, session.workspace.tmp_dir
    store.rmdir()
    work.rmdir()

    snap = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [7]), name="n")

    assert snap.path.is_relative_to(store)
    assert pq.read_table(snap.path).column("n").to_pylist() == [7]
    assert list(work.iterdir()) == []


def test_a_copy_published_by_another_process_meanwhile_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the other writer of the same content renames its folder in between the check that
    # the copy is absent and this rename, which then fails as the folder is not empty
    tmp, final = tmp_path / "tmp", tmp_path / "store" / "ab" / "abc"
    tmp.mkdir()
    (tmp / "data.parquet").write_bytes(b"mine")
    real_rename = os.rename

    def rename_after_the_other_writer(src: Path, dst: Path) -> None:
        Path(dst).mkdir()
        (Path(dst) / "data.parquet").write_bytes(b"theirs")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename_after_the_other_writer)
    snapshots._publish(tmp, final)

    assert (final / "data.parquet").read_bytes() == b"theirs"


def test_a_store_folder_taken_by_something_else_is_not_overwritten(tmp_path: Path) -> None:
    tmp, final = tmp_path / "tmp", tmp_path / "store" / "ab" / "abc"
    tmp.mkdir()
    (tmp / "data.parquet").write_bytes(b"mine")
    final.mkdir(parents=True)
    (final / "other").write_bytes(b"not a snapshot")

    with pytest.raises(OSError) as info:
        snapshots._publish(tmp, final)

    assert info.value.errno in (errno.EEXIST, errno.ENOTEMPTY)
    assert sorted(p.name for p in final.iterdir()) == ["other"]


def _stored(session: Session) -> list[Path]:
    return [p for p in session.workspace.snapshots_dir.rglob("*") if p.is_file()]


def _assert_nothing_left(session: Session) -> None:
    """A failed snapshot left no record, no write area and no stored file."""
    assert snapshots.list_snapshots(session) == []
    assert list(session.workspace.tmp_dir.iterdir()) == []
    assert _stored(session) == []


def test_a_write_area_that_cannot_be_made_is_a_storage_error_naming_it(
    session: Session, tmp_path: Path
) -> None:
    work = session.workspace.tmp_dir
    work.rmdir()
    work.write_bytes(b"")  # a file where the write areas should go

    with pytest.raises(StorageError) as info:
        snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name="nums")

    assert info.value.message == (
        f"cannot write snapshot 'nums' under {work}: Not a directory; nothing was stored"
    )
    assert info.value.details == {"errno": errno.ENOTDIR}
    assert snapshots.list_snapshots(session) == []


def test_a_store_that_cannot_be_written_is_a_storage_error_and_leaves_nothing(
    session: Session, tmp_path: Path
) -> None:
    store = session.workspace.snapshots_dir
    store.rmdir()
    store.write_bytes(b"")  # a file where the store folder should be

    with pytest.raises(StorageError) as info:
        snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name="nums")

    work = session.workspace.tmp_dir
    assert info.value.message == (
        f"cannot write snapshot 'nums' under {work}: Not a directory; nothing was stored"
    )
    assert info.value.details == {"errno": errno.ENOTDIR}
    assert list(work.iterdir()) == []
    assert snapshots.list_snapshots(session) == []


# --- the sweep of write areas left by dead processes ---------------------------------------


_LIVE_WRITER = (
    # hang-ups take their default action here even under nohup, which passes "ignore" down
    "import signal, sys; signal.signal(signal.SIGHUP, signal.SIG_DFL); "
    "print('ready', flush=True); sys.stdin.read()"
)


def test_the_sweep_never_signals_a_live_writer(tmp_path: Path) -> None:
    # a writer in another process, alive until its stdin closes
    writer = subprocess.Popen(
        [sys.executable, "-c", _LIVE_WRITER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert writer.stdin is not None and writer.stdout is not None
    assert writer.stdout.readline() == b"ready\n"
    area = tmp_path / f"snap-{writer.pid}-abc"
    area.mkdir()

    snapshots._sweep_stale_tmp(tmp_path)

    assert area.exists()
    writer.stdin.close()
    assert writer.wait(timeout=30) == 0  # it ended on its own, not by a signal
    writer.stdout.close()


def test_a_stray_file_named_like_a_dead_writer_area_does_not_fail_the_sweep(
    tmp_path: Path,
) -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)  # a pid that no process has now
    stray = tmp_path / f"snap-{pid}-abc"
    stray.write_bytes(b"not a write area")

    snapshots._sweep_stale_tmp(tmp_path)

    assert stray.read_bytes() == b"not a write area"


# --- recording, when another writer gets there first ----------------------------------------


def _taken_by_another_writer(session: Session, times: int) -> list[int]:
    """Make the next ``times`` inserts of a snapshot row fail as a concurrent writer's
    commit of the same version would (the database's unique constraint); returns the list
    the attempts are counted in."""
    attempts: list[int] = []

    def before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SNAPSHOTS"):
            attempts.append(1)
            if len(attempts) <= times:
                raise sqlite3.IntegrityError(
                    "UNIQUE constraint failed: snapshots.name, snapshots.version"
                )

    event.listen(session.store.engine, "before_cursor_execute", before_execute)
    return attempts


def _recorded(session: Session) -> tuple[int, list[str]]:
    with session.store.read() as conn:
        rows = conn.execute(select(func.count()).select_from(snapshots_table)).scalar_one()
        return rows, [e.action for e in audit.entries(conn)]


def test_a_version_taken_by_another_writer_is_retried_and_recorded_once(
    session: Session, tmp_path: Path
) -> None:
    attempts = _taken_by_another_writer(session, times=2)

    snap = snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name="n")

    assert len(attempts) == 3
    assert (snap.ref, snap.created) == ("n@1", True)
    assert snapshots.get_snapshot(session, "n") == snap
    assert _recorded(session) == (1, ["data.snapshot.create"])


def test_a_record_that_keeps_losing_the_race_is_a_conflict_after_five_attempts(
    session: Session, tmp_path: Path
) -> None:
    attempts = _taken_by_another_writer(session, times=5)

    with pytest.raises(Conflict) as info:
        snapshots.snapshot(session, _parquet(tmp_path / "a.parquet", [1]), name="n")

    assert info.value.message == (
        "snapshot 'n': could not record after 5 attempts (concurrent writers)"
    )
    assert len(attempts) == 5
    assert _recorded(session) == (0, [])


# --- the workspace's data settings ----------------------------------------------------------


def test_the_contract_check_runs_within_the_workspace_memory_limit_naming_the_source(
    workspace_dir: Path, tmp_path: Path
) -> None:
    # 8 MB is enough to stream the rows into the store in small batches, not enough for
    # the check of 200,000 distinct values: the check must use the workspace's limit
    environ = {
        "MODELWARD_IDENTITY__USER": "tester",
        "MODELWARD_DATA__DUCKDB_MEMORY_LIMIT": "8MB",
        "MODELWARD_DATA__DUCKDB_THREADS": "1",
        "MODELWARD_DATA__BATCH_ROWS": "1024",
    }
    path = tmp_path / "wide.parquet"
    values = pa.array([f"value-{i:09d}-padding-padding" for i in range(200_000)])
    pq.write_table(pa.table({"s": values}), path)
    contract = parse_contract({"name": "c", "columns": {"s": {"unique": True}}}, "inline")

    with Session(Workspace.open(workspace_dir, environ=environ)) as session:
        with pytest.raises(InputError) as info:
            snapshots.snapshot(session, path, name="wide", contract=contract)

        # the check reads the private copy, but the user only knows the source they gave
        assert info.value.message.startswith(f"{path}: ran out of memory reading the data (")
        assert info.value.message.endswith("raise data.duckdb_memory_limit in modelward.toml")
        assert info.value.details == {"source": str(path)}
        assert ".modelward" not in info.value.message
        _assert_nothing_left(session)


def test_reading_the_source_runs_within_the_workspace_memory_limit(
    workspace_dir: Path, tmp_path: Path
) -> None:
    environ = {
        "MODELWARD_IDENTITY__USER": "tester",
        "MODELWARD_DATA__DUCKDB_MEMORY_LIMIT": "2MB",
        "MODELWARD_DATA__DUCKDB_THREADS": "1",
    }
    path = tmp_path / "wide.parquet"
    values = pa.array([f"value-{i:09d}-padding-padding" for i in range(200_000)])
    pq.write_table(pa.table({"s": values}), path)

    with Session(Workspace.open(workspace_dir, environ=environ)) as session:
        with pytest.raises(InputError) as info:
            snapshots.snapshot(session, path, name="wide")

        # the file is fine: the message says the limit was too low, and which setting to raise
        assert info.value.message.startswith(
            f"{path}: ran out of memory reading the data (Out of Memory Error: "
        )
        assert info.value.message.endswith("); raise data.duckdb_memory_limit in modelward.toml")
        assert info.value.details == {"file": str(path), "field": "data.duckdb_memory_limit"}
        _assert_nothing_left(session)


def test_a_corrupt_row_group_past_the_first_is_an_input_error_naming_the_file(
    workspace_dir: Path, tmp_path: Path
) -> None:
    # small batches on one thread: the first row group is read and hashed before the second
    environ = {
        "MODELWARD_IDENTITY__USER": "tester",
        "MODELWARD_DATA__DUCKDB_THREADS": "1",
        "MODELWARD_DATA__BATCH_ROWS": "1024",
    }
    path = tmp_path / "damaged.parquet"
    table = pa.table({"n": pa.array(range(2048), pa.int64())})
    pq.write_table(table, path, row_group_size=1024, compression="none", use_dictionary=False)
    second = pq.ParquetFile(path).metadata.row_group(1).column(0)
    data = bytearray(path.read_bytes())
    start = second.data_page_offset
    data[start : start + second.total_compressed_size] = bytes(second.total_compressed_size)
    path.write_bytes(bytes(data))
    assert pq.ParquetFile(path).read_row_group(0).num_rows == 1024  # the file still opens

    with Session(Workspace.open(workspace_dir, environ=environ)) as session:
        with pytest.raises(InputError) as info:
            snapshots.snapshot(session, path, name="damaged")

        # the source is at fault, not the workspace: not a StorageError about .modelward/tmp
        assert info.value.message.startswith(f"{path}: not a readable Parquet file: ")
        assert ".modelward" not in info.value.message
        assert info.value.details == {"file": str(path)}
        _assert_nothing_left(session)
