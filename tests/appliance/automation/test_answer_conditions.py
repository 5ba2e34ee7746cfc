"""Booking-form answers in rule conditions (`answers.<key>`), on both engines: checked against the types
the branch's forms declare when a rule is saved, and set (or not) in the facts a rule sees."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import msgspec
import pytest

from appliance.auth.actor import Actor, Grant, cli_actor
from appliance.auth.roles import Role
from appliance.automation import queries
from appliance.automation.tables import RuleRun
from appliance.bookings.actions import NewBooking, create_booking
from appliance.bookings.queries import get_booking
from appliance.catalog.tables import Service
from appliance.core.errors import Invalid
from appliance.customers.actions import update_customer
from appliance.customers.schemas import CustomerContact, CustomerUpdate
from appliance.events.tables import OutboxEvent
from appliance.forms import actions as forms
from appliance.forms.queries import answer_kinds
from appliance.forms.schemas import FormCreate
from appliance.testing.builders import make_branch, make_profile_form, make_resource, make_service
from tests.appliance.automation.test_engine import rule, run_rules, shop

pytestmark = pytest.mark.usefixtures("database")

QUESTIONS = [
    {"key": "has_allergy", "type": "checkbox", "label": {"en": "Any allergy?"}},
    {"key": "allergy", "type": "text", "label": {"en": "Allergic to"}, "visible_if": {"field": "has_allergy", "op": "eq", "value": True}},
    {"key": "areas", "type": "multi_select", "label": {"en": "Areas"}, "options": [{"value": "back", "label": {"en": "Back"}}, {"value": "neck", "label": {"en": "Neck"}}]},
    {"key": "age", "type": "number", "label": {"en": "Age"}},
]
ALLERGY_SET = {"field": "answers.allergy", "op": "is_set"}


async def with_questions(service_id: UUID) -> None:
    data = msgspec.convert({"target": "service", "service_id": str(service_id), "name": "问诊", "fields": QUESTIONS}, FormCreate)
    await forms.create_form(data, actor=cli_actor())


async def book(service_id: UUID, starts_at: Any, answers: dict[str, Any], n: int) -> UUID:
    created = await create_booking(NewBooking(
        service_id=service_id, starts_at=starts_at, channel="admin", answers=answers,
        customer=CustomerContact(name="韩梅梅", phone=f"+86139000000{n:02d}"),
    ), actor=cli_actor(), staff=True)
    return created.booking.id


async def test_a_rule_on_an_answer_is_saved_when_a_form_of_its_branch_asks_it() -> None:
    service_id, _ = await shop()
    trigger, actions = {"event": "booking.created"}, [{"type": "emit_event", "event": "custom.allergy"}]
    with pytest.raises(Invalid) as before_the_form:
        await rule(trigger=trigger, conditions={"all": [ALLERGY_SET]}, actions=actions)
    await with_questions(service_id)

    await rule(trigger=trigger, conditions={"all": [
        ALLERGY_SET, {"field": "answers.areas", "op": "contains", "value": "neck"},
        {"field": "answers.age", "op": "gte", "value": 17.5}, {"field": "answers.has_allergy", "op": "eq", "value": True},
    ]}, actions=actions)
    with pytest.raises(Invalid) as mistyped:
        await rule(trigger=trigger, conditions={"all": [
            {"field": "answers.has_allergy", "op": "gt", "value": 1}, {"field": "answers.age", "op": "eq", "value": "old"},
            {"field": "answers.shoe_size", "op": "is_set"},
        ]}, actions=actions)

    assert before_the_form.value.fields == {"conditions.all[0].field": "unknown field answers.allergy"}
    assert mistyped.value.fields == {
        "conditions.all[0].op": "op gt does not apply to a boolean field",
        "conditions.all[1].value": "value must be a number",
        "conditions.all[2].field": "unknown field answers.shoe_size",
    }


async def test_a_rule_of_another_branch_does_not_see_this_branchs_questions() -> None:
    service_id, _ = await shop()
    await with_questions(service_id)
    other = await make_branch("徐汇店")

    with pytest.raises(Invalid) as refused:
        await rule(trigger={"event": "booking.created"}, branch_id=other.id, conditions={"all": [ALLERGY_SET]},
                   actions=[{"type": "emit_event", "event": "custom.allergy"}])

    assert list(refused.value.fields) == ["conditions.all[0].field"]


async def test_the_rule_builder_shows_a_branch_bound_manager_the_questions_of_their_branches_only() -> None:
    service_id, _ = await shop()
    await with_questions(service_id)
    theirs = (await Service.select(Service.branch).where(Service.id == service_id).first() or {})["branch"]
    other = await make_branch("徐汇店")
    manager_there = Actor(kind="user", id="m-2", label="经理", auth_method="password", grants=(Grant(Role.manager, other.id),))
    manager_here = Actor(kind="user", id="m-1", label="经理", auth_method="password", grants=(Grant(Role.manager, theirs),))

    for_every_branch = await queries.builder_fields(manager_there, None)
    asked_for_ours = await queries.builder_fields(manager_there, theirs)
    at_home = await queries.builder_fields(manager_here, None)

    assert "answers.allergy" not in for_every_branch and "answers.allergy" not in asked_for_ours
    assert "answers.allergy" in at_home and "booking.status" in for_every_branch


async def test_answers_are_facts_and_a_rule_on_allergy_is_set_runs_only_for_bookings_that_name_one() -> None:
    service_id, starts_at = await shop()
    await with_questions(service_id)
    rule_id = await rule(trigger={"event": "booking.created"}, conditions={"all": [ALLERGY_SET]},
                         actions=[{"type": "emit_event", "event": "custom.allergy"}])

    allergic = await book(service_id, starts_at, {"has_allergy": True, "allergy": "nuts", "areas": ["neck"], "age": 30}, 1)
    not_allergic = await book(service_id, starts_at + timedelta(hours=2), {"has_allergy": False, "allergy": "dropped"}, 2)
    await run_rules()

    facts = await queries.booking_facts(allergic, event_type="booking.created", actor=cli_actor())
    assert {k: v for k, v in facts.items() if k.startswith("answers.")} == {
        "answers.has_allergy": True, "answers.allergy": "nuts", "answers.areas": ["neck"], "answers.age": 30,
    }
    runs = {r["booking"]: r["matched"] for r in await RuleRun.select().where(RuleRun.rule == rule_id)}
    assert runs == {allergic: True, not_allergic: False}


async def test_a_key_asked_as_two_types_in_one_branch_cannot_be_tested() -> None:
    branch = await make_branch()
    await make_resource(branch.id)
    first, second = await make_service(branch.id, name="A"), await make_service(branch.id, name="B")
    await with_questions(first.id)
    data = msgspec.convert({"target": "service", "service_id": str(second.id), "name": "x",
                            "fields": [{"key": "age", "type": "text", "label": {"en": "Age"}}]}, FormCreate)
    await forms.create_form(data, actor=cli_actor())

    kinds = await answer_kinds(branch.id)
    catalogue = await queries.condition_fields(branch.id)

    assert kinds == {"has_allergy": "boolean", "allergy": "string", "areas": "string_list"}
    assert "answers.age" not in catalogue and catalogue["answers.allergy"].kind == "string"


SKIN_DRY = {"field": "customer.fields.skin_type", "op": "eq", "value": "dry"}
PROFILE = [
    {"key": "skin_type", "type": "single_select", "label": {"zh-CN": "皮肤类型", "en": "Skin type"},
     "options": [{"value": "dry", "label": {"en": "Dry"}}, {"value": "oily", "label": {"en": "Oily"}}]},
    {"key": "visits_wanted", "type": "number", "label": {"en": "Visits a month"}},
]


async def test_a_rule_on_a_customer_profile_field_fires_only_for_customers_whose_field_holds() -> None:
    service_id, starts_at = await shop()
    actions = [{"type": "emit_event", "event": "custom.dry_skin"}]
    with pytest.raises(Invalid) as before_the_form:
        await rule(trigger={"event": "booking.created"}, conditions={"all": [SKIN_DRY]}, actions=actions)
    await make_profile_form(PROFILE)
    with pytest.raises(Invalid) as mistyped:
        await rule(trigger={"event": "booking.created"}, conditions={"all": [
            {"field": "customer.fields.visits_wanted", "op": "contains", "value": "x"},
        ]}, actions=actions)
    rule_id = await rule(trigger={"event": "booking.created"}, conditions={"all": [SKIN_DRY]}, actions=actions)

    dry, oily, unanswered = [await book(service_id, starts_at + timedelta(hours=2 * n), {}, n) for n in range(3)]
    for booking_id, skin in ((dry, "dry"), (oily, "oily")):
        customer_id = (await get_booking(booking_id, actor=cli_actor())).customer_id
        await update_customer(customer_id, CustomerUpdate(custom_fields={"skin_type": skin}), actor=cli_actor())
    await run_rules()

    assert before_the_form.value.fields == {"conditions.all[0].field": "unknown field customer.fields.skin_type"}
    assert mistyped.value.fields == {"conditions.all[0].op": "op contains does not apply to a number field"}
    facts = await queries.booking_facts(dry, event_type="booking.created", actor=cli_actor())
    assert {k: v for k, v in facts.items() if k.startswith("customer.fields.")} == {"customer.fields.skin_type": "dry"}
    runs = {r["booking"]: r["matched"] for r in await RuleRun.select().where(RuleRun.rule == rule_id)}
    assert runs == {dry: True, oily: False, unanswered: False}
    emitted = await OutboxEvent.select(OutboxEvent.data).where(OutboxEvent.type == "custom.dry_skin").output(load_json=True)
    assert [e["data"]["booking_id"] for e in emitted] == [str(dry)]
