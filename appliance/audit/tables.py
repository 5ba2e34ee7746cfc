"""Audit entries. Values of personal fields never appear here: only their names."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Text, Timestamptz, Varchar
from piccolo.table import Table


class AuditEntry(Table):
    id = UUID(primary_key=True)
    occurred_at = Timestamptz(index=True)
    actor_kind = Varchar(length=16)  # user | api_token | system | plugin | anonymous
    actor_id = Varchar(length=64, null=True, default=None, index=True)
    actor_label = Varchar(length=150, default="")
    auth_method = Varchar(length=16, default="")  # password | sso | token | cli | system
    ip = Varchar(length=45, null=True, default=None)
    request_id = Varchar(length=64, null=True, default=None)
    action = Varchar(length=64, index=True)
    target_type = Varchar(length=32, default="")
    target_id = Varchar(length=64, null=True, default=None, index=True)
    result = Varchar(length=16, default="success")  # success | failure | denied
    reason = Text(default="")
    changed_fields = JSON(default=[])
    details = JSON(default={})
