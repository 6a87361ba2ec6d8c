"""Settings: ``modelward.toml`` first, ``MODELWARD_*`` environment variables over it.

Secrets (database passwords, tokens) are never read from ``modelward.toml``: they come
from the environment or from a secrets file (``MODELWARD_SECRETS_FILE``, default
``.modelward/secrets.toml``, which ``init`` creates with mode 0600 and git-ignores).
They are held as :class:`pydantic.SecretStr`, so ``repr`` and logs show ``**********``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from modelward.cron import check_cron
from modelward.errors import ConfigError, InputError

__all__ = [
    "AlertRuleSettings",
    "DataSettings",
    "FeaturesSettings",
    "IdentitySettings",
    "MlflowSettings",
    "MonitorScheduleSettings",
    "PipelinesSettings",
    "RetrainingSettings",
    "RolloutSettings",
    "Secrets",
    "ServerSettings",
    "ServingSettings",
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


def _default_online_store() -> dict[str, Any]:
    return {"type": "sqlite"}


class FeaturesSettings(_Section):
    #: Python module (a file relative to the workspace root) holding the feature definitions
    definitions: str = "features.py"
    #: online store config: ``type`` ("sqlite", "redis", "memory") plus that backend's fields;
    #: validated by the features context, so this section does not depend on any backend
    online: dict[str, Any] = Field(default_factory=_default_online_store)
    #: rows written to the online store per write call during materialization
    materialize_batch_rows: int = Field(default=10_000, ge=1)
    #: skew-check fails (exit 1) when any feature's mismatch rate is above this
    skew_threshold: float = Field(default=0.0, ge=0.0, le=1.0)


class MlflowSettings(_Section):
    #: MLflow tracking server URI; empty means the workspace's embedded store
    #: (``mlflow.db`` at the workspace root plus ``.modelward/mlartifacts``)
    tracking_uri: str = ""
    #: model registry URI; empty means the same as the tracking URI
    registry_uri: str = ""
    #: experiment that ``mw.run`` logs to when none is given
    experiment: str = "Default"


class ServerSettings(_Section):
    """``modelward server``: the REST API."""

    #: address ``modelward server`` binds to; loopback unless deliberately exposed
    host: str = "127.0.0.1"
    port: int = Field(default=8600, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    #: serve the OpenAPI document and its pages (``/openapi.json``, ``/docs``, ``/redoc``);
    #: turn off on a server reachable by people who should not map the API
    docs: bool = True
    #: largest request body accepted on any route (413 above it, before it is read)
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    #: requests per minute one API token may make, per worker process (0: no limit);
    #: past it 429 with ``Retry-After``
    rate_limit_per_minute: int = Field(default=600, ge=0)
    #: requests a token may make at once before the per-minute rate applies
    rate_limit_burst: int = Field(default=60, ge=1)


def _default_prediction_log() -> dict[str, Any]:
    return {"type": "sqlite"}


class JobsSettings(_Section):
    """``[serving.jobs]``: asynchronous inference (``POST .../jobs``, ``modelward worker``)."""

    #: where jobs wait: ``"sqlite"`` (a table in the metadata store, SQLite or Postgres)
    #: or a Redis URL (``redis://host:6379/0``: Redis Streams with consumer groups)
    queue: str = "sqlite"
    #: seconds a finished job's result (or a dead letter's error) is kept, then expires
    result_ttl_s: float = Field(default=86_400.0, gt=0)
    #: seconds a taken job stays invisible to other workers; a worker that dies holding it
    #: (kill -9, a lost machine) has it redelivered after this long
    visibility_timeout_s: float = Field(default=60.0, gt=0)
    #: deliveries of a job before it goes to the dead-letter list with its last error
    max_attempts: int = Field(default=5, ge=1, le=100)
    #: seconds before the first retry of a failed job; doubled for each retry after it
    backoff_s: float = Field(default=1.0, ge=0)
    #: rows one job may carry (a file job is read in batches and has no limit)
    max_rows: int = Field(default=100_000, ge=1)
    #: largest job body accepted at submit (413 above it)
    max_body_bytes: int = Field(default=16_777_216, ge=1_024)
    #: seconds a worker waits on an empty queue before it looks again (SQL queue only;
    #: Redis blocks on the stream)
    poll_interval_s: float = Field(default=0.2, gt=0)
    #: result callbacks: seconds per attempt, attempts (with exponential backoff), and
    #: callbacks waiting at once per worker before new ones are recorded as failed
    callback_timeout_s: float = Field(default=5.0, gt=0, le=60)
    callback_attempts: int = Field(default=5, ge=1, le=20)
    callback_backoff_s: float = Field(default=0.5, ge=0)
    callback_capacity: int = Field(default=10_000, ge=1)


class ServingSettings(_Section):
    """``modelward serve``: the online inference gateway."""

    #: address the gateway binds to; loopback unless deliberately exposed
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=1, le=65535)
    #: port of the Open Inference Protocol's gRPC service (0: no gRPC; needs the ``grpc``
    #: extra); every worker listens on it, like on ``port``
    grpc_port: int = Field(default=0, ge=0, le=65535)
    #: endpoint that MLflow's ``POST /invocations`` scores when several are served (empty:
    #: the only one served)
    default_endpoint: str = ""
    workers: int = Field(default=1, ge=1)
    #: requests one worker handles at once; past it the gateway answers 503 with Retry-After
    max_concurrency: int = Field(default=256, ge=1)
    #: largest request body accepted (413 above it)
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    #: seconds a connection may take to send a request's headers (from its first byte, or
    #: from connecting); past it the connection is answered 408 and closed (slow-loris)
    header_timeout_s: float = Field(default=10.0, gt=0)
    #: seconds a request may take to send its body once the headers are in (408 past it);
    #: no scoring slot is held while the body is read
    body_timeout_s: float = Field(default=15.0, gt=0)
    #: seconds between checks of endpoint config versions and model stages (no per-request DB)
    poll_interval_s: float = Field(default=2.0, gt=0)
    #: seconds a verified API token is trusted before it is checked again
    token_cache_s: float = Field(default=30.0, gt=0)
    #: seconds a token verified before keeps its last answer while the metadata database
    #: cannot be reached (0: none; every check then answers 503 until it is back)
    token_grace_s: float = Field(default=600.0, ge=0)
    #: seconds SIGTERM waits for in-flight requests and the prediction log flush
    graceful_timeout_s: float = Field(default=30.0, gt=0)
    #: JSON access log lines on stderr, written off the request path
    access_log: bool = True
    #: OpenTelemetry spans (validate, features, predict) via the global tracer provider
    tracing: bool = False
    #: freeze the garbage collector after start-up (long-lived objects are never rescanned)
    gc_freeze: bool = True
    #: prediction log sink: ``type`` ("sqlite", "redis", "memory") plus that backend's fields
    prediction_log: dict[str, Any] = Field(default_factory=_default_prediction_log)
    #: records held in memory before new ones are dropped (and counted)
    prediction_log_capacity: int = Field(default=100_000, ge=1)
    prediction_log_batch: int = Field(default=1_000, ge=1)
    #: asynchronous inference: the job queue, retries, result expiry, callbacks
    jobs: JobsSettings = JobsSettings()
    #: what one core costs an hour (any currency): ``modelward loadtest --recommend`` prices
    #: a configuration per 1,000 predictions with it (one worker process = one core)
    cost_per_core_hour: float = Field(default=0.05, ge=0, allow_inf_nan=False)
    #: model name -> ``"process"``: that model runs in a worker process of its own, from a
    #: virtualenv built from its pinned requirements (cached by their hash under
    #: ``.modelward/environments``), so models with conflicting libraries serve side by side
    isolation: dict[str, Literal["process"]] = Field(default_factory=dict)


#: ``<metric> <comparison> <number>``, e.g. ``latency_ms.p95 > 250``
_RULE_WHEN = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+){0,2})\s*"
    r"(?P<op><=|>=|==|!=|<|>)\s*(?P<threshold>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
#: the metrics a rule may name: per version, except ``kpi.*`` (the endpoint's)
RULE_METRICS = (
    "rows",
    "error_rate",
    "degraded_rate",
    "drifted_features",
    "latency_ms.<p50|p95|p99>",
    "performance.<auc|accuracy|brier|ece|positive_rate|coverage>",
    "drift.<feature>.<effect|null_rate>",
    "kpi.<name>.<change|value>",
    "system.<workers|cpu_mean|cpu_max|rss_mb_max|cost_per_1000>",
)
_RULE_METRIC_SHAPES = {
    "rows": 1,
    "error_rate": 1,
    "degraded_rate": 1,
    "drifted_features": 1,
    "latency_ms": 2,
    "performance": 2,
    "drift": 3,
    "kpi": 3,
    "system": 2,
}
_RULE_LEAVES = {
    "latency_ms": {"p50", "p95", "p99"},
    "performance": {"auc", "accuracy", "brier", "ece", "positive_rate", "coverage"},
    "drift": {"effect", "null_rate"},
    "kpi": {"change", "value"},
    "system": {"workers", "cpu_mean", "cpu_max", "rss_mb_max", "cost_per_1000"},
}


class AlertRuleSettings(_Section):
    """One rule of your own (``[[monitoring.rules]]``), beside the built-in one.

    It holds for a version (or, for ``kpi.*`` and ``system.*``, for the endpoint) when
    ``when`` is true of a monitor run; it then fires through the same persistence,
    cooldown, audit and webhook as the built-in rule. A metric the run could not measure
    (no labels yet, a feature not in the window) does not hold, and the run's notes say so.
    """

    #: names the alert (its key is ``rule:<name>[:<version>]``)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    #: ``<metric> <op> <number>`` (see ``RULE_METRICS``); ops ``< <= > >= == !=``
    when: str
    #: endpoints it applies to; empty: every endpoint
    endpoints: list[str] = Field(default_factory=list)
    #: consecutive runs before it fires; empty: ``[monitoring] persistence``
    persistence: int | None = Field(default=None, ge=1, le=100)
    #: parsed from ``when`` at load, so a typo fails when the settings are read
    metric: str = ""
    op: str = ""
    threshold: float = 0.0

    @field_validator("when")
    @classmethod
    def _check_when(cls, when: str) -> str:
        _parse_rule(when)
        return when

    @model_validator(mode="before")
    @classmethod
    def _parse_when(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("when"), str):
            return data
        try:
            metric, op, threshold = _parse_rule(data["when"])
        except ValueError:
            return data  # the field validator reports it, located at ``when``
        return {**data, "metric": metric, "op": op, "threshold": threshold}


def _parse_rule(when: str) -> tuple[str, str, float]:
    found = _RULE_WHEN.match(when)
    if found is None:
        raise ValueError(
            f"{when[:80]!r}: expected '<metric> <op> <number>' with op one of "
            "< <= > >= == != (e.g. 'latency_ms.p95 > 250')"
        )
    metric = found["metric"]
    parts = metric.split(".")
    leaves = _RULE_LEAVES.get(parts[0])
    if _RULE_METRIC_SHAPES.get(parts[0]) != len(parts) or (
        leaves is not None and parts[-1] not in leaves
    ):
        raise ValueError(
            f"{when[:80]!r}: unknown metric {metric[:60]!r}; one of " + ", ".join(RULE_METRICS)
        )
    return metric, found["op"], float(found["threshold"])


class MonitorScheduleSettings(_Section):
    """A monitor run on a cron schedule (``[[monitoring.schedules]]``), started by
    ``modelward scheduler`` exactly once per tick however many schedulers run."""

    endpoint: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    #: five fields, UTC, e.g. ``"0 * * * *"`` (hourly)
    cron: str
    #: seconds of the log each run reads, ending at the tick
    window_s: float = Field(default=3600.0, gt=0)
    #: input fields whose values realised performance is broken down by
    segments: list[str] = Field(default_factory=list)

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, cron: str) -> str:
        try:
            return check_cron(cron)
        except InputError as exc:
            raise ValueError(exc.message) from None


class MonitoringSettings(_Section):
    """``modelward monitor run``: the built-in alert rule and where alerts go."""

    #: a drifting feature matters from this share of the version's feature importance
    min_importance: float = Field(default=0.1, ge=0, le=1)
    #: realised AUC this far below the held-out AUC is performance moving the wrong way
    max_auc_drop: float = Field(default=0.02, ge=0, le=1)
    #: this share of a version's requests refused by the gateway's validation (422) in a
    #: window, and at least ``min_refused`` of them, is a data pipeline incident: an
    #: upstream column broke (nulls, a wrong type); it fires at once, no persistence
    max_refused_rate: float = Field(default=0.05, gt=0, le=1)
    min_refused: int = Field(default=20, ge=1)
    #: business KPIs and their good direction, e.g. ``{conversion = "up", churn = "down"}``;
    #: one moving the wrong way by ``max_kpi_change`` counts like a performance fall
    kpis: dict[str, Literal["up", "down"]] = Field(default_factory=dict)
    #: relative change of a KPI's window mean against the windows before it
    max_kpi_change: float = Field(default=0.05, gt=0, le=10)
    #: consecutive runs a condition must hold before its alert fires
    persistence: int = Field(default=2, ge=1, le=100)
    #: seconds before a firing alert is sent again
    cooldown_s: float = Field(default=6 * 3600, ge=0)
    #: where alert changes are POSTed (JSON, signed with the ``webhook_secret`` secret);
    #: empty: alerts go to the run's result and the audit log only
    webhook_url: str = ""
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    #: delivery attempts per change, with exponential backoff between them
    webhook_attempts: int = Field(default=5, ge=1, le=20)
    #: seconds between a gateway worker's CPU and memory samples (the run's system
    #: figures, priced by ``[serving] cost_per_core_hour``); 0: not sampled
    usage_interval_s: float = Field(default=30.0, ge=0, le=3600)
    #: rules of your own, beside the built-in one (see ``AlertRuleSettings``)
    rules: list[AlertRuleSettings] = Field(default_factory=list)
    #: monitor runs on a schedule (see ``MonitorScheduleSettings``)
    schedules: list[MonitorScheduleSettings] = Field(default_factory=list)


class RetrainingSettings(_Section):
    """``[[retraining.policies]]``: each a table read and checked by the retraining context
    (``modelward.retraining.RetrainPolicy``), so its errors name the policy's field."""

    policies: list[dict[str, Any]] = Field(default_factory=list)


def _default_executor() -> dict[str, Any]:
    return {"type": "local"}


class PipelinesSettings(_Section):
    #: Python module (a file relative to the workspace root) defining the pipelines
    module: str = "pipelines.py"
    #: executor config: ``type`` ("local", "ray", "inline") plus that backend's fields, e.g.
    #: ``{type = "ray", address = "ray://head:10001"}``; a bare string names the type
    executor: str | dict[str, Any] = Field(default_factory=_default_executor)
    #: seconds between the scheduler's looks at the schedules
    scheduler_poll_s: float = Field(default=30.0, gt=0)


class RolloutSettings(_Section):
    """Releases on endpoints (docs/rollout.md)."""

    #: run the rollout controller inside ``modelward server`` (each worker runs one; a
    #: lease in the database means one drives each release)
    controller: bool = False
    #: seconds between the controller's passes over the live releases
    interval_s: float = Field(default=30.0, gt=0, le=86_400)
    #: seconds a controller's lease on a release lasts unless renewed (default: three
    #: intervals); another controller takes over a release once it runs out
    lease_s: float | None = Field(default=None, gt=0)


class IdentitySettings(_Section):
    #: who the local user is, recorded as the actor of what they do; defaults to the OS user
    user: str = ""


class Settings(BaseModel):
    """Workspace configuration. Construct through :func:`load_settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str = "modelward"
    backend: Literal["embedded", "team"] = "embedded"
    store: StoreSettings = StoreSettings()
    data: DataSettings = DataSettings()
    identity: IdentitySettings = IdentitySettings()
    mlflow: MlflowSettings = MlflowSettings()
    server: ServerSettings = ServerSettings()
    features: FeaturesSettings = FeaturesSettings()
    pipelines: PipelinesSettings = PipelinesSettings()
    serving: ServingSettings = ServingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    rollout: RolloutSettings = RolloutSettings()


class Secrets(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database_password: SecretStr | None = None
    #: key of the keyed audit chain (HMAC-SHA256); with it, a row appended by someone who
    #: can write the database but not read this file fails ``audit verify``
    audit_key: SecretStr | None = Field(default=None, min_length=32)
    #: key of the alert webhook's HMAC-SHA256 signature (``X-Modelward-Signature``)
    webhook_secret: SecretStr | None = Field(default=None, min_length=16)


# Environment names that are secrets or shortcuts, read explicitly (not via nesting).
_ENV_DATABASE_URL = "MODELWARD_DATABASE_URL"
_ENV_DATABASE_PASSWORD = "MODELWARD_DATABASE_PASSWORD"  # noqa: S105 - a variable name
_ENV_SECRETS_FILE = "MODELWARD_SECRETS_FILE"
_ENV_AUDIT_KEY = "MODELWARD_AUDIT_KEY"
_ENV_WEBHOOK_SECRET = "MODELWARD_WEBHOOK_SECRET"  # noqa: S105 - a variable name


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8", file=str(path)
        ) from None


def _refuse_password_in_toml(data: dict[str, Any], path: Path) -> None:
    store = data.get("store")
    url = store.get("url") if isinstance(store, dict) else None  # a non-table is refused later
    if not isinstance(url, str) or not url:
        return
    from sqlalchemy.engine import make_url  # here: reading settings must not load SQLAlchemy
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # reported as an invalid URL when the store opens
    secret_query = {"password", "passwd", "pwd", "sslpassword"} & {k.lower() for k in parsed.query}
    if parsed.password or secret_query:
        raise ConfigError(
            f"{path}: store.url must not contain a password (neither user:password@ nor "
            "?password=); set "
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


def _apply_environment(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """Lay ``MODELWARD_<SECTION>__<KEY>`` (and top-level ``MODELWARD_<KEY>``) over the TOML.

    Done here rather than with pydantic-settings because a workspace is opened with an
    explicit environment (tests, subprocesses, ``modelward run``), not only ``os.environ``.
    Variables whose first part is not a settings field (``MODELWARD_WORKSPACE``, the
    secrets) are not settings and are left alone.
    """
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    fields = Settings.model_fields
    for key, value in environ.items():
        if not key.startswith("MODELWARD_"):
            continue
        path = key[len("MODELWARD_") :].lower().split("__")
        if path[0] not in fields:
            continue
        node = merged
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = value
    return merged


def load_settings(toml_path: Path, environ: dict[str, str]) -> Settings:
    """Read ``toml_path`` (may be absent), apply ``MODELWARD_*`` overrides, validate."""
    data = _read_toml(toml_path)
    _refuse_password_in_toml(data, toml_path)
    try:
        settings = Settings(**_apply_environment(data, environ))
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
    if key := environ.get(_ENV_AUDIT_KEY):
        values["audit_key"] = key
    if hook := environ.get(_ENV_WEBHOOK_SECRET):
        values["webhook_secret"] = hook
    try:
        return Secrets(**values)
    except ValidationError as exc:
        # Never echo the input: it is a secret. Name only the keys and the rule.
        keys = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        rule = (
            " (audit_key: at least 32 characters, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`)"
            if "audit_key" in keys
            else ""
        )
        raise ConfigError(
            f"{path}: unknown or invalid secret(s): {', '.join(keys)}{rule}; known: "
            "database_password, audit_key, webhook_secret",
            file=str(path),
        ) from None
