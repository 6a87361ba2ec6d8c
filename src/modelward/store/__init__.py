"""Metadata store context: SQLAlchemy engine, Alembic migrations, transactions.

Contexts register their tables on :data:`metadata` in their own ``tables.py``; the
migrations under ``store/migrations`` create them, and a test checks the two agree.
"""

from modelward.store.api import AUDIT_KEY_OPTION, Store, open_store
from modelward.store.schema import UTCDateTime, metadata

__all__ = ["AUDIT_KEY_OPTION", "Store", "UTCDateTime", "metadata", "open_store"]
