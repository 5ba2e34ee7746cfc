"""In-transaction listeners: work that must change together with an event, in its transaction (a
booking's timers move with the booking). Unlike subscribers they run at once, inside `add_event`,
and their failure fails the change — so they are few, fast, and only write our own rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from appliance.core.registry import import_modules
from appliance.events.envelope import Envelope

Listener = Callable[[Envelope], Awaitable[None]]

# Modules whose import registers listeners: loaded before the first event of every process, so no
# change can commit without them, whatever the process (server, worker, CLI) imported.
LISTENER_MODULES = ["appliance.automation.engine", "appliance.customers.facts", "appliance.reports.stale"]

_listeners: dict[str, Listener] = {}


def listen(key: str, listener: Listener) -> None:
    """Register (or replace) a listener; it sees every event and ignores what it does not need."""
    _listeners[key] = listener


async def notify_listeners(envelope: Envelope) -> None:
    import_modules(LISTENER_MODULES)
    for key in sorted(_listeners):
        await _listeners[key](envelope)
