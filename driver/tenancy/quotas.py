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
    max_queued_events: int = 100_000
