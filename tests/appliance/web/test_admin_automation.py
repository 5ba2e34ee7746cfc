"""The automation pages on both engines: the builder saves a rule through the rule actions, shows a wrong
condition at its input and saves nothing, switches rules on and off, and the dry run on a booking says
which actions would run; roles without the permission are refused."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.automation import actions
from appliance.automation.defaults import DEFAULT_RULES
from appliance.automation.schemas import RuleCreate
from appliance.automation.tables import Rule
from appliance.events.tables import Delivery
from appliance.notifications.tables import MessageTemplate as NotificationTemplateRow
from appliance.testing.builders import make_booking, make_branch, make_resource, make_service, make_user, sign_in_as
from tests.appliance.events.test_api import Refusing, dead_delivery, refusing  # noqa: F401  (the fixture)
from tests.appliance.web.ops_support import staff

SHANGHAI = ZoneInfo("Asia/Shanghai")


def builder_form(**inputs: str) -> dict[str, str]:
    """A builder post: an event rule of every branch with one condition and one action, changed by `inputs`."""
    return {
        "condition_rows": "3", "action_rows": "2", "name": "VIP 自动确认", "priority": "10", "branch_id": "",
        "description": "", "enabled": "true", "trigger": "event", "trigger-event": "booking.created", "group": "all",
        "cond-0-field": "booking.seats", "cond-0-op": "eq", "cond-0-value": "1",
        "action-0-type": "add_tag", "action-0-tag": "vip", **inputs,
    }


async def a_booking() -> object:
    branch = await make_branch("静安店")
    await make_resource(branch.id)
    service = await make_service(branch.id, "精油按摩")
    day = datetime.now(SHANGHAI).date() + timedelta(days=5)
    return await make_booking(service.id, datetime(day.year, day.month, day.day, 14, 30, tzinfo=SHANGHAI))


async def test_the_builder_saves_a_rule_that_the_list_then_shows(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "mgr", Role.owner)

    saved = await client.post("/admin/automation/rules", headers=headers, data=builder_form(
        **{"cond-1-field": "customer.tags", "cond-1-op": "contains", "cond-1-value": "regular", "group": "any"}
    ))

    assert saved.status_code == 200, saved.text
    [rule] = await Rule.select().output(load_json=True)
    assert saved.headers["hx-location"] == f"/admin/automation/rules/{rule['id']}"
    assert rule["conditions"] == {"any": [
        {"field": "booking.seats", "op": "eq", "value": 1},
        {"field": "customer.tags", "op": "contains", "value": "regular"},
    ]}
    assert rule["actions"] == [{"type": "add_tag", "tag": "vip"}] and rule["priority"] == 10
    listing = await client.get("/admin/automation")
    assert "VIP 自动确认" in listing.text and "booking.created" in listing.text


async def test_a_wrong_condition_is_shown_at_its_input_and_nothing_is_saved(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "mgr", Role.owner)

    refused = await client.post("/admin/automation/rules?lang=en", headers=headers, data=builder_form(
        **{"cond-0-field": "", "cond-2-field": "booking.status", "cond-2-op": "gt", "cond-2-value": "confirmed"}
    ))

    assert refused.status_code == 422
    assert 'id="cond-2-op-error"' in refused.text and "does not apply" in refused.text
    assert 'aria-invalid="true" aria-describedby="cond-2-op-error"' in refused.text
    assert 'value="confirmed"' in refused.text  # what was typed stays
    assert await Rule.count() == 0


async def test_a_timer_rule_with_a_bad_offset_and_an_action_without_its_parameter(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "mgr", Role.owner)

    refused = await client.post("/admin/automation/rules?lang=en", headers=headers, data=builder_form(
        **{"trigger": "timer", "trigger-anchor": "starts_at", "trigger-offset": "soon", "action-0-tag": ""}
    ))

    assert refused.status_code == 422
    assert 'id="trigger-offset-error"' in refused.text and 'id="action-0-tag-error"' in refused.text
    assert await Rule.count() == 0


async def test_a_rule_is_switched_off_and_on_from_the_list(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "mgr", Role.owner)
    rule = await actions.create_rule(RuleCreate(
        name="r", trigger={"event": "booking.created"}, actions=[{"type": "auto_approve"}]), actor=cli_actor())

    off = await client.post(f"/admin/automation/rules/{rule.id}/enabled", headers=headers, data={"enabled": "false"})

    assert off.status_code == 200 and 'aria-pressed="false"' in off.text
    assert (await Rule.select(Rule.enabled).first())["enabled"] is False  # type: ignore[index]


async def test_the_dry_run_says_which_actions_would_run_on_a_booking(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "mgr", Role.owner)
    booking_id = await a_booking()
    one_seat = await actions.create_rule(RuleCreate(
        name="one seat", trigger={"event": "booking.created"}, actions=[{"type": "add_tag", "tag": "solo"}],
        conditions={"all": [{"field": "booking.seats", "op": "eq", "value": 1}]}), actor=cli_actor())
    groups = await actions.create_rule(RuleCreate(
        name="groups", trigger={"event": "booking.created"}, actions=[{"type": "add_tag", "tag": "group"}],
        conditions={"all": [{"field": "booking.seats", "op": "gt", "value": 1}]}), actor=cli_actor())

    page = await client.get(f"/admin/automation/rules/{one_seat.id}")
    runs = await client.post(f"/admin/automation/rules/{one_seat.id}/dry-run?lang=en", headers=headers,
                             data={"booking_id": str(booking_id)})
    skips = await client.post(f"/admin/automation/rules/{groups.id}/dry-run?lang=en", headers=headers,
                              data={"booking_id": str(booking_id)})

    assert f'value="{booking_id}"' in page.text  # offered in the booking select
    assert runs.status_code == 200
    assert re.search(r'<ol class="would-run"><li><code>add_tag</code> tag=solo</li></ol>', runs.text)
    assert "No action would run." in skips.text and "add_tag" not in skips.text


async def test_the_parameters_of_an_action_type_are_offered_when_it_is_chosen(client: httpx.AsyncClient) -> None:
    await staff(client, "mgr", Role.owner)

    notify = await client.get("/admin/automation/action-params/1", params={"action-1-type": "notify"})

    assert notify.status_code == 200
    assert {"action-1-channel", "action-1-template", "action-1-recipient"} <= set(re.findall(r'name="([^"]+)"', notify.text))


async def test_a_conditions_comparisons_are_those_its_fields_kind_takes(client: httpx.AsyncClient) -> None:
    await staff(client, "mgr", Role.owner)

    number = await client.get("/admin/automation/condition-ops/2", params={"cond-2-field": "booking.seats"})
    yes_no = await client.get("/admin/automation/condition-ops/2", params={"cond-2-field": "customer.is_new"})
    builder = await client.get("/admin/automation/rules/new")

    def offered(html: str, select: str) -> list[str]:
        options = html.split(f'id="{select}"', 1)[1].split("</select>", 1)[0]
        return re.findall(r'<option value="([^"]*)"', options)

    assert number.status_code == 200
    assert offered(number.text, "cond-2-op") == ["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "is_set"]
    assert offered(yes_no.text, "cond-2-op") == ["eq", "ne", "is_set"]
    assert 'hx-get="/admin/automation/condition-ops/0"' in builder.text


async def test_approval_levels_are_typed_as_rows_and_a_level_without_approver_is_shown_at_its_input(
    client: httpx.AsyncClient,
) -> None:
    headers = await staff(client, "mgr", Role.owner)
    li, wang = (await make_user("approver.li", Role.front_desk)).id, (await make_user("approver.wang", Role.front_desk)).id
    levels = {
        "action-0-type": "require_approval",
        "action-0-level-0-approver_role": "manager", "action-0-level-0-time_limit_minutes": "60",
        "action-0-level-2-time_limit_minutes": "30",  # the form's third row, the rule's second level
    }

    refused = await client.post("/admin/automation/rules?lang=en", headers=headers, data=builder_form(**levels))

    assert refused.status_code == 422
    assert 'aria-invalid="true" aria-describedby="action-0-level-2-approver_role-error"' in refused.text
    assert 'value="60"' in refused.text and 'value="30"' in refused.text  # what was typed stays
    assert await Rule.count() == 0

    # a multiple select: one value per chosen account
    chosen: dict[str, str | list[str]] = {**builder_form(**levels), "action-0-level-2-approvers": [str(li), str(wang)]}
    saved = await client.post("/admin/automation/rules", headers=headers, data=chosen)
    assert saved.status_code == 200, saved.text
    [rule] = await Rule.select().output(load_json=True)
    assert rule["actions"] == [{"type": "require_approval", "levels": [
        {"approver_role": "manager", "time_limit_minutes": 60},
        {"approvers": [str(li), str(wang)], "time_limit_minutes": 30},
    ]}]
    shown = await client.get(f"/admin/automation/rules/{rule['id']}")
    assert f'<option value="{li}" selected>approver.li</option>' in shown.text
    assert f'<option value="{wang}" selected>approver.wang</option>' in shown.text


async def test_front_desk_may_not_see_or_write_rules(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "front", Role.front_desk)

    assert (await client.get("/admin/automation")).status_code == 403
    assert (await client.post("/admin/automation/rules", headers=headers, data=builder_form())).status_code == 403
    assert await Rule.count() == 0


async def test_dead_letters_are_listed_and_sent_again(client: httpx.AsyncClient, refusing: Refusing) -> None:
    delivery_id = await dead_delivery(refusing)
    headers = await staff(client, "boss", Role.owner)

    dead = await client.get("/admin/automation/deliveries?status=dead&lang=en")
    done = await client.get("/admin/automation/deliveries?status=done")
    detail = await client.get(f"/admin/automation/deliveries/{delivery_id}?lang=en")
    refusing.refuse = False
    resent = await client.post(f"/admin/automation/deliveries/{delivery_id}/resend", headers=headers)

    assert dead.status_code == 200 and f"/admin/automation/deliveries/{delivery_id}" in dead.text
    assert delivery_id not in done.text
    assert "Permanent: 550 mailbox unavailable" in detail.text and "Send again" in detail.text
    assert resent.status_code == 200 and resent.headers["hx-location"] == f"/admin/automation/deliveries/{delivery_id}"
    status = (await Delivery.select(Delivery.status).where(Delivery.id == delivery_id).first())["status"]  # type: ignore[index]
    assert status in ("pending", "running", "done")


async def test_a_branch_manager_may_not_see_deliveries_of_every_branch(client: httpx.AsyncClient) -> None:
    branch = await make_branch()
    await sign_in_as(client, "mgr", Role.manager, branch_id=branch.id)

    assert (await client.get("/admin/automation/deliveries")).status_code == 403


REMINDER = "/admin/automation/templates/booking_reminder/email/zh-CN"


async def test_the_template_preview_renders_the_draft_with_sample_values(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "boss", Role.owner)

    editor = await client.get(REMINDER)
    preview = await client.post(f"{REMINDER}/preview", headers=headers,
                                data={"subject": "提醒：{{ service.name }}", "body": "{{ customer.name }}，{{ booking.time }} 见"})
    broken = await client.post(f"{REMINDER}/preview?lang=en", headers=headers,
                               data={"subject": "x", "body": "{{ customer.phone }}"})

    assert editor.status_code == 200 and 'hx-trigger="keyup changed delay:500ms"' in editor.text
    assert "提醒：精油按摩" in preview.text and "韩梅梅，14:30 见" in preview.text
    assert "It does not render yet" in broken.text and "phone" in broken.text
    assert await NotificationTemplateRow.count() == 0  # a preview saves nothing


async def test_a_template_is_saved_or_its_problem_shown_at_its_input(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "boss", Role.owner)

    refused = await client.post(REMINDER, headers=headers, data={"subject": "", "body": "{{ nope }}"})
    saved = await client.post(REMINDER, headers=headers, data={"subject": "明天见", "body": "{{ customer.name }}，明天见"})

    assert refused.status_code == 422 and 'id="subject-error"' in refused.text and 'id="body-error"' in refused.text
    assert saved.status_code == 200 and saved.headers["hx-location"] == REMINDER
    listing = await client.get("/admin/automation/templates?lang=en")
    row = listing.text.split(f'href="{REMINDER}"', 1)[1].split("</tr>", 1)[0]
    assert "edited" in row
    assert await NotificationTemplateRow.count() == 1


async def test_a_made_up_template_is_not_found(client: httpx.AsyncClient) -> None:
    await staff(client, "boss", Role.owner)

    assert (await client.get("/admin/automation/templates/nothing/email/zh-CN")).status_code == 404


async def test_the_recommended_rules_are_offered_until_they_are_added(client: httpx.AsyncClient) -> None:
    headers = await staff(client, "mgr", Role.owner)
    offered = await client.get("/admin/automation")

    added = await client.post("/admin/automation/rules/defaults", headers=headers)
    again = await client.get("/admin/automation")

    assert 'hx-post="/admin/automation/rules/defaults"' in offered.text
    assert added.status_code == 200 and added.headers["hx-location"] == "/admin/automation"
    assert await Rule.count() == len(DEFAULT_RULES)
    assert 'hx-post="/admin/automation/rules/defaults"' not in again.text
