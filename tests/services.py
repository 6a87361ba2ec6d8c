"""Real services for the tests: PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379.

A test that needs a service skips with the reason when the service is absent, except
under ``CI=true``, where a missing service is a failure: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_HOST = os.environ.get("MODELWARD_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("MODELWARD_TEST_PG_PORT", "5432"))
POSTGRES_DB = os.environ.get("MODELWARD_TEST_PG_DB", "test")
POSTGRES_USER = os.environ.get("MODELWARD_TEST_PG_USER", "postgres")
REDIS_HOST = os.environ.get("MODELWARD_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("MODELWARD_TEST_REDIS_PORT", "6379"))


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    message = f"{service} is not reachable at {host}:{port}"
    if in_ci():
        pytest.fail(f"{message}, and CI=true forbids skipping service tests")
    pytest.skip(message)


def postgres_base_url() -> str:
    return f"postgresql+psycopg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DB}"


def with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def create_schema() -> Iterator[str]:
    """A fresh Postgres schema, dropped afterwards; yields a URL whose search_path is it."""
    import psycopg

    require("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    schema = f"mw_test_{uuid.uuid4().hex[:12]}"
    dsn = f"host={POSTGRES_HOST} port={POSTGRES_PORT} dbname={POSTGRES_DB} user={POSTGRES_USER}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(postgres_base_url(), schema)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def redis_url() -> str:
    require("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


NATS_HOST = os.environ.get("MODELWARD_TEST_NATS_HOST", "127.0.0.1")
NATS_PORT = int(os.environ.get("MODELWARD_TEST_NATS_PORT", "4222"))


def nats_url() -> str:
    """The NATS server (with JetStream) the streaming tests use."""
    require("NATS", NATS_HOST, NATS_PORT)
    return f"nats://{NATS_HOST}:{NATS_PORT}"
