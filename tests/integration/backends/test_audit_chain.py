"""The audit chain catches an edited, deleted, inserted or reordered entry."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, func, select, update

from modelward.errors import InputError
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


def _forge_append(store: Store, *, action: str = "model.promote") -> None:
    """What someone who can write the table (but not read the secrets) can do: append a row
    whose plain SHA-256 is computed the way the code computes it."""
    from datetime import UTC, datetime

    with store.transaction() as conn:
        _, prev = audit.head(conn)
        at = datetime.now(UTC)
        payload = {"forged": True}
        body = audit._body(prev, at, "mallory", action, "model:churn@9", payload, None)
        conn.execute(
            audit_log.insert().values(
                at=at,
                actor="mallory",
                action=action,
                target="model:churn@9",
                payload=payload,
                prev_hash=prev,
                hash=audit._digest(body, None),
            )
        )


def test_the_note_column_is_covered_by_the_hash(store: Store) -> None:
    _fill(store, 3)
    with store.transaction() as conn:
        audit.record(conn, actor="ana", action="x", target="t", note="why it was done")
    with store.read() as conn:
        assert audit.verify(conn).ok
    with store.transaction() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 4).values(note="rewritten"))
    with store.read() as conn:
        report = audit.verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 4) and "edited" in report.reason
    with store.transaction() as conn:  # a note slipped onto a row that had none
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(note="added later"))
    with store.read() as conn:
        assert audit.verify(conn).first_bad_seq == 2


def test_an_anchor_is_matched_whatever_its_case(store: Store) -> None:
    _fill(store, 3)
    with store.read() as conn:
        _, newest = audit.head(conn)
        assert audit.verify(conn, anchor=newest.upper()).ok
        assert audit.verify(conn, anchor=f"  {newest}\n").ok
        with pytest.raises(InputError, match="64 hexadecimal digits"):
            audit.verify(conn, anchor="not-a-hash")


def test_an_unkeyed_chain_cannot_tell_a_forged_append(store: Store) -> None:
    """The weakness docs/security.md states: a recomputed hash passes a plain chain."""
    _fill(store, 3)
    _forge_append(store)
    with store.read() as conn:
        assert audit.verify(conn).ok


def test_a_keyed_chain_refuses_a_forged_append(store: Store) -> None:
    key = SecretStr("k" * 40)
    keyed = Store(store.engine, store.url, audit_key=key)
    _fill(store, 2)  # written before the key was configured
    _fill(keyed, 2)
    with keyed.read() as conn:
        report = audit.verify(conn)
    assert report.ok and (report.checked, report.keyed, report.key_configured) == (4, 2, True)
    _forge_append(keyed)
    with keyed.read() as conn:
        report = audit.verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert "without the audit key" in report.reason
    with store.read() as conn:  # without the key the keyed rows cannot be checked
        assert not audit.verify(conn).ok


def test_a_keyed_chain_cut_back_to_its_unkeyed_part_is_caught(store: Store) -> None:
    key = SecretStr("k" * 40)
    keyed = Store(store.engine, store.url, audit_key=key)
    _fill(store, 2)
    with keyed.read() as conn:  # a key configured, nothing keyed yet: says what to do
        report = audit.verify(conn)
    assert not report.ok and "audit seal" in report.reason
    _fill(keyed, 2)
    with store.transaction() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq > 2))
    with keyed.read() as conn:
        report = audit.verify(conn)
    assert not report.ok and "newest entry is not keyed" in report.reason


def test_a_wrong_key_does_not_verify(store: Store) -> None:
    _fill(Store(store.engine, store.url, audit_key=SecretStr("a" * 40)), 2)
    with Store(store.engine, store.url, audit_key=SecretStr("b" * 40)).read() as conn:
        report = audit.verify(conn)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "another audit key" in report.reason
