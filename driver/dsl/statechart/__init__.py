"""A statechart interpreter for declarative rooms: XState machine JSON, SCXML semantics.

Why it is written here rather than taken from a package: rooms are authored as XState
JSON, and the driver must run them inside its own budget model — synchronously, with an
injected clock (the server drives timers from trio), guards in JSONLogic over the room's
state, effects handed to the host instead of executed, hard caps that raise instead of
logging, and snapshots that survive a hot reload onto a new definition. No Python
package does that combination (the JS reference, XState, cannot run in the driver), and
the algorithm itself (SCXML's Appendix D) is small enough to own.

Where XState 5 and SCXML differ, or the JSON is ambiguous, this is what it does:
- `reenter` defaults to false (XState 5); v4 `internal: true/false` is its negation.
  A non-reentering transition keeps its source (any type) when every target is inside
  it; otherwise the domain is the least common *compound* ancestor (SCXML), so a
  transition between regions exits and re-enters their parallel state.
- `*` ranks below a state's explicit events, and prefix wildcards (`a.*`) below exact
  names (XState); there is no SCXML token-prefix matching of plain names.
- A list under an event holds candidate transitions (XState); several targets are
  written `{"target": [...]}`.
- Completion events are `done.state.<id>`; completion climbs nested parallel states
  (XState). A top-level final state runs every active state's exit actions.
- An eventless transition whose guard stays true is a loop (SCXML), stopped by the
  microstep cap, even if it has no target.
- A state's id is its `id`, else its key path from the root (`room.door.open`).

Public API: `Machine`, `compile_chart`, `Limits`, `Chart`, and the exceptions.
"""

from .errors import (
    DefinitionError,
    GuardError,
    LimitError,
    LoopError,
    QueueOverflowError,
    SnapshotError,
    StatechartError,
)
from .machine import INIT_EVENT, Machine, compile_chart
from .model import ActionHandler, Chart, Event, GuardCompiler, Limits
from .snapshot import SNAPSHOT_FORMAT

__all__ = [
    "INIT_EVENT",
    "SNAPSHOT_FORMAT",
    "ActionHandler",
    "Chart",
    "DefinitionError",
    "Event",
    "GuardCompiler",
    "GuardError",
    "LimitError",
    "Limits",
    "LoopError",
    "Machine",
    "QueueOverflowError",
    "SnapshotError",
    "StatechartError",
    "compile_chart",
]
