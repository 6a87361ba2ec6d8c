"""Every hashed field of an audit entry is covered: an edit to any one of them is caught.

An audit chain that hashes only the payload would let someone rewrite who did a thing
(actor), what it was (action), to what (target) or when (at) without a trace, so each
field is edited alone, on every metadata backend, and the edit must be named.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


def test_the_digest_is_the_same_whatever_the_machines_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An entry written on a machine set to Tokyo time verifies on one set to UTC."""
    import time
    from datetime import UTC, datetime

    at = datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC)
    utc = audit._digest(audit._body(audit.GENESIS, at, "a", "b", "c", {}, None), None)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        tokyo = audit._digest(audit._body(audit.GENESIS, at, "a", "b", "c", {}, None), None)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert tokyo == utc


def test_the_note_is_hashed_under_its_own_name() -> None:
    from datetime import UTC, datetime

    at = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    body = audit._body(audit.GENESIS, at, "ana", "x", "t", {}, "approved by ben")
    assert b'"note":"approved by ben"' in body
    assert audit._digest(body, None) != audit._digest(
        audit._body(audit.GENESIS, at, "ana", "x", "t", {}, None), None
    )


def test_record_returns_every_field_as_entries_reads_it_back(store: Store) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    with store.transaction() as conn:
        made = audit.record(
            conn,
            actor="ana",
            action="model.promote",
            target="model:churn@3",
            # values JSON cannot hold are stored as their text, never refused
            payload={"when": datetime(2026, 1, 2, tzinfo=UTC), "cost": Decimal("1.50")},
            note="override: INC-7",
        )
    with store.read() as conn:
        (stored,) = list(audit.entries(conn))
    assert made == stored
    assert stored.payload == {"when": "2026-01-02 00:00:00+00:00", "cost": "1.50"}
    assert (stored.action, stored.target, stored.note) == (
        "model.promote",
        "model:churn@3",
        "override: INC-7",
    )


def test_a_target_prefix_with_a_backslash_matches_it_literally(store: Store) -> None:
    with store.transaction() as conn:
        for target in ("path:a\\b", "path:a\\\\b", "path:aXb"):
            audit.record(conn, actor="ana", action="x", target=target)
    with store.read() as conn:
        found = [e.target for e in audit.entries(conn, target="path:a\\*")]
    assert found == ["path:a\\b", "path:a\\\\b"]


def test_each_break_of_the_chain_says_what_it_is(store: Store) -> None:
    from pydantic import SecretStr

    _fill(store, 3)
    with store.transaction() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(prev_hash="0" * 64))
    with store.read() as conn:
        assert audit.verify(conn).reason == (
            "previous-hash link broken (a row was deleted, inserted or reordered)"
        )
    with store.transaction() as conn:
        conn.execute(update(audit_log).values(actor="mallory"))
    with store.read() as conn:
        unkeyed = audit.verify(conn)
        keyed = audit.verify(conn, key=SecretStr("k" * 32))
    assert unkeyed.reason == (
        "content does not match its hash (edited, or keyed: verify with the workspace's audit key)"
    )
    assert (
        keyed.reason == "content does not match its hash (edited or keyed with another audit key)"
    )
    assert (unkeyed.key_configured, keyed.key_configured) == (False, True)


def test_an_unkeyed_entry_after_keyed_ones_is_named(store: Store) -> None:
    from pydantic import SecretStr

    key = SecretStr("k" * 32)
    with store.transaction() as conn:
        for i in range(2):  # written with the key, as a store with an audit key does
            body = audit._body(
                audit.head(conn)[1], datetime.now(UTC), "ana", "x", f"t{i}", {}, None
            )
            conn.execute(
                audit_log.insert().values(
                    at=json_at(body),
                    actor="ana",
                    action="x",
                    target=f"t{i}",
                    payload={},
                    prev_hash=audit.head(conn)[1],
                    hash=audit._digest(body, key),
                    note=None,
                )
            )
    with store.transaction() as conn:
        audit.record(conn, actor="mallory", action="x", target="t2")  # no key here
    with store.read() as conn:
        report = audit.verify(conn, key=key)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 3, 2)
    assert report.reason == (
        "an unkeyed entry after keyed ones: written by someone without the audit key "
        "(appended or rewritten outside modelward)"
    )


def json_at(body: bytes) -> Any:
    import json
    from datetime import datetime

    return datetime.fromisoformat(json.loads(body)["at"])


@pytest.mark.parametrize("anchor", ["xyz", "a" * 63, " " + "g" * 64])
def test_a_malformed_anchor_is_refused_naming_the_field(anchor: str) -> None:
    from modelward.errors import InputError

    with pytest.raises(InputError) as info:
        audit.normalise_anchor(anchor)
    assert info.value.details == {"field": "anchor"}
    assert info.value.message == (
        f"anchor: {anchor[:80]!r} is not a head hash (64 hexadecimal digits, as printed "
        "by `modelward audit head`)"
    )
    long = "z" * 100
    with pytest.raises(InputError, match=repr("z" * 80) + " is not"):  # cut at 80
        audit.normalise_anchor(long)
    assert audit.normalise_anchor(" " + "AB" * 32 + "\n") == "ab" * 32
