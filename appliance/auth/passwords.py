"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile)."""

from __future__ import annotations

from typing import Final

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 128
# 64 MiB, three passes, four lanes run as threads: on a 2-core host 0.15 s per hash, and per check (0.22 s of CPU).
PARAMETERS: Final = profiles.RFC_9106_LOW_MEMORY
_DUMMY_PASSWORD = "not-a-real-password-for-timing"

_hasher = PasswordHasher.from_parameters(PARAMETERS)
# Verified against when the account does not exist, so a missing user costs the same time.
_DUMMY_HASH = _hasher.hash(_DUMMY_PASSWORD)


def hash_with(parameters: Parameters) -> None:
    """Hash new passwords (and rehash old ones on sign-in) with other argon2 parameters in this process
    from now on. For test suites only, which hash and check thousands of passwords: argon2-cffi's
    CHEAPEST profile takes a millisecond. The appliance never calls it, and no setting reaches it."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher.from_parameters(parameters)
    _DUMMY_HASH = _hasher.hash(_DUMMY_PASSWORD)


def password_problem(password: str) -> str | None:
    """Why `password` is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if password.strip() != password or not password.strip():
        return "must not start or end with spaces"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-work check: an absent hash still runs one verification."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
