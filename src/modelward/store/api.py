"""The metadata store: an engine, its migrations, and transactions that mean one thing.

``store.transaction()`` is for writes (state plus its audit entry, committed together);
``store.read()`` is for reads. Opening a store migrates the database when needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydantic import SecretStr
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError

from modelward.config import Workspace
from modelward.errors import ConfigError, StoreUnavailable
from modelward.store.engine import SQLITE_BEGIN, build_engine, redact, resolve_url, scrub
from modelward.store.migrate import upgrade

__all__ = ["AUDIT_KEY_OPTION", "Store", "open_store"]

#: execution option carrying the audit chain's HMAC key (a ``SecretStr``) to
#: ``security.audit`` on every connection the store hands out, so the many places that
#: append an audit entry in their transaction need not pass the key along
AUDIT_KEY_OPTION = "modelward_audit_key"


@dataclass
class Store:
    engine: Engine
    url: URL
    audit_key: SecretStr | None = field(default=None, repr=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        return redact(self.url)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction, committed on success, rolled back on any error."""
        try:
            conn_cm = self.engine.connect().execution_options(
                **{SQLITE_BEGIN: "IMMEDIATE", AUDIT_KEY_OPTION: self.audit_key}
            )
        except OperationalError as exc:
            raise self._unavailable(exc) from None
        with conn_cm as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            conn_cm = self.engine.connect().execution_options(**{AUDIT_KEY_OPTION: self.audit_key})
        except OperationalError as exc:
            raise self._unavailable(exc) from None
        with conn_cm as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def _unavailable(self, exc: DBAPIError) -> StoreUnavailable:
        reason = scrub(str(exc.orig), self.url)
        return StoreUnavailable(
            f"cannot reach the metadata database at {self.display_url}: {reason}",
            url=self.display_url,
        )


def open_store(workspace: Workspace, *, migrate: bool = True) -> Store:
    """Connect to the workspace's metadata database and bring its schema up to date."""
    url = resolve_url(workspace)
    store = Store(
        engine=build_engine(workspace, url), url=url, audit_key=workspace.secrets.audit_key
    )
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        if migrate:
            upgrade(store.engine)
    except OperationalError as exc:
        store.close()
        raise store._unavailable(exc) from None
    except DBAPIError as exc:  # e.g. an unknown connection option in the URL
        store.close()
        raise ConfigError(
            f"store.url ({store.display_url}): the database driver refused it: "
            f"{scrub(str(exc.orig), store.url)}",
            field="store.url",
        ) from None
    return store
