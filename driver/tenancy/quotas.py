"""A tenant's limits: per call (the sandbox's :class:`Limits`) and per tenant."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.protocol import Limits


@dataclass(slots=True)
class Quotas:
    """A tenant's limits. Admins set them per tenant."""

    limits: Limits = field(default_factory=Limits)
    max_objects: int = 200_000
    max_pending_callouts: int = 100_000
    max_followups_per_event: int = 1_000
    max_zero_delay_per_turn: int = 2_000
    turn_budget_ms: float = 20.0
    reset_interval_ms: float = 15 * 60 * 1000
    reset_jitter: float = 0.1
    min_heartbeat_ms: int = 100
    max_errors_kept: int = 200
    max_queued_events: int = 100_000  # timers and messages waiting to run
    max_pending_commands: int = 32  # per player: more is that player flooding
    # Budgets over time (see driver.tenancy.budgets): a second's rate, per
    # tenant and per object, with budget_burst_seconds of it saved up.
    # 50 million fuel is about 45 ms of guest code on this hardware.
    fuel_per_second: float = 250_000_000
    object_fuel_per_second: float = 100_000_000
    messages_per_second: float = 2_000
    object_messages_per_second: float = 50
    callouts_per_second: float = 1_000
    object_callouts_per_second: float = 50
    clones_per_second: float = 200
    object_clones_per_second: float = 20
    budget_burst_seconds: float = 2.0
    max_state_bytes_per_object: int = 256 * 1024
    max_state_bytes_total: int = 64 * 1024 * 1024
    # Quarantine: an object (or a blueprint) with this many failures or
    # budget hits within the window is stopped until a new version or a
    # wizard releases it.
    quarantine_strikes: int = 10
    quarantine_window_s: float = 30.0
