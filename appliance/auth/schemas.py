"""Request and response bodies of the auth API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from appliance.auth.roles import Permission, Role

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@-]+$")]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(max_length=150)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]
    # Owners and compliance officers with a second factor send one of these too.
    totp: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    recovery_code: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class MfaReset(msgspec.Struct, forbid_unknown_fields=True):
    # Why (a lost phone, a new device): kept in the audit log.
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]
    # The current code of the resetting owner's own authenticator app: a fresh proof (step-up).
    totp: Annotated[str, msgspec.Meta(max_length=16)] = ""


class GrantBody(msgspec.Struct, forbid_unknown_fields=True):
    role: Role
    branch_id: UUID | None = None


class User(msgspec.Struct):
    id: UUID
    username: str
    display_name: str
    active: bool
    grants: list[GrantBody]
    created_at: datetime
    last_login_at: datetime | None


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    grants: Annotated[list[GrantBody], msgspec.Meta(min_length=1)]
    password: str | None = None  # None: an SSO-only account
    display_name: Annotated[str, msgspec.Meta(max_length=200)] = ""


class Me(msgspec.Struct):
    user: User
    permissions: list[str]
    auth_method: str
    csrf_token: str | None  # send as X-CSRF-Token on unsafe requests made with the session cookie
    # True: a second factor is required and not set up yet; until it is, only enrolment is allowed.
    mfa_enrolment_required: bool = False


class TotpEnrolStart(msgspec.Struct, forbid_unknown_fields=True):
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class TotpEnrolConfirm(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=16)]


class MfaEnrolled(msgspec.Struct):
    recovery_codes: list[str]  # shown once; each signs in once instead of a code
    me: Me  # the new session (its csrf_token replaces the old one)


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    scopes: Annotated[list[Permission], msgspec.Meta(min_length=1)]
    # ISO 8601 with an offset, e.g. 2027-06-30T18:00:00+08:00; none: until revoked.
    expires_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class ApiToken(msgspec.Struct):
    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(msgspec.Struct):
    token: str  # shown once; only its hash is stored
    api_token: ApiToken
