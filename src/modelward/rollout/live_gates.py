"""Stage-policy gates from recorded live evidence: what staging traffic and a load test
showed about the version, not what training said.

Both are registered under the ``modelward.gates`` entry point group, like
``release_analysis``, and both fail closed: evidence that is missing, too old or too thin
is *unknown*, and unknown refuses the promotion with the reason and the command that
records the evidence.

``staging_schema``: no schema violations for this version in staging traffic::

    {"type": "staging_schema", "endpoint": "churn-staging", "window": "24h",
     "min_rows": 100, "max_violations": 0}

  reads the prediction log of ``endpoint`` over the last ``window`` (the rows this
  version answered or scored as a shadow, including the ones it failed on) and checks
  every logged input row against the version's MLflow signature: each input the
  signature requires is present, not null, and of its type (a number for
  ``double``/``float``, a whole number for ``long``/``integer``, text for ``string``,
  true/false for ``boolean``). A request the gateway's validation refused (422) is
  logged with role ``rejected`` for the version it would have reached, and each one is a
  violation too. Fewer than ``min_rows`` rows is unknown.

``load_test_latency``: p95 under a budget from a recorded load test::

    {"type": "load_test_latency", "max_p95_ms": 50, "endpoint": "churn",
     "max_age": "7d", "max_error_rate": 0.01}

  reads the newest ``load_test`` evidence of the version (``modelward loadtest``
  records it in the registry's evidence log), on ``endpoint`` when given; it passes when
  that run's p95 is at most ``max_p95_ms`` and its error rate at most
  ``max_error_rate``, and the run is no older than ``max_age``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from modelward.durations import show_duration
from modelward.registry import GateContext, GateResult

if TYPE_CHECKING:
    from modelward.registry import ModelVersion
    from modelward.session import Session

__all__ = [
    "LoadTestLatencyGate",
    "StagingSchemaGate",
    "load_test_latency",
    "schema_violations",
    "signature_columns",
    "staging_schema",
]

#: examples of violating rows kept in a gate's evidence
_EXAMPLES = 5
_NUMBER = frozenset({"double", "float"})
_WHOLE = frozenset({"long", "integer"})


def signature_columns(session: Session, version: ModelVersion) -> dict[str, str] | None:
    """Input name -> MLflow type of the version's signature (required inputs only);
    None when the model has no signature or its artifact cannot be read."""
    from mlflow.exceptions import MlflowException
    from mlflow.models import get_model_info

    from modelward.registry import using_workspace

    uri = version.model_uri
    if uri.startswith("file://"):
        # MLflow reads a local model folder by its path, not by its file URI
        from urllib.parse import unquote, urlparse

        uri = unquote(urlparse(uri).path)
    try:
        with using_workspace(session.workspace):
            signature = get_model_info(uri).signature
    except (MlflowException, OSError, ValueError):
        return None
    if signature is None or signature.inputs is None:
        return None
    return {
        str(col["name"]): str(col.get("type", ""))
        for col in signature.inputs.to_dict()
        if col.get("name") and col.get("required", True)
    }


def _is_kind(value: Any, kind: str) -> bool:
    if kind in _NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind in _WHOLE:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and float(value).is_integer()
        )
    if kind == "boolean":
        return isinstance(value, bool)
    return True


def _wrong_type(values: pa.Array, kind: str) -> pa.Array:
    """True where a present value is not of the signature's ``kind`` (unknown kinds: never)."""
    t = values.type
    text = pa.types.is_string(t) or pa.types.is_large_string(t)
    if kind == "string" or kind not in _NUMBER | _WHOLE | {"boolean"}:
        # text is text; a column of mixed kinds is logged as JSON texts, and a text
        # column cannot tell "42" sent as text from 42 sent as a number: not judged
        return pa.array([not text and kind == "string"] * len(values), pa.bool_())
    if text:
        # a column whose rows disagree in kind is logged as each value's JSON text
        import orjson

        def wrong(raw: str | None) -> bool:
            try:
                return raw is not None and not _is_kind(orjson.loads(raw), kind)
            except orjson.JSONDecodeError:
                return True

        return pa.array([wrong(v) for v in values.to_pylist()], pa.bool_())
    if kind in _NUMBER:
        ok = pa.types.is_integer(t) or pa.types.is_floating(t)
    elif kind in _WHOLE and pa.types.is_floating(t):
        # a float column holds whole numbers fine (1.0); 1.5 is not a long
        return pc.fill_null(pc.not_equal(pc.floor(values), values), False)
    else:
        ok = pa.types.is_integer(t) if kind in _WHOLE else pa.types.is_boolean(t)
    return pa.array([not ok] * len(values), pa.bool_())


def schema_violations(
    inputs: pa.Array, columns: dict[str, str]
) -> tuple[int, dict[str, int], list[int]]:
    """(rows violating, violations per input, the first violating row numbers) of a
    window's ``inputs`` struct column against ``columns`` (name -> MLflow type)."""
    n = len(inputs)
    fields = (
        {inputs.type.field(i).name: inputs.field(i) for i in range(inputs.type.num_fields)}
        if isinstance(inputs, pa.StructArray)
        else {}
    )
    bad_any = pa.array([False] * n, pa.bool_())
    per_input: dict[str, int] = {}
    for name, kind in sorted(columns.items()):
        values = fields.get(name)
        if values is None:
            bad = pa.array([True] * n, pa.bool_())
        else:
            bad = pc.or_(pc.is_null(values), pc.fill_null(_wrong_type(values, kind), False))
        count = int(pc.sum(bad).as_py() or 0)
        if count:
            per_input[name] = count
            bad_any = pc.or_(bad_any, bad)
    rows = pc.indices_nonzero(bad_any).to_pylist() if per_input else []
    return len(rows), per_input, rows[:_EXAMPLES]


def _refuse(name: str, message: str, **evidence: Any) -> GateResult:
    return GateResult(name, False, message, {"verdict": "unknown", **evidence})


@dataclass(frozen=True)
class StagingSchemaGate:
    endpoint: str
    window_s: float = 86_400.0
    min_rows: int = 100
    max_violations: int = 0
    name: str = "staging_schema"

    def evaluate(self, context: GateContext) -> GateResult:
        session = context.session
        if session is None:
            return _refuse(self.name, "staging_schema needs the session of the transition")
        version = context.candidate
        ref = version.ref
        where = {"endpoint": self.endpoint, "window": show_duration(self.window_s)}
        columns = signature_columns(session, version)
        if columns is None:
            return _refuse(
                self.name,
                f"unknown: {ref} has no input signature to check staging traffic against "
                "(log the model with an MLflow signature)",
                **where,
            )
        from modelward.monitoring import open_workspace_log

        end = datetime.now(UTC)
        start = end - timedelta(seconds=self.window_s)
        sink = open_workspace_log(session)
        try:
            window = sink.read_window(
                self.endpoint,
                version=str(version.version),
                start_us=int(start.timestamp() * 1e6),
                end_us=int(end.timestamp() * 1e6) + 1,
            )
        finally:
            sink.close()
        window = window.filter(pc.equal(window.column("model"), version.model_name))
        rows = window.num_rows
        if rows < self.min_rows:
            return _refuse(
                self.name,
                f"unknown: {rows} logged rows of {ref} on {self.endpoint} in the last "
                f"{where['window']}, fewer than the {self.min_rows} needed: send it staging "
                "traffic first",
                rows=rows,
                **where,
            )
        # requests the gateway's validation refused (422) never reached the model: they
        # are logged with role "rejected" and no inputs, and each is a violation
        refused = pc.equal(window.column("role"), "rejected")
        rejected = window.filter(refused)
        logged = window.filter(pc.invert(refused))
        inputs = logged.column("inputs").combine_chunks() if logged.num_rows else pa.array([])
        checked, per_input, first = schema_violations(inputs, columns)
        bad = checked + rejected.num_rows
        evidence: dict[str, Any] = {
            "verdict": "pass" if bad <= self.max_violations else "fail",
            "rows": rows,
            "violating_rows": bad,
            "by_input": per_input,
            "rejected_requests": rejected.num_rows,
            "examples": logged.column("request_id").take(pa.array(first, pa.int64())).to_pylist(),
            "rejected_examples": [
                {"request_id": r, "error": e}
                for r, e in zip(
                    rejected.column("request_id").to_pylist()[:_EXAMPLES],
                    rejected.column("error").to_pylist()[:_EXAMPLES],
                    strict=True,
                )
            ],
            "signature": columns,
            **where,
        }
        if bad > self.max_violations:
            parts = [f"{k} {v}" for k, v in sorted(per_input.items())]
            if rejected.num_rows:
                parts.insert(0, f"{rejected.num_rows} refused by the gateway's validation (422)")
            return GateResult(
                self.name,
                False,
                f"{bad} of {rows} rows of {ref} on {self.endpoint} break its signature "
                f"(allowed {self.max_violations}): {', '.join(parts)}",
                evidence,
            )
        return GateResult(
            self.name,
            True,
            f"{rows} rows of {ref} on {self.endpoint} in the last {where['window']}: "
            f"{bad} schema violations",
            evidence,
        )


@dataclass(frozen=True)
class LoadTestLatencyGate:
    max_p95_ms: float
    endpoint: str | None = None
    max_age_s: float | None = None
    max_error_rate: float = 0.01
    name: str = "load_test_latency"

    def evaluate(self, context: GateContext) -> GateResult:
        session = context.session
        if session is None:
            return _refuse(self.name, "load_test_latency needs the session of the transition")
        from modelward.registry import latest_evidence

        ref = context.candidate.ref
        on = f" on {self.endpoint}" if self.endpoint else ""
        found = latest_evidence(session, "load_test", ref, endpoint=self.endpoint)
        if found is None:
            return _refuse(
                self.name,
                f"unknown: no recorded load test of {ref}{on}: run `modelward loadtest "
                f"{self.endpoint or '<endpoint>'} --version {context.candidate.version}`",
            )
        evidence: dict[str, Any] = {"load_test": found.pointer, "summary": found.summary}
        age_s = (datetime.now(UTC) - _aware(found.recorded_at)).total_seconds()
        if self.max_age_s is not None and age_s > self.max_age_s:
            return _refuse(
                self.name,
                f"unknown: the last load test of {ref}{on} ({found.pointer}) is "
                f"{show_duration(age_s)} old, older than {show_duration(self.max_age_s)}",
                **evidence,
            )
        p95, error_rate = found.detail.get("p95_ms"), found.detail.get("error_rate")
        if not _finite(p95) or not _finite(error_rate):
            return _refuse(
                self.name,
                f"unknown: the load test {found.pointer} of {ref} has no p95 or error rate",
                **evidence,
            )
        p95, error_rate = float(p95), float(error_rate)  # type: ignore[arg-type]
        evidence |= {"p95_ms": p95, "error_rate": error_rate, "max_p95_ms": self.max_p95_ms}
        problems = []
        if p95 > self.max_p95_ms:
            problems.append(f"p95 {p95:.1f} ms above {self.max_p95_ms:g} ms")
        if error_rate > self.max_error_rate:
            problems.append(f"errors {error_rate:.2%} above {self.max_error_rate:.2%}")
        what = f"load test {found.pointer} of {ref}{on}"
        if problems:
            return GateResult(
                self.name, False, f"{what}: " + "; ".join(problems), {"verdict": "fail", **evidence}
            )
        return GateResult(
            self.name,
            True,
            f"{what}: p95 {p95:.1f} ms within {self.max_p95_ms:g} ms, errors {error_rate:.2%}",
            {"verdict": "pass", **evidence},
        )


def _aware(at: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they are stored in UTC
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(params: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = params.get(name)
    if value is None:
        if required:
            raise ValueError(f"{name}: required (a number >= 0)")
        return None
    if not _finite(value) or value < 0:
        raise ValueError(f"{name}: expected a number >= 0, got {str(value)[:40]!r}")
    return float(value)


def _duration(params: dict[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    from modelward.data import parse_duration
    from modelward.errors import InputError

    try:
        seconds = parse_duration(value).total_seconds() if isinstance(value, str) else None
    except (InputError, ValueError):
        seconds = None
    if seconds is None or seconds <= 0:
        raise ValueError(f"{name}: expected a duration such as '24h' or '7d', got {value!r}")
    return float(seconds)


def _known(params: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"{unknown[0]}: not a parameter (expected one of {', '.join(sorted(allowed))})"
        )


def staging_schema(**params: Any) -> StagingSchemaGate:
    """Gate factory: ``endpoint`` (required), ``window`` ('24h'), ``min_rows`` (100),
    ``max_violations`` (0)."""
    _known(params, {"endpoint", "window", "min_rows", "max_violations"})
    endpoint = params.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError("endpoint: the staging endpoint whose traffic is the evidence is required")
    counts = {}
    for name, default in (("min_rows", 100), ("max_violations", 0)):
        value = params.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}: expected a whole number >= 0, got {str(value)[:40]!r}")
        counts[name] = value
    return StagingSchemaGate(
        endpoint,
        window_s=_duration(params, "window") or 86_400.0,
        min_rows=max(counts["min_rows"], 1),
        max_violations=counts["max_violations"],
    )


def load_test_latency(**params: Any) -> LoadTestLatencyGate:
    """Gate factory: ``max_p95_ms`` (required), ``endpoint``, ``max_age`` ('7d'),
    ``max_error_rate`` (0.01)."""
    _known(params, {"max_p95_ms", "endpoint", "max_age", "max_error_rate"})
    endpoint = params.get("endpoint")
    if endpoint is not None and (not isinstance(endpoint, str) or not endpoint):
        raise ValueError("endpoint: expected an endpoint name")
    rate = _number(params, "max_error_rate")
    if rate is not None and rate > 1:
        raise ValueError(f"max_error_rate: expected a share between 0 and 1, got {rate:g}")
    return LoadTestLatencyGate(
        max_p95_ms=_number(params, "max_p95_ms", required=True) or 0.0,
        endpoint=endpoint,
        max_age_s=_duration(params, "max_age"),
        max_error_rate=0.01 if rate is None else rate,
    )
