"""A small typed client for the modelward REST API.

>>> client = Client("http://127.0.0.1:8600", token="mwt_...")  # doctest: +SKIP
>>> client.transition("churn", 3, "Production", reason="beats v2 on auc").to_stage  # doctest: +SKIP
'Production'

Answers are the pydantic models of :mod:`modelward.api.schemas`, the same the server's
OpenAPI document names. Each method declares the operation it calls (:func:`operation`:
method, path, query parameters, body fields, answer model), and a test compares those
declarations with the OpenAPI document generated from the app, so the client cannot drift
from the server unnoticed. Problem responses come back as the same
:mod:`modelward.errors` classes the server raised (by status), carrying the server's
message and details.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from modelward.api import schemas
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

__all__ = ["HTTP", "Client", "Operation", "operation"]

_BY_STATUS: dict[int, type[ModelwardError]] = {
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    503: StoreUnavailable,
}


F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)
OPERATION_ATTR = "__modelward_operation__"


@dataclass(frozen=True)
class Operation:
    """The REST operation a client method calls, as its OpenAPI entry should read."""

    method: str
    #: under ``/api/v1``, with ``{name}`` placeholders as in the OpenAPI document
    path: str
    #: the answer's model; a list answer is ``list[model]`` in the document
    answer: type[BaseModel]
    many: bool = False
    query: tuple[str, ...] = ()
    body: tuple[str, ...] = ()


def operation(
    method: str,
    path: str,
    answer: type[BaseModel],
    *,
    many: bool = False,
    query: tuple[str, ...] = (),
    body: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Declare the operation a :class:`Client` method calls (checked against the spec)."""

    def mark(method_fn: F) -> F:
        setattr(method_fn, OPERATION_ATTR, Operation(method, path, answer, many, query, body))
        return method_fn

    return mark


def _one(model: type[M], data: Any) -> M:
    return model.model_validate(data)


def _many(model: type[M], data: Any) -> list[M]:
    return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]


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

    @operation("GET", "/whoami", schemas.WhoAmI)
    def whoami(self) -> schemas.WhoAmI:
        return _one(schemas.WhoAmI, self._call("GET", "/whoami"))

    @operation("GET", "/models", schemas.ModelSummary, many=True)
    def models(self) -> list[schemas.ModelSummary]:
        return _many(schemas.ModelSummary, self._call("GET", "/models"))

    @operation("POST", "/models/sync", schemas.ModelVersion, many=True)
    def sync(self) -> list[schemas.ModelVersion]:
        """Record versions registered by plain MLflow code since the last look."""
        return _many(schemas.ModelVersion, self._call("POST", "/models/sync"))

    @operation("GET", "/models/{name}/versions", schemas.ModelVersion, many=True)
    def versions(self, name: str) -> list[schemas.ModelVersion]:
        return _many(schemas.ModelVersion, self._call("GET", f"/models/{name}/versions"))

    @operation("GET", "/models/{name}/versions/{version}", schemas.ModelVersion)
    def version(self, name: str, version: int) -> schemas.ModelVersion:
        return _one(schemas.ModelVersion, self._call("GET", f"/models/{name}/versions/{version}"))

    @operation("GET", "/models/{name}/versions/{version}/lineage", schemas.LineageReport)
    def lineage(self, name: str, version: int) -> schemas.LineageReport:
        path = f"/models/{name}/versions/{version}/lineage"
        return _one(schemas.LineageReport, self._call("GET", path))

    @operation("GET", "/models/{name}/lineage/diff", schemas.LineageDiff, query=("from", "to"))
    def lineage_diff(self, name: str, old: int, new: int) -> schemas.LineageDiff:
        params = {"from": old, "to": new}
        path = f"/models/{name}/lineage/diff"
        return _one(schemas.LineageDiff, self._call("GET", path, params=params))

    @operation(
        "POST",
        "/models/{name}/versions/{version}/transitions",
        schemas.Transition,
        body=("to_stage", "reason", "override_reason"),
    )
    def transition(
        self,
        name: str,
        version: int,
        to_stage: str,
        *,
        reason: str,
        override_reason: str | None = None,
    ) -> schemas.Transition:
        body: dict[str, Any] = {"to_stage": to_stage, "reason": reason}
        if override_reason is not None:
            body["override_reason"] = override_reason
        path = f"/models/{name}/versions/{version}/transitions"
        return _one(schemas.Transition, self._call("POST", path, json=body))

    @operation(
        "GET",
        "/models/{name}/versions/{version}/transitions",
        schemas.TransitionRecord,
        many=True,
    )
    def transitions(self, name: str, version: int) -> list[schemas.TransitionRecord]:
        path = f"/models/{name}/versions/{version}/transitions"
        return _many(schemas.TransitionRecord, self._call("GET", path))

    @operation(
        "POST",
        "/models/{name}/versions/{version}/approvals",
        schemas.Approval,
        body=("stage", "comment"),
    )
    def approve(
        self, name: str, version: int, stage: str = "Production", comment: str = ""
    ) -> schemas.Approval:
        path = f"/models/{name}/versions/{version}/approvals"
        body = {"stage": stage, "comment": comment}
        return _one(schemas.Approval, self._call("POST", path, json=body))

    @operation("POST", "/models/{name}/rollback", schemas.Transition, body=("reason",))
    def rollback(self, name: str, *, reason: str) -> schemas.Transition:
        path = f"/models/{name}/rollback"
        return _one(schemas.Transition, self._call("POST", path, json={"reason": reason}))

    @operation(
        "GET",
        "/audit",
        schemas.AuditEntry,
        many=True,
        query=("target", "action", "actor", "limit"),
    )
    def audit(
        self,
        *,
        target: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        limit: int = 100,
    ) -> list[schemas.AuditEntry]:
        given = {"target": target, "action": action, "actor": actor, "limit": limit}
        params = {k: v for k, v in given.items() if v is not None}
        return _many(schemas.AuditEntry, self._call("GET", "/audit", params=params))

    @operation("GET", "/audit/verify", schemas.ChainReport)
    def audit_verify(self) -> schemas.ChainReport:
        return _one(schemas.ChainReport, self._call("GET", "/audit/verify"))

    @operation("GET", "/snapshots", schemas.Snapshot, many=True, query=("name",))
    def snapshots(self, name: str | None = None) -> list[schemas.Snapshot]:
        params = {"name": name} if name else None
        return _many(schemas.Snapshot, self._call("GET", "/snapshots", params=params))

    @operation("GET", "/snapshots/{ref}", schemas.Snapshot)
    def snapshot(self, ref: str) -> schemas.Snapshot:
        return _one(schemas.Snapshot, self._call("GET", f"/snapshots/{ref}"))

    @operation("GET", "/endpoints", schemas.Endpoint, many=True)
    def endpoints(self) -> list[schemas.Endpoint]:
        return _many(schemas.Endpoint, self._call("GET", "/endpoints"))

    @operation("GET", "/endpoints/{name}", schemas.Endpoint)
    def endpoint(self, name: str) -> schemas.Endpoint:
        return _one(schemas.Endpoint, self._call("GET", f"/endpoints/{name}"))

    @operation("POST", "/endpoints", schemas.Endpoint, body=("*",))
    def create_endpoint(self, spec: dict[str, Any]) -> schemas.Endpoint:
        """``spec`` is the definition, as in the CLI's file."""
        return _one(schemas.Endpoint, self._call("POST", "/endpoints", json=spec))

    @operation(
        "PUT", "/endpoints/{name}", schemas.Endpoint, query=("expected_version",), body=("*",)
    )
    def update_endpoint(
        self, name: str, spec: dict[str, Any], *, expected_version: int | None = None
    ) -> schemas.Endpoint:
        params = {"expected_version": expected_version} if expected_version else None
        path = f"/endpoints/{name}"
        return _one(schemas.Endpoint, self._call("PUT", path, json=spec, params=params))

    @operation("DELETE", "/endpoints/{name}", schemas.Endpoint, query=("expected_version",))
    def delete_endpoint(
        self, name: str, *, expected_version: int | None = None
    ) -> schemas.Endpoint:
        params = {"expected_version": expected_version} if expected_version else None
        return _one(schemas.Endpoint, self._call("DELETE", f"/endpoints/{name}", params=params))

    @operation("GET", "/rollout", schemas.ReleaseOut, many=True, query=("endpoint", "live"))
    def releases(
        self, endpoint: str | None = None, *, live: bool = False
    ) -> list[schemas.ReleaseOut]:
        params: dict[str, Any] = {"live": live}
        if endpoint is not None:
            params["endpoint"] = endpoint
        return _many(schemas.ReleaseOut, self._call("GET", "/rollout", params=params))

    @operation("GET", "/rollout/{endpoint}", schemas.ReleaseOut)
    def release(self, endpoint: str) -> schemas.ReleaseOut:
        return _one(schemas.ReleaseOut, self._call("GET", f"/rollout/{endpoint}"))

    @operation(
        "GET",
        "/rollout/{endpoint}/shadow/report",
        schemas.ShadowReportOut,
        query=("release", "segment", "threshold", "top"),
    )
    def shadow_report(
        self,
        endpoint: str,
        *,
        release: str | None = None,
        segment: list[str] | None = None,
        threshold: float = 0.5,
        top: int = 10,
    ) -> schemas.ShadowReportOut:
        params: dict[str, Any] = {"threshold": threshold, "top": top}
        if release:
            params["release"] = release
        if segment:
            params["segment"] = segment
        path = f"/rollout/{endpoint}/shadow/report"
        return _one(schemas.ShadowReportOut, self._call("GET", path, params=params))

    @operation(
        "POST",
        "/rollout/{endpoint}",
        schemas.ReleaseOut,
        body=("candidate", "strategy", "policy"),
    )
    def start_release(
        self,
        endpoint: str,
        candidate: str,
        *,
        strategy: str = "canary",
        policy: dict[str, Any] | None = None,
    ) -> schemas.ReleaseOut:
        body: dict[str, Any] = {"candidate": candidate, "strategy": strategy}
        if policy is not None:
            body["policy"] = policy
        path = f"/rollout/{endpoint}"
        return _one(schemas.ReleaseOut, self._call("POST", path, json=body))

    @operation(
        "POST",
        "/rollout/{endpoint}/{verb}",
        schemas.ReleaseOut,
        query=("expected_version", "no_smoke"),
        body=("reason",),
    )
    def change_release(
        self,
        endpoint: str,
        verb: str,
        *,
        reason: str | None = None,
        expected_version: int | None = None,
        no_smoke: bool = False,
    ) -> schemas.ReleaseOut:
        """``verb``: advance, pause, resume, promote, abort or rollback. A blue-green
        switch over the API needs ``no_smoke=True`` (the golden-set smoke test runs from
        ``modelward rollout advance``; skipping it is audited)."""
        params: dict[str, Any] = {}
        if expected_version:
            params["expected_version"] = expected_version
        if no_smoke:
            params["no_smoke"] = True
        body = {"reason": reason} if reason is not None else None
        path = f"/rollout/{endpoint}/{verb}"
        return _one(schemas.ReleaseOut, self._call("POST", path, json=body, params=params or None))

    @operation("POST", "/labels", schemas.LabelsOut, body=("endpoint", "labels"))
    def send_labels(self, endpoint: str, labels: list[dict[str, Any]]) -> schemas.LabelsOut:
        """``labels``: ``{"request_id", "label"[, "labelled_at"]}`` each."""
        body = {"endpoint": endpoint, "labels": labels}
        return _one(schemas.LabelsOut, self._call("POST", "/labels", json=body))

    @operation("GET", "/alerts", schemas.AlertOut, many=True, query=("endpoint",))
    def alerts(self, endpoint: str | None = None) -> list[schemas.AlertOut]:
        params = {"endpoint": endpoint} if endpoint is not None else None
        return _many(schemas.AlertOut, self._call("GET", "/alerts", params=params))

    @operation("POST", "/alerts/{endpoint}/{key}/acknowledge", schemas.AlertOut, body=("note",))
    def acknowledge_alert(self, endpoint: str, key: str, *, note: str = "") -> schemas.AlertOut:
        path = f"/alerts/{endpoint}/{key}/acknowledge"
        return _one(schemas.AlertOut, self._call("POST", path, json={"note": note}))

    @operation("GET", "/retraining/policies", schemas.RetrainPolicyOut, many=True)
    def retrain_policies(self) -> list[schemas.RetrainPolicyOut]:
        return _many(schemas.RetrainPolicyOut, self._call("GET", "/retraining/policies"))

    @operation(
        "GET",
        "/retraining/episodes",
        schemas.RetrainEpisodeOut,
        many=True,
        query=("policy", "limit"),
    )
    def retrain_episodes(
        self, policy: str | None = None, limit: int = 50
    ) -> list[schemas.RetrainEpisodeOut]:
        params: dict[str, Any] = {"limit": limit}
        if policy:
            params["policy"] = policy
        data = self._call("GET", "/retraining/episodes", params=params)
        return _many(schemas.RetrainEpisodeOut, data)

    @operation("GET", "/retraining/episodes/{episode}", schemas.RetrainEpisodeOut)
    def retrain_episode(self, episode: str) -> schemas.RetrainEpisodeOut:
        data = self._call("GET", f"/retraining/episodes/{episode}")
        return _one(schemas.RetrainEpisodeOut, data)

    @operation(
        "POST", "/retraining/policies/{name}/trigger", schemas.RetrainEpisodeOut, body=("reason",)
    )
    def retrain_trigger(self, name: str, reason: str) -> schemas.RetrainEpisodeOut:
        """Judged before the answer (202); a run it starts goes on after it."""
        path = f"/retraining/policies/{name}/trigger"
        return _one(schemas.RetrainEpisodeOut, self._call("POST", path, json={"reason": reason}))

    @operation(
        "POST", "/retraining/policies/{name}/{verb}", schemas.RetrainSwitchOut, body=("reason",)
    )
    def retrain_switch(self, name: str, verb: str, reason: str) -> schemas.RetrainSwitchOut:
        """``verb``: pause or resume one policy."""
        path = f"/retraining/policies/{name}/{verb}"
        return _one(schemas.RetrainSwitchOut, self._call("POST", path, json={"reason": reason}))

    @operation("POST", "/retraining/pause", schemas.RetrainSwitchOut, body=("reason",))
    def retrain_pause_all(self, reason: str) -> schemas.RetrainSwitchOut:
        """The global kill switch: no policy starts anything."""
        data = self._call("POST", "/retraining/pause", json={"reason": reason})
        return _one(schemas.RetrainSwitchOut, data)

    @operation("POST", "/retraining/resume", schemas.RetrainSwitchOut, body=("reason",))
    def retrain_resume_all(self, reason: str) -> schemas.RetrainSwitchOut:
        data = self._call("POST", "/retraining/resume", json={"reason": reason})
        return _one(schemas.RetrainSwitchOut, data)
