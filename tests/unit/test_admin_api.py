"""The admin API's HTTP layer: tokens and roles, bodies and schemas,
statuses, the OpenAPI document and metrics — against a fake ``Control``
that records every call, so "refused and nothing changed" is checked as
"refused and nothing was called". The app runs under trio, in process
(httpx's ASGI transport; no sockets)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.routing import Route

from driver.admin import schemas
from driver.admin.api import build_app
from driver.admin.openapi import openapi_path
from driver.admin.ratelimit import FailureLimiter
from driver.admin.tokens import MemoryTokenStore, Tokens, ensure_root_token, hash_secret
from driver.tenancy.control import Role
from sandbox.protocol import AdmissionError

from ..admin_support import FakeControl

pytestmark = pytest.mark.unit


class World:
    """The app over a fake control, with one token of each kind."""

    def __init__(self) -> None:
        self.control = FakeControl()
        self.store = MemoryTokenStore()
        tokens = Tokens(self.store)
        self.root, _ = tokens.create(Role.ROOT, None, "root")
        self.admin, _ = tokens.create(Role.ADMIN, "acme", "acme admin")
        self.author, _ = tokens.create(Role.AUTHOR, "acme", "acme author")
        self.beta_admin, _ = tokens.create(Role.ADMIN, "beta", "beta admin")
        self.limiter = FailureLimiter(limit=10, window=60.0)
        self.app = build_app(self.control, self.store, limiter=self.limiter)

    def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://admin")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with world.client() as client:
        yield client


# -- tokens and roles --------------------------------------------------------------------


async def test_healthz_needs_no_token(http: httpx.AsyncClient) -> None:
    answer = await http.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic cm9vdDpyb290"},
        {"Authorization": "Bearer"},
        bearer("jr_not-a-token"),
    ],
    ids=["missing", "not-bearer", "empty", "unknown"],
)
async def test_missing_malformed_or_unknown_token_is_401_and_calls_nothing(
    world: World, http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, url in [
        ("GET", "/api/v1/tenants"),
        ("PATCH", "/api/v1/tenants/acme/quotas"),
        ("POST", "/api/v1/tenants/acme/blueprints/rooms/a/versions"),
        ("DELETE", "/api/v1/tenants/acme"),
    ]:
        answer = await http.request(
            method, url, headers=headers, json={"quotas": {"max_objects": 1}}
        )
        assert answer.status_code == 401, (method, url)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "error" in answer.json()
    assert world.control.calls == []


async def test_root_reaches_every_tenant(world: World, http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/v1/tenants", headers=bearer(world.root))
    assert answer.status_code == 200
    assert [t["name"] for t in answer.json()["tenants"]] == ["acme", "beta"]
    for tenant in ("acme", "beta"):
        assert (
            await http.get(f"/api/v1/tenants/{tenant}/usage", headers=bearer(world.root))
        ).status_code == 200


async def test_author_reaches_only_its_own_tenant_and_not_root_routes(
    world: World, http: httpx.AsyncClient
) -> None:
    h = bearer(world.author)
    assert (await http.get("/api/v1/tenants/acme/usage", headers=h)).status_code == 200
    assert (await http.get("/api/v1/tenants/acme/quotas", headers=h)).status_code == 200
    world.control.calls.clear()
    refused = [
        await http.get("/api/v1/tenants/beta/usage", headers=h),
        await http.get(
            "/api/v1/tenants/nowhere/usage", headers=h
        ),  # 403, not 404: existence is not told
        await http.get("/api/v1/tenants", headers=h),
        await http.post("/api/v1/tenants", headers=h, json={"name": "mine"}),
        await http.patch(
            "/api/v1/tenants/acme/quotas", headers=h, json={"quotas": {"max_objects": 1}}
        ),
        await http.delete("/api/v1/tenants/acme", headers=h),
        await http.post("/api/v1/tenants/acme/suspend", headers=h),
        await http.post("/api/v1/tenants/acme/tokens", headers=h, json={"role": "author"}),
        await http.put("/api/v1/tenants/acme/wizards/bob", headers=h),
        await http.delete("/api/v1/tenants/acme/quarantines/obj/x%231", headers=h),
        await http.post(
            "/api/v1/tenants/beta/blueprints/rooms/a/versions", headers=h, content=b"\0asm"
        ),
        await http.get("/metrics", headers=h),
    ]
    assert [a.status_code for a in refused] == [403] * len(refused)
    assert world.control.calls == []


async def test_a_tenant_admin_manages_its_tenant_but_sets_no_quotas(
    world: World, http: httpx.AsyncClient
) -> None:
    h = bearer(world.admin)
    made = await http.post(
        "/api/v1/tenants/acme/tokens", headers=h, json={"role": "author", "label": "ann"}
    )
    assert made.status_code == 201
    secret = made.json()["token"]
    assert secret.startswith("jr_")
    assert hash_secret(secret) in {row.hash for row in world.store.tokens()}
    assert secret not in json.dumps([row.__repr__() for row in world.store.tokens()])
    whoami = await http.get("/api/v1/whoami", headers=bearer(secret))
    assert whoami.json() == {**whoami.json(), "role": "author", "tenant": "acme", "label": "ann"}
    # No admin tokens from an admin, no quota changes, nothing of beta.
    before = len(world.store.tokens())
    assert (
        await http.post("/api/v1/tenants/acme/tokens", headers=h, json={"role": "admin"})
    ).status_code == 403
    assert len(world.store.tokens()) == before
    assert (
        await http.patch(
            "/api/v1/tenants/acme/quotas", headers=h, json={"quotas": {"max_objects": 1}}
        )
    ).status_code == 403
    assert (await http.get("/api/v1/tenants/beta/tokens", headers=h)).status_code == 403
    assert "set_quotas" not in world.control.called()
    # Listing shows ids, never secrets.
    listed = (await http.get("/api/v1/tenants/acme/tokens", headers=h)).json()["tokens"]
    assert {t["role"] for t in listed} == {"admin", "author"}
    assert all("token" not in t and "hash" not in t for t in listed)
    # Wizards and quarantines are the admin's.
    assert (await http.put("/api/v1/tenants/acme/wizards/bob", headers=h)).status_code == 200
    released = await http.delete("/api/v1/tenants/acme/quarantines/obj/x%231", headers=h)
    assert released.status_code == 200
    assert ("set_wizard", ("acme", "bob", True)) in world.control.calls
    assert ("release", ("acme", "/obj/x#1")) in world.control.calls


async def test_root_makes_admin_tokens_but_no_root_tokens(
    world: World, http: httpx.AsyncClient
) -> None:
    h = bearer(world.root)
    assert (
        await http.post("/api/v1/tenants/beta/tokens", headers=h, json={"role": "admin"})
    ).status_code == 201
    bad = await http.post("/api/v1/tenants/beta/tokens", headers=h, json={"role": "root"})
    assert bad.status_code == 400
    missing = await http.post("/api/v1/tenants/nowhere/tokens", headers=h, json={"role": "author"})
    assert missing.status_code == 404
    assert not any(row.tenant == "nowhere" for row in world.store.tokens())


async def test_revoking_tokens(world: World, http: httpx.AsyncClient) -> None:
    tokens = Tokens(world.store)
    ids = {row.label: row.hash[:12] for row in tokens.listed()}
    # An author cannot revoke another's token (and does not learn it exists).
    assert (
        await http.delete(f"/api/v1/tokens/{ids['acme admin']}", headers=bearer(world.author))
    ).status_code == 404
    # A tenant admin cannot revoke another tenant's.
    assert (
        await http.delete(f"/api/v1/tokens/{ids['beta admin']}", headers=bearer(world.admin))
    ).status_code == 404
    assert (await http.delete("/api/v1/tokens/abc", headers=bearer(world.root))).status_code == 400
    # The last root token stays.
    assert (
        await http.delete(f"/api/v1/tokens/{ids['root']}", headers=bearer(world.root))
    ).status_code == 409
    revoked = await http.delete(f"/api/v1/tokens/{ids['acme author']}", headers=bearer(world.admin))
    assert revoked.status_code == 200
    assert (await http.get("/api/v1/whoami", headers=bearer(world.author))).status_code == 401


async def test_deleting_a_tenant_revokes_its_tokens(world: World, http: httpx.AsyncClient) -> None:
    answer = await http.delete("/api/v1/tenants/acme", headers=bearer(world.root))
    assert answer.status_code == 200
    assert answer.json() == {"deleted": "acme", "tokens_revoked": 2}
    assert (await http.get("/api/v1/whoami", headers=bearer(world.admin))).status_code == 401
    assert (await http.get("/api/v1/whoami", headers=bearer(world.beta_admin))).status_code == 200


async def test_failed_authentications_are_rate_limited_per_address(world: World) -> None:
    async with world.client("192.0.2.7") as guesser, world.client("192.0.2.8") as other:
        for _ in range(10):
            assert (
                await guesser.get("/api/v1/tenants", headers=bearer("jr_guess"))
            ).status_code == 401
        limited = await guesser.get(
            "/api/v1/tenants", headers=bearer(world.root)
        )  # even a good one
        assert limited.status_code == 429
        assert 0 < int(limited.headers["Retry-After"]) <= 60
        assert (await other.get("/api/v1/tenants", headers=bearer(world.root))).status_code == 200
        assert (await guesser.get("/healthz")).status_code == 200  # public routes stay open


def test_the_limiter_forgets_old_failures_and_keeps_bounded_memory() -> None:
    now = [0.0]
    limiter = FailureLimiter(limit=3, window=10.0, max_addresses=100, clock=lambda: now[0])
    for _ in range(3):
        limiter.failed("a")
    assert limiter.retry_after("a") == pytest.approx(10.0)
    now[0] = 10.5
    assert limiter.retry_after("a") == 0.0
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) <= 100


# -- bodies, statuses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "'name' is a required property"),
        ({"name": "Acme Corp"}, "does not match"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "ok", "port": 70000}, "65535"),
        ({"name": "ok", "quotas": {"max_objects": "lots"}}, "not of type 'number'"),
        ([1, 2], "not of type 'object'"),
    ],
)
async def test_bad_bodies_are_400_with_a_message(
    world: World, http: httpx.AsyncClient, body: Any, fragment: str
) -> None:
    answer = await http.post("/api/v1/tenants", headers=bearer(world.root), json=body)
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]
    assert answer.json()["detail"]["schema"] == "/api/v1/schemas/tenant-create"
    assert world.control.called("create_tenant") == []


async def test_a_body_that_is_not_json_or_is_missing_is_400(
    world: World, http: httpx.AsyncClient
) -> None:
    h = {**bearer(world.root), "Content-Type": "application/json"}
    assert (await http.post("/api/v1/tenants", headers=h, content=b"{name:")).json()[
        "error"
    ] == "the body is not JSON"
    assert (await http.post("/api/v1/tenants", headers=h)).status_code == 400
    assert (
        await http.patch("/api/v1/tenants/acme/quotas", headers=h, content=b"")
    ).status_code == 400
    assert world.control.called("create_tenant", "set_quotas") == []


async def test_unknown_quota_is_400_and_changes_nothing(
    world: World, http: httpx.AsyncClient
) -> None:
    h = bearer(world.root)
    answer = await http.patch(
        "/api/v1/tenants/acme/quotas",
        headers=h,
        json={"quotas": {"max_objects": 5, "max_unicorns": 1}},
    )
    assert answer.status_code == 400
    assert "max_unicorns" in answer.json()["error"]
    assert world.control.called("set_quotas") == []
    assert world.control.quota_values["max_objects"] == 1000
    # A value the world refuses is a 400 from the domain's BadRequest.
    assert (
        await http.patch(
            "/api/v1/tenants/acme/quotas", headers=h, json={"quotas": {"max_objects": 10**13}}
        )
    ).status_code == 400
    changed = await http.patch(
        "/api/v1/tenants/acme/quotas", headers=h, json={"quotas": {"max_objects": 5}}
    )
    assert changed.status_code == 200
    assert changed.json()["quotas"]["max_objects"] == 5


async def test_domain_errors_map_to_statuses(world: World, http: httpx.AsyncClient) -> None:
    h = bearer(world.root)
    assert (await http.get("/api/v1/tenants/nowhere", headers=h)).status_code == 404
    exists = await http.post("/api/v1/tenants", headers=h, json={"name": "acme"})
    assert exists.status_code == 409
    assert exists.json()["error"] == "tenant acme already exists"
    created = await http.post(
        "/api/v1/tenants", headers=h, json={"name": "gamma", "title": "Gamma", "port": 4100}
    )
    assert created.status_code == 201
    assert created.json()["name"] == "gamma"
    assert ("create_tenant", ("gamma", "Gamma", None, 4100, None)) in world.control.calls
    rollback = await http.post(
        "/api/v1/tenants/acme/blueprints/rooms/a/activate", headers=h, json={"version": "nope"}
    )
    assert rollback.status_code == 404
    assert (await http.get("/api/v1/nothing-here", headers=h)).status_code == 404
    assert (await http.put("/api/v1/tenants", headers=h)).status_code == 405


async def test_publish_passes_bytes_path_and_flags(world: World, http: httpx.AsyncClient) -> None:
    h = {**bearer(world.author), "Content-Type": "application/wasm"}
    answer = await http.post(
        "/api/v1/tenants/acme/blueprints/rooms/meadow/versions?stage=1&canary=2",
        headers=h,
        content=b"\0asm1234",
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["staged"] is True
    assert ("publish", ("acme", "/rooms/meadow", b"\0asm1234", True, 2)) in world.control.calls
    failed = await http.post(
        "/api/v1/tenants/acme/blueprints/rooms/meadow/versions?canary=6",
        headers=h,
        content=b"\0asm1234",
    )
    assert failed.json()["canary_failures"] == [
        {"object_id": "/rooms/a#1", "kind": "trap", "message": "boom"}
    ]
    assert failed.json()["activated"] is False


@pytest.mark.parametrize("query", ["canary=-1", "canary=lots", "stage=maybe", "colour=red"])
async def test_publish_with_a_bad_query_is_400(
    world: World, http: httpx.AsyncClient, query: str
) -> None:
    h = {**bearer(world.author), "Content-Type": "application/wasm"}
    answer = await http.post(
        f"/api/v1/tenants/acme/blueprints/rooms/a/versions?{query}", headers=h, content=b"x"
    )
    assert answer.status_code == 400
    assert world.control.called("publish") == []


async def test_publish_over_the_size_quota_is_413_before_reading_it_all(
    world: World, http: httpx.AsyncClient
) -> None:
    h = {**bearer(world.author), "Content-Type": "application/wasm"}
    url = "/api/v1/tenants/acme/blueprints/rooms/a/versions"
    declared = await http.post(url, headers=h, content=b"x" * 1025)
    assert declared.status_code == 413
    assert declared.json()["detail"] == {"limit": 1024}
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for _ in range(100):
            sent.append(1)
            yield b"y" * 300

    streamed = await http.post(url, headers=h, content=chunks())
    assert streamed.status_code == 413
    assert world.control.called("publish") == []
    assert (await http.post(url, headers=h, content=b"x" * 1024)).status_code == 200


async def test_publish_needs_a_component_type_and_bytes(
    world: World, http: httpx.AsyncClient
) -> None:
    url = "/api/v1/tenants/acme/blueprints/rooms/a/versions"
    form = {**bearer(world.author), "Content-Type": "application/x-www-form-urlencoded"}
    assert (await http.post(url, headers=form, content=b"a=b")).status_code == 415
    empty = {**bearer(world.author), "Content-Type": "application/wasm"}
    assert (await http.post(url, headers=empty, content=b"")).status_code == 400
    assert world.control.called("publish") == []


async def test_a_refused_component_is_422_with_the_sandboxs_reason(
    world: World, http: httpx.AsyncClient
) -> None:
    world.control.publish_error = AdmissionError("forbidden import: wasi:filesystem/types")
    h = {**bearer(world.author), "Content-Type": "application/wasm"}
    answer = await http.post(
        "/api/v1/tenants/acme/blueprints/rooms/a/versions", headers=h, content=b"\0asm"
    )
    assert answer.status_code == 422
    assert answer.json()["error"] == "forbidden import: wasi:filesystem/types"


async def test_reading_routes_pass_paths_and_limits(world: World, http: httpx.AsyncClient) -> None:
    h = bearer(world.author)
    versions = await http.get("/api/v1/tenants/acme/blueprints/rooms/meadow/versions", headers=h)
    assert versions.json()["versions"][0]["current"] is True
    assert ("versions", ("acme", "/rooms/meadow")) in world.control.calls
    assert (await http.get("/api/v1/tenants/acme/errors?limit=5", headers=h)).json()["errors"][0][
        "kind"
    ] == "fuel"
    assert ("errors", ("acme", 5)) in world.control.calls
    assert (await http.get("/api/v1/tenants/acme/errors?limit=0", headers=h)).status_code == 400
    assert (await http.get("/api/v1/tenants/acme/logs", headers=h)).json()["logs"][0][
        "text"
    ] == "hello"
    assert (await http.get("/api/v1/tenants/acme/usage", headers=h)).json()["errors_by_kind"] == {
        "fuel": 2,
        "trap": 1,
    }
    rollback = await http.post("/api/v1/tenants/acme/blueprints/rooms/a/activate", headers=h)
    assert rollback.status_code == 200
    assert ("activate", ("acme", "/rooms/a", None)) in world.control.calls


# -- documents and metrics -----------------------------------------------------------------


async def test_openapi_lists_every_route(world: World, http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    doc = json.loads(answer.text)
    assert doc["openapi"].startswith("3.1")
    assert isinstance(world.app, Starlette)
    routes = [r for r in world.app.routes if isinstance(r, Route)]
    assert routes
    for route in routes:
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in doc["paths"][openapi_path(route.path)], (
                    method,
                    route.path,
                )
    publish = doc["paths"]["/api/v1/tenants/{tenant}/blueprints/{path}/versions"]["post"]
    assert "application/wasm" in publish["requestBody"]["content"]
    create = doc["paths"]["/api/v1/tenants"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"] == {"$ref": "#/components/schemas/tenant-create"}
    assert set(doc["components"]["schemas"]) == set(schemas.schemas())
    assert "cdn" not in answer.text.lower()


async def test_schemas_are_served_and_are_the_ones_enforced(http: httpx.AsyncClient) -> None:
    listed = (await http.get("/api/v1/schemas")).json()["schemas"]
    assert "/api/v1/schemas/quotas-patch" in listed
    for url in listed:
        schema = (await http.get(url)).json()
        Draft202012Validator.check_schema(schema)
        assert schema == schemas.schemas()[url.rsplit("/", 1)[1]]
    assert (await http.get("/api/v1/schemas/nothing")).status_code == 404


async def test_metrics_have_per_tenant_series_for_root_only(
    world: World, http: httpx.AsyncClient
) -> None:
    assert (await http.get("/metrics")).status_code == 401
    assert (await http.get("/metrics", headers=bearer(world.admin))).status_code == 403
    answer = await http.get("/metrics", headers=bearer(world.root))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    for line in [
        'jitrealm_tenant_objects{tenant="acme"} 12.0',
        'jitrealm_tenant_objects{tenant="beta"} 12.0',
        'jitrealm_tenant_fuel_used_total{tenant="acme"} 5000.0',
        'jitrealm_tenant_memory_bytes{tenant="beta"} 4096.0',
        'jitrealm_tenant_callouts_pending{tenant="acme"} 3.0',
        'jitrealm_tenant_connections{tenant="acme"} 2.0',
        'jitrealm_tenant_fuel_wait_seconds_total{tenant="acme"} 0.25',
        'jitrealm_tenant_errors_total{kind="fuel",tenant="acme"} 2.0',
        'jitrealm_tenant_events_total{tenant="acme"} 42.0',
        "jitrealm_sessions 3.0",
        "jitrealm_events_total 100.0",
        "jitrealm_commits_total 7.0",
        "jitrealm_commit_seconds_total 0.5",
    ]:
        assert line in text, line


# -- the root token at first start ---------------------------------------------------------


def test_the_root_token_is_made_once_or_taken_from_the_environment() -> None:
    store = MemoryTokenStore()
    secret = ensure_root_token(store, {})
    assert secret is not None and secret.startswith("jr_") and len(secret) > 40
    assert [(r.role, r.tenant, r.hash) for r in store.tokens()] == [
        ("root", None, hash_secret(secret))
    ]
    assert ensure_root_token(store, {}) is None  # not again
    assert len(store.tokens()) == 1

    given = MemoryTokenStore()
    assert ensure_root_token(given, {"JITREALM_ROOT_TOKEN": "a-long-operator-secret"}) is None
    assert Tokens(given).authenticate("a-long-operator-secret") is not None
    assert Tokens(given).authenticate("a-long-operator-secreT") is None
    with pytest.raises(ValueError):
        ensure_root_token(MemoryTokenStore(), {"JITREALM_ROOT_TOKEN": "short"})


async def test_logs_are_filtered_by_blueprint_level_and_time(world: World, http: httpx.AsyncClient) -> None:
    h = bearer(world.author)
    url = "/api/v1/tenants/acme/logs?blueprint=/obj/lever&level=warn&since=12.5&limit=7"
    assert (await http.get(url, headers=h)).json()["logs"][0]["text"] == "hello"
    assert ("logs", ("acme", 7)) in world.control.calls
    assert world.control.log_filters == ("/obj/lever", "warn", 12.5)
    assert (await http.get("/api/v1/tenants/acme/logs?since=soon", headers=h)).status_code == 400
