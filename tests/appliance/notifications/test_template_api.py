"""Templates through the HTTP API on both engines: edited and reset with before and after audited, checked
on save (a template error is a 422 naming the field, nothing written), used when sending (real SMTP),
previewed against a real booking, and only by those allowed."""

from __future__ import annotations

import httpx
import pytest

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.notifications.actions import queue_message
from appliance.notifications.tables import MessageTemplate
from appliance.testing.builders import make_branch, sign_in_as
from appliance.testing.deliveries import settle
from tests.appliance.notifications.support import book, problems
from tests.smtp_server import Inbox, MailServer

REMINDER = "/api/v1/notification-templates/booking_reminder/email/zh-CN"
EDITED = {"subject": "明天 {{ booking.time }} 见", "body": "{{ customer.name }}，{{ service.name }} 明天见。\n{{ unsubscribe.url }}\n"}


async def audit_of(name: str) -> list[dict[str, object]]:
    return await AuditEntry.select(AuditEntry.action, AuditEntry.details, AuditEntry.changed_fields).where(
        AuditEntry.target_id == name
    ).order_by(AuditEntry.occurred_at).output(load_json=True)


async def test_an_edited_template_is_sent_and_a_reset_brings_the_built_in_one_back(
    client: httpx.AsyncClient, smtp: tuple[Inbox, MailServer]
) -> None:
    inbox, _ = smtp
    await sign_in_as(client, "owner")
    booking_id = await book()

    saved = await client.put(REMINDER, json=EDITED)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["source"], saved.json()["revision"], saved.json()["has_built_in"]) == ("edited", 1, True)
    await queue_message(booking_id, channel_name="email", template="booking_reminder", recipient="customer", actor=cli_actor())
    await settle()  # the app's own worker threads deliver too
    [mail] = inbox.received
    assert mail["Subject"] == "明天 14:30 见" and "韩梅梅，精油按摩 明天见。" in mail.get_content()

    assert (await client.delete(REMINDER)).status_code == 204
    shown = (await client.get(REMINDER)).json()
    assert (shown["source"], shown["revision"]) == ("built_in", 0) and shown["subject"].startswith("预约提醒")
    assert await MessageTemplate.count() == 0

    entries = await audit_of("booking_reminder/email/zh-CN")
    assert [e["action"] for e in entries] == ["notification_template.updated", "notification_template.reset"]
    assert entries[0]["changed_fields"] == ["body", "subject"]
    assert entries[0]["details"]["before"]["source"] == "built_in"  # type: ignore[index]
    assert entries[0]["details"]["after"]["subject"] == EDITED["subject"]  # type: ignore[index]
    assert entries[1]["details"]["before"]["subject"] == EDITED["subject"]  # type: ignore[index]


async def test_the_list_shows_every_template_with_its_documented_variables(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "manager", Role.manager)

    listed = (await client.get("/api/v1/notification-templates")).json()

    by_name = {(t["key"], t["channel"], t["locale"]): t for t in listed}
    survey = by_name[("survey_invitation", "email", "en")]
    assert "survey.url" in survey["variables"] and "unsubscribe.url" in survey["variables"]
    assert "survey.url" not in by_name[("booking_reminder", "email", "en")]["variables"]
    notice = by_name[("staff_booking_notice", "inbox", "zh-CN")]
    assert notice["audience"] == "staff" and "unsubscribe.url" not in notice["variables"]
    assert not by_name[("booking_reminder", "email", "en")]["urgent"] and by_name[("booking_confirmation", "email", "en")]["urgent"]


async def test_a_template_for_a_channel_without_a_built_in_one_can_be_added_and_removed(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "owner")
    path = "/api/v1/notification-templates/booking_reminder/sms/zh-CN"
    assert (await client.get(path)).status_code == 404

    added = await client.put(path, json={"body": "【静安店】{{ booking.starts_at }} {{ service.name }}，回T退订"})
    assert added.status_code == 200, added.text and added.json()["has_built_in"] is False
    assert (await client.delete(path)).status_code == 204
    assert (await client.get(path)).status_code == 404


@pytest.mark.parametrize(("body", "field", "says"), [
    ({"subject": "提醒", "body": "{{ survey.url }}"}, "body", "survey"),  # another template's variable
    ({"subject": "{% if %}", "body": "hi"}, "subject", "line 1"),  # a syntax error
    ({"subject": "{{ ''.__class__.__mro__ }}", "body": "hi"}, "subject", ""),  # the sandbox
    ({"subject": "", "body": "{{ customer.name }}"}, "subject", "subject"),  # email needs one
])
async def test_a_template_error_is_a_422_naming_the_field_and_nothing_is_written(
    client: httpx.AsyncClient, body: dict[str, str], field: str, says: str
) -> None:
    await sign_in_as(client, "owner")
    audited = await AuditEntry.count()

    response = await client.put(REMINDER, json=body)

    found = problems(response)
    assert list(found) == [field] and says in found[field]
    assert await MessageTemplate.count() == 0 and await AuditEntry.count() == audited


async def test_unknown_templates_are_404_and_staff_outside_every_branch_may_not_edit(client: httpx.AsyncClient) -> None:
    branch = await make_branch("徐汇店")
    await sign_in_as(client, "owner")
    assert (await client.put("/api/v1/notification-templates/no_such/email/zh-CN", json=EDITED)).status_code == 404
    assert (await client.put("/api/v1/notification-templates/booking_reminder/inbox/zh-CN", json=EDITED)).status_code == 404

    await sign_in_as(client, "branch-manager", Role.manager, branch_id=branch.id)
    assert (await client.get(REMINDER)).status_code == 200
    refused = await client.put(REMINDER, json=EDITED)
    assert refused.status_code == 403 and await MessageTemplate.count() == 0

    await sign_in_as(client, "desk", Role.front_desk, branch_id=branch.id)
    assert (await client.get("/api/v1/notification-templates")).status_code == 403


async def test_a_preview_renders_the_template_in_use_or_a_draft_against_a_real_booking(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "owner")
    booking_id = await book()
    base = {"booking_id": str(booking_id), "key": "booking_reminder", "locale": "en"}

    shown = await client.post("/api/v1/notification-templates/preview", json=base)
    assert shown.status_code == 200, shown.text
    assert shown.json()["source"] == "built_in" and "at 14:30" in shown.json()["subject"]
    assert "/portal/unsubscribe/preview" in shown.json()["body"]

    draft = await client.post("/api/v1/notification-templates/preview", json={
        **base, "subject": "{{ branch.name }} {{ booking.weekday }}", "body": "{{ booking.price }}",
    })
    assert draft.status_code == 200 and draft.json()["source"] == "draft"
    assert draft.json()["subject"].startswith("静安店 ") and draft.json()["body"] == "¥0.00"

    broken = await client.post("/api/v1/notification-templates/preview", json={**base, "subject": "x", "body": "{{ nope }}"})
    assert list(problems(broken)) == ["body"]
    wrong = await client.post("/api/v1/notification-templates/preview", json={**base, "key": "staff_booking_notice"})
    assert list(problems(wrong)) == ["channel"]


async def test_a_preview_of_a_booking_in_another_branch_is_404(client: httpx.AsyncClient) -> None:
    booking_id = await book()
    elsewhere = await make_branch("徐汇店")
    await sign_in_as(client, "branch-manager", Role.manager, branch_id=elsewhere.id)

    response = await client.post(
        "/api/v1/notification-templates/preview", json={"booking_id": str(booking_id), "key": "booking_reminder"}
    )

    assert response.status_code == 404
