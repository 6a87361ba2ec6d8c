"""The audit chain: an append-only log whose rows are linked by SHA-256 hashes.

:func:`record` is called inside the same transaction as the state change it describes,
so either both are committed or neither is. :func:`verify` walks the chain and names the
first row that does not fit (edited, deleted, inserted or reordered).

Each row's hash covers its time, actor, action, target, payload, note and the previous
row's hash. Plain SHA-256 shows accidents and edits by someone who does not recompute the
hashes; anyone who can write the table can also append a row with a correct hash. With an
``audit_key`` in the secrets file the chain is **keyed**: new rows carry HMAC-SHA256 under
that key, and once a keyed row exists every later row must be keyed and the newest row
must be keyed, so a writer without the key can neither append, edit, nor rebuild the chain
unnoticed (docs/security.md says what an external anchor adds).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import ColumnElement, Connection, func, insert, select, text

from modelward.errors import InputError
from modelward.security.tables import audit_log
from modelward.store import AUDIT_KEY_OPTION

__all__ = [
    "GENESIS",
    "AuditEntry",
    "ChainReport",
    "entries",
    "head",
    "normalise_anchor",
    "record",
    "verify",
]

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
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry as the CLI's ``--json`` and the REST API show it."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "payload": self.payload,
            "note": self.note,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""
    #: rows carrying an HMAC under the workspace's audit key
    keyed: int = 0
    #: whether a key was configured when verifying
    key_configured: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "keyed": self.keyed,
            "key_configured": self.key_configured,
        }


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _body(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    payload: Mapping[str, Any],
    note: str | None,
) -> bytes:
    fields: dict[str, Any] = {
        "prev": prev_hash,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "target": target,
        "payload": payload,
    }
    # a row without a note hashes as rows did before notes were covered, so existing
    # chains still verify; a note set (or changed) later breaks the row's hash
    if note is not None:
        fields["note"] = note
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def _digest(body: bytes, key: SecretStr | None) -> str:
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key.get_secret_value().encode(), body, hashlib.sha256).hexdigest()


def _key_of(conn: Connection) -> SecretStr | None:
    key = conn.get_execution_options().get(AUDIT_KEY_OPTION)
    return key if isinstance(key, SecretStr) else None


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    payload: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction (keyed when the store has an audit key)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHAIN_LOCK})
    last = conn.execute(
        select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).scalar_one_or_none()
    prev = last or GENESIS
    # microsecond precision survives both backends' round trip, so the hash re-computes
    at = datetime.now(UTC)
    body = json.loads(json.dumps(dict(payload or {}), default=str))
    digest = _digest(_body(prev, at, actor, action, target, body, note), _key_of(conn))
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
            note=note,
        )
        .returning(audit_log.c.seq)
    ).scalar_one()
    return AuditEntry(seq, at, actor, action, target, body, prev, digest, note)


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
            row.seq,
            row.at,
            row.actor,
            row.action,
            row.target,
            row.payload,
            row.prev_hash,
            row.hash,
            row.note,
        )


def _target_clause(target: str) -> ColumnElement[bool]:
    if target.endswith("*"):
        prefix = target[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return audit_log.c.target.like(prefix + "%", escape="\\")
    return audit_log.c.target == target


def normalise_anchor(anchor: str) -> str:
    """A head hash as ``audit head`` prints it (64 hex digits, any case) in lower case."""
    value = anchor.strip().lower()
    if not _HEX64.match(value):
        raise InputError(
            f"anchor: {anchor[:80]!r} is not a head hash (64 hexadecimal digits, as printed "
            "by `modelward audit head`)",
            field="anchor",
        )
    return value


def verify(
    conn: Connection, *, anchor: str | None = None, key: SecretStr | None = None
) -> ChainReport:
    """Walk the whole chain in order; report the first row that breaks it.

    The chain alone cannot show that its newest entries were cut off, or that someone
    with write access rebuilt it with fresh hashes. ``anchor`` closes that gap: a head
    hash recorded outside the database earlier (``modelward audit head``) must still be
    in the chain. A ``key`` (default: the store's audit key) makes the chain keyed: after
    the first row carrying its HMAC every row must carry it, and so must the newest.
    """
    wanted = normalise_anchor(anchor) if anchor is not None else None
    key = key if key is not None else _key_of(conn)
    prev = GENESIS
    checked = keyed = 0
    anchored = wanted is None
    last_keyed = False

    def report(ok: bool, seq: int | None = None, reason: str = "") -> ChainReport:
        return ChainReport(ok, checked, seq, reason, keyed, key is not None)

    for entry in entries(conn):
        if entry.prev_hash != prev:
            return report(
                False,
                entry.seq,
                "previous-hash link broken (a row was deleted, inserted or reordered)",
            )
        body = _body(
            prev, entry.at, entry.actor, entry.action, entry.target, entry.payload, entry.note
        )
        is_keyed = key is not None and hmac.compare_digest(_digest(body, key), entry.hash)
        if is_keyed:
            keyed += 1
        elif _digest(body, None) != entry.hash:
            hint = (
                " or keyed with another audit key"
                if key is not None
                else ", or keyed: verify with the workspace's audit key"
            )
            return report(False, entry.seq, f"content does not match its hash (edited{hint})")
        elif keyed:
            return report(
                False,
                entry.seq,
                "an unkeyed entry after keyed ones: written by someone without the audit key "
                "(appended or rewritten outside modelward)",
            )
        last_keyed = is_keyed
        prev = entry.hash
        checked += 1
        anchored = anchored or entry.hash == wanted
    if key is not None and checked and not last_keyed:
        return report(
            False,
            None,
            "an audit key is configured but the newest entry is not keyed: the chain was "
            "rebuilt or cut back by someone without the key, or the key is new (then run "
            "`modelward audit seal` once)",
        )
    if not anchored:
        return report(
            False,
            None,
            f"anchor {wanted} is not in the chain (entries were removed from its end, or the "
            "chain was rebuilt)",
        )
    return report(True)


def head(conn: Connection) -> tuple[int, str]:
    """The number of entries and the newest hash: an anchor to keep outside the database."""
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    if last is None:
        return 0, GENESIS
    count = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    return int(count), str(last.hash)
