"""A small typed client for the modelward REST API.

>>> client = Client("http://127.0.0.1:8600", token="mwt_...")  # doctest: +SKIP
>>> client.transition("churn", 3, "Production", reason="beats v2 on auc")  # doctest: +SKIP

Problem responses come back as the same :mod:`modelward.errors` classes the server raised
(by status), carrying the server's message and details.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, cast

import httpx

from modelward.errors import (
    CheckFailed,
    Conflict,
    InputError,
    ModelwardError,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
    Unauthenticated,
)

__all__ = ["HTTP", "Client"]

_BY_STATUS: dict[int, type[ModelwardError]] = {
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    503: StoreUnavailable,
}


class HTTP(Protocol):
    """What the client needs of an HTTP client: ``httpx.Client`` or a test client."""

    def request(
        self, method: str, url: str, *, json: Any = ..., params: Any = ..., headers: Any = ...
    ) -> Any: ...

    def close(self) -> None: ...


class Client:
    """``Client(base_url, token)``, or ``Client(http=<httpx.Client>, token=...)`` for tests."""

    def __init__(
        self,
        base_url: str = "",
        token: str = "",
        *,
        http: HTTP | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._http: HTTP = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        response = self._http.request(
            method, f"/api/v1{path}", json=json, params=params, headers=self._headers
        )
        if response.is_success:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:500]}
        detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
        # the problem document's extension members are the error's details
        standard = {"type", "title", "status", "detail", "error", "request_id"}
        details = {k: v for k, v in body.items() if k not in standard and k != "message"}
        if response.status_code == 422:
            cls: type[ModelwardError] = (
                CheckFailed if body.get("error") == "CheckFailed" else InputError
            )
        else:
            cls = _BY_STATUS.get(response.status_code, ModelwardError)
        raise cls(detail, status=response.status_code, **details)

    def whoami(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", "/whoami"))

    def models(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("GET", "/models"))

    def versions(self, name: str) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("GET", f"/models/{name}/versions"))

    def version(self, name: str, version: int) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", f"/models/{name}/versions/{version}"))

    def lineage(self, name: str, version: int) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", f"/models/{name}/versions/{version}/lineage"))

    def lineage_diff(self, name: str, old: int, new: int) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self._call("GET", f"/models/{name}/lineage/diff", params={"from": old, "to": new}),
        )

    def transition(
        self,
        name: str,
        version: int,
        to_stage: str,
        *,
        reason: str,
        override_reason: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"to_stage": to_stage, "reason": reason}
        if override_reason is not None:
            body["override_reason"] = override_reason
        return cast(
            dict[str, Any],
            self._call("POST", f"/models/{name}/versions/{version}/transitions", json=body),
        )

    def transitions(self, name: str, version: int) -> list[dict[str, Any]]:
        return cast(
            list[dict[str, Any]],
            self._call("GET", f"/models/{name}/versions/{version}/transitions"),
        )

    def approve(
        self, name: str, version: int, stage: str = "Production", comment: str = ""
    ) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self._call(
                "POST",
                f"/models/{name}/versions/{version}/approvals",
                json={"stage": stage, "comment": comment},
            ),
        )

    def rollback(self, name: str, *, reason: str) -> dict[str, Any]:
        return cast(
            dict[str, Any], self._call("POST", f"/models/{name}/rollback", json={"reason": reason})
        )

    def audit(
        self,
        *,
        target: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        params = {
            k: v
            for k, v in {"target": target, "action": action, "actor": actor, "limit": limit}.items()
            if v is not None
        }
        return cast(list[dict[str, Any]], self._call("GET", "/audit", params=params))

    def audit_verify(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", "/audit/verify"))

    def snapshots(self, name: str | None = None) -> list[dict[str, Any]]:
        params = {"name": name} if name else None
        return cast(list[dict[str, Any]], self._call("GET", "/snapshots", params=params))
