"""The online store port: latest feature values per entity, read in one round trip.

A store keeps, per *namespace* (one per feature view layout) and entity key, one record:
the packed feature values with the event time and created time they came from. It knows
nothing of features or types; packing, TTL and on-demand transforms live above it, so
every backend behaves the same and passes one shared test suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = ["OnlineStore", "Record"]


class Record(NamedTuple):
    """One entity's values in one namespace."""

    key: str
    #: event time of the values, microseconds since the epoch (UTC)
    event_us: int
    #: created time of the source row (0 when the view has none), the tie-breaker
    created_us: int
    #: the packed values; opaque to the store
    value: bytes


@runtime_checkable
class OnlineStore(Protocol):
    """What every online store backend provides."""

    @property
    def label(self) -> str:
        """Where the store is, for messages and run records; never holds a password."""
        ...

    def write(self, namespace: str, records: Sequence[Record]) -> None:
        """Upsert ``records``, all or none of them.

        A record replaces the stored one for its key only when it is not older: its
        ``(event_us, created_us)`` is greater than or equal to the stored pair. So writing
        the same records twice, or an older range after a newer one, changes nothing.
        """
        ...

    def read(self, namespace: str, keys: Sequence[str]) -> list[Record | None]:
        """The records for ``keys`` in the same order (``None`` where absent), one round trip."""
        ...

    def keys(self, namespace: str, limit: int) -> list[str]:
        """Up to ``limit`` stored keys of ``namespace`` (any order), for sampling."""
        ...

    def count(self, namespace: str) -> int:
        """How many keys ``namespace`` holds."""
        ...

    def drop(self, namespace: str) -> None:
        """Remove everything stored under ``namespace``."""
        ...

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...
