"""The audit chain catches an edited, deleted, inserted or reordered entry."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update

from modelward.security import audit
from modelward.security.tables import audit_log
from modelward.store import Store


def _fill(store: Store, n: int = 5) -> None:
    for i in range(n):
        with store.transaction() as conn:
            audit.record(
                conn,
                actor="ana",
                action="model.promote",
                target=f"model:m@{i}",
                payload={"i": i, "why": "gate passed"},
            )


def test_intact_chain_verifies(store: Store) -> None:
    _fill(store)
    with store.read() as conn:
        report = audit.verify(conn)
    assert report.ok and report.checked == 5


def test_edited_payload_is_named(store: Store) -> None:
    _fill(store)
    with store.transaction() as conn:
        conn.execute(
            update(audit_log).where(audit_log.c.seq == 3).values(payload={"i": 3, "why": "forged"})
        )
    with store.read() as conn:
        report = audit.verify(conn)
    assert not report.ok
    assert report.first_bad_seq == 3
    assert "edited" in report.reason


def test_deleted_entry_is_named(store: Store) -> None:
    _fill(store)
    with store.transaction() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == 2))
    with store.read() as conn:
        report = audit.verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 3)


def test_reordered_entries_are_caught(store: Store) -> None:
    _fill(store)
    with store.transaction() as conn:
        rows = {
            r.seq: r for r in conn.execute(select(audit_log).where(audit_log.c.seq.in_([2, 4])))
        }
        for seq, other in ((2, 4), (4, 2)):
            src = rows[other]
            conn.execute(
                update(audit_log)
                .where(audit_log.c.seq == seq)
                .values(
                    at=src.at,
                    actor=src.actor,
                    action=src.action,
                    target=src.target,
                    payload=src.payload,
                    prev_hash=src.prev_hash,
                    hash=f"tmp{seq}",
                )
            )
        for seq, other in ((2, 4), (4, 2)):
            conn.execute(
                update(audit_log).where(audit_log.c.seq == seq).values(hash=rows[other].hash)
            )
    with store.read() as conn:
        report = audit.verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 2)


def test_record_rolls_back_with_its_transaction(store: Store) -> None:
    with pytest.raises(ValueError), store.transaction() as conn:
        audit.record(conn, actor="ana", action="x", target="t")
        raise ValueError("state change failed")
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(audit_log)).scalar_one() == 0


def test_an_anchor_catches_entries_cut_from_the_end(store: Store) -> None:
    _fill(store)
    with store.read() as conn:
        count, anchor = audit.head(conn)
    assert count == 5
    with store.transaction() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq >= 4))
    with store.read() as conn:
        assert audit.verify(conn).ok  # the chain alone cannot see a cut tail
        report = audit.verify(conn, anchor=anchor)
    assert not report.ok
    assert "anchor" in report.reason


def test_an_anchor_still_in_the_chain_passes(store: Store) -> None:
    _fill(store, 3)
    with store.read() as conn:
        _, anchor = audit.head(conn)
    _fill(store, 2)
    with store.read() as conn:
        assert audit.verify(conn, anchor=anchor).ok
