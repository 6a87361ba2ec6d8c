"""Settings: ``modelward.toml`` first, ``MODELWARD_*`` environment variables over it.

Secrets (database passwords, tokens) are never read from ``modelward.toml``: they come
from the environment or from a secrets file (``MODELWARD_SECRETS_FILE``, default
``.modelward/secrets.toml``, which ``init`` creates with mode 0600 and git-ignores).
They are held as :class:`pydantic.SecretStr`, so ``repr`` and logs show ``**********``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from modelward.errors import ConfigError

__all__ = [
    "DataSettings",
    "IdentitySettings",
    "Secrets",
    "Settings",
    "StoreSettings",
    "load_secrets",
    "load_settings",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    #: SQLAlchemy URL of the metadata database. Empty means the workspace's SQLite file.
    url: str = ""
    #: seconds SQLite waits on a locked database before giving up
    busy_timeout_s: float = Field(default=30.0, gt=0)
    #: seconds to wait for a server connection before failing with a clear error
    connect_timeout_s: int = Field(default=10, gt=0)


class DataSettings(_Section):
    #: rows per batch when streaming a source into a snapshot
    batch_rows: int = Field(default=131_072, ge=1_024)
    #: DuckDB memory limit for validation and joins, e.g. "1GB"
    duckdb_memory_limit: str = "1GB"
    duckdb_threads: int = Field(default=2, ge=1)


class IdentitySettings(_Section):
    #: who the local user is, recorded as the actor of what they do; defaults to the OS user
    user: str = ""


class Settings(BaseSettings):
    """Workspace configuration. Construct through :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="MODELWARD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    project: str = "modelward"
    backend: Literal["embedded", "team"] = "embedded"
    store: StoreSettings = StoreSettings()
    data: DataSettings = DataSettings()
    identity: IdentitySettings = IdentitySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)


class Secrets(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database_password: SecretStr | None = None


# Environment names that are secrets or shortcuts, read explicitly (not via nesting).
_ENV_DATABASE_URL = "MODELWARD_DATABASE_URL"
_ENV_DATABASE_PASSWORD = "MODELWARD_DATABASE_PASSWORD"  # noqa: S105 - a variable name
_ENV_SECRETS_FILE = "MODELWARD_SECRETS_FILE"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", file=str(path)) from exc


def _refuse_password_in_toml(data: dict[str, Any], path: Path) -> None:
    url = (data.get("store") or {}).get("url")
    if not isinstance(url, str) or not url:
        return
    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # reported as an invalid URL when the store opens
    if parsed.password:
        raise ConfigError(
            f"{path}: store.url must not contain a password; set "
            f"{_ENV_DATABASE_PASSWORD} or put database_password in the secrets file",
            file=str(path),
            field="store.url",
        )


def _describe(exc: ValidationError, origin: str) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return f"{origin}: " + "; ".join(parts)


def load_settings(toml_path: Path, environ: dict[str, str]) -> Settings:
    """Read ``toml_path`` (may be absent), apply ``MODELWARD_*`` overrides, validate."""
    data = _read_toml(toml_path)
    _refuse_password_in_toml(data, toml_path)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(
            _describe(exc, f"{toml_path} (or a MODELWARD_* variable)"), file=str(toml_path)
        ) from None
    if url := environ.get(_ENV_DATABASE_URL):
        settings = settings.model_copy(
            update={"store": settings.store.model_copy(update={"url": url}), "backend": "team"}
        )
    return settings


def load_secrets(default_file: Path, environ: dict[str, str]) -> Secrets:
    """Secrets from the secrets file, then the environment (which wins)."""
    path = Path(environ.get(_ENV_SECRETS_FILE) or default_file)
    values: dict[str, Any] = {}
    if path.exists():
        values.update(_read_toml(path))
    if pw := environ.get(_ENV_DATABASE_PASSWORD):
        values["database_password"] = pw
    try:
        return Secrets(**values)
    except ValidationError as exc:
        # Never echo the input: it is a secret. Name only the keys.
        keys = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise ConfigError(
            f"{path}: unknown or invalid secret(s): {', '.join(keys)}; "
            "known: database_password",
            file=str(path),
        ) from None
