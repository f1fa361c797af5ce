"""Fixtures shared across the suite, and the layer markers.

Tests live in one folder per layer, and each test is marked with its folder's
name so that ``pytest -m unit`` runs the fast layer in seconds:

* ``unit``: pure logic, no sockets, no subprocesses, no toolchains;
* ``integration``: real sandboxes, compilers, SQLite files and loopback sockets;
* ``e2e``: the whole server driven by real clients (raw telnet, TinTin++, Chromium).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from driver.runtimes import Runtime
from driver.runtimes.inproc import InprocRuntime
from sandbox.runtime.host import Sandbox

from .driver_support import BASIC_WORLD, DEMO_WORLD, build
from .guests import guest_components  # noqa: F401  (a session fixture, shared by every module)


@pytest.fixture(scope="session")
def wasm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The on-disk compile cache every sandbox of the session shares."""
    return tmp_path_factory.mktemp("wasm-cache")


@pytest.fixture(scope="session")
def sandbox(wasm_cache: Path) -> Sandbox:
    """One sandbox for the session: compiled components are cached on disk."""
    return Sandbox(cache_dir=wasm_cache)


@pytest.fixture(params=["inproc", "workers"])
async def backend(
    request: pytest.FixtureRequest, sandbox: Sandbox, wasm_cache: Path, nursery: trio.Nursery
) -> Runtime:
    """The WebAssembly runtime, once per backend: the driver, tenancy and
    persistence suites run against both (the same tests, the same asserts).
    The worker pool (one worker) lives as long as the test."""
    if request.param == "inproc":
        return InprocRuntime(sandbox)
    from driver.runtimes.workers import WorkerPool

    pool = WorkerPool(1, cache_dir=wasm_cache)
    await nursery.start(pool.run)
    return pool


@pytest.fixture(scope="session")
def basic_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/worlds/basic, built once per session."""
    out = tmp_path_factory.mktemp("basic-build")
    build(BASIC_WORLD, out)
    return out


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """world-src (Thornwick, the demo world), built once per session: its
    Python blueprint alone takes tens of seconds to compile."""
    out = tmp_path_factory.mktemp("demo-build")
    build(DEMO_WORLD, out)
    return out


LAYERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for layer in LAYERS:
            if f"/tests/{layer}/" in item.path.as_posix():
                item.add_marker(getattr(pytest.mark, layer))


#: Real clients whose tests may skip on a developer's machine but must run in
#: CI (``CI=true``): there a skip for want of one of them is a failure.
REQUIRED_IN_CI = ("chromium", "tintin", "tt++", "playwright", "axe-core")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield  # type: ignore[misc]
    if os.environ.get("CI") == "true" and report.skipped:
        why = str(report.longrepr).lower()
        if any(client in why for client in REQUIRED_IN_CI):
            report.outcome = "failed"
            report.longrepr = f"CI requires this test to run, but it would skip: {report.longrepr}"
    return report  # type: ignore[return-value]
