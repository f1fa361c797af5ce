"""The OpenAPI 3.1 document of the API, made from its route declarations
(:func:`driver.admin.api.endpoints`) and the request bodies' JSON Schemas,
so it cannot drift from what the server does. Served as JSON only: no
Swagger UI and nothing from a CDN."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from driver.admin import schemas
from driver.admin.access import Access
from driver.admin.routes import Endpoint

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Bad request: a malformed or invalid body or query, or a request the world refuses",
    401: "Missing, malformed or unknown bearer token",
    403: "The token may not do this (wrong role, or another tenant's)",
    404: "No such tenant, blueprint, version or token",
    409: "Conflict (the tenant exists, the last root token)",
    413: "The body is over its limit",
    415: "Wrong content type",
    422: "Refused: the sandbox's admission, a compile error, or a quota",
    429: "Too many failed authentications from this address",
}


def openapi_path(path: str) -> str:
    """A Starlette path template as OpenAPI writes it (``{path:path}`` → ``{path}``)."""
    return _PARAM.sub(r"{\1}", path)


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    doc = (endpoint.handler.__doc__ or "").strip()
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "tags": list(endpoint.tags),
    }
    rest = doc.split("\n\n", 1)[1:] if doc else []
    if rest:
        operation["description"] = " ".join(rest[0].split())
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(endpoint.path)
    ]
    parameters += [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "description": q.description,
            "schema": {"type": q.type},
        }
        for q in endpoint.query
    ]
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": not endpoint.body_optional,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{endpoint.body}"}}
            },
        }
    elif endpoint.raw_body:
        operation["requestBody"] = {
            "required": True,
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in endpoint.raw_body
            },
        }
    statuses = [endpoint.status, 400]
    if endpoint.access is Access.PUBLIC:
        operation["security"] = []
    else:
        statuses += [401, 403, 429]
    if "{tenant}" in operation_path(endpoint) or "{token_id}" in endpoint.path:
        statuses.append(404)
    if endpoint.raw_body:
        statuses += [413, 415, 422]
    operation["responses"] = {
        str(code): {"description": _STATUS_TEXT[code]} for code in sorted(set(statuses))
    }
    return operation


def operation_path(endpoint: Endpoint) -> str:
    return openapi_path(endpoint.path)


def document(endpoints: Sequence[Endpoint], prefix: str, *, version: str = "1") -> dict[str, Any]:
    """The OpenAPI document for ``endpoints``."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(operation_path(endpoint), {})[endpoint.method.lower()] = _operation(
            endpoint
        )
    component_schemas = {
        name: {k: v for k, v in schema.items() if k != "$schema"}
        for name, schema in schemas.schemas().items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "JitRealm admin and author API",
            "version": version,
            "description": (
                "Tenants, quotas, tokens, publishing and observing a JitRealm server. "
                f"Request bodies are JSON and validated against the schemas at {prefix}/schemas/NAME; "
                'errors are {"error": MESSAGE, "detail": ...}.'
            ),
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": component_schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
