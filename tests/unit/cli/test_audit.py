"""`modelward audit verify` catches tampering and names the first bad entry; `audit log`."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, delete, insert, select, update

from modelward.config import Workspace
from modelward.security import audit
from modelward.security.tables import audit_log
from modelward.store import open_store
from tests.unit.registry.support import cli


def _chain(workspace: Workspace, n: int = 5) -> None:
    store = open_store(workspace)
    try:
        for i in range(n):
            with store.transaction() as conn:
                audit.record(
                    conn,
                    actor=f"user{i % 2}",
                    action="model.promote" if i % 2 else "model.approved",
                    target=f"model:churn@{i}",
                    payload={"reason": f"step {i}"},
                )
    finally:
        store.close()


def _edit(conn: Connection) -> None:
    conn.execute(
        update(audit_log).where(audit_log.c.seq == 3).values(payload={"reason": "nothing to see"})
    )


def _delete(conn: Connection) -> None:
    conn.execute(delete(audit_log).where(audit_log.c.seq == 3))


def _insert(conn: Connection) -> None:
    row = conn.execute(select(audit_log).where(audit_log.c.seq == 5)).one()
    conn.execute(
        insert(audit_log).values(
            seq=6,
            at=row.at,
            actor="mallory",
            action="model.promote",
            target="model:churn@9",
            payload={},
            prev_hash="f" * 64,
            hash="e" * 64,
        )
    )


def _reorder(conn: Connection) -> None:
    """Swap entries 3 and 4 wholesale (content and hashes), as a reordering would."""
    cols = ("at", "actor", "action", "target", "payload", "prev_hash", "hash")
    rows = {r.seq: r for r in conn.execute(select(audit_log).where(audit_log.c.seq.in_((3, 4))))}
    # hashes are unique, so park one row's hash while the two trade places
    conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(hash="0" * 64))
    for seq, other in ((4, rows[3]), (3, rows[4])):
        conn.execute(
            update(audit_log)
            .where(audit_log.c.seq == seq)
            .values(**{c: getattr(other, c) for c in cols})
        )


@pytest.mark.parametrize(
    ("tamper", "first_bad", "reason"),
    [
        (_edit, 3, "edited"),
        (_delete, 4, "deleted"),
        (_insert, 6, "inserted"),
        (_reorder, 3, "reordered"),
    ],
)
def test_verify_names_the_first_tampered_entry(
    workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tamper: Callable[[Connection], None],
    first_bad: int,
    reason: str,
) -> None:
    _chain(workspace)
    code, out, _ = cli(capsys, monkeypatch, workspace, "audit", "verify")
    assert code == 0 and "5 entries verified" in out
    store = open_store(workspace)
    try:
        with store.transaction() as conn:
            tamper(conn)
    finally:
        store.close()
    code, _, err = cli(capsys, monkeypatch, workspace, "audit", "verify")
    assert code == 1 and f"at entry {first_bad}" in err and reason in err
    code, out, _ = cli(capsys, monkeypatch, workspace, "audit", "verify", "--json")
    assert code == 1 and json.loads(out)["first_bad_seq"] == first_bad


def test_log_filters_by_action_actor_and_target_prefix(
    workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _chain(workspace, n=6)
    code, out, _ = cli(
        capsys, monkeypatch, workspace, "audit", "log", "--action", "model.promote", "--json"
    )
    assert code == 0 and [e["seq"] for e in json.loads(out)] == [2, 4, 6]
    code, out, _ = cli(
        capsys, monkeypatch, workspace, "audit", "log", "--actor", "user0", "--limit", "2", "--json"
    )
    assert [e["seq"] for e in json.loads(out)] == [3, 5]
    code, out, _ = cli(
        capsys, monkeypatch, workspace, "audit", "log", "--target", "model:churn@*", "--json"
    )
    assert len(json.loads(out)) == 6
    code, out, _ = cli(capsys, monkeypatch, workspace, "audit", "log")
    assert code == 0 and "model.promote" in out


def test_seal_keys_the_chain_and_verify_then_requires_the_key(
    workspace: Workspace,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelward.security import bootstrap_admin
    from modelward.session import Session

    _chain(workspace, n=3)
    with Session(workspace) as session:
        bootstrap_admin(session)
    code, _, err = cli(capsys, monkeypatch, workspace, "audit", "seal")
    assert code == 2 and "no audit_key" in err
    monkeypatch.setenv("MODELWARD_AUDIT_KEY", "k" * 40)
    code, _, err = cli(capsys, monkeypatch, workspace, "audit", "verify")
    assert code == 1 and "audit seal" in err  # a key and nothing keyed yet: says what to do
    code, out, _ = cli(capsys, monkeypatch, workspace, "audit", "seal")
    assert code == 0 and "keyed" in out
    code, out, _ = cli(capsys, monkeypatch, workspace, "audit", "verify")
    assert code == 0 and "keyed with the audit key" in out
    code, out, _ = cli(capsys, monkeypatch, workspace, "audit", "head", "--json")
    head = json.loads(out)["head"]
    code, out, _ = cli(capsys, monkeypatch, workspace, "audit", "verify", "--anchor", head.upper())
    assert code == 0, out
    monkeypatch.setenv("MODELWARD_AUDIT_KEY", "x" * 40)  # another key: nothing verifies
    code, _, err = cli(capsys, monkeypatch, workspace, "audit", "verify")
    assert code == 1 and "another audit key" in err
    monkeypatch.setenv("MODELWARD_AUDIT_KEY", "short")
    code, _, err = cli(capsys, monkeypatch, workspace, "audit", "verify")
    assert code == 2 and "audit_key" in err and "short" not in err  # never echo a secret
