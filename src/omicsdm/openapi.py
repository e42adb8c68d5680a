"""The OpenAPI document as a product: every error documented as RFC 9457 problem+json.

FastAPI documents validation errors with its own schema and knows nothing of our 401s; this pass
makes the spec say what the service really answers, so generated clients get it right.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from omicsdm.errors import PROBLEM_JSON
from omicsdm.schemas.common import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer", "minimum": 1}}
}
DESCRIPTIONS = {
    "400": "Bad request",
    "401": "Missing, expired or invalid credentials",
    "403": "Authenticated, but not allowed",
    "404": "Not found (or not visible to the caller)",
    "409": "Conflicts with the current state",
    "413": "Too large",
    "422": "Invalid input; `errors` lists each problem",
    "503": "PostgreSQL, S3 or the identity provider is unavailable (`code` names it); retry after `Retry-After` seconds",
}
# Operations that touch neither PostgreSQL nor S3 cannot answer 503.
NO_DEPENDENCIES = frozenset({"healthz", "getAuthConfig", "devLogin"})


def install_openapi(app: FastAPI, max_file_size: int) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes, tags=TAGS
        )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for methods in spec.get("paths", {}).values():
            for operation in methods.values():
                responses = operation.setdefault("responses", {})
                if operation.get("security"):
                    responses.setdefault("401", {})
                if "requestBody" in operation:  # a body that is not JSON (or not UTF-8) at all
                    responses.setdefault("400", {})
                if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                    responses.setdefault("404", {})
                if operation.get("operationId") not in NO_DEPENDENCIES:
                    responses.setdefault("503", {"headers": RETRY_AFTER})
                for code, response in responses.items():
                    if code.isdigit() and int(code) >= 400:
                        response["description"] = DESCRIPTIONS.get(code, response.get("description", "Error"))
                        if code == "503":
                            response["headers"] = RETRY_AFTER
                        response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
        # The deployment's own limit, so that clients (and fuzzers) know a larger size is refused (413).
        schemas["UploadCreate"]["properties"]["size"]["maximum"] = max_file_size
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = spec
        return spec

    app.openapi = build  # type: ignore[method-assign]


TAGS = [
    {"name": "uploads", "description": "Multipart uploads straight to S3, each S3 request signed after checks."},
    {"name": "files", "description": "The overview, versions, presigned downloads, soft deletion and trash."},
    {"name": "catalog", "description": "Projects (made by admins) and datasets (owned by a group)."},
    {"name": "auth", "description": "Who am I, dev login, personal API tokens."},
    {"name": "admin", "description": "Administrators only."},
    {"name": "health", "description": "Liveness and readiness probes."},
]
