"""Who receives events: each subscriber has a stable key, says which events it wants, and handles one.

Rules, notification channels, webhook endpoints and enabled plugins register here when their modules
load (in every process, as the fan-out runs in the worker). A handler must be idempotent on the event
id: a message can be delivered twice (a worker killed mid-delivery, a sweeper re-dispatch).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from appliance.core.registry import import_modules
from appliance.events.envelope import Envelope


class Retryable(Exception):
    """A transient failure (receiver down, timeout): try again later, as the retry policy says."""


class Permanent(Exception):
    """A failure that retrying cannot fix (bad address, refused by the receiver): dead at once."""


@dataclass(frozen=True)
class Subscriber:
    key: str  # stable across releases: deliveries are stored under it
    wants: Callable[[Envelope], bool]
    handle: Callable[[Envelope], Awaitable[None]]
    timeout: timedelta = timedelta(seconds=30)


# Modules whose import registers subscribers, loaded before the first fan-out or delivery of a process.
SUBSCRIBER_MODULES = [
    "appliance.automation.engine", "appliance.automation.approvals", "appliance.automation.rule_timers",
    "appliance.notifications.actions",
]

_subscribers: dict[str, Subscriber] = {}
_in_order: list[Subscriber] | None = None  # by key; made again after every change


def subscribe(subscriber: Subscriber) -> None:
    """Register (or replace) a subscriber under its key."""
    global _in_order
    _subscribers[subscriber.key] = subscriber
    _in_order = None


def unsubscribe(key: str) -> None:
    global _in_order
    _subscribers.pop(key, None)
    _in_order = None


def subscribers() -> list[Subscriber]:
    """Every subscriber, by key (a fresh list: the caller may keep it)."""
    global _in_order
    import_modules(SUBSCRIBER_MODULES)
    if _in_order is None:
        _in_order = [_subscribers[key] for key in sorted(_subscribers)]
    return list(_in_order)


def subscriber(key: str) -> Subscriber | None:
    import_modules(SUBSCRIBER_MODULES)
    return _subscribers.get(key)
