"""The audit chain: an append-only log whose rows are linked by SHA-256 hashes.

:func:`record` is called inside the same transaction as the state change it describes,
so either both are committed or neither is. :func:`verify` walks the chain and names the
first row that does not fit (edited, deleted, inserted or reordered).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, insert, select, text

from modelward.security.tables import audit_log

__all__ = ["GENESIS", "AuditEntry", "ChainReport", "entries", "head", "record", "verify"]

GENESIS = "0" * 64
# fixed key for the Postgres advisory lock that serialises appends to the chain
_PG_CHAIN_LOCK = 0x6D77_6175  # "mwau"


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """The entry as the CLI's ``--json`` and the REST API show it."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


def _digest(
    prev_hash: str, at: datetime, actor: str, action: str, target: str, payload: Mapping[str, Any]
) -> str:
    body = json.dumps(
        {
            "prev": prev_hash,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "target": target,
            "payload": payload,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    payload: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHAIN_LOCK})
    last = conn.execute(
        select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).scalar_one_or_none()
    prev = last or GENESIS
    # microsecond precision survives both backends' round trip, so the hash re-computes
    at = datetime.now(UTC)
    body = json.loads(json.dumps(dict(payload or {}), default=str))
    digest = _digest(prev, at, actor, action, target, body)
    seq = conn.execute(
        insert(audit_log)
        .values(
            at=at,
            actor=actor,
            action=action,
            target=target,
            payload=body,
            prev_hash=prev,
            hash=digest,
        )
        .returning(audit_log.c.seq)
    ).scalar_one()
    return AuditEntry(seq, at, actor, action, target, body, prev, digest)


def entries(
    conn: Connection,
    *,
    target: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    limit: int | None = None,
    newest: int | None = None,
) -> Iterator[AuditEntry]:
    """Entries in chain order; ``limit`` keeps the first N, ``newest`` the last N.

    A ``target`` ending in ``*`` matches by prefix (``model:churn@*``).
    """
    query = select(audit_log).order_by(audit_log.c.seq)
    if newest is not None:
        last = select(audit_log.c.seq).order_by(audit_log.c.seq.desc()).limit(newest)
        if target is not None:
            last = last.where(_target_clause(target))
        if action is not None:
            last = last.where(audit_log.c.action == action)
        if actor is not None:
            last = last.where(audit_log.c.actor == actor)
        query = query.where(audit_log.c.seq.in_(last.scalar_subquery()))
    if target is not None:
        query = query.where(_target_clause(target))
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if limit is not None:
        query = query.limit(limit)
    for row in conn.execute(query):
        yield AuditEntry(
            row.seq, row.at, row.actor, row.action, row.target, row.payload, row.prev_hash, row.hash
        )


def _target_clause(target: str) -> ColumnElement[bool]:
    if target.endswith("*"):
        prefix = target[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return audit_log.c.target.like(prefix + "%", escape="\\")
    return audit_log.c.target == target


def verify(conn: Connection, *, anchor: str | None = None) -> ChainReport:
    """Walk the whole chain in order; report the first row that breaks it.

    The chain alone cannot show that its newest entries were cut off, or that someone
    with write access rebuilt it with fresh hashes. ``anchor`` closes that gap: a head
    hash recorded outside the database earlier (``modelward audit head``) must still be
    in the chain.
    """
    prev = GENESIS
    checked = 0
    anchored = anchor is None
    for entry in entries(conn):
        if entry.prev_hash != prev:
            return ChainReport(
                False,
                checked,
                entry.seq,
                "previous-hash link broken (a row was deleted, inserted or reordered)",
            )
        expected = _digest(prev, entry.at, entry.actor, entry.action, entry.target, entry.payload)
        if expected != entry.hash:
            return ChainReport(
                False, checked, entry.seq, "content does not match its hash (edited)"
            )
        prev = entry.hash
        checked += 1
        anchored = anchored or entry.hash == anchor
    if not anchored:
        return ChainReport(
            False,
            checked,
            None,
            f"anchor {anchor} is not in the chain (entries were removed from its end, or the "
            "chain was rebuilt)",
        )
    return ChainReport(True, checked)


def head(conn: Connection) -> tuple[int, str]:
    """The number of entries and the newest hash: an anchor to keep outside the database."""
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    if last is None:
        return 0, GENESIS
    count = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    return int(count), str(last.hash)
