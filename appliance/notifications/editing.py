"""Staff's edits of templates: save a version in place of the built-in one, or reset to it. Each is
checked (sandboxed parse and render against sample values) and audited with before and after; templates
hold no personal data. Templates serve every branch, so changing one needs the grant in every branch."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from appliance.audit.trail import record_change
from appliance.auth.actor import Actor
from appliance.auth.roles import Permission
from appliance.core.clock import utc_now
from appliance.core.db import write_transaction
from appliance.core.errors import Forbidden, Invalid, NotFound
from appliance.events.envelope import Subject
from appliance.notifications import schemas
from appliance.notifications.queries import get_template
from appliance.notifications.tables import MessageTemplate
from appliance.notifications.templates import DEFAULTS, Template, combination_problems, template_problems


def _check_may_edit(actor: Actor) -> None:
    if actor.branch_scope(Permission.automation_write) is not None:
        raise Forbidden("templates serve every branch: changing one needs automation.write in every branch")


def check_combination(key: str, channel: str, locale: str) -> None:
    if problems := combination_problems(key, channel, locale):
        raise NotFound(f"no template {key} for {channel} in {locale}: {next(iter(problems.values()))}")


def _snapshot(template: schemas.NotificationTemplate | None) -> dict[str, Any] | None:
    return None if template is None else {"subject": template.subject, "body": template.body, "source": template.source}


async def save_template(
    key: str, channel: str, locale: str, data: schemas.TemplateBody, *, actor: Actor
) -> schemas.NotificationTemplate:
    _check_may_edit(actor)
    check_combination(key, channel, locale)
    if problems := template_problems(key, channel, Template(data.subject, data.body)):
        raise Invalid(problems)
    name = f"{key}/{channel}/{locale}"
    async with write_transaction():
        before = await _current(key, channel, locale)
        if before is not None and (before.subject, before.body) == (data.subject, data.body):
            return before
        revision = (before.revision if before else 0) + 1
        if before is not None and before.source == "edited":
            await MessageTemplate.update({
                MessageTemplate.subject: data.subject, MessageTemplate.body: data.body, MessageTemplate.revision: revision,
                MessageTemplate.updated_by: actor.label, MessageTemplate.updated_at: utc_now(),
            }).where(MessageTemplate.name == name)
        else:
            await MessageTemplate.insert(MessageTemplate(
                id=uuid4(), key=key, channel=channel, locale=locale, name=name, subject=data.subject, body=data.body,
                revision=revision, updated_by=actor.label, updated_at=utc_now(),
            ))
        after = await get_template(key, channel, locale)
        await _audit("notification_template.updated", name, actor, before, after, revision)
    return after


async def reset_template(key: str, channel: str, locale: str, *, actor: Actor) -> schemas.NotificationTemplate | None:
    """Back to the built-in version (None when there is none: the edited one was all there was)."""
    _check_may_edit(actor)
    check_combination(key, channel, locale)
    name = f"{key}/{channel}/{locale}"
    async with write_transaction():
        before = await _current(key, channel, locale)
        if before is None or before.source == "built_in":
            return before
        await MessageTemplate.delete().where(MessageTemplate.name == name)
        after = await get_template(key, channel, locale) if (key, channel, locale) in DEFAULTS else None
        await _audit("notification_template.reset", name, actor, before, after, 0)
    return after


async def _current(key: str, channel: str, locale: str) -> schemas.NotificationTemplate | None:
    try:
        return await get_template(key, channel, locale)
    except NotFound:
        return None


async def _audit(
    action: str, name: str, actor: Actor, before: schemas.NotificationTemplate | None,
    after: schemas.NotificationTemplate | None, revision: int,
) -> None:
    changed = sorted(f for f in ("subject", "body") if (_snapshot(before) or {}).get(f) != (_snapshot(after) or {}).get(f))
    await record_change(
        action, Subject("notification_template", name), {"template": name, "revision": revision}, actor=actor,
        changed_fields=changed, details={"before": _snapshot(before), "after": _snapshot(after)},
    )
