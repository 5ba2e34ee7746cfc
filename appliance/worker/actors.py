"""Background tasks by name: domain `tasks.py` modules declare them, the broker binds them, and writers
enqueue them by name. Messages carry ids only; the database holds the truth.

No broker bound (a one-shot CLI command, a test without an app) means nothing is sent: whatever the
message would have done is found again by the sweeper, which is why every task is recoverable from
the database alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import dramatiq

from appliance.core.log import get_logger
from appliance.core.registry import import_modules

_log = get_logger(__name__)

# Modules whose import declares tasks; the broker imports them all before binding.
TASK_MODULES = ["appliance.events.tasks", "appliance.imports.tasks"]

Task = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    fn: Task
    queue: str


_tasks: dict[str, TaskSpec] = {}
_bound: dict[str, dramatiq.Actor] = {}  # type: ignore[type-arg]


def task(name: str, *, queue: str = "default") -> Callable[[Task], Task]:
    """Declare an async function as a background task. Dramatiq retries are off: delivery retries are
    decided by our own policy and kept in the database."""

    def register(fn: Task) -> Task:
        _tasks[name] = TaskSpec(name, fn, queue)
        return fn

    return register


def bind(broker: dramatiq.Broker) -> None:
    """Declare every task on `broker` (which becomes the one `enqueue` sends through)."""
    import_modules(TASK_MODULES)
    _bound.clear()
    for spec in _tasks.values():
        _bound[spec.name] = dramatiq.Actor(
            spec.fn, broker=broker, actor_name=spec.name, queue_name=spec.queue, priority=0,
            options={"max_retries": 0},
        )


def enqueue(name: str, *args: str, delay: timedelta | None = None) -> bool:
    """Send a task message; False when no broker is bound here (the sweeper will find the work)."""
    actor = _bound.get(name)
    if actor is None:
        import_modules(TASK_MODULES)
        if name not in _tasks:
            raise KeyError(f"no task called {name}")
        _log.debug("task_not_sent", task=name, reason="no broker bound in this process")
        return False
    milliseconds = int(delay.total_seconds() * 1000) if delay else None
    actor.send_with_options(args=args, delay=milliseconds)
    return True
