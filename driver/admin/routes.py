"""The API's routes as data: each with its access level, its body's schema
and its query parameters, so one declaration makes both the Starlette route
and its entry in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from driver.admin.access import Access, Caller


@dataclass(frozen=True, slots=True)
class Query:
    """A query parameter, for the OpenAPI document."""

    name: str
    type: str  # a JSON Schema type
    description: str


@dataclass(slots=True)
class Call:
    """One authorized request, as a handler sees it."""

    request: Request
    caller: Caller | None  # None on public routes
    body: Any  # the validated JSON body ({} when omitted and optional), or None

    @property
    def tenant(self) -> str:
        return str(self.request.path_params["tenant"])

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    @property
    def blueprint(self) -> str:
        """The blueprint path in the URL, with its leading slash."""
        return "/" + self.param("path").strip("/")


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # a Starlette path template
    handler: Handler
    access: Access
    body: str | None = None  # the schema of a JSON body
    body_optional: bool = False
    raw_body: tuple[str, ...] = ()  # content types of a raw body (publish)
    query: tuple[Query, ...] = ()
    status: int = 200
    tags: tuple[str, ...] = field(default=())

    @property
    def summary(self) -> str:
        doc = self.handler.__doc__ or ""
        return doc.strip().split("\n\n")[0].replace("\n", " ")
