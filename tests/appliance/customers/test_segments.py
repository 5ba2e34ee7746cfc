"""Segments on both engines: a saved filter over non-personal columns turned into one parameterised SQL
condition (pure), its customers paged and counted through the API, its key seen by rules in
`customer.segments`, its customers exported as CSV (audited); bad filters are 422 naming the field."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from uuid import UUID

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.automation.conditions import evaluate
from appliance.customers import actions
from appliance.customers.logic import SegmentFilter, segment_filter_problems, segment_where
from appliance.customers.points import adjust_points
from appliance.customers.queries import rule_facts
from appliance.customers.schemas import CustomerUpdate, PointsAdjust
from appliance.customers.tables import Customer, Segment
from appliance.testing.builders import make_profile_form, sign_in_as
from tests.appliance.customers.support import book, complete, customer_of, shop
from tests.appliance.notifications.support import problems

NOW = datetime(2026, 11, 26, tzinfo=timezone.utc)
SNEAKY = "x' or '1'='1"  # a valid tag: it must reach the database as a value, never as SQL


def test_a_filter_becomes_one_condition_with_every_value_bound_as_a_parameter() -> None:
    found = SegmentFilter(tags_all=(SNEAKY,), tiers=("gold", "vip"), points_min=100, consent={"marketing": True},
                          last_visit_before=NOW)

    sql, values = segment_where(found, NOW)

    assert SNEAKY not in sql and "gold" not in sql and "marketing" not in sql
    assert sql.count("{}") == len(values)
    assert values == [SNEAKY, "gold", "vip", NOW, 100, NOW, "marketing", True]
    assert segment_where(SegmentFilter(), NOW) == ("customer.merged_into IS NULL", [])


def test_filter_problems_name_each_field() -> None:
    assert segment_filter_problems(SegmentFilter(tags_any=("ok", "a,b"), consent={"fax": True}, points_min=5, points_max=1)) == {
        "filter.tags_any[1]": "1–32 characters, without , ; / | # or control characters",
        "filter.consent.fax": "one of: marketing, data_processing, email, sms, wecom, dingtalk, inbox",
        "filter.points_max": "must not be below points_min",
    }


async def _three_customers(client: httpx.AsyncClient) -> dict[int, str]:
    """1: tagged vip and SNEAKY, a visit, 300 points, agreed to marketing; 2: tagged vip, refused marketing;
    3: nothing."""
    place = await shop()
    first = await book(place.service_id, 2, 10, 1)
    await book(place.service_id, 2, 11, 2)
    await book(place.service_id, 2, 12, 3)
    await complete(first)
    await sign_in_as(client, "owner")
    ids = {n: (await customer_of(client, n))["id"] for n in (1, 2, 3)}
    await actions.add_tags(UUID(ids[1]), ["VIP", SNEAKY], actor=cli_actor())
    await actions.add_tags(UUID(ids[2]), ["vip"], actor=cli_actor())
    await adjust_points(UUID(ids[1]), PointsAdjust(points=300, reason="welcome"), actor=cli_actor())
    await actions.set_consent(UUID(ids[1]), {"marketing": True}, source="staff", actor=cli_actor())
    await actions.set_consent(UUID(ids[2]), {"marketing": False}, source="staff", actor=cli_actor())
    return ids


PROFILE = [
    {"key": "skin_type", "type": "single_select", "label": {"zh-CN": "皮肤类型", "en": "Skin type"},
     "options": [{"value": "dry", "label": {"zh-CN": "干性"}}, {"value": "oily", "label": {"zh-CN": "油性"}}]},
    {"key": "areas", "type": "multi_select", "label": {"zh-CN": "关注部位", "en": "Areas"},
     "options": [{"value": "face", "label": {"en": "Face"}}, {"value": "neck", "label": {"en": "Neck"}}]},
    {"key": "note", "type": "text", "label": {"zh-CN": "备注", "en": "Note"}},
]


async def test_a_segment_export_has_a_labelled_column_per_profile_form_field(client: httpx.AsyncClient) -> None:
    ids = await _three_customers(client)
    await make_profile_form(PROFILE)
    await actions.update_customer(UUID(ids[1]), CustomerUpdate(
        custom_fields={"skin_type": "dry", "areas": ["face", "neck"], "note": "=HYPERLINK(1)"},
    ), actor=cli_actor())
    segment_id = (await client.post("/api/v1/segments", json={
        "key": "vips", "name": "VIP", "filter": {"tags_all": ["vip"]},
    })).json()["id"]

    chinese = await client.get(f"/api/v1/segments/{segment_id}/export", headers={"Accept-Language": "zh-CN"})
    english = await client.get(f"/api/v1/segments/{segment_id}/export")

    header, *lines = list(csv.reader(io.StringIO(chinese.content.decode("utf-8-sig"))))
    assert header[-3:] == ["皮肤类型", "关注部位", "备注"]
    assert next(csv.reader(io.StringIO(english.content.decode("utf-8-sig"))))[-3:] == ["Skin type", "Areas", "Note"]
    by_id = {line[0]: line[-3:] for line in lines}
    assert by_id == {ids[1]: ["dry", "face|neck", "'=HYPERLINK(1)"], ids[2]: ["", "", ""]}


async def test_segment_customers_and_counts_follow_the_filter(client: httpx.AsyncClient) -> None:
    ids = await _three_customers(client)

    async def members(key: str, filter_: dict[str, object]) -> list[str]:
        created = await client.post("/api/v1/segments", json={"key": key, "name": key, "filter": filter_})
        assert created.status_code == 201, created.text
        segment_id = created.json()["id"]
        listed = (await client.get(f"/api/v1/segments/{segment_id}/customers")).json()["items"]
        count = (await client.get(f"/api/v1/segments/{segment_id}/count")).json()["count"]
        assert count == len(listed)
        return sorted(c["id"] for c in listed)

    assert await members("vips", {"tags_all": ["vip"]}) == sorted([ids[1], ids[2]])
    assert await members("sneaky", {"tags_any": [SNEAKY]}) == [ids[1]]
    assert await members("points", {"points_min": 300, "points_max": 300}) == [ids[1]]
    assert await members("visited", {"visit_count_min": 1, "last_visit_after": "2000-01-01T00:00:00+08:00"}) == [ids[1]]
    assert await members("never", {"visit_count_max": 0, "source_channels": ["web"]}) == sorted([ids[2], ids[3]])
    assert await members("mkt-yes", {"consent": {"marketing": True}}) == [ids[1]]
    assert await members("mkt-no", {"consent": {"marketing": False}, "tiers": ["normal"]}) == [ids[2]]
    assert await members("everyone", {}) == sorted(ids.values())
    assert await Customer.count() == 3  # the quote in a tag did nothing to the SQL


async def test_rules_see_the_segments_a_customer_is_in(client: httpx.AsyncClient) -> None:
    ids = await _three_customers(client)
    await client.post("/api/v1/segments", json={"key": "vip-fans", "name": "VIP", "filter": {"tags_all": ["vip"]}})
    await client.post("/api/v1/segments", json={"key": "rich", "name": "积分多", "filter": {"points_min": 100}})
    condition = {"field": "customer.segments", "op": "contains", "value": "rich"}

    first = await rule_facts(UUID(ids[1]), booking_completed=False)
    second = await rule_facts(UUID(ids[2]), booking_completed=False)

    assert first["customer.segments"] == ["rich", "vip-fans"] and second["customer.segments"] == ["vip-fans"]
    assert evaluate(condition, first).held and not evaluate(condition, second).held
    assert (await client.get(f"/api/v1/customers/{ids[1]}")).json()["segments"] == ["rich", "vip-fans"]


async def test_a_segment_exports_as_csv_audited_and_needs_the_export_permission(client: httpx.AsyncClient) -> None:
    ids = await _three_customers(client)
    segment_id = (await client.post("/api/v1/segments", json={
        "key": "vips", "name": "VIP", "filter": {"tags_all": ["vip"]},
    })).json()["id"]

    exported = await client.get(f"/api/v1/segments/{segment_id}/export")

    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert sorted(r["id"] for r in rows) == sorted([ids[1], ids[2]])
    assert {r["id"]: r["points"] for r in rows}[ids[1]] == "300"
    assert {r["id"]: r["tags"] for r in rows}[ids[1]] == f"vip|{SNEAKY}"
    assert await AuditEntry.count().where(AuditEntry.action == "segment.exported") == 1
    await sign_in_as(client, "desk", Role.front_desk)
    assert (await client.get(f"/api/v1/segments/{segment_id}/export")).status_code == 403
    assert (await client.get(f"/api/v1/segments/{segment_id}/count")).status_code == 200


async def test_segment_crud_with_bad_input_and_taken_keys(client: httpx.AsyncClient) -> None:
    await sign_in_as(client, "desk", Role.front_desk)
    created = await client.post("/api/v1/segments", json={"key": "vips", "name": "VIP", "filter": {"tags_all": ["VIP"]}})
    segment_id = created.json()["id"]

    assert created.json()["filter"] == {"tags_all": ["vip"]}  # stored normalised
    assert (await client.post("/api/v1/segments", json={"key": "vips", "name": "x", "filter": {}})).status_code == 409
    assert problems(await client.post("/api/v1/segments", json={"key": "Bad Key", "name": "x", "filter": {"points_min": 5, "points_max": 1}})) == {
        "key": "1–64 lower-case letters, digits, - or _, starting with a letter", "filter.points_max": "must not be below points_min",
    }
    assert "filter.last_visit_before" in problems(await client.post("/api/v1/segments", json={
        "key": "naive", "name": "x", "filter": {"last_visit_before": "2026-01-01T00:00:00"},
    }))
    updated = await client.patch(f"/api/v1/segments/{segment_id}", json={"name": "贵宾", "filter": {"tiers": ["gold"]}})
    assert (updated.json()["name"], updated.json()["filter"], updated.json()["revision"]) == ("贵宾", {"tiers": ["gold"]}, 2)
    assert [s["key"] for s in (await client.get("/api/v1/segments")).json()] == ["vips"]
    assert (await client.delete(f"/api/v1/segments/{segment_id}")).status_code == 204
    assert (await client.get(f"/api/v1/segments/{segment_id}")).status_code == 404
    assert await Segment.count() == 0
    actions_logged = await AuditEntry.select(AuditEntry.action).where(AuditEntry.target_type == "segment").order_by(AuditEntry.occurred_at)
    assert [a["action"] for a in actions_logged] == ["segment.created", "segment.updated", "segment.deleted"]
