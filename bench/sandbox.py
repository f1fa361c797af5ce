"""Sandbox benchmark: the cost of crossing the wasm boundary.

Prints one JSON document. Every number is measured in this run, fast and
stock calling conventions side by side, so ratios hold on a noisy machine.

``*_call_us`` time the calling convention alone (one hook call, or one host
import inside it); ``*_invoke_us`` time the whole ``Sandbox.invoke`` around
it (fuel and deadline armed, the effects gathered, an Outcome built), which
is what the driver pays per hook. The speedup goal compares conventions;
the microsecond goals hold for the whole invoke.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from common import ROOT, build_guests, per_call_us

from sandbox.protocol import Limits
from sandbox.runtime.engine import SharedEngine
from sandbox.runtime.host import Sandbox
from sandbox.runtime.hostcalls import Call
from sandbox.runtime.offline import OfflineWorld

GUESTS = ROOT / "bench" / "guests"


def measure_calls(sandbox: Sandbox, name: str, version: str, state: dict[str, bytes],
                  limits: Limits, world: OfflineWorld, calls: int) -> dict[str, float]:
    """The calling convention alone: one hook call through FastExport or
    wasmtime-py's Func.__call__, with fuel armed once and a Call in place for
    the host imports (what `invoke` adds around it is measured separately)."""
    live = sandbox._live_for(version, "demo", limits.memory_bytes)
    live.meter.arm(10**15, sandbox.shared.ticks_for(3_600_000))
    sandbox._current = Call("/obj/bench#000001", state, limits, world)
    try:
        empty, ten = sandbox._hook(live, "reset"), sandbox._hook(live, "heartbeat")
        args = ("/obj/bench#000001",)
        call_empty = per_call_us(lambda: empty(args), calls)
        call_ten = per_call_us(lambda: ten(args), calls)
    finally:
        sandbox._current = None
    return {
        f"{name}_empty_hook_call_us": call_empty,
        f"{name}_host_import_call_us": round((call_ten - call_empty) / 10, 3),
    }


def measure_path(call_path: str, components: dict[str, bytes]) -> dict[str, float]:
    sandbox = Sandbox(call_path=call_path)  # type: ignore[arg-type]
    limits = Limits()
    out: dict[str, float] = {}
    for name, blueprint in (("c", "/bench_c"), ("python", "/bench_py")):
        if blueprint not in components:
            continue
        version = sandbox.admit(components[blueprint])
        world = OfflineWorld(blueprint)
        state: dict[str, bytes] = {}

        def hook(h: str, args: tuple = (), v: str = version, w: OfflineWorld = world,
                 state: dict[str, bytes] = state) -> object:
            outcome = sandbox.invoke(v, "/obj/bench#000001", h, args, state, limits, w)
            assert outcome.ok, outcome.error
            return outcome

        calls = 2000 if name == "c" else 300
        out.update(measure_calls(sandbox, name, version, state, limits, world, calls))
        empty = per_call_us(lambda: hook("reset"), calls)
        ten = per_call_us(lambda: hook("heartbeat"), calls)
        out[f"{name}_empty_hook_invoke_us"] = empty
        out[f"{name}_host_import_invoke_us"] = round((ten - empty) / 10, 3)
        out[f"{name}_command_3_host_calls_us"] = per_call_us(
            lambda: hook("on-command", ("/player/ann", "push", "")), calls
        )
    return out


def measure_loading(components: dict[str, bytes]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, blueprint in (("c", "/bench_c"), ("python", "/bench_py")):
        data = components.get(blueprint)
        if data is None:
            continue
        with tempfile.TemporaryDirectory() as cache:
            cold = SharedEngine(Path(cache))
            start = time.perf_counter()
            cold.compile(data)
            out[f"{name}_cold_compile_ms"] = round((time.perf_counter() - start) * 1000, 2)
            cold.close()
            warm = SharedEngine(Path(cache))  # empty memory cache, warm disk cache
            start = time.perf_counter()
            _, how = warm.compile(data)
            out[f"{name}_cached_load_ms"] = round((time.perf_counter() - start) * 1000, 3)
            assert how == "disk", how
            warm.close()
        sandbox = Sandbox()
        version = sandbox.admit(data)
        info = sandbox.version_info(version)
        n = 200 if name == "c" else 20
        start = time.perf_counter()
        for _ in range(n):
            sandbox._instantiate(info, "bench", Limits().memory_bytes)
        out[f"{name}_instantiate_us"] = round((time.perf_counter() - start) / n * 1e6, 1)
        out[f"{name}_component_bytes"] = len(data)
    return out


def main() -> None:
    components = build_guests(GUESTS, ROOT / "build" / "bench")
    fast = measure_path("fast", components)
    stock = measure_path("stock", components)
    result: dict[str, object] = {"benchmark": "sandbox"}
    for key, value in fast.items():
        result[f"fast_{key}"] = value
    for key, value in stock.items():
        result[f"stock_{key}"] = value
    result.update(measure_loading(components))
    speedup = stock["c_empty_hook_call_us"] / fast["c_empty_hook_call_us"]
    result["c_empty_hook_call_speedup"] = round(speedup, 2)
    result["c_host_import_call_speedup"] = round(
        stock["c_host_import_call_us"] / max(fast["c_host_import_call_us"], 1e-9), 2
    )
    result["c_empty_hook_invoke_speedup"] = round(stock["c_empty_hook_invoke_us"] / fast["c_empty_hook_invoke_us"], 2)
    result["goals"] = {
        "fast_empty_hook_le_10us": fast["c_empty_hook_invoke_us"] <= 10,
        "fast_at_least_3x_stock": speedup >= 3,
        "host_import_le_6us": fast["c_host_import_invoke_us"] <= 6,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
