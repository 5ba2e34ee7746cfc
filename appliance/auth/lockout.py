"""Per-account login lockout: after N failed sign-ins in a row a username is locked for a while.

Counted per username whether or not the account exists, so a lockout says nothing about which
usernames are real. Kept in the login store (memory in embedded mode, Redis in production), keyed by
the username's SHA-256. Read-then-write, not atomic: a burst of parallel guesses may get a few more
tries than the limit, which the per-address rate limit bounds.
"""

from __future__ import annotations

from litestar.stores.base import Store

from appliance.auth.credentials import digest


class LoginLockout:
    def __init__(self, store: Store, *, attempts: int, minutes: int) -> None:
        self.store = store
        self.attempts = attempts
        self.seconds = minutes * 60

    @staticmethod
    def _key(username: str) -> str:
        return "lockout:" + digest(username.strip().lower())

    async def is_locked(self, username: str) -> bool:
        raw = await self.store.get(self._key(username))
        return raw is not None and int(raw) >= self.attempts

    async def failed(self, username: str) -> bool:
        """Count a failure; True when this one locks the username. The window restarts with each failure."""
        raw = await self.store.get(self._key(username))
        count = (int(raw) if raw is not None else 0) + 1
        await self.store.set(self._key(username), str(count), expires_in=self.seconds)
        return count == self.attempts

    async def succeeded(self, username: str) -> None:
        await self.store.delete(self._key(username))
