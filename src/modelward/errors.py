"""The one error hierarchy of modelward.

Every error a user can cause or meet is a :class:`ModelwardError`. Each class is mapped
once to a CLI exit code and an HTTP status, so the CLI, the API and the gateway answer
the same failure the same way. Messages name the thing and the rule that failed; they
never carry secrets (callers pass already-redacted text).

Exit codes (the one rule, documented for users in docs/cli.md):

====  =====================================================================================
0     done
1     refused: the request was understood and valid, and the answer is "no" (a contract
      violation, a failing gate, a missing approval, a permission the role lacks, a
      missing or bad token, a conflicting change, a tampered audit log, a failed check)
2     usage or input error: a bad option or value, an unreadable or invalid file, a name
      that does not exist
3     unavailable: a database, online store or disk the command needs failed; nothing was
      changed, and the same command may succeed later
70    internal error: a bug in modelward (``--debug`` shows the traceback)
130   interrupted (Ctrl-C); nothing half-written was kept
====  =====================================================================================

Over HTTP, both servers (the REST API and the gateway) answer an error with the one
``application/problem+json`` document (RFC 9457) :meth:`ModelwardError.to_problem` builds
(:func:`problem_document` for errors that are not a ``ModelwardError``, such as the
framework's own 404): ``type``, ``title``, ``status``, ``detail``, ``error`` (the class
name), then the error's details as extension members (``field``, ``errors``, ...), and
``request_id`` where the server assigns one.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "PROBLEM_JSON",
    "CheckFailed",
    "ConfigError",
    "Conflict",
    "ContractError",
    "ContractViolation",
    "InputError",
    "InternalError",
    "MalformedRequest",
    "MethodNotAllowed",
    "ModelUnavailable",
    "ModelwardError",
    "NotFound",
    "OnlineStoreUnavailable",
    "Overloaded",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "RequestInvalid",
    "RequestTimeout",
    "ServiceUnavailable",
    "StorageError",
    "StoreUnavailable",
    "Unauthenticated",
    "UnknownPluginType",
    "problem_document",
]

#: the media type of every HTTP error answer
PROBLEM_JSON = "application/problem+json"
# members of a problem document that an error's details may not replace
_RESERVED = frozenset({"type", "title", "status", "detail", "error", "request_id"})

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_CHECK_FAILED = EXIT_REFUSED  # the older name of the same rule
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


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
        """The error as the CLI's ``--json`` prints it."""
        return {
            "error": type(self).__name__,
            "title": self.title,
            "message": self.message,
            **({"details": self.details} if self.details else {}),
        }

    def to_problem(self, *, request_id: str | None = None) -> dict[str, Any]:
        """The error as an ``application/problem+json`` document (both HTTP servers)."""
        return problem_document(
            self.http_status,
            self.title,
            self.message,
            error=type(self).__name__,
            request_id=request_id,
            extensions=self.details,
        )


def problem_document(
    status: int,
    title: str,
    detail: str,
    *,
    error: str,
    request_id: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem document; ``extensions`` become top-level members (never
    replacing ``type``, ``title``, ``status``, ``detail``, ``error`` or ``request_id``)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "error": error,
    }
    if request_id is not None:
        body["request_id"] = request_id
    for key, value in (extensions or {}).items():
        if key not in _RESERVED:
            body[key] = value
    return body


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

    exit_code = EXIT_REFUSED
    http_status = 409
    title = "conflict"


class RateLimited(ModelwardError):
    """Too many requests for one API token; ``retry_after`` says when to try again."""

    exit_code = EXIT_UNAVAILABLE
    http_status = 429
    title = "too many requests"

    def __init__(self, message: str, *, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class Unauthenticated(ModelwardError):
    exit_code = EXIT_REFUSED
    http_status = 401
    title = "unauthenticated"


class PermissionDenied(ModelwardError):
    exit_code = EXIT_REFUSED
    http_status = 403
    title = "permission denied"


class StoreUnavailable(ModelwardError):
    """The metadata database cannot be reached. The message never holds a password."""

    exit_code = EXIT_UNAVAILABLE
    http_status = 503
    title = "metadata store unavailable"


class OnlineStoreUnavailable(StoreUnavailable):
    """The online feature store cannot be reached (bounded timeouts, never a hang)."""

    title = "online feature store unavailable"


class ServiceUnavailable(ModelwardError):
    """A server modelward started or was pointed at (a gateway under a load test) did not
    come up or answer."""

    exit_code = EXIT_UNAVAILABLE
    http_status = 503
    title = "service unavailable"


class StorageError(ModelwardError):
    """Writing data files failed (disk full, permission denied); nothing was left half-written."""

    exit_code = EXIT_UNAVAILABLE
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


# -- HTTP-only answers (raised by the servers' request handling, never by a context) ------


class MalformedRequest(InputError):
    """The body is not JSON (or not an object): nothing in it can be checked."""

    http_status = 400
    title = "malformed request"


class RequestInvalid(InputError):
    """The body is JSON but breaks the endpoint's request schema; ``details["errors"]``
    names each bad field and the rule it broke."""

    title = "request does not match the endpoint schema"


class PayloadTooLarge(InputError):
    """A request body over the server's limit; refused before (or while) it is read."""

    http_status = 413
    title = "request body too large"


class RequestTimeout(InputError):
    """The client did not send its request body within the server's deadline (a stalled
    or deliberately slow client); the connection is closed."""

    http_status = 408
    title = "request timeout"


class MethodNotAllowed(InputError):
    http_status = 405
    title = "method not allowed"


class Overloaded(ModelwardError):
    """More requests in flight than the limit: come back later (``Retry-After``)."""

    http_status = 503
    title = "overloaded"
    retry_after_s: ClassVar[int] = 1


class ModelUnavailable(ModelwardError):
    """The model could not answer in time and the endpoint has no usable fallback."""

    http_status = 503
    title = "model unavailable"


class InternalError(ModelwardError):
    """A bug met while serving a request; the answer says only that it was logged."""

    exit_code = EXIT_INTERNAL
    http_status = 500
    title = "internal error"

    def __init__(self, message: str = "an internal error occurred; it is logged") -> None:
        super().__init__(message)
