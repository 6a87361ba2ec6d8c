"""Every hashed field of an audit entry is covered: an edit to any one of them is caught.

An audit chain that hashes only the payload would let someone rewrite who did a thing
(actor), what it was (action), to what (target) or when (at) without a trace, so each
field is edited alone, on every metadata backend, and the edit must be named.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from modelward.security import audit
from modelward.security.tables import audit_log
from modelward.store import Store


def _fill(store: Store, n: int = 4) -> None:
    for i in range(n):
        with store.transaction() as conn:
            audit.record(
                conn,
                actor="ana",
                action="model.promote",
                target=f"model:m@{i}",
                payload={"i": i, "why": "gate passed", "nested": {"k": [1, 2]}},
            )


def _edit(row: Any, field: str) -> Any:
    if field == "at":
        return row.at + timedelta(microseconds=1)
    if field == "payload":
        return {**row.payload, "why": "forged"}
    return getattr(row, field) + "x"


@pytest.mark.parametrize("field", ["actor", "action", "target", "at", "payload"])
def test_an_edit_to_any_hashed_field_is_named(store: Store, field: str) -> None:
    _fill(store)
    with store.transaction() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.seq == 3)).one()
        conn.execute(
            update(audit_log).where(audit_log.c.seq == 3).values({field: _edit(row, field)})
        )
    with store.read() as conn:
        report = audit.verify(conn)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 3, 2)
    assert "edited" in report.reason


def test_a_nested_payload_edit_is_caught(store: Store) -> None:
    _fill(store)
    with store.transaction() as conn:
        conn.execute(
            update(audit_log)
            .where(audit_log.c.seq == 1)
            .values(payload={"i": 0, "why": "gate passed", "nested": {"k": [2, 1]}})
        )
    with store.read() as conn:
        assert audit.verify(conn).first_bad_seq == 1


def test_a_rewritten_hash_breaks_the_next_link(store: Store) -> None:
    """Recomputing an edited row's own hash is not enough: its successor points at the old one."""
    _fill(store)
    with store.transaction() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.seq == 2)).one()
        forged = audit._digest(
            row.prev_hash, row.at, "mallory", row.action, row.target, row.payload
        )
        conn.execute(
            update(audit_log).where(audit_log.c.seq == 2).values(actor="mallory", hash=forged)
        )
    with store.read() as conn:
        report = audit.verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "link" in report.reason


def test_each_entry_links_to_the_one_before(store: Store) -> None:
    _fill(store, 3)
    with store.read() as conn:
        chain = list(audit.entries(conn))
        count, head = audit.head(conn)
    assert chain[0].prev_hash == audit.GENESIS
    assert [e.prev_hash for e in chain[1:]] == [e.hash for e in chain[:-1]]
    assert (count, head) == (3, chain[-1].hash)
    assert len({e.hash for e in chain}) == 3


def test_an_empty_chain_verifies_and_has_the_genesis_head(store: Store) -> None:
    with store.read() as conn:
        assert audit.verify(conn).ok
        assert audit.head(conn) == (0, audit.GENESIS)
