"""Budgets over time: what one object, and one tenant, may spend per second.

Per-call limits (fuel, deadline, memory, effects per call) contain one hook
call; they do not contain ten lines of world code over minutes: a heartbeat
that burns its whole fuel every tick, a callout that schedules two more, an
``on-load`` that clones two more, two objects messaging each other forever.
Budgets do. Each is a token bucket refilled at a rate per second, with a
burst of a couple of seconds' worth, kept per object and per tenant:

* **fuel** is charged after every call (a failed call burns fuel too) and
  may go into debt; an object (or tenant) in debt has its *timers* wait —
  heartbeats skip, callouts are put back until the debt is paid — while
  players' commands are still served;
* **messages, callouts, clones** are counted from a successful outcome
  before anything of it is applied; an outcome that would overspend is
  refused whole (all or nothing, like any failed call) with a ``host-limit``
  error naming the budget;
* **state bytes** are capped per object and in total for the tenant.

The clock is the tenant's (milliseconds), so tests drive budgets with a fake
clock like everything else in a tenant.

For the usage report, fuel is also metered over a sliding window of a few
seconds (:meth:`Budgets.fuel_rate`), and the time timers were held back for
fuel debt is added up (:meth:`Budgets.note_fuel_wait`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from driver.tenancy.quotas import Quotas
from sandbox.protocol import Clone, Emote, Gmcp, Outcome, Say, ScheduleCallout, Tell


class Bucket:
    """``rate`` tokens a second, at most ``burst`` saved up; may run into debt."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now_ms: float) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.stamp = now_ms

    def refill(self, now_ms: float) -> float:
        elapsed = now_ms - self.stamp
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate / 1000)
            self.stamp = now_ms
        return self.tokens

    def can_take(self, n: float, now_ms: float) -> bool:
        return self.refill(now_ms) >= n

    def take(self, n: float, now_ms: float) -> None:
        """Spend ``n`` (into debt if need be)."""
        self.refill(now_ms)
        self.tokens -= n

    def ready_in_ms(self, now_ms: float) -> float:
        """How long until the bucket is out of debt (0 if it is)."""
        tokens = self.refill(now_ms)
        if tokens >= 0 or self.rate <= 0:
            return 0.0 if tokens >= 0 else float("inf")
        return -tokens / self.rate * 1000


@dataclass(slots=True)
class _Spend:
    messages: int = 0
    callouts: int = 0
    clones: int = 0


class _Account:
    """One spender's buckets (an object's, or the tenant's)."""

    __slots__ = ("fuel", "messages", "callouts", "clones")

    def __init__(self, fuel: float, messages: float, callouts: float, clones: float,
                 burst_s: float, now_ms: float) -> None:
        self.fuel = Bucket(fuel, fuel * burst_s, now_ms)
        self.messages = Bucket(messages, messages * burst_s, now_ms)
        self.callouts = Bucket(callouts, callouts * burst_s, now_ms)
        self.clones = Bucket(clones, clones * burst_s, now_ms)


#: The usage report's fuel rate is taken over this many seconds.
RATE_WINDOW_S = 5


class Budgets:
    """Every budget of one tenant (see module docstring)."""

    def __init__(self, quotas: Quotas, clock: Callable[[], float]) -> None:
        self.quotas = quotas
        self.clock = clock
        self.tenant = self._account(tenant=True)
        self.objects: dict[str, _Account] = {}
        self.state_bytes: dict[str, int] = {}  # object id -> bytes of state it holds
        self.state_total = 0
        self.fuel_used = 0  # all time, for usage reports
        self._recent: deque[list[float]] = deque()  # [second, fuel] per second of the window
        self.fuel_waited_ms = 0.0  # time timers were held back for fuel debt, all told
        self.timers_held = 0  # how many times a timer was held back or a beat skipped

    def _account(self, *, tenant: bool) -> _Account:
        q = self.quotas
        if tenant:
            rates = (q.fuel_per_second, q.messages_per_second, q.callouts_per_second, q.clones_per_second)
        else:
            rates = (q.object_fuel_per_second, q.object_messages_per_second,
                     q.object_callouts_per_second, q.object_clones_per_second)  # fmt: skip
        return _Account(*rates, burst_s=q.budget_burst_seconds, now_ms=self.clock())

    def _of(self, object_id: str) -> _Account:
        account = self.objects.get(object_id)
        if account is None:
            account = self.objects[object_id] = self._account(tenant=False)
        return account

    def reset_rates(self) -> None:
        """Quotas changed: every bucket starts again at the new rates."""
        self.tenant = self._account(tenant=True)
        self.objects.clear()

    def set_quotas(self, quotas: Quotas) -> None:
        """New quotas, effective at once: rates and caps are read from them
        and every bucket runs at the new rates. The tenant's buckets keep
        what they hold, cut to the new burst (a debt stays a debt, so
        lowering a rate cannot be dodged); objects' buckets start afresh."""
        now = self.clock()
        old = self.tenant
        self.quotas = quotas
        self.reset_rates()
        new = self.tenant
        pairs = (old.fuel, new.fuel), (old.messages, new.messages), (old.callouts, new.callouts), (old.clones, new.clones)  # fmt: skip
        for before, after in pairs:
            after.tokens = min(before.refill(now), after.burst)

    def forget(self, object_id: str) -> None:
        """``object_id`` is gone: drop its buckets and give its state bytes back."""
        self.objects.pop(object_id, None)
        self.state_total -= self.state_bytes.pop(object_id, 0)

    # -- fuel -----------------------------------------------------------------

    def charge_fuel(self, object_id: str, fuel: int) -> None:
        if fuel <= 0:
            return
        now = self.clock()
        self._meter(fuel, now)
        self._of(object_id).fuel.take(fuel, now)
        self.tenant.fuel.take(fuel, now)

    def charge_tenant_fuel(self, fuel: int) -> None:
        """Fuel the tenant's code burned for no object of the world (a
        publish's canary runs): the tenant pays, no object does."""
        if fuel <= 0:
            return
        now = self.clock()
        self._meter(fuel, now)
        self.tenant.fuel.take(fuel, now)

    def _meter(self, fuel: int, now_ms: float) -> None:
        self.fuel_used += fuel
        second = now_ms // 1000
        recent = self._recent
        if recent and recent[-1][0] == second:
            recent[-1][1] += fuel
        else:
            recent.append([second, fuel])
            while recent and recent[0][0] <= second - RATE_WINDOW_S:
                recent.popleft()

    def fuel_rate(self) -> float:
        """Fuel per second over the last :data:`RATE_WINDOW_S` seconds."""
        second = self.clock() // 1000
        total = sum(fuel for at, fuel in self._recent if at > second - RATE_WINDOW_S)
        return total / RATE_WINDOW_S

    def note_fuel_wait(self, wait_ms: float) -> None:
        """A timer was held back ``wait_ms`` for fuel debt (usage reports it)."""
        self.timers_held += 1
        if wait_ms > 0 and wait_ms != float("inf"):
            self.fuel_waited_ms += wait_ms

    def fuel_wait_ms(self, object_id: str) -> float:
        """How long ``object_id``'s timers must wait for fuel (0: go now)."""
        now = self.clock()
        account = self.objects.get(object_id)
        mine = account.fuel.ready_in_ms(now) if account is not None else 0.0
        return max(mine, self.tenant.fuel.ready_in_ms(now))

    # -- outcomes -------------------------------------------------------------

    def refuse(self, object_id: str, outcome: Outcome, state_after: int) -> str | None:
        """Why ``outcome`` would overspend a budget (None: it may be applied,
        and its spending is then recorded). ``state_after`` is the object's
        state size once the outcome's changes are applied."""
        spend = _Spend()
        for effect in outcome.effects:
            if isinstance(effect, Tell | Say | Emote | Gmcp):
                spend.messages += 1
            elif isinstance(effect, ScheduleCallout):
                spend.callouts += 1
            elif isinstance(effect, Clone):
                spend.clones += 1
        q = self.quotas
        if state_after > q.max_state_bytes_per_object:
            return (f"state of {state_after} bytes is over the {q.max_state_bytes_per_object} "
                    "bytes an object may hold")  # fmt: skip
        grown = state_after - self.state_bytes.get(object_id, 0)
        if grown > 0 and self.state_total + grown > q.max_state_bytes_total:
            return f"the world's state would pass its {q.max_state_bytes_total} bytes"
        now = self.clock()
        mine = self._of(object_id)
        for what, n, own, world in (
            ("messages", spend.messages, mine.messages, self.tenant.messages),
            ("callouts", spend.callouts, mine.callouts, self.tenant.callouts),
            ("clones", spend.clones, mine.clones, self.tenant.clones),
        ):
            if n and not own.can_take(n, now):
                return f"over its budget of {own.rate:g} {what} a second"
            if n and not world.can_take(n, now):
                return f"the world is over its budget of {world.rate:g} {what} a second"
        for n, own, world in (
            (spend.messages, mine.messages, self.tenant.messages),
            (spend.callouts, mine.callouts, self.tenant.callouts),
            (spend.clones, mine.clones, self.tenant.clones),
        ):
            if n:
                own.take(n, now)
                world.take(n, now)
        return None

    def set_state_bytes(self, object_id: str, size: int) -> None:
        self.state_total += size - self.state_bytes.get(object_id, 0)
        self.state_bytes[object_id] = size
