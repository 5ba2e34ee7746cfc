"""Request and response bodies of the forms API, and the field definition every module reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

FieldType = Literal[
    "text", "long_text", "number", "date", "single_select", "multi_select", "checkbox", "phone", "email",
]
Target = Literal["service", "customers"]
Locale = Literal["zh-CN", "en"]
# A field's key names its answer (`answers.allergy`) in storage, errors and rule conditions.
Key = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["allergy"])]
OptionValue = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=1000)]
VisibleOp = Literal["eq", "ne", "in", "not_in", "is_set"]


class LabelText(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A label in both languages; one may be left empty, the other is shown instead."""

    zh_cn: ShortText = msgspec.field(default="", name="zh-CN")
    en: ShortText = ""


class HelpText(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    zh_cn: LongText = msgspec.field(default="", name="zh-CN")
    en: LongText = ""


class Option(msgspec.Struct, forbid_unknown_fields=True):
    value: OptionValue
    label: LabelText


class VisibleIf(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Ask this field only when an earlier field's answer satisfies `op` with `value`
    (`{"field": "has_allergy", "op": "eq", "value": true}`)."""

    field: Key
    op: VisibleOp
    value: Any = None


class FieldDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One question. `min`/`max` bound a number's value, a date's day (YYYY-MM-DD) or how many options a
    multi select takes; `min_length`/`max_length` bound text; `pattern` is a regular expression a text
    answer must match as a whole (checked for safety when the form is saved)."""

    key: Key
    type: FieldType
    label: LabelText
    help: HelpText | None = None
    required: bool = False
    min: int | float | str | None = None
    max: int | float | str | None = None
    min_length: Annotated[int, msgspec.Meta(ge=0)] | None = None
    max_length: Annotated[int, msgspec.Meta(ge=1)] | None = None
    pattern: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)] | None = None
    pattern_message: LabelText | None = None  # shown instead of the built-in "wrong format"
    options: Annotated[list[Option], msgspec.Meta(max_length=100)] = []
    visible_if: VisibleIf | None = None


Fields = Annotated[list[FieldDef], msgspec.Meta(max_length=50)]
FormName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Form(msgspec.Struct):
    """A form as it is now: its current version's fields."""

    id: UUID
    target: Target
    service_id: UUID | None  # the service whose bookings it asks; None for customer profile fields
    branch_id: UUID | None
    name: str
    version: int
    fields: list[FieldDef]
    active: bool
    created_at: datetime
    updated_at: datetime


class FormVersion(msgspec.Struct):
    """One version's fields, as answers given under it were checked."""

    form_id: UUID
    version: int
    fields: list[FieldDef]
    created_at: datetime


class FormCreate(msgspec.Struct, forbid_unknown_fields=True):
    target: Target
    name: FormName
    fields: Fields
    service_id: UUID | None = None  # required for target service


class FormUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Changed fields make a new version; answers already given keep theirs."""

    name: FormName | msgspec.UnsetType = msgspec.UNSET
    fields: Fields | msgspec.UnsetType = msgspec.UNSET


class PublicForm(msgspec.Struct):
    """What the portal shows before booking a service: its questions, or none."""

    service_id: UUID
    form_id: UUID | None
    version: int | None
    fields: list[FieldDef]
