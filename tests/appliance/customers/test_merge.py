"""Merging duplicates on both engines: bookings, points, notes, logged interactions and tags move to the
survivor, consent combines with a refusal winning, facts are recomputed, the duplicate is kept as merged
(hidden from the list; its phone finds and books for the survivor); audited with an event; the merge
record lists every id moved and undoing it puts everything back. Into itself or a merged one: refused."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import httpx
import msgspec

from appliance.auth.actor import cli_actor
from appliance.auth.queries import actor_of_user
from appliance.auth.roles import Role
from appliance.bookings.tables import Booking
from appliance.customers import actions
from appliance.customers.merge import preview_merge
from appliance.customers.points import adjust_points
from appliance.customers.queries import find_customer_ids, list_merges
from appliance.customers.sealing import opened_customer
from appliance.customers.schemas import CustomerUpdate, InteractionCreate, NoteCreate, PointsAdjust
from appliance.customers.tables import Customer, CustomerMerge, CustomerTag
from appliance.events.tables import OutboxEvent
from appliance.testing.builders import make_branch, make_profile_form, sign_in_as
from tests.appliance.customers.support import PRICE, audit_of, book, complete, customer_of, pay, phone, shop
from tests.appliance.notifications.support import problems


async def _two(client: httpx.AsyncClient) -> tuple[str, str, dict[str, UUID]]:
    """Customer 1 (the survivor): a pending booking, tag "regular", agreed to marketing, a note. Customer 2
    (the duplicate): a completed, paid visit, 50 points more, tags "regular" and "vip", refused marketing,
    agreed to sms, a note and a call logged."""
    place = await shop()
    kept_booking = await book(place.service_id, 2, 10, 1)
    visit = await book(place.service_id, 3, 10, 2, name="韩梅梅 (2)")
    await complete(visit)
    await pay(visit)
    await sign_in_as(client, "desk", Role.front_desk)
    survivor, duplicate = (await customer_of(client, 1))["id"], (await customer_of(client, 2))["id"]
    s, d = UUID(survivor), UUID(duplicate)
    await actions.add_tags(s, ["regular"], actor=cli_actor())
    await actions.add_tags(d, ["regular", "vip"], actor=cli_actor())
    await actions.set_consent(s, {"marketing": True}, source="staff", actor=cli_actor())
    await actions.set_consent(d, {"marketing": False, "sms": True}, source="staff", actor=cli_actor())
    await actions.add_note(s, NoteCreate(body="喜欢安静"), actor=cli_actor())
    await actions.add_note(d, NoteCreate(body="怕冷"), actor=cli_actor())
    await actions.log_interaction(d, InteractionCreate(kind="call", note="回访"), actor=cli_actor())
    await adjust_points(d, PointsAdjust(points=50, reason="补录"), actor=cli_actor())
    return survivor, duplicate, {"kept_booking": kept_booking, "visit": visit}


def _consent(view: dict[str, Any]) -> dict[str, bool | None]:
    return {c["purpose"]: c["granted"] for c in view["consent"] if c["granted"] is not None}


async def test_a_merge_moves_everything_to_the_survivor_and_keeps_a_record(client: httpx.AsyncClient) -> None:
    survivor, duplicate, bookings = await _two(client)
    before = (await client.get(f"/api/v1/customers/{duplicate}")).json()

    merged = await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})

    assert merged.status_code == 201, merged.text
    record = merged.json()
    view = (await client.get(f"/api/v1/customers/{survivor}")).json()
    assert sorted(b["id"] for b in view["recent_bookings"]) == sorted(str(b) for b in bookings.values())
    assert (view["facts"]["visit_count"], view["facts"]["lifetime_value"]) == (1, PRICE)
    assert view["points"]["balance"] == before["points"]["balance"] > 0
    assert view["tags"] == ["regular", "vip"]
    assert _consent(view) == {"marketing": False, "sms": True}  # the refusal wins
    assert sorted(n["body"] for n in view["notes"]) == ["喜欢安静", "怕冷"]
    assert [e["note"] for e in view["communications"] if e["source"] == "staff"] == ["回访"]
    gone = (await client.get(f"/api/v1/customers/{duplicate}")).json()
    assert (gone["merged_into"], gone["facts"]["visit_count"], gone["points"]["balance"]) == (survivor, 0, 0)
    # Hidden from the list; its phone finds the survivor, and a new booking with it goes there.
    assert [c["id"] for c in (await client.get("/api/v1/customers")).json()["items"]] == [survivor]
    assert [c["id"] for c in (await client.get("/api/v1/customers", params={"phone": phone(2)})).json()["items"]] == [survivor]
    place_service = (await Booking.select(Booking.service).where(Booking.id == bookings["visit"]).first())["service"]
    later = await book(place_service, 4, 10, 2)
    assert (await Booking.select(Booking.customer).where(Booking.id == later).first())["customer"] == UUID(survivor)
    # The record lists every id moved; audited, with an event.
    moved = record["moved"]
    assert moved["bookings"] == [str(bookings["visit"])] and len(moved["points"]) == 2 and len(moved["notes"]) == 1
    assert (len(moved["interactions"]), moved["tags_added"], moved["consent_before"]) == (1, ["vip"], {"marketing": True, "sms": None})
    assert (await client.get(f"/api/v1/customer-merges/{record['id']}")).json() == record
    [entry] = [e for e in await audit_of(survivor) if e["action"] == "customer.merged"]
    assert entry["details"]["duplicate_id"] == duplicate and entry["details"]["moved"]["bookings"] == 1
    assert await OutboxEvent.count().where(OutboxEvent.type == "customer.merged") == 1


async def test_a_phone_merged_twice_books_for_the_last_survivor(client: httpx.AsyncClient) -> None:
    place = await shop()
    for n in (1, 2, 3):
        await book(place.service_id, n + 1, 10, n)
    await sign_in_as(client, "desk", Role.front_desk)
    first, second, third = [(await customer_of(client, n))["id"] for n in (1, 2, 3)]
    for survivor, duplicate in ((second, first), (third, second)):
        merged = await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})
        assert merged.status_code == 201, merged.text

    later = await book(place.service_id, 5, 10, 1)

    assert (await Booking.select(Booking.customer).where(Booking.id == later).first())["customer"] == UUID(third)


async def test_undo_puts_everything_back(client: httpx.AsyncClient) -> None:
    survivor, duplicate, bookings = await _two(client)
    views = {c: (await client.get(f"/api/v1/customers/{c}")).json() for c in (survivor, duplicate)}
    merge_id = (await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})).json()["id"]

    undone = await client.post(f"/api/v1/customer-merges/{merge_id}/undo")

    assert undone.status_code == 200 and undone.json()["undone_at"] is not None
    for customer_id, before in views.items():
        after = (await client.get(f"/api/v1/customers/{customer_id}")).json()
        for part in (
            "recent_bookings", "tags", "notes", "points", "communications", "membership", "name", "phone", "email",
            "gender", "birthday", "source_channel", "preferences", "custom_fields",
        ):
            assert after[part] == before[part], part
        assert _consent(after) == _consent(before) and after["merged_into"] is None
        assert {k: v for k, v in after["facts"].items() if k != "updated_at"} == {
            k: v for k, v in before["facts"].items() if k != "updated_at"
        }
    again = await client.post(f"/api/v1/customer-merges/{merge_id}/undo")
    assert again.status_code == 409 and again.json()["code"] == "merge_undone"
    assert [e["action"] for e in await audit_of(survivor)][-1] == "customer.merge_undone"


async def test_merging_into_itself_or_with_a_merged_customer_is_refused_and_changes_nothing(client: httpx.AsyncClient) -> None:
    survivor, duplicate, _ = await _two(client)
    path = f"/api/v1/customers/{survivor}/merge"

    assert problems(await client.post(path, json={"duplicate_id": survivor})) == {
        "duplicate_id": "a customer cannot be merged into itself",
    }
    assert await CustomerMerge.count() == 0
    assert (await client.post(path, json={"duplicate_id": duplicate})).status_code == 201
    into_merged = await client.post(f"/api/v1/customers/{duplicate}/merge", json={"duplicate_id": survivor})
    merged_again = await client.post(path, json={"duplicate_id": duplicate})
    assert (into_merged.status_code, into_merged.json()["code"]) == (409, "customer_merged")
    assert (merged_again.status_code, merged_again.json()["code"]) == (409, "customer_merged")
    assert (await client.post(path, json={"duplicate_id": "00000000-0000-0000-0000-000000000001"})).status_code == 404
    assert await CustomerMerge.count() == 1
    assert await Customer.count().where(Customer.merged_into.is_not_null()) == 1


async def test_staff_without_customers_write_cannot_merge(client: httpx.AsyncClient) -> None:
    survivor, duplicate, _ = await _two(client)
    await sign_in_as(client, "therapist", Role.staff)

    assert (await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})).status_code == 403
    assert await CustomerMerge.count() == 0


async def test_a_merge_record_lists_only_the_moved_bookings_of_branches_the_reader_may_read(
    client: httpx.AsyncClient,
) -> None:
    survivor, duplicate, booked = await _two(client)
    merged = (await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})).json()
    elsewhere = await make_branch("别的店")
    me = await sign_in_as(client, "other.desk", Role.front_desk, branch_id=elsewhere.id)

    seen = await client.get(f"/api/v1/customer-merges/{merged['id']}")

    assert merged["moved"]["bookings"] == [str(booked["visit"])]
    assert seen.status_code == 200, seen.text
    assert seen.json()["moved"]["bookings"] == []
    assert seen.json()["moved"]["points"] == merged["moved"]["points"] != []  # the customer is shared
    listed = await list_merges(UUID(survivor), actor=await actor_of_user(UUID(me["user"]["id"])))
    assert [m.moved.bookings for m in listed] == [[]]


async def test_a_preview_counts_what_a_merge_would_move_and_the_merge_is_listed_for_both(client: httpx.AsyncClient) -> None:
    survivor, duplicate, _ = await _two(client)
    s, d = UUID(survivor), UUID(duplicate)

    preview = await preview_merge(s, d)

    assert (preview.bookings, preview.points, preview.notes, preview.interactions) == (1, 2, 1, 1)
    assert preview.tags_added == ["vip"]
    assert await list_merges(s, actor=cli_actor()) == []  # a preview changes nothing
    merged = await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})
    listed = [[m.id for m in await list_merges(c, actor=cli_actor())] for c in (s, d)]
    assert listed == [[UUID(merged.json()["id"])]] * 2


async def _profiles(client: httpx.AsyncClient) -> tuple[str, str]:
    """Customer 1 (the survivor): female, quiet room, card A1, no email or birthday. Customer 2 (the
    duplicate): an email, male, a birthday, a window room and tea, a home branch."""
    survivor, duplicate, _ = await _two(client)
    await make_profile_form(texts=["card_no", "home_branch"])
    await actions.update_customer(UUID(survivor), CustomerUpdate(
        gender="female", preferences={"room": "quiet"}, custom_fields={"card_no": "A1"},
    ), actor=cli_actor())
    await actions.update_customer(UUID(duplicate), CustomerUpdate(
        email="Dup@Example.com", gender="male", birthday=date(1990, 3, 5), preferences={"room": "window", "drink": "tea"},
        custom_fields={"home_branch": "静安"},
    ), actor=cli_actor())
    return survivor, duplicate


FILLED = {
    "email": "dup@example.com", "birthday": "1990-03-05", "preferences": {"drink": "tea"}, "custom_fields": {"home_branch": "静安"},
}
CONFLICTS = {"name": "韩梅梅 (2)", "gender": "male", "preferences": {"room": "window"}}


async def test_a_merge_fills_what_the_survivor_lacks_and_keeps_the_other_values_sealed_in_the_record(
    client: httpx.AsyncClient,
) -> None:
    survivor, duplicate = await _profiles(client)
    preview = await preview_merge(UUID(survivor), UUID(duplicate))

    merged = await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})

    record = merged.json()
    view = (await client.get(f"/api/v1/customers/{survivor}")).json()
    assert (view["name"], view["email"], view["gender"], view["birthday"]) == ("韩梅梅", "dup@example.com", "female", "1990-03-05")
    assert view["preferences"] == {"room": "quiet", "drink": "tea"}
    assert view["custom_fields"] == {"card_no": "A1", "home_branch": "静安"}
    assert record["profile"] == {"filled": FILLED, "conflicts": CONFLICTS}
    assert msgspec.to_builtins(preview.profile) == record["profile"]  # the preview showed what happened
    assert record["moved"]["fields_filled"] == ["custom_fields.home_branch", "preferences.drink", "email", "birthday"]
    # The survivor's new email finds it; the duplicate keeps its own values.
    assert [c["id"] for c in (await client.get("/api/v1/customers", params={"email": "dup@example.com"})).json()["items"]] == [survivor]
    gone = (await client.get(f"/api/v1/customers/{duplicate}")).json()
    assert (gone["email"], gone["gender"], gone["preferences"]) == ("dup@example.com", "male", {"room": "window", "drink": "tea"})
    # Personal values are sealed in the record and never in the audit log.
    [stored] = await CustomerMerge.select(CustomerMerge.profile, CustomerMerge.moved)
    assert stored["profile"] and all(v not in str(stored) for v in ("dup@example.com", "1990-03-05", "window", "静安"))
    [entry] = [e for e in await audit_of(survivor) if e["action"] == "customer.merged"]
    assert entry["details"]["moved"]["fields_filled"] == 4 and "dup@example.com" not in str(entry)


async def test_undo_blanks_what_the_merge_filled_unless_staff_changed_it_since(client: httpx.AsyncClient) -> None:
    survivor, duplicate = await _profiles(client)
    before = (await client.get(f"/api/v1/customers/{survivor}")).json()
    merge_id = (await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})).json()["id"]
    await actions.update_customer(UUID(survivor), CustomerUpdate(birthday=date(1991, 4, 6)), actor=cli_actor())

    assert (await client.post(f"/api/v1/customer-merges/{merge_id}/undo")).status_code == 200

    after = (await client.get(f"/api/v1/customers/{survivor}")).json()
    for part in ("name", "email", "gender", "preferences", "custom_fields", "source_channel"):
        assert after[part] == before[part], part
    assert after["birthday"] == "1991-04-06"  # set by staff after the merge: not the merge's to take back
    assert (await client.get("/api/v1/customers", params={"email": "dup@example.com"})).json()["items"][0]["id"] == duplicate


async def test_erasing_either_customer_empties_the_profile_values_the_merge_record_kept(client: httpx.AsyncClient) -> None:
    survivor, duplicate = await _profiles(client)
    merge_id = (await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})).json()["id"]

    await actions.erase_customer(UUID(duplicate), "PIPL request 42", actor=cli_actor())

    record = (await client.get(f"/api/v1/customer-merges/{merge_id}")).json()
    assert record["profile"] == {"filled": {}, "conflicts": {}}
    assert await CustomerMerge.count().where(CustomerMerge.profile != "") == 0


async def test_nothing_is_copied_into_or_out_of_an_erased_record(client: httpx.AsyncClient) -> None:
    survivor, duplicate = await _profiles(client)
    await actions.erase_customer(UUID(duplicate), "PIPL request 43", actor=cli_actor())

    record = (await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})).json()

    assert record["profile"] == {"filled": {}, "conflicts": {}} and record["moved"]["fields_filled"] == []
    view = (await client.get(f"/api/v1/customers/{survivor}")).json()
    assert (view["name"], view["email"], view["birthday"]) == ("韩梅梅", None, None)


async def test_erasing_the_customer_kept_erases_the_duplicates_merged_into_it(client: httpx.AsyncClient) -> None:
    survivor, duplicate, bookings = await _two(client)
    await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})
    assert (await client.post(f"/api/v1/bookings/{bookings['kept_booking']}/cancel")).status_code == 200

    await actions.erase_customer(UUID(survivor), "PIPL request 44", actor=cli_actor())

    rows = {r["id"]: opened_customer(r) for r in await Customer.select().where(Customer.id.is_in([UUID(survivor), UUID(duplicate)]))}
    for row in rows.values():
        assert (row["name"], row["phone"], row["email"], row["phone_bidx"]) == ("已删除", None, None, None)
        assert row["erased_at"] is not None
    assert await CustomerTag.count() == 0
    assert await find_customer_ids(phone=phone(2)) == []
    [entry] = [e for e in await audit_of(survivor) if e["action"] == "customer.erased"]
    assert entry["details"]["merged_records_erased"] == 1


async def test_custom_fields_copied_to_a_survivor_without_any_keep_their_form_until_the_undo(
    client: httpx.AsyncClient,
) -> None:
    survivor, duplicate, _ = await _two(client)
    form = await make_profile_form(texts=["home_branch"])
    await actions.update_customer(UUID(duplicate), CustomerUpdate(custom_fields={"home_branch": "静安"}), actor=cli_actor())

    async def form_of(customer_id: str) -> tuple[Any, Any]:
        row = await Customer.select(Customer.custom_fields_form, Customer.custom_fields_form_version).where(
            Customer.id == UUID(customer_id)
        ).first()
        return row["custom_fields_form"], row["custom_fields_form_version"]

    before = await form_of(survivor)
    merged = (await client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate})).json()
    during = await form_of(survivor)
    undone = await client.post(f"/api/v1/customer-merges/{merged['id']}/undo")

    assert before == (None, None)
    assert during == (form.id, form.version) == await form_of(duplicate)
    assert merged["moved"]["form_taken"] is True
    assert undone.status_code == 200
    assert await form_of(survivor) == (None, None)
    assert (await client.get(f"/api/v1/customers/{survivor}")).json()["custom_fields"] == {}
