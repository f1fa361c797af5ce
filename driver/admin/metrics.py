"""Prometheus metrics read from :meth:`Control.figures` at scrape time.

A custom collector rather than live gauges: the figures already exist in
the server, so nothing is updated on the hot path and no thread runs; a
scrape costs one ``figures()`` call. Per tenant, every series carries a
``tenant`` label (errors also ``kind``); the server's own have none.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from driver.tenancy.control import Control, Usage

_TENANT_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("fuel_per_second", "fuel_per_second", "Fuel used per second over the last few seconds."),
    ("fuel_per_second_quota", "fuel_per_second_quota", "The tenant's fuel-per-second quota."),
    ("memory_bytes", "memory_bytes", "Memory of live wasm instances (each charged its cap)."),
    ("objects", "objects", "Live objects."),
    ("callouts_pending", "callouts_pending", "Callouts waiting to run."),
    ("connections", "connections", "Connections (players online and at the login screen)."),
    ("players_online", "players_online", "Players in the world."),
    ("state_bytes", "state_bytes", "Bytes of object state."),
)
_TENANT_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("fuel_used", "fuel_used", "Fuel used since the server started."),
    ("fuel_wait_seconds", "fuel_wait_seconds", "Seconds timers waited for fuel debt."),
    ("events", "events_run", "Events run since the server started."),
)


class FiguresCollector(Collector):
    """Yields the server's and every tenant's figures as metric families."""

    def __init__(self, control: Control, prefix: str = "jitrealm") -> None:
        self.control = control
        self.prefix = prefix

    def describe(self) -> list[Metric]:
        """Nothing: registering must not call ``figures()`` (a registry
        with auto_describe would otherwise collect once to learn names)."""
        return []

    def collect(self) -> Iterator[Metric]:
        p = self.prefix
        figures = self.control.figures()
        yield GaugeMetricFamily(f"{p}_sessions", "Connected sessions.", value=figures.sessions)
        yield CounterMetricFamily(
            f"{p}_events", "Events run, all tenants.", value=figures.events_run
        )
        yield CounterMetricFamily(f"{p}_commits", "Store commits.", value=figures.commits)
        yield CounterMetricFamily(
            f"{p}_commit_seconds", "Seconds spent committing.", value=figures.commit_seconds_total
        )
        yield GaugeMetricFamily(
            f"{p}_commit_last_seconds",
            "The last commit's duration.",
            value=figures.commit_last_seconds,
        )
        yield GaugeMetricFamily(
            f"{p}_uptime_seconds", "Seconds since start.", value=figures.uptime_seconds
        )
        yield GaugeMetricFamily(
            f"{p}_tenants", "Tenants on the server.", value=len(figures.tenants)
        )
        yield from self._tenants(figures.tenants)

    def _tenants(self, usages: list[Usage]) -> Iterator[Metric]:
        p = self.prefix
        for name, attr, doc in _TENANT_GAUGES:
            gauge = GaugeMetricFamily(f"{p}_tenant_{name}", doc, labels=["tenant"])
            for usage in usages:
                gauge.add_metric([usage.tenant], float(getattr(usage, attr)))
            yield gauge
        for name, attr, doc in _TENANT_COUNTERS:
            counter = CounterMetricFamily(f"{p}_tenant_{name}", doc, labels=["tenant"])
            for usage in usages:
                counter.add_metric([usage.tenant], float(getattr(usage, attr)))
            yield counter
        errors = CounterMetricFamily(
            f"{p}_tenant_errors",
            "Guest errors and budget hits, by kind.",
            labels=["tenant", "kind"],
        )
        for usage in usages:
            for kind, count in sorted(usage.errors_by_kind.items()):
                errors.add_metric([usage.tenant, kind], float(count))
        yield errors


def registry_for(control: Control, registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """``registry`` (a new one if None) with the figures' collector in it."""
    registry = registry if registry is not None else CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(control))
    return registry
