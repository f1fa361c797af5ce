"""Fixtures shared across the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.runtime.host import Sandbox

from .driver_support import BASIC_WORLD, build
from .guests import guest_components  # noqa: F401  (a session fixture, shared by every module)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    """One sandbox for the session: compiled components are cached on disk."""
    return Sandbox(cache_dir=tmp_path_factory.mktemp("wasm-cache"))


@pytest.fixture(scope="session")
def basic_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/worlds/basic, built once per session."""
    out = tmp_path_factory.mktemp("basic-build")
    build(BASIC_WORLD, out)
    return out
