"""Customer details as a booking carries them."""

from __future__ import annotations

from typing import Annotated

import msgspec


class CustomerContact(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    phone: Annotated[str, msgspec.Meta(min_length=3, max_length=32)]
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
