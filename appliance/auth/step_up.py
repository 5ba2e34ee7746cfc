"""Step-up of a session signed in through SSO: the person signs in again at the identity provider, and
the session remembers when, for an action that asks for a fresh proof (an MFA reset). One action per
re-authentication: it is forgotten once used."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.sessions import SessionData, SessionManager
from appliance.core.errors import Conflict
from appliance.events.envelope import Subject

AnyRequest = Request[Any, Any, Any]


def _session(request: AnyRequest) -> tuple[str, SessionData] | None:
    session: SessionData | None = request.scope["state"].get("session")
    session_id: str | None = request.scope["state"].get("session_id")
    return (session_id, session) if session is not None and session_id else None


def sso_session(request: AnyRequest) -> tuple[str, SessionData]:
    """The request's session, signed in through SSO; Conflict for any other kind of sign-in."""
    found = _session(request)
    if found is None or found[1].sso is None:
        raise Conflict(
            "only a session signed in through single sign-on confirms at the identity provider; a local account "
            "confirms with its authenticator app's code", code="step_up_not_sso",
        )
    return found


def reauthenticated_at(request: AnyRequest) -> float | None:
    found = _session(request)
    return found[1].reauthenticated_at if found else None


async def remember_reauthentication(request: AnyRequest, session_id: str, session: SessionData, *, actor: Actor) -> None:
    manager: SessionManager = request.app.state.sessions
    await manager.save(session_id, msgspec.structs.replace(session, reauthenticated_at=time.time()))
    await record_change(
        "auth.reauthenticated", Subject("user", str(session.user_id)), {"user_id": str(session.user_id)}, actor=actor
    )


async def forget_reauthentication(request: AnyRequest) -> None:
    found = _session(request)
    if found is not None and found[1].reauthenticated_at is not None:
        manager: SessionManager = request.app.state.sessions
        await manager.save(found[0], msgspec.structs.replace(found[1], reauthenticated_at=None))
