"""Dataset snapshots across processes: a full disk, a denied folder, a writer killed with
-9 and writers racing leave nothing half-written and record once.

These start the writers as subprocesses, which mutation runs cannot see into (mutants are
applied in the test process only), so they live apart from ``test_snapshots.py``, the
module's mutation tests (``tools/mutation.py``); the killed writer's sweep alone cost 3 s a
mutant there. ``unit/data/test_snapshots_records.py`` pins the sweep and the storage error's
message in process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelward.config import Workspace, init_workspace
from modelward.data import snapshots
from modelward.security import audit
from modelward.session import Session
from tests import services
from tests.integration.flows.test_snapshots import _parquet, _row_count, _stored_files

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def sqlite_session(sqlite_workspace: Workspace) -> Iterator[Session]:
    s = Session(sqlite_workspace)
    yield s
    s.close()


_CHILD = textwrap.dedent("""
    import os, resource, signal, sys, time
    from modelward.data import snapshots
    from modelward.session import open_session
    mode, root, source = sys.argv[1:4]
    session = open_session(root, environ={**os.environ, "MODELWARD_IDENTITY__USER": "child"})
    session.store  # connect and migrate before any limit bites (imports the drivers too)
    if mode == "fsize":
        # the disk "fills up" after 64 kB: writes beyond it fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    if mode == "nobody":
        os.setgid(65534); os.setuid(65534)
    on_progress = None
    if mode == "slow":
        def on_progress(done, total):
            print("progress", done, flush=True)
            time.sleep(0.05)
    try:
        snapshots.snapshot(session, source, name="x", on_progress=on_progress)
    except Exception as exc:
        print(type(exc).__name__, exc, flush=True)
        sys.exit(3)
""")


def _child(mode: str, root: Path, source: Path, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, mode, str(root), str(source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        **kw,
    )  # type: ignore[call-overload]


def test_disk_full_leaves_nothing_half_written(sqlite_session: Session, tmp_path: Path) -> None:
    ws = sqlite_session.workspace
    sqlite_session.store  # noqa: B018 - create the database before the child limits file size
    proc = _child("fsize", ws.root, _parquet(tmp_path / "a.parquet", rows=200_000))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert out.startswith("StorageError") and "nothing was stored" in out
    assert _stored_files(ws) == [] and list(ws.tmp_dir.iterdir()) == []
    assert _row_count(sqlite_session) == 0


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs POSIX users")
def test_permission_denied_leaves_nothing_half_written() -> None:
    # root ignores file modes, so as root the writer runs as 'nobody' in a folder it may
    # traverse (pytest's tmp root is private), with everything but snapshots/ its own
    base = Path(tempfile.mkdtemp(prefix="mw-perm-"))
    try:
        os.chmod(base, 0o755)
        root = init_workspace(base / "ws")
        with Session(Workspace.open(root, environ={})) as session:
            session.store  # noqa: B018 - create the database up front
            ws = session.workspace
            source = _parquet(base / "a.parquet")
            if os.geteuid() == 0:
                for p in [base, *base.rglob("*")]:
                    if p != ws.snapshots_dir:
                        os.chown(p, 65534, 65534)
                os.chmod(ws.snapshots_dir, 0o755)
                proc = _child("nobody", ws.root, source)
            else:
                os.chmod(ws.snapshots_dir, 0o555)
                proc = _child("plain", ws.root, source)
            out, err = proc.communicate(timeout=120)
            os.chmod(ws.snapshots_dir, 0o755)
            assert proc.returncode == 3, err
            assert out.startswith("StorageError") and "Permission denied" in out
            assert _stored_files(ws) == [] and list(ws.tmp_dir.iterdir()) == []
            assert _row_count(session) == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_killed_snapshot_is_swept_by_the_next_one(sqlite_session: Session, tmp_path: Path) -> None:
    ws = sqlite_session.workspace
    sqlite_session.store  # noqa: B018
    proc = _child("slow", ws.root, _parquet(tmp_path / "a.parquet", rows=2_000_000))
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it is writing, then kill -9
        if proc.stdout.readline().startswith("progress"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # reap it and close its pipes
    assert list(ws.tmp_dir.iterdir()), "the killed writer should have left its temp folder"
    assert _stored_files(ws) == [] and _row_count(sqlite_session) == 0
    snapshots.snapshot(sqlite_session, _parquet(tmp_path / "b.parquet"), name="y")
    assert list(ws.tmp_dir.iterdir()) == []


@pytest.mark.postgres
def test_concurrent_identical_snapshots_record_once(workspace_dir: Path, tmp_path: Path) -> None:
    """Three processes snapshot the same file into one Postgres store at once."""
    schema = services.create_schema()
    url = next(schema)
    try:
        source = _parquet(tmp_path / "a.parquet", rows=20_000)
        env = {**os.environ, "MODELWARD_DATABASE_URL": url}
        procs = [_child("plain", workspace_dir, source, env=env) for _ in range(3)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        ws = Workspace.open(workspace_dir, environ={"MODELWARD_DATABASE_URL": url})
        with Session(ws) as session:
            assert [s.ref for s in snapshots.list_snapshots(session)] == ["x@1"]
            with session.store.read() as conn:
                assert [e.action for e in audit.entries(conn)] == ["data.snapshot.create"]
    finally:
        schema.close()
