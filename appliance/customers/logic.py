"""Customer rules that need no I/O: normalising contact details."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "CN"


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 (`+8613800138000`) for a valid number, else None. Local numbers are read as `region`'s."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str | None:
    """Trimmed and lower-cased when it looks like an address (one @, a dot in the domain), else None."""
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or " " in email or len(email) > 254:
        return None
    return email
