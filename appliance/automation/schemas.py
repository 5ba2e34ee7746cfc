"""Rules as the API takes and shows them. Trigger and actions are checked by `automation.logic`, conditions
by `automation.conditions` (every problem at once, named by path), not by their shape alone."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Priority = Annotated[int, msgspec.Meta(ge=0, le=10_000)]


class RuleCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    trigger: dict[str, Any]
    actions: list[dict[str, Any]]
    conditions: dict[str, Any] = msgspec.field(default_factory=lambda: {"all": []})
    branch_id: UUID | None = None  # None: every branch
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    enabled: bool = True
    priority: Priority = 100
    stop_further: bool = False


class RuleUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    trigger: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    actions: list[dict[str, Any]] | msgspec.UnsetType = msgspec.UNSET
    conditions: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    description: Annotated[str, msgspec.Meta(max_length=2000)] | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    stop_further: bool | msgspec.UnsetType = msgspec.UNSET


class Rule(msgspec.Struct):
    id: UUID
    name: str
    description: str
    branch_id: UUID | None
    enabled: bool
    priority: int
    stop_further: bool
    trigger: dict[str, Any]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    revision: int
    created_at: datetime
    updated_at: datetime


class RuleTest(msgspec.Struct, forbid_unknown_fields=True):
    booking_id: UUID
    event_type: str | None = None  # as if this event had happened; default: the rule's own trigger


class LeafOut(msgspec.Struct):
    path: str
    field: str
    op: str
    expected: Any
    actual: Any
    held: bool


class RuleTestResult(msgspec.Struct):
    rule_id: UUID
    trigger_matches: bool
    conditions_held: bool
    conditions: list[LeafOut]
    facts: dict[str, Any]
    would_run: list[dict[str, Any]]  # the actions, in order, when trigger and conditions hold; else []


class Approval(msgspec.Struct):
    id: UUID
    booking_id: UUID
    branch_id: UUID
    status: str  # pending | approved | rejected | expired
    level: int  # the level deciding now (or that decided last), from 1
    levels: list[dict[str, Any]]
    due_at: datetime | None  # when the current level's time runs out
    history: list[dict[str, Any]]
    can_decide: bool  # whether the caller may decide the current level
    created_at: datetime


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""
