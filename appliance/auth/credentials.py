"""Opaque secrets handed to clients (API tokens, session ids) and how they are stored: hashed."""

from __future__ import annotations

import hashlib
import secrets

API_TOKEN_PREFIX = "apl_"


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 hex: enough for 256-bit random secrets, which need no salt or slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(token: str) -> str:
    """The first characters, shown in token lists so people can tell tokens apart."""
    return token[: len(API_TOKEN_PREFIX) + 8]
