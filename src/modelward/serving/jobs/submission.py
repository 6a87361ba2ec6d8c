"""What a job submission carries, checked before the job is queued (a bad one is a 4xx).

The body is the predict route's request, ``{"inputs": {...}}`` or ``{"inputs": [...]}``,
checked by the endpoint's own schema (the same rules, the same problem document), or
``{"input_path": "data/customers.parquet"}``: a Parquet or CSV file inside the workspace,
scored by the batch path. Either may add ``"callback_url"``, where the result is POSTed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modelward.errors import MalformedRequest, RequestInvalid
from modelward.serving.schema import RequestSchema, decode, safe_text

__all__ = [
    "FILE_SUFFIXES",
    "JobRequest",
    "check_idempotency_key",
    "parse_job",
    "resolve_input_path",
]

FILE_SUFFIXES = (".parquet", ".csv")
_MAX_URL = 2000
_MAX_KEY = 200


class JobRequest:
    """A checked submission: the payload to queue and the callback, if any."""

    __slots__ = ("callback_url", "payload")

    def __init__(self, payload: dict[str, Any], callback_url: str | None) -> None:
        self.payload = payload
        self.callback_url = callback_url


def _invalid(endpoint: str, field: str, rule: str) -> RequestInvalid:
    return RequestInvalid(
        f"job for endpoint {endpoint!r} is invalid: {field} {rule}",
        errors=[{"field": field, "rule": rule}],
    )


def check_idempotency_key(endpoint: str, key: str | None) -> str | None:
    """The ``Idempotency-Key`` header's value, or a 422 naming the rule it breaks."""
    if key is None:
        return None
    if not key or len(key) > _MAX_KEY or not key.isprintable() or not key.isascii():
        raise _invalid(
            endpoint, "Idempotency-Key", f"must be 1 to {_MAX_KEY} printable ASCII characters"
        )
    return key


def _callback(endpoint: str, value: Any, allowed: bool) -> str | None:
    if value is None:
        return None
    if not allowed:
        raise _invalid(
            endpoint,
            "callback_url",
            "is not accepted: the workspace has no webhook_secret to sign results with",
        )
    if not isinstance(value, str) or len(value) > _MAX_URL:
        raise _invalid(endpoint, "callback_url", f"must be a URL of at most {_MAX_URL} characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(endpoint, "callback_url", "must be an http:// or https:// URL with a host")
    return value


def resolve_input_path(endpoint: str, value: Any, root: Path | None) -> Path:
    """The file ``value`` names, refused unless it is a Parquet/CSV file in ``root``."""
    if root is None:
        raise _invalid(endpoint, "input_path", "is not accepted: this gateway has no workspace")
    if not isinstance(value, str) or not value or len(value) > 1000:
        raise _invalid(endpoint, "input_path", "must be a path of at most 1000 characters")
    base = root.resolve()
    path = (base / value).resolve()  # resolves "..", and symlinks pointing out of it
    if not path.is_relative_to(base):
        raise _invalid(endpoint, "input_path", "must be inside the workspace")
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise _invalid(endpoint, "input_path", "must name a .parquet or .csv file")
    if not path.is_file():
        raise _invalid(endpoint, "input_path", "names no file in the workspace")
    return path


def parse_job(
    body: bytes, schema: RequestSchema, *, root: Path | None, callbacks: bool
) -> JobRequest:
    """The job ``body`` asks for; :class:`MalformedRequest` (400) or :class:`RequestInvalid`
    (422) naming each field and rule, exactly as the predict route would."""
    endpoint = schema.endpoint
    data = decode(body)
    if type(data) is not dict:
        raise MalformedRequest(
            'the job body must be a JSON object: {"inputs": ...} or {"input_path": "..."}'
        )
    data = dict(data)
    callback = _callback(endpoint, data.pop("callback_url", None), callbacks)
    if "input_path" in data:
        extra = [k for k in data if k != "input_path"]
        if extra:
            raise _invalid(endpoint, safe_text(extra[0])[:128], "cannot be given with input_path")
        path = resolve_input_path(endpoint, data["input_path"], root)
        assert root is not None
        return JobRequest({"input_path": str(path.relative_to(root.resolve()))}, callback)
    rows, batch = schema.validate(data)
    return JobRequest({"inputs": rows, "batch": batch}, callback)
