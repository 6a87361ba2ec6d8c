"""A workspace: a folder with ``modelward.toml`` and the ``.modelward/`` home beside it.

``.modelward/`` holds everything modelward writes on the embedded default: the SQLite
metadata database, content-addressed snapshots, temporary write areas and the secrets
file. It is git-ignored; ``modelward.toml`` is meant to be committed.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modelward.config.settings import Secrets, Settings, load_secrets, load_settings
from modelward.errors import ConfigError, InputError

__all__ = ["CONFIG_FILE", "HOME_DIR", "Workspace", "find_root", "init_workspace"]

CONFIG_FILE = "modelward.toml"
HOME_DIR = ".modelward"
_ENV_WORKSPACE = "MODELWARD_WORKSPACE"

_TEMPLATE = """\
# modelward workspace configuration. Commit this file; never put secrets in it.
# Every key can be overridden by an environment variable: MODELWARD_<SECTION>__<KEY>
# (e.g. MODELWARD_STORE__URL); MODELWARD_DATABASE_URL is a shortcut for store.url.
project = "{project}"

[store]
# Empty: the embedded SQLite database in .modelward/metadata.db.
# A team store: url = "postgresql+psycopg://modelward@db.example:5432/modelward"
# with the password in MODELWARD_DATABASE_PASSWORD or .modelward/secrets.toml.
url = ""

[data]
batch_rows = 131072
duckdb_memory_limit = "1GB"

[serving.prediction_log]
# The log the gateway writes and monitoring reads: columnar Parquet segments under
# .modelward/predictions (a window is an Arrow scan). Without this table a workspace
# keeps the SQLite log (.modelward/predictions.db), as workspaces made before it do.
type = "segments"
"""

_SECRETS_TEMPLATE = """\
# modelward secrets (mode 0600, git-ignored). Keys: database_password, audit_key
"""


@dataclass(frozen=True)
class Workspace:
    """An opened workspace: where it is and what its configuration says."""

    root: Path
    settings: Settings
    secrets: Secrets = field(repr=False)

    @property
    def home(self) -> Path:
        return self.root / HOME_DIR

    @property
    def snapshots_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def tmp_dir(self) -> Path:
        """Write area on the same filesystem as the final locations, so rename is atomic."""
        return self.home / "tmp"

    @property
    def actor(self) -> str:
        """Who is acting, recorded in audit entries and ``created_by`` columns."""
        if self.settings.identity.user:
            return self.settings.identity.user
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return f"uid:{os.getuid()}"

    @classmethod
    def open(
        cls, path: Path | str | None = None, environ: Mapping[str, str] | None = None
    ) -> Workspace:
        """Open the workspace at ``path``, ``$MODELWARD_WORKSPACE``, or above the cwd."""
        env = dict(os.environ if environ is None else environ)
        start = Path(path) if path is not None else Path(env.get(_ENV_WORKSPACE) or Path.cwd())
        root = find_root(start)
        settings = load_settings(root / CONFIG_FILE, env)
        secrets = load_secrets(root / HOME_DIR / "secrets.toml", env)
        return cls(root=root, settings=settings, secrets=secrets)


def find_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding ``modelward.toml``."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILE} found in {start} or any parent folder; "
        "run `modelward init` there or set MODELWARD_WORKSPACE",
        path=str(start),
    )


def init_workspace(path: Path | str, project: str | None = None) -> Path:
    """Create ``modelward.toml`` and ``.modelward/`` in ``path``; keep what exists."""
    root = Path(path).resolve()
    if root.exists() and not root.is_dir():
        raise InputError(f"{root}: exists and is not a folder", path=str(root))
    home = root / HOME_DIR
    for sub in (home, home / "snapshots", home / "tmp"):
        sub.mkdir(parents=True, exist_ok=True)
    config = root / CONFIG_FILE
    if not config.exists():
        name = project or root.name or "modelward"
        _write_new(config, _TEMPLATE.format(project=name.replace('"', "")), mode=0o644)
    secrets = home / "secrets.toml"
    if not secrets.exists():
        _write_new(secrets, _SECRETS_TEMPLATE, mode=0o600)
    ignore = home / ".gitignore"
    if not ignore.exists():
        _write_new(ignore, "*\n", mode=0o644)
    root_ignore = root / ".gitignore"
    if not root_ignore.exists():
        # the embedded MLflow store sits at the root, where plain `mlflow` code looks for it
        _write_new(root_ignore, ".modelward/\nmlflow.db\n", mode=0o644)
    return root


def _write_new(path: Path, text: str, mode: int) -> None:
    """Write via a temporary file and rename, with ``mode`` set before any content lands."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
