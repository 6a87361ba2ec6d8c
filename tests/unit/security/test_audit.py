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
            audit._body(
                row.prev_hash, row.at, "mallory", row.action, row.target, row.payload, None
            ),
            None,
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


def _log(store: Store) -> None:
    for actor, action, target in [
        ("ana", "model.promote", "model:churn@1"),
        ("bob", "model.approved", "model:churn@2"),
        ("ana", "model.promote", "model:churn_x@1"),
        ("cy", "endpoint.updated", "endpoint:churn"),
        ("ana", "model.approved", "model:chu%rn@3"),
    ]:
        with store.transaction() as conn:
            audit.record(conn, actor=actor, action=action, target=target, payload={})


def _targets(store: Store, **filters: Any) -> list[str]:
    with store.read() as conn:
        return [e.target for e in audit.entries(conn, **filters)]


def test_entries_filter_by_target_action_and_actor(store: Store) -> None:
    _log(store)
    assert _targets(store, target="model:churn@1") == ["model:churn@1"]
    assert _targets(store, action="model.approved") == ["model:churn@2", "model:chu%rn@3"]
    assert _targets(store, actor="ana") == ["model:churn@1", "model:churn_x@1", "model:chu%rn@3"]
    assert _targets(store, actor="ana", action="model.promote", target="model:churn@*") == [
        "model:churn@1"
    ]


def test_a_target_prefix_treats_like_wildcards_as_text(store: Store) -> None:
    _log(store)
    # "_" and "%" in the prefix are literal characters, not LIKE wildcards
    assert _targets(store, target="model:churn@*") == ["model:churn@1", "model:churn@2"]
    assert _targets(store, target="model:churn_*") == ["model:churn_x@1"]
    assert _targets(store, target="model:chu%*") == ["model:chu%rn@3"]
    assert _targets(store, target="model:*") == [
        "model:churn@1",
        "model:churn@2",
        "model:churn_x@1",
        "model:chu%rn@3",
    ]


def test_limit_keeps_the_first_and_newest_the_last_in_chain_order(store: Store) -> None:
    _log(store)
    assert _targets(store, limit=2) == ["model:churn@1", "model:churn@2"]
    assert _targets(store, newest=2) == ["endpoint:churn", "model:chu%rn@3"]
    assert _targets(store, newest=2, actor="ana") == ["model:churn_x@1", "model:chu%rn@3"]
    assert _targets(store, newest=1, action="model.promote") == ["model:churn_x@1"]
    assert _targets(store, newest=1, target="model:churn@*") == ["model:churn@2"]


def test_record_returns_what_it_stored(store: Store) -> None:
    with store.transaction() as conn:
        first = audit.record(conn, actor="ana", action="a", target="t", payload={"k": (1, 2)})
        second = audit.record(conn, actor="bob", action="b", target="u")
    assert (first.seq, first.prev_hash, first.payload) == (1, audit.GENESIS, {"k": [1, 2]})
    assert (second.prev_hash, second.payload, second.actor) == (first.hash, {}, "bob")
    with store.read() as conn:
        stored = list(audit.entries(conn))
    assert [(e.seq, e.hash, e.actor, e.action, e.target) for e in stored] == [
        (1, first.hash, "ana", "a", "t"),
        (2, second.hash, "bob", "b", "u"),
    ]


def test_an_anchor_names_what_is_wrong(store: Store) -> None:
    _fill(store, 2)
    with store.read() as conn:
        report = audit.verify(conn, anchor="f" * 64)
    assert (report.ok, report.checked, report.first_bad_seq) == (False, 2, None)
    assert report.reason.startswith(f"anchor {'f' * 64} is not in the chain")


def test_the_entry_hash_is_a_fixed_definition() -> None:
    """Chains written by earlier versions must still verify: the digest of a known entry is
    pinned (key names, separators, time format and key order all reach it)."""
    from datetime import UTC, datetime

    at = datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC)
    payload = {"why": "gate passed", "n": [1, 2.5, None], "é": True}

    def digest_of(when: datetime) -> str:
        body = audit._body(
            audit.GENESIS, when, "ana", "model.promote", "model:churn@3", payload, None
        )
        return audit._digest(body, None)

    digest = digest_of(at)
    assert digest == "d357a8eb2cd881b723ab8f52d091a45b68b6230a8cc4a3c8937e678f1d8c8d5c"
    # the same instant in another zone is the same entry
    from zoneinfo import ZoneInfo

    paris = at.astimezone(ZoneInfo("Europe/Paris"))
    assert digest_of(paris) == digest
