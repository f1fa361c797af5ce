"""The statechart's exceptions: one domain hierarchy, so a host can refuse a room cleanly."""

from __future__ import annotations


class StatechartError(ValueError):
    """Anything the statechart refuses: a bad definition, a runaway machine, a bad call."""


class DefinitionError(StatechartError):
    """A machine definition that cannot run; `path` is a JSON path into the definition."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


class GuardError(StatechartError):
    """A guard failed while it was evaluated (the evaluator raised)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class LimitError(StatechartError):
    """A hard cap was exceeded; the macrostep that hit it was rolled back."""


class LoopError(LimitError):
    """Too many microsteps in one macrostep (eventless or raised-event loop)."""


class QueueOverflowError(LimitError):
    """Too many queued events or pending timers."""


class SnapshotError(StatechartError):
    """A snapshot that cannot be restored (wrong shape or format)."""
