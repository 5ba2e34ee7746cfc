"""Server-side staff sessions: a fresh id at every login, idle and absolute timeouts, a CSRF token each."""

from __future__ import annotations

import time
from uuid import UUID

import msgspec
from litestar.stores.base import Store

from appliance.auth.credentials import digest, new_csrf_token, new_session_id

SECURE_COOKIE = "__Host-appliance-session"
PLAIN_COOKIE = "appliance-session"
# Renewing the idle deadline writes to the store; once a minute per session is plenty.
_RENEW_AFTER_SECONDS = 60


class SessionData(msgspec.Struct, frozen=True):
    user_id: UUID
    epoch: int  # the user's session_epoch at login; a later bump ends the session
    csrf_token: str
    auth_method: str
    created_at: float
    last_seen_at: float


class SessionManager:
    def __init__(self, store: Store, *, idle_seconds: int, absolute_seconds: int, secure_cookie: bool) -> None:
        self.store = store
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self.cookie_name = SECURE_COOKIE if secure_cookie else PLAIN_COOKIE
        self.secure_cookie = secure_cookie

    async def create(self, user_id: UUID, epoch: int, auth_method: str) -> tuple[str, SessionData]:
        """A brand-new session id; the caller has already destroyed any session the client brought."""
        session_id = new_session_id()
        now = time.time()
        data = SessionData(user_id, epoch, new_csrf_token(), auth_method, now, now)
        await self.store.set(digest(session_id), msgspec.json.encode(data), expires_in=self.idle_seconds)
        return session_id, data

    async def load(self, session_id: str) -> SessionData | None:
        raw = await self.store.get(digest(session_id))
        if raw is None:
            return None
        try:
            data = msgspec.json.decode(raw, type=SessionData)
        except msgspec.DecodeError:
            await self.destroy(session_id)
            return None
        now = time.time()
        remaining = self.absolute_seconds - (now - data.created_at)
        if remaining <= 0:
            await self.destroy(session_id)
            return None
        if now - data.last_seen_at >= _RENEW_AFTER_SECONDS:
            data = msgspec.structs.replace(data, last_seen_at=now)
            ttl = int(min(self.idle_seconds, remaining))
            await self.store.set(digest(session_id), msgspec.json.encode(data), expires_in=max(ttl, 1))
        return data

    async def destroy(self, session_id: str) -> None:
        await self.store.delete(digest(session_id))
