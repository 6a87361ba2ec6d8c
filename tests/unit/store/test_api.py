"""The metadata store: a write transaction commits whole or not at all, an unreachable
database is one clear error without its password, and a URL the driver refuses names the
setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from modelward.config import Workspace, init_workspace
from modelward.errors import ConfigError, StoreUnavailable
from modelward.security.tables import identities
from modelward.store import Store, open_store
from tests import services


def _count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(identities)).scalar_one())


def _row(name: str) -> dict[str, object]:
    from datetime import UTC, datetime

    return {
        "id": name,
        "name": name,
        "kind": "user",
        "role": "viewer",
        "created_by": "t",
        "created_at": datetime.now(UTC),
        "disabled_at": None,
    }


def test_a_transaction_that_fails_midway_leaves_nothing_written(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute(identities.insert().values(**_row("ada")))
    with pytest.raises(RuntimeError, match="crash"), store.transaction() as conn:
        conn.execute(identities.insert().values(**_row("bob")))
        raise RuntimeError("crash after the first write")
    assert _count(store) == 1


def test_an_unreachable_postgres_is_store_unavailable_without_its_password(
    tmp_path: Path,
) -> None:
    root = init_workspace(tmp_path / "ws")
    ws = Workspace.open(
        root,
        environ={
            "MODELWARD_DATABASE_URL": "postgresql://ops@127.0.0.1:1/meta?connect_timeout=2",
            "MODELWARD_DATABASE_PASSWORD": "s3cret-pw",
        },
    )
    with pytest.raises(StoreUnavailable) as info:
        open_store(ws)
    message = info.value.message
    assert message.startswith("cannot reach the metadata database at postgresql+psycopg://ops:***@")
    assert "s3cret-pw" not in message and "s3cret-pw" not in str(info.value.details)


@pytest.mark.postgres
def test_a_connection_option_the_driver_refuses_names_store_url(tmp_path: Path) -> None:
    services.require("PostgreSQL", services.POSTGRES_HOST, services.POSTGRES_PORT)
    root = init_workspace(tmp_path / "ws")
    url = services.postgres_base_url() + "?bogus_option=1"
    ws = Workspace.open(root, environ={"MODELWARD_DATABASE_URL": url})
    with pytest.raises(
        ConfigError, match=r"store\.url \(.*\): the database driver refused it"
    ) as info:
        open_store(ws)
    assert info.value.details["field"] == "store.url"
    assert "bogus_option" in info.value.message
