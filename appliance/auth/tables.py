"""Staff accounts, their role grants, SSO identities, MFA recovery codes, API tokens and session records."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Bytea, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from appliance.catalog.tables import Branch


class User(Table, tablename="app_user"):
    """A staff account. SSO-only accounts have no password hash."""

    id = UUID(primary_key=True)
    username = Varchar(length=150, unique=True)
    display_name = Varchar(length=200, default="")
    password_hash = Text(null=True, default=None)
    active = Boolean(default=True)
    # Raising it ends every session of the user at their next request (disable, password change).
    session_epoch = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)
    # TOTP (RFC 6238) for local sign-in: the base32 secret, set at enrolment and in force once confirmed.
    totp_secret = Text(null=True, default=None)
    totp_confirmed_at = Timestamptz(null=True, default=None)
    # The last time step accepted: a code is good once (RFC 6238 section 5.2).
    totp_last_step = Integer(default=0)


class SsoIdentity(Table):
    """The identity provider's account behind an SSO user: (issuer, subject) is the stable key."""

    id = UUID(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, unique=True)
    issuer = Varchar(length=500)
    subject = Varchar(length=255)
    created_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)


class RecoveryCode(Table):
    """A one-time MFA recovery code; only its SHA-256 is kept (the codes carry 80 random bits)."""

    id = UUID(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade)
    code_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class RoleGrant(Table):
    """A role a user holds, in one branch or (branch null) in all of them."""

    id = UUID(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade)
    role = Varchar(length=32)
    branch = ForeignKey(Branch, null=True, on_delete=OnDelete.cascade)


class ApiToken(Table):
    """A bearer token acting for its user, narrowed to its scopes. Only the SHA-256 of the secret is kept."""

    id = UUID(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade)
    name = Varchar(length=100)
    prefix = Varchar(length=16)
    token_hash = Varchar(length=64, unique=True)
    scopes = JSON(default=[])
    created_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class SessionRecord(Table):
    """Server-side session data in embedded mode (production keeps sessions in Redis).

    `key` is the SHA-256 of the cookie value, so a database dump holds no usable session id.
    """

    id = UUID(primary_key=True)
    key = Varchar(length=128, unique=True)
    value = Bytea()
    expires_at = Timestamptz(null=True, default=None, index=True)
