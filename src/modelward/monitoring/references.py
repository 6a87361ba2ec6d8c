"""Where reference profiles are kept: one per model version, in the metadata database.

A pipeline builds the profile from the training set when it registers a version and saves
it here (with an audit entry, in one transaction); the version's lineage names it
(``lineage["reference_profile"]``). A version registered another way (plain MLflow,
``mw.register`` without a profile) has none, and :func:`get_profile` says so by name;
:func:`save_profile` adds one later from any table of training rows.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import delete, insert, select

from modelward import security
from modelward.errors import NotFound
from modelward.monitoring.profiles import ReferenceProfile
from modelward.monitoring.tables import reference_profiles

if TYPE_CHECKING:
    from modelward.session import Session

__all__ = ["find_profile", "get_profile", "profile_digest", "save_profile"]


def profile_digest(profile: ReferenceProfile) -> str:
    """The content hash the version's lineage records for its profile."""
    body = orjson.dumps(profile.to_dict(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


def save_profile(
    session: Session, model: str, version: int, profile: ReferenceProfile, *, actor: str
) -> str:
    """Store ``profile`` as the reference of ``model@version`` (replacing an earlier one);
    returns its digest. The write and its audit entry commit together."""
    digest = profile_digest(profile)
    with session.store.transaction() as conn:
        conn.execute(
            delete(reference_profiles).where(
                reference_profiles.c.model_name == model, reference_profiles.c.version == version
            )
        )
        conn.execute(
            insert(reference_profiles).values(
                model_name=model,
                version=version,
                profile=profile.to_dict(),
                rows=profile.rows,
                created_by=actor,
                created_at=datetime.now(UTC),
            )
        )
        security.record(
            conn,
            actor=actor,
            action="monitoring.reference_saved",
            target=f"{model}@{version}",
            payload={"digest": digest, "rows": profile.rows, "features": len(profile.features)},
        )
    return digest


def find_profile(session: Session, model: str, version: int) -> ReferenceProfile | None:
    """The reference of ``model@version``, or ``None`` when it has none."""
    with session.store.read() as conn:
        stored = conn.execute(
            select(reference_profiles.c.profile).where(
                reference_profiles.c.model_name == model, reference_profiles.c.version == version
            )
        ).scalar_one_or_none()
    return None if stored is None else ReferenceProfile.from_dict(stored)


def get_profile(session: Session, model: str, version: int) -> ReferenceProfile:
    """The reference of ``model@version``; :class:`NotFound` naming it when there is none."""
    found = find_profile(session, model, version)
    if found is None:
        raise NotFound(
            f"{model}@{version} has no reference profile: versions registered by a pipeline "
            "get one from their training set; add one with monitoring.save_profile",
            version=f"{model}@{version}",
        )
    return found
