"""Request and response bodies of the catalog API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
TimeZoneName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Asia/Shanghai"])]
Address = Annotated[str, msgspec.Meta(max_length=500)]


class Branch(msgspec.Struct):
    id: UUID
    name: str
    timezone: str
    address: str
    active: bool
    created_at: datetime
    updated_at: datetime


class BranchCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    timezone: TimeZoneName
    address: Address = ""


class BranchUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    timezone: TimeZoneName | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
