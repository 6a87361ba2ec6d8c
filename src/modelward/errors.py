"""The one error hierarchy of modelward.

Every error a user can cause or meet is a :class:`ModelwardError`. Each class is mapped
once to a CLI exit code and an HTTP status, so the CLI, the API and the gateway answer
the same failure the same way. Messages name the thing and the rule that failed; they
never carry secrets (callers pass already-redacted text).

Exit codes follow the CLI convention: 0 ok, 1 a check failed, 2 usage or input error.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "CheckFailed",
    "ConfigError",
    "Conflict",
    "ContractError",
    "ContractViolation",
    "InputError",
    "ModelwardError",
    "NotFound",
    "OnlineStoreUnavailable",
    "PermissionDenied",
    "StorageError",
    "StoreUnavailable",
    "Unauthenticated",
    "UnknownPluginType",
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2


class ModelwardError(Exception):
    """Base class. ``details`` is structured context for ``--json`` and problem+json."""

    exit_code: ClassVar[int] = EXIT_USAGE
    http_status: ClassVar[int] = 400
    title: ClassVar[str] = "modelward error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": type(self).__name__,
            "title": self.title,
            "message": self.message,
            **({"details": self.details} if self.details else {}),
        }


class InputError(ModelwardError):
    """The caller gave something unusable: a missing file, a bad value, a corrupt file."""

    http_status = 422
    title = "invalid input"


class ConfigError(InputError):
    """``modelward.toml``, an environment override or the secrets file is wrong."""

    title = "invalid configuration"


class UnknownPluginType(ConfigError):
    """A config ``type`` names no built-in or installed plugin (backend, executor, gate)."""

    title = "unknown plugin type"


class ContractError(InputError):
    """A data contract cannot be read or does not fit the data it is applied to."""

    title = "invalid data contract"


class NotFound(ModelwardError):
    http_status = 404
    title = "not found"


class Conflict(ModelwardError):
    """The state changed under the caller (a race, a duplicate, a stale version)."""

    http_status = 409
    title = "conflict"


class Unauthenticated(ModelwardError):
    http_status = 401
    title = "unauthenticated"


class PermissionDenied(ModelwardError):
    http_status = 403
    title = "permission denied"


class StoreUnavailable(ModelwardError):
    """The metadata database cannot be reached. The message never holds a password."""

    http_status = 503
    title = "metadata store unavailable"


class OnlineStoreUnavailable(StoreUnavailable):
    """The online feature store cannot be reached (bounded timeouts, never a hang)."""

    title = "online feature store unavailable"


class StorageError(ModelwardError):
    """Writing data files failed (disk full, permission denied); nothing was left half-written."""

    http_status = 507
    title = "storage error"


class CheckFailed(ModelwardError):
    """A check ran and its answer is "no": a contract violation, a failing gate."""

    exit_code = EXIT_CHECK_FAILED
    http_status = 422
    title = "check failed"


class ContractViolation(CheckFailed):
    """Data violates its contract; the operation was refused (fail closed)."""

    title = "data contract violated"
