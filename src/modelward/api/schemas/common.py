"""What every answer shares: the error document (RFC 9457) and who is calling."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FieldError(BaseModel):
    field: str = Field(description="Where: `body.reason`, `path.version`, `query.limit`.")
    rule: str = Field(description="The rule the value broke.")


class Problem(BaseModel):
    """An error (RFC 9457). ``error`` names the modelward error class; ``errors`` lists each
    invalid field of a 422; an error's structured evidence (``field``, ``gate_results``, ...)
    follows as further top-level members."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    error: str | None = None
    errors: list[FieldError] | None = None


PROBLEM_EXAMPLE = {
    "type": "about:blank",
    "title": "unauthenticated",
    "status": 401,
    "detail": "an API token is required (Authorization: Bearer <token>)",
    "error": "Unauthenticated",
}


class WhoAmI(_Out):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"name": "alice", "role": "approver", "kind": "user"}]},
    )

    name: str
    role: str = Field(description="viewer, developer, approver, operator or admin")
    kind: str = Field(description="user or service")
