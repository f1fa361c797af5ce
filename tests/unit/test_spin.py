"""sandbox.spin: when a wait for the other end polls first, and when it blocks."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from sandbox import spin as spin_module
from sandbox.spin import MEMORY, AdaptiveSpin


def fake_schedstat(tmp_path: Path, run_delay_ns: int) -> Path:
    path = tmp_path / "schedstat"
    path.write_text(f"123456 {run_delay_ns} 7\n")
    return path


@pytest.fixture(autouse=True)
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spin_module, "_cpus", lambda: 2)


def test_long_waits_turn_polling_off_and_one_short_wait_turns_it_on(tmp_path: Path) -> None:
    s = AdaptiveSpin(0.0002, schedstat=str(fake_schedstat(tmp_path, 0)))
    assert s.polling  # starts hopeful
    for _ in range(MEMORY - 1):
        s.waited(0.5)
        assert s.polling  # a short wait is still remembered
    s.waited(0.5)
    assert not s.polling
    s.waited(0.0001)
    assert s.polling


def test_run_queue_delay_turns_polling_off_until_it_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fake_schedstat(tmp_path, 1_000_000)
    monkeypatch.setattr(spin_module, "PROBE_PERIOD_S", 0.01)
    s = AdaptiveSpin(0.0002, schedstat=str(path))
    time.sleep(0.02)
    assert s.polling  # no delay since it was made
    # The thread waited for a CPU for far more than the share of the period.
    path.write_text(f"123456 {1_000_000 + 50_000_000} 7\n")
    time.sleep(0.02)
    assert not s.polling
    assert not s.polling  # decided once per period
    time.sleep(0.02)
    assert s.polling  # no new delay over the next period


def test_without_scheduler_statistics_it_never_polls(tmp_path: Path) -> None:
    s = AdaptiveSpin(0.0002, schedstat=str(tmp_path / "missing"))
    assert not s.polling
    s.waited(0.0)
    assert not s.polling


def test_unreadable_statistics_stop_polling_for_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "schedstat"
    path.write_text("garbage\n")
    monkeypatch.setattr(spin_module, "PROBE_PERIOD_S", 0.0)
    s = AdaptiveSpin(0.0002, schedstat=str(path))
    assert not s.polling
    assert not s.polling


@pytest.mark.skipif(not os.path.exists(spin_module.SCHEDSTAT), reason="Linux schedstat only")
def test_reads_this_threads_real_statistics() -> None:
    results: list[bool] = []

    def waiter() -> None:
        s = AdaptiveSpin(0.0002)
        results.append(s._schedstat is not None)  # read it, and will again

    t = threading.Thread(target=waiter)
    t.start()
    t.join(5)
    assert results == [True]


def test_a_process_on_one_cpu_never_polls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spin_module, "PROBE_PERIOD_S", 0.0)
    s = AdaptiveSpin(0.0002, schedstat=str(fake_schedstat(tmp_path, 0)))
    assert s.polling
    monkeypatch.setattr(spin_module, "_cpus", lambda: 1)  # pinned since
    assert not s.polling
