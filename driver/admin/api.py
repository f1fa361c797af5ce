"""The admin and author HTTP API: a Starlette app over :class:`Control`.

Every route is declared once in :func:`endpoints` with its access level,
its body's schema and its query parameters; the same declarations make the
Starlette routes (through :class:`Api.wrap`, which authenticates, rate
limits failures, checks access, validates the body and maps domain errors
to statuses) and the OpenAPI document (:mod:`driver.admin.openapi`). A
refused request never reaches the ``Control``, so it changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from driver.admin import openapi, schemas
from driver.admin.access import Access, Caller
from driver.admin.metrics import registry_for
from driver.admin.ratelimit import FailureLimiter
from driver.admin.routes import Call, Endpoint, Query
from driver.admin.tokens import MIN_ID_CHARS, Tokens, TokenStore, token_id
from driver.store.records import TokenRow
from driver.tenancy.control import Control, Role
from driver.tenancy.errors import (
    BadRequest,
    NoSuchBlueprint,
    NoSuchTenant,
    NoSuchVersion,
    NotBuilt,
    QuotaExceeded,
    TenantExists,
    WorldError,
)
from sandbox.protocol import AdmissionError, CompileError

log = logging.getLogger("jitrealm.admin")

PREFIX = "/api/v1"
MAX_JSON_BYTES = 64 * 1024
PUBLISH_TYPES = ("application/wasm", "application/octet-stream", "application/json")
_HEX = re.compile(r"[0-9a-fA-F]+")


class Refused(Exception):
    """A request the API answers with an error status (and changes nothing)."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail
        self.headers = dict(headers or {})


def _plain(value: Any) -> Any:
    """``value`` (records, lists, dicts) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def json_response(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse(_plain(value), status_code=status, headers=dict(headers or {}))


def error_response(refused: Refused) -> Response:
    body: dict[str, Any] = {"error": refused.error}
    if refused.detail is not None:
        body["detail"] = refused.detail
    return JSONResponse(body, status_code=refused.status, headers=refused.headers)


def _domain_refusal(exc: Exception) -> Refused | None:
    """The status of a domain error (None: not one, a bug)."""
    if isinstance(exc, NoSuchTenant | NoSuchBlueprint | NoSuchVersion):
        return Refused(404, str(exc))
    if isinstance(exc, TenantExists):
        return Refused(409, str(exc))
    if isinstance(exc, NotBuilt):
        return Refused(409, str(exc))
    if isinstance(exc, QuotaExceeded):
        return Refused(422, str(exc), "quota")
    if isinstance(exc, AdmissionError):
        return Refused(422, str(exc), "admission")
    if isinstance(exc, CompileError):
        where = {"file": exc.file, "line": exc.line} if exc.file else None
        return Refused(422, str(exc), where)
    if isinstance(exc, BadRequest | WorldError):
        return Refused(400, str(exc))
    return None


def _a(role: Role) -> str:
    """ "a root", "an admin", "an author"."""
    return ("an " if role.value[0] in "aeiou" else "a ") + role.value


def _unauthorized(message: str, *, invalid: bool) -> Refused:
    challenge = 'Bearer realm="jitrealm"' + (', error="invalid_token"' if invalid else "")
    return Refused(401, message, headers={"WWW-Authenticate": challenge})


async def read_capped(request: Request, cap: int) -> bytes:
    """The body, read in chunks; 413 as soon as it is over ``cap`` bytes
    (from Content-Length before reading anything, when it says so)."""
    declared = request.headers.get("content-length")
    too_big = Refused(413, f"the body is over the limit of {cap} bytes", {"limit": cap})
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise Refused(400, "malformed Content-Length") from None
        if length > cap:
            raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _int_query(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Refused(400, f"{name} must be a whole number, not {raw!r}") from None
    if not lo <= value <= hi:
        raise Refused(400, f"{name} must be from {lo} to {hi}")
    return value


def _bool_query(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("", "1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise Refused(400, f"not a boolean: {raw!r}")


class Api:
    """The handlers, with what they share: the server's Control, the tokens,
    the failed-authentication limiter and the metrics registry."""

    def __init__(
        self,
        control: Control,
        tokens: Tokens,
        limiter: FailureLimiter,
        registry: CollectorRegistry,
    ) -> None:
        self.control = control
        self.tokens = tokens
        self.limiter = limiter
        self.registry = registry

    # -- the wrapper every route goes through ------------------------------------------

    def wrap(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                caller = self._authorize(request, endpoint.access)
                body = await self._body(request, endpoint)
                result = await endpoint.handler(Call(request, caller, body))
            except Refused as refused:
                return error_response(refused)
            except Exception as exc:
                refusal = _domain_refusal(exc)
                if refusal is None:
                    log.exception("admin API: %s %s failed", request.method, request.url.path)
                    return error_response(Refused(500, "internal error"))
                return error_response(refusal)
            if isinstance(result, Response):
                return result
            return json_response(result, endpoint.status)

        handle.__name__ = endpoint.handler.__name__
        return handle

    def _authorize(self, request: Request, access: Access) -> Caller | None:
        if access is Access.PUBLIC:
            return None
        address = request.client.host if request.client else "unknown"
        wait = self.limiter.retry_after(address)
        if wait > 0:
            raise Refused(
                429,
                "too many failed authentications; try later",
                headers={"Retry-After": str(math.ceil(wait))},
            )
        header = request.headers.get("authorization")
        if header is None:
            raise _unauthorized("a bearer token is required", invalid=False)
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            self.limiter.failed(address)
            raise _unauthorized("malformed Authorization header (want: Bearer TOKEN)", invalid=True)
        row = self.tokens.authenticate(secret)
        if row is None:
            self.limiter.failed(address)
            raise _unauthorized("unknown token", invalid=True)
        caller = Caller(row)
        tenant = request.path_params.get("tenant")
        if not caller.may(access, None if tenant is None else str(tenant)):
            raise Refused(
                403, f"{_a(caller.role)} token of {caller.tenant or 'the server'} may not do this"
            )
        return caller

    async def _body(self, request: Request, endpoint: Endpoint) -> Any:
        if endpoint.body is None:
            return None
        raw = await read_capped(request, MAX_JSON_BYTES)
        if not raw.strip():
            if endpoint.body_optional:
                return {}
            raise Refused(
                400, "a JSON body is required", {"schema": f"{PREFIX}/schemas/{endpoint.body}"}
            )
        media = _media_type(request)
        if media and media != "application/json" and not media.endswith("+json"):
            raise Refused(415, f"the body must be application/json, not {media}")
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused(400, "the body is not JSON", str(exc)) from None
        invalid = schemas.check(endpoint.body, value)
        if invalid is not None:
            raise Refused(
                400,
                f"the body does not match {endpoint.body}: {invalid.message}",
                {"at": invalid.at, "schema": f"{PREFIX}/schemas/{endpoint.body}"},
            )
        return value

    # -- public --------------------------------------------------------------------------

    async def healthz(self, call: Call) -> Any:
        """Whether the server answers (no token needed)."""
        return {"status": "ok"}

    async def metrics(self, call: Call) -> Any:
        """Prometheus metrics: the server's figures and every tenant's usage (a root token)."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi_document(self, call: Call) -> Any:
        """This API, as an OpenAPI 3.1 document."""
        return openapi.document(endpoints(self), PREFIX)

    async def schema_names(self, call: Call) -> Any:
        """The names of the request bodies' JSON Schemas."""
        return {"schemas": [f"{PREFIX}/schemas/{name}" for name in schemas.schemas()]}

    async def schema(self, call: Call) -> Any:
        """One request body's JSON Schema."""
        name = call.param("name").removesuffix(".json")
        found = schemas.schemas().get(name)
        if found is None:
            raise Refused(404, f"no such schema: {name}")
        return Response(json.dumps(found), media_type="application/schema+json")

    async def whoami(self, call: Call) -> Any:
        """The caller's token: its role, tenant and label."""
        assert call.caller is not None
        return _token_view(call.caller.token)

    # -- tenants -------------------------------------------------------------------------

    async def list_tenants(self, call: Call) -> Any:
        """Every tenant (root)."""
        return {"tenants": self.control.tenants()}

    async def create_tenant(self, call: Call) -> Any:
        """Create a tenant (root)."""
        body = call.body
        return await self.control.create_tenant(
            body["name"],
            title=body.get("title"),
            start_room=body.get("start_room"),
            port=body.get("port"),
            quotas=body.get("quotas"),
        )

    async def show_tenant(self, call: Call) -> Any:
        """One tenant."""
        return self.control.tenant(call.tenant)

    async def delete_tenant(self, call: Call) -> Any:
        """Delete a tenant, its world and its tokens (root)."""
        await self.control.delete_tenant(call.tenant)
        revoked = self.tokens.revoke_tenant(call.tenant)
        return {"deleted": call.tenant, "tokens_revoked": revoked}

    async def suspend_tenant(self, call: Call) -> Any:
        """Suspend a tenant: its players are told and disconnected, its events stop (root)."""
        return await self.control.suspend_tenant(call.tenant, call.body.get("reason", ""))

    async def resume_tenant(self, call: Call) -> Any:
        """Resume a suspended tenant (root)."""
        return await self.control.resume_tenant(call.tenant)

    # -- quotas --------------------------------------------------------------------------

    async def get_quotas(self, call: Call) -> Any:
        """The tenant's quotas, by flat name."""
        return {"tenant": call.tenant, "quotas": self.control.quotas(call.tenant)}

    async def set_quotas(self, call: Call) -> Any:
        """Change some of a tenant's quotas, effective at once (root)."""
        changes: dict[str, float] = call.body["quotas"]
        known = self.control.quotas(call.tenant)
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise Refused(400, f"no such quota: {', '.join(unknown)}", {"known": sorted(known)})
        return {"tenant": call.tenant, "quotas": self.control.set_quotas(call.tenant, changes)}

    # -- tokens --------------------------------------------------------------------------

    async def list_tokens(self, call: Call) -> Any:
        """The tenant's tokens, without their secrets (root, the tenant's admins)."""
        self.control.tenant(call.tenant)
        return {"tokens": [_token_view(row) for row in self.tokens.listed(call.tenant)]}

    async def create_token(self, call: Call) -> Any:
        """A new token of the tenant; its secret is in this answer only."""
        assert call.caller is not None
        role = Role(call.body["role"])
        if not call.caller.may_create(role):
            raise Refused(403, f"{_a(call.caller.role)} token may not make {role} tokens")
        self.control.tenant(call.tenant)
        secret, row = self.tokens.create(role, call.tenant, call.body.get("label", ""))
        return {**_token_view(row), "token": secret}

    async def revoke_token(self, call: Call) -> Any:
        """Revoke a token, named by a prefix of its hash (its id, 8 characters at least)."""
        assert call.caller is not None
        wanted = call.param("token_id")
        if len(wanted) < MIN_ID_CHARS or not _HEX.fullmatch(wanted):
            raise Refused(400, f"a token id is {MIN_ID_CHARS} or more hex digits")
        found = [row for row in self.tokens.matching(wanted) if call.caller.sees(row)]
        if not found:
            raise Refused(404, f"no such token: {wanted}")
        if len(found) > 1:
            raise Refused(400, f"{wanted} names {len(found)} tokens; give more of it")
        row = found[0]
        if (
            row.role == Role.ROOT.value
            and sum(r.role == Role.ROOT.value for r in self.tokens.listed()) < 2
        ):
            raise Refused(409, "the last root token cannot be revoked")
        self.tokens.revoke(row)
        return {"revoked": token_id(row)}

    # -- publishing ----------------------------------------------------------------------

    async def list_blueprints(self, call: Call) -> Any:
        """The tenant's blueprints, each with its versions."""
        return {"blueprints": self.control.blueprints(call.tenant)}

    async def list_versions(self, call: Call) -> Any:
        """A blueprint's kept versions, oldest first."""
        return self.control.versions(call.tenant, call.blueprint)

    async def publish(self, call: Call) -> Any:
        """Publish a new version of a blueprint: the body is the component (or a declarative bundle).

        It is admitted (the sandbox's checks and the tenant's size quota),
        kept as an immutable version, and activated by hot reload unless
        ``stage``; with ``canary`` K, on-reload first runs against copies of
        K live objects and the version is activated only if all succeed."""
        request = call.request
        query = {key: request.query_params[key] for key in request.query_params}
        typed: dict[str, Any] = {}
        for key, raw in query.items():
            if key == "stage":
                typed[key] = _bool_query(raw)
            elif key == "canary":
                try:
                    typed[key] = int(raw)
                except ValueError:
                    raise Refused(400, f"canary must be a whole number, not {raw!r}") from None
            else:
                typed[key] = raw
        invalid = schemas.check("publish-query", typed)
        if invalid is not None:
            raise Refused(400, f"bad query: {invalid.message}", {"at": invalid.at})
        media = _media_type(request)
        if media not in PUBLISH_TYPES:
            raise Refused(
                415,
                f"publish a component as one of {', '.join(PUBLISH_TYPES)}, not {media or 'nothing'}",
            )
        cap = int(self.control.quotas(call.tenant).get("max_component_bytes", 16 * 1024 * 1024))
        data = await read_capped(request, cap)
        if not data:
            raise Refused(400, "the body is empty: send the component's bytes")
        return await self.control.publish(
            call.tenant,
            call.blueprint,
            data,
            stage=bool(typed.get("stage", False)),
            canary=int(typed.get("canary", 0)),
        )

    async def activate(self, call: Call) -> Any:
        """Make a kept version current (null: the one before the current one, a rollback)."""
        return await self.control.activate(call.tenant, call.blueprint, call.body.get("version"))

    # -- observing -----------------------------------------------------------------------

    async def usage(self, call: Call) -> Any:
        """The tenant's usage: fuel, memory, objects, callouts, connections, errors by kind."""
        return self.control.usage(call.tenant)

    async def errors(self, call: Call) -> Any:
        """The tenant's newest guest errors and budget hits."""
        limit = _int_query(call.request, "limit", 100, 1, 1000)
        return {"errors": self.control.errors(call.tenant, limit)}

    async def logs(self, call: Call) -> Any:
        """The tenant's newest log lines from guest code (of one blueprint, at
        a level or above, after a time: ``--follow`` polls with ``since``)."""
        limit = _int_query(call.request, "limit", 100, 1, 1000)
        query = call.request.query_params
        since_raw = query.get("since") or None
        try:
            since = float(since_raw) if since_raw is not None else None
        except ValueError:
            raise Refused(400, f"since must be a time in Unix seconds, not {since_raw!r}") from None
        lines = self.control.logs(
            call.tenant, limit, blueprint=query.get("blueprint") or None, level=query.get("level") or None,
            since=since,
        )  # fmt: skip
        return {"logs": lines}

    async def quarantines(self, call: Call) -> Any:
        """The tenant's quarantined objects and blueprints."""
        return {"quarantines": self.control.quarantines(call.tenant)}

    async def release(self, call: Call) -> Any:
        """Lift a quarantine (root, the tenant's admins); answers what is left."""
        target = "/" + call.param("target").lstrip("/")
        return {"quarantines": self.control.release(call.tenant, target)}

    # -- roles ---------------------------------------------------------------------------

    async def make_wizard(self, call: Call) -> Any:
        """Make an account of the tenant a wizard (root, the tenant's admins)."""
        self.control.set_wizard(call.tenant, call.param("account"), True)
        return {"account": call.param("account"), "wizard": True}

    async def unmake_wizard(self, call: Call) -> Any:
        """Make a wizard of the tenant a player again (root, the tenant's admins)."""
        self.control.set_wizard(call.tenant, call.param("account"), False)
        return {"account": call.param("account"), "wizard": False}


def _token_view(row: TokenRow) -> dict[str, Any]:
    return {
        "id": token_id(row),
        "role": row.role,
        "tenant": row.tenant,
        "label": row.label,
        "created_at": row.created_at,
    }


def endpoints(api: Api) -> list[Endpoint]:
    """Every route of the API (the OpenAPI document is made from this list)."""
    t = PREFIX + "/tenants/{tenant}"
    bp = t + "/blueprints/{path:path}"
    limit = (Query("limit", "integer", "how many, newest first (1 to 1000; default 100)"),)
    log_query = (
        Query("blueprint", "string", "only the lines of this blueprint (or object)"),
        Query("level", "string", "only this level and above (debug < info, stdout < warn, stderr < error)"),
        Query("since", "number", "only lines logged after this time (Unix seconds)"),
    )
    publish_query = (
        Query("stage", "boolean", "keep the version without activating it"),
        Query("canary", "integer", "run on-reload on copies of this many live objects first"),
    )
    E = Endpoint
    return [
        E("GET", "/healthz", api.healthz, Access.PUBLIC, tags=("server",)),
        E("GET", "/metrics", api.metrics, Access.ROOT, tags=("server",)),
        E("GET", PREFIX + "/openapi.json", api.openapi_document, Access.PUBLIC, tags=("server",)),
        E("GET", PREFIX + "/schemas", api.schema_names, Access.PUBLIC, tags=("server",)),
        E("GET", PREFIX + "/schemas/{name}", api.schema, Access.PUBLIC, tags=("server",)),
        E("GET", PREFIX + "/whoami", api.whoami, Access.ANY, tags=("tokens",)),
        E("GET", PREFIX + "/tenants", api.list_tenants, Access.ROOT, tags=("tenants",)),
        E("POST", PREFIX + "/tenants", api.create_tenant, Access.ROOT, body="tenant-create", status=201, tags=("tenants",)),
        E("GET", t, api.show_tenant, Access.MEMBER, tags=("tenants",)),
        E("DELETE", t, api.delete_tenant, Access.ROOT, tags=("tenants",)),
        E("POST", t + "/suspend", api.suspend_tenant, Access.ROOT, body="tenant-suspend", body_optional=True, tags=("tenants",)),
        E("POST", t + "/resume", api.resume_tenant, Access.ROOT, tags=("tenants",)),
        E("GET", t + "/quotas", api.get_quotas, Access.MEMBER, tags=("quotas",)),
        E("PATCH", t + "/quotas", api.set_quotas, Access.ROOT, body="quotas-patch", tags=("quotas",)),
        E("GET", t + "/tokens", api.list_tokens, Access.ADMIN, tags=("tokens",)),
        E("POST", t + "/tokens", api.create_token, Access.ADMIN, body="token-create", status=201, tags=("tokens",)),
        E("DELETE", PREFIX + "/tokens/{token_id}", api.revoke_token, Access.ANY, tags=("tokens",)),
        E("GET", t + "/blueprints", api.list_blueprints, Access.MEMBER, tags=("publishing",)),
        E("GET", bp + "/versions", api.list_versions, Access.MEMBER, tags=("publishing",)),
        E("POST", bp + "/versions", api.publish, Access.MEMBER, raw_body=PUBLISH_TYPES, query=publish_query, tags=("publishing",)),
        E("POST", bp + "/activate", api.activate, Access.MEMBER, body="activate", body_optional=True, tags=("publishing",)),
        E("GET", t + "/usage", api.usage, Access.MEMBER, tags=("observing",)),
        E("GET", t + "/errors", api.errors, Access.MEMBER, query=limit, tags=("observing",)),
        E("GET", t + "/logs", api.logs, Access.MEMBER, query=limit + log_query, tags=("observing",)),
        E("GET", t + "/quarantines", api.quarantines, Access.MEMBER, tags=("observing",)),
        E("DELETE", t + "/quarantines/{target:path}", api.release, Access.ADMIN, tags=("observing",)),
        E("PUT", t + "/wizards/{account}", api.make_wizard, Access.ADMIN, body="wizard", body_optional=True, tags=("roles",)),
        E("DELETE", t + "/wizards/{account}", api.unmake_wizard, Access.ADMIN, tags=("roles",)),
    ]  # fmt: skip


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (no such route or method), as JSON."""
    assert isinstance(exc, HTTPException)
    return error_response(Refused(exc.status_code, exc.detail, headers=exc.headers))


def build_app(
    control: Control,
    tokens: TokenStore,
    *,
    metrics_registry: CollectorRegistry | None = None,
    limiter: FailureLimiter | None = None,
) -> Starlette:
    """The API over ``control``, with tokens kept in ``tokens``.

    ``/metrics`` serves ``metrics_registry`` (a fresh registry if None) with
    a collector of ``control.figures()`` added to it; it needs a root token,
    so that a TLS proxy in front of the listener never makes it public.
    """
    api = Api(
        control,
        Tokens(tokens),
        limiter or FailureLimiter(),
        registry_for(control, metrics_registry),
    )
    routes = [Route(e.path, api.wrap(e), methods=[e.method]) for e in endpoints(api)]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
