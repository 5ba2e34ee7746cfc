"""TOTP second factor of local accounts: enrolment (secret shown once), one-time recovery codes, the check at sign-in."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any
from uuid import UUID, uuid4

import msgspec

from appliance.audit.trail import record_change, record_failure
from appliance.auth import totp
from appliance.auth.actor import Actor, Grant
from appliance.auth.credentials import digest
from appliance.auth.passwords import verify_password
from appliance.auth.roles import Role
from appliance.auth.tables import RecoveryCode, User
from appliance.core.clock import utc_now
from appliance.core.crypto.registry import open_value, seal_value
from appliance.core.db import write_transaction
from appliance.auth.lockout import LoginLockout
from appliance.core.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from appliance.events.envelope import Subject

# Local accounts holding these roles must sign in with a second factor.
MFA_ROLES = frozenset({Role.owner, Role.compliance_officer})
RECOVERY_CODES = 10
# How long a re-authentication at the identity provider counts as the step-up of an SSO owner.
STEP_UP_SECONDS = 300
_USER_TABLE = User._meta.tablename
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off paper


class TotpEnrolment(msgspec.Struct):
    secret: str  # shown this once; the authenticator app keeps it
    otpauth_uri: str


class TotpConfirmed(msgspec.Struct):
    recovery_codes: list[str]  # shown this once; only their hashes are kept


def requires_mfa(grants: Iterable[Grant]) -> bool:
    return any(g.role in MFA_ROLES for g in grants)


def _new_recovery_code() -> str:
    """16 characters of a 32-letter alphabet: 80 random bits, so a plain SHA-256 is enough to store it."""
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _sealed_secret(user_id: UUID, secret: str) -> str:
    """The TOTP secret as stored: sealed like personal data (it is a password the app knows), bound to
    its row, so a database copy without the key ring cannot mint codes."""
    return str(seal_value(_USER_TABLE, "totp_secret", user_id, secret))


def _secret_of(user_id: UUID, row: dict[str, Any]) -> str:
    return str(open_value(_USER_TABLE, "totp_secret", user_id, row["totp_secret"]))


def _normal_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


async def start_totp_enrolment(user_id: UUID, password: str | None, *, actor: Actor) -> TotpEnrolment:
    """A new secret for the account, in force once confirmed. Needs the password again (ASVS 7.5.1),
    except from the host's CLI. An account with a confirmed TOTP must be reset first."""
    if not actor.superuser and actor.user_id != user_id:
        raise Forbidden("you may only set up your own second factor")
    row = await User.select(User.username, User.password_hash, User.totp_confirmed_at).where(User.id == user_id).first()
    if row is None:
        raise NotFound("no such user")
    if not actor.superuser and not verify_password(row["password_hash"], password or ""):
        raise Invalid({"password": "is not your current password"})
    if row["totp_confirmed_at"] is not None:
        raise Conflict("a second factor is already set up for this account", code="mfa_already_enrolled")
    secret = totp.new_secret()
    async with write_transaction():
        await User.update({User.totp_secret: _sealed_secret(user_id, secret), User.updated_at: utc_now()}).where(
            User.id == user_id
        )
        await record_change(
            "user.mfa_enrolment_started", Subject("user", str(user_id)), {"user_id": str(user_id)}, actor=actor,
            changed_fields=["totp_secret"],
        )
    return TotpEnrolment(secret=secret, otpauth_uri=totp.provisioning_uri(secret, row["username"]))


async def confirm_totp_enrolment(user_id: UUID, code: str, *, actor: Actor) -> TotpConfirmed:
    """Put the pending secret in force with a first code from the app; returns fresh recovery codes."""
    if not actor.superuser and actor.user_id != user_id:
        raise Forbidden("you may only set up your own second factor")
    row = await User.select(User.totp_secret, User.totp_confirmed_at, User.totp_last_step).where(User.id == user_id).first()
    if row is None:
        raise NotFound("no such user")
    if row["totp_confirmed_at"] is not None:
        raise Conflict("a second factor is already set up for this account", code="mfa_already_enrolled")
    if row["totp_secret"] is None:
        raise Conflict("start the enrolment first", code="mfa_enrolment_not_started")
    step = totp.matching_step(_secret_of(user_id, row), code, time.time(), after_step=row["totp_last_step"])
    if step is None:
        raise Invalid({"code": "is not the current code of your authenticator app"})
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    now = utc_now()
    async with write_transaction():
        await User.update({User.totp_confirmed_at: now, User.totp_last_step: step, User.updated_at: now}).where(
            User.id == user_id
        )
        await RecoveryCode.delete().where(RecoveryCode.user == user_id)
        await RecoveryCode.insert(
            *(RecoveryCode(id=uuid4(), user=user_id, code_hash=digest(_normal_code(c)), created_at=now) for c in codes)
        )
        await record_change(
            "user.mfa_enrolled", Subject("user", str(user_id)), {"user_id": str(user_id), "method": "totp"},
            actor=actor, changed_fields=["totp_confirmed_at", "recovery_codes"],
        )
    return TotpConfirmed(recovery_codes=codes)


async def has_confirmed_totp(user_id: UUID) -> bool:
    row = await User.select(User.totp_confirmed_at).where(User.id == user_id).first()
    return row is not None and row["totp_confirmed_at"] is not None


async def check_second_factor(user_id: UUID, code: str | None, recovery_code: str | None) -> str | None:
    """The method that passed ("totp" or "recovery_code"), or None. Each code is good once: the
    accepted step, or the recovery code, is claimed by a conditional update, so a replay — even a
    concurrent one — fails."""
    if code:
        row = await User.select(User.totp_secret, User.totp_last_step).where(User.id == user_id).first()
        if row is None or row["totp_secret"] is None:
            return None
        step = totp.matching_step(_secret_of(user_id, row), code, time.time(), after_step=row["totp_last_step"])
        if step is None:
            return None
        claimed = await User.update({User.totp_last_step: step}).where(
            (User.id == user_id) & (User.totp_last_step < step)
        ).returning(User.id)
        return "totp" if claimed else None
    if recovery_code:
        used = await RecoveryCode.update({RecoveryCode.used_at: utc_now()}).where(
            (RecoveryCode.user == user_id)
            & (RecoveryCode.code_hash == digest(_normal_code(recovery_code)))
            & RecoveryCode.used_at.is_null()
        ).returning(RecoveryCode.id)
        return "recovery_code" if used else None
    return None


async def remaining_recovery_codes(user_id: UUID) -> int:
    return int(await RecoveryCode.count().where((RecoveryCode.user == user_id) & RecoveryCode.used_at.is_null()))


async def _refuse_reset(reason: str, target: Subject, actor: Actor, error: Exception) -> Exception:
    await record_failure("auth.mfa_reset", actor=actor, reason=reason, target=target, result="denied")
    return error


async def reset_totp(
    user_id: UUID, reason: str, step_up_code: str, *, actor: Actor, lockout: LoginLockout,
    reauthenticated_at: float | None = None,
) -> None:
    """An owner takes away another account's authenticator (a lost phone): its TOTP and recovery codes
    go, its sessions end, and it must enrol again at its next sign-in. The owner proves who they are
    again (step-up): a local owner with a current code of their own app (failed codes count towards
    their own lockout), an owner signed in through SSO by signing in again at the identity provider
    within STEP_UP_SECONDS (`reauthenticated_at`, from their session). Never on oneself (that would
    trade the second factor for a password). Audited with the reason, refusals too. The host's CLI
    (superuser) needs no step-up."""
    target = Subject("user", str(user_id))
    reason = reason.strip()
    if len(reason) < 3:
        raise Invalid({"reason": "say why the second factor is reset"})
    if not actor.superuser:
        if actor.kind != "user" or actor.user_id is None:
            raise await _refuse_reset("not_a_session", target, actor, Forbidden(
                "sign in to reset a second factor: an API token cannot confirm one", code="step_up_required"
            ))
        if Role.owner not in actor.roles:
            raise await _refuse_reset("not_owner", target, actor, Forbidden("only an owner may reset another account's second factor"))
        if actor.user_id == user_id:
            raise await _refuse_reset("own_account", target, actor, Forbidden(
                "you may not reset your own second factor: ask another owner, or use a recovery code", code="mfa_reset_self"
            ))
        if actor.auth_method == "sso":
            if reauthenticated_at is None or not 0 <= time.time() - reauthenticated_at <= STEP_UP_SECONDS:
                raise await _refuse_reset("step_up_failed", target, actor, Forbidden(
                    "confirm by signing in again at the identity provider (GET /api/v1/auth/oidc/step-up), then "
                    f"repeat this within {STEP_UP_SECONDS // 60} minutes", code="step_up_required",
                ))
        elif await lockout.is_locked(actor.label):
            raise await _refuse_reset("locked_out", target, actor, RateLimited(
                "too many wrong codes; try again later", code="account_locked"
            ))
        elif not step_up_code or await check_second_factor(actor.user_id, step_up_code, None) != "totp":
            await lockout.failed(actor.label)
            raise await _refuse_reset("step_up_failed", target, actor, Forbidden(
                "confirm with the current code of your own authenticator app (totp)", code="step_up_required"
            ))
    row = await User.select(User.totp_secret, User.totp_confirmed_at).where(User.id == user_id).first()
    if row is None:
        raise NotFound("no such user")
    if row["totp_secret"] is None and row["totp_confirmed_at"] is None:
        raise Conflict("this account has no second factor to reset", code="mfa_not_enrolled")
    async with write_transaction():
        await User.update({
            User.totp_secret: None, User.totp_confirmed_at: None, User.totp_last_step: 0,
            User.session_epoch: User.session_epoch + 1, User.updated_at: utc_now(),
        }).where(User.id == user_id)
        await RecoveryCode.delete().where(RecoveryCode.user == user_id)
        await record_change(
            "auth.mfa_reset", target, {"user_id": str(user_id)}, actor=actor, reason=reason,
            changed_fields=["totp_secret", "totp_confirmed_at", "recovery_codes", "session_epoch"],
        )
