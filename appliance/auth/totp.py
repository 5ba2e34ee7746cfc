"""TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps) through pyotp, plus what pyotp leaves to us:
which time step a code belongs to, so each step is accepted once (RFC 6238 section 5.2)."""

from __future__ import annotations

import pyotp
from pyotp.utils import strings_equal

STEP_SECONDS = 30
DIGITS = 6
# Accept the previous and the next step too: phones' clocks drift (RFC 6238 section 5.2).
DRIFT_STEPS = 1
ISSUER = "Booking appliance"


def new_secret() -> str:
    """160 random bits (the HMAC-SHA1 key length RFC 4226 recommends), base32."""
    return pyotp.random_base32(length=32)


def hotp(secret: str, counter: int) -> str:
    return pyotp.HOTP(secret, digits=DIGITS).at(counter)


def step_at(unix_time: float) -> int:
    return int(unix_time // STEP_SECONDS)


def code_at(secret: str, unix_time: float) -> str:
    return hotp(secret, step_at(unix_time))


def matching_step(secret: str, code: str, unix_time: float, *, after_step: int) -> int | None:
    """The time step `code` belongs to, within the drift window and later than `after_step` (a code
    is good once), or None. Compares in constant time."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = step_at(unix_time)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if strings_equal(hotp(secret, step), code) and step > after_step:
            found = step
    return found


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth:// URI authenticator apps read from a QR code (Key Uri Format)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=ISSUER)
