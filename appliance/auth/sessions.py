"""Server-side staff sessions: a fresh id at every login, idle and absolute timeouts, a CSRF token each.

A session is stored sealed (field encryption, bound to its store key): it holds the CSRF token and, for
SSO, the provider's refresh and access tokens, and the store is the database (embedded) or Redis, whose
dumps and backups must not hand them out. A stored session that does not open is no session."""

from __future__ import annotations

import time
from uuid import UUID

import msgspec
from litestar.stores.base import Store

from appliance.auth.credentials import digest, new_csrf_token, new_session_id
from appliance.core.crypto.cipher import SealError
from appliance.core.crypto.fields import field_crypto

SECURE_COOKIE = "__Host-appliance-session"
PLAIN_COOKIE = "appliance-session"
# Renewing the idle deadline writes to the store; once a minute per session is plenty.
_RENEW_AFTER_SECONDS = 60


class SsoTokens(msgspec.Struct, frozen=True):
    """What an SSO session keeps from the identity provider: to re-check the user and to sign out there."""

    subject: str
    id_token: str  # the id_token_hint of RP-initiated logout
    refresh_token: str | None
    access_token: str | None
    checked_at: float  # when the provider last confirmed the user (sign-in or refresh)
    sid: str | None = None  # the provider's session id (ID token `sid`): back-channel logout names it


class SessionData(msgspec.Struct, frozen=True):
    user_id: UUID
    epoch: int  # the user's session_epoch at login; a later bump ends the session
    csrf_token: str
    auth_method: str
    created_at: float
    last_seen_at: float
    # A second factor is required but not set up yet: the session acts with no role until it is.
    mfa_pending: bool = False
    sso: SsoTokens | None = None
    # When the person last signed in again at the identity provider on request (step-up), if they did.
    reauthenticated_at: float | None = None


# Field encryption's (table, column) for a stored session; the row id is its store key.
_SEALED_AS = ("session", "value")


def _sealed(key: str, data: SessionData) -> bytes:
    return field_crypto().seal_bytes(*_SEALED_AS, key, msgspec.json.encode(data)).encode()


def _opened(key: str, raw: bytes) -> SessionData | None:
    """The stored session, or None when it does not open (stored before sessions were sealed, damaged,
    or moved to another key)."""
    try:
        return msgspec.json.decode(field_crypto().open_bytes(*_SEALED_AS, key, raw.decode()), type=SessionData)
    except (SealError, msgspec.DecodeError, UnicodeDecodeError):
        return None


class SessionManager:
    def __init__(
        self, store: Store, *, idle_seconds: int, absolute_seconds: int, secure_cookie: bool,
        sso_index: Store | None = None,
    ) -> None:
        self.store = store
        # The provider's session id (sid) → the store keys of the sessions it started, so a
        # back-channel logout naming a sid can end exactly those.
        self.sso_index = sso_index
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self.cookie_name = SECURE_COOKIE if secure_cookie else PLAIN_COOKIE
        self.secure_cookie = secure_cookie

    async def create(
        self, user_id: UUID, epoch: int, auth_method: str, *, mfa_pending: bool = False, sso: SsoTokens | None = None
    ) -> tuple[str, SessionData]:
        """A brand-new session id; the caller has already destroyed any session the client brought."""
        session_id = new_session_id()
        now = time.time()
        data = SessionData(user_id, epoch, new_csrf_token(), auth_method, now, now, mfa_pending, sso)
        key = digest(session_id)
        await self.store.set(key, _sealed(key, data), expires_in=self.idle_seconds)
        if sso is not None and sso.sid and self.sso_index is not None:
            index_key = digest(sso.sid)
            known = await self.sso_index.get(index_key)
            keys = msgspec.json.decode(known, type=list[str]) if known else []
            await self.sso_index.set(
                index_key, msgspec.json.encode([*keys, digest(session_id)]), expires_in=self.absolute_seconds
            )
        return session_id, data

    async def save(self, session_id: str, data: SessionData) -> None:
        """Store a changed session under its id, within what is left of its lifetime."""
        remaining = self.absolute_seconds - (time.time() - data.created_at)
        ttl = int(min(self.idle_seconds, remaining))
        key = digest(session_id)
        await self.store.set(key, _sealed(key, data), expires_in=max(ttl, 1))

    async def load(self, session_id: str) -> SessionData | None:
        key = digest(session_id)
        raw = await self.store.get(key)
        if raw is None:
            return None
        data = _opened(key, raw)
        if data is None:
            await self.destroy(session_id)
            return None
        now = time.time()
        remaining = self.absolute_seconds - (now - data.created_at)
        if remaining <= 0:
            await self.destroy(session_id)
            return None
        if now - data.last_seen_at >= _RENEW_AFTER_SECONDS:
            data = msgspec.structs.replace(data, last_seen_at=now)
            await self.save(session_id, data)
        return data

    async def destroy(self, session_id: str) -> None:
        await self.store.delete(digest(session_id))

    async def destroy_sso_session(self, sid: str) -> list[UUID]:
        """End every session the provider's session `sid` started; the users they belonged to."""
        if self.sso_index is None:
            return []
        known = await self.sso_index.get(digest(sid))
        await self.sso_index.delete(digest(sid))
        users = []
        for key in msgspec.json.decode(known, type=list[str]) if known else []:
            if (raw := await self.store.get(key)) and (data := _opened(key, raw)) is not None:
                users.append(data.user_id)
            await self.store.delete(key)
        return users
