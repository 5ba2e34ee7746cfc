"""A customer's further phones, on both engines: set through a profile edit (normalised, bounded, 422 by
place), shown in the 360 view, found like the main phone (exact and last four digits), one customer's
only (409 either way, an import waiting for an edit that adds one), matched by bookings and imports, left
with a merged duplicate (leading to the survivor), and removed by erasure."""

from __future__ import annotations

import asyncio
from uuid import UUID

import httpx
import pytest

from appliance.auth.actor import cli_actor
from appliance.core.db import run_sql, write_transaction
from appliance.customers.actions import (
    PHONE_LOCK_BUCKETS, erase_customer, import_customers, match_or_create_customer, update_customer,
)
from appliance.customers.merge import merge_customers
from appliance.customers.queries import extra_phones_of, find_customer_ids, find_customers_by_contacts
from appliance.customers.schemas import CustomerContact, CustomerUpdate, ImportedCustomer, ImportedCustomers
from appliance.customers.tables import CustomerPhone
from appliance.testing.builders import sign_in_as
from tests.appliance.bookings.test_portal import make_bookable
from tests.appliance.bookings.test_api import at, next_weekday
from tests.appliance.customers.support import audit_of, book, complete, customer_of, one_customer, phone, shop
from tests.appliance.notifications.support import problems


async def test_further_phones_are_normalised_shown_and_found_by_any_phone_and_last_four(client: httpx.AsyncClient) -> None:
    customer_id = await one_customer(client)

    edited = await client.patch(f"/api/v1/customers/{customer_id}", json={"extra_phones": ["139 0000 0078", "+8613900000077"]})

    assert edited.status_code == 200, edited.text
    assert edited.json()["phone"] == phone(1) and edited.json()["extra_phones"] == [phone(77), phone(78)]
    for params in ({"phone": "13900000077"}, {"phone": phone(78)}, {"phone": phone(1)}, {"phone_last4": "0078"}):
        found = await client.get("/api/v1/customers", params=params)
        assert [c["id"] for c in found.json()["items"]] == [customer_id], params
    updated = [e for e in await audit_of(customer_id) if e["action"] == "customer.updated"]
    assert [e["changed_fields"] for e in updated] == [["extra_phones"]]
    assert "0077" not in str(updated)  # field names, never values
    viewed = [e for e in await audit_of(customer_id, reveals=True) if e["action"] == "customer.viewed"]
    assert viewed and "extra_phones" in viewed[-1]["details"]["fields"]

    again = await client.patch(f"/api/v1/customers/{customer_id}", json={"extra_phones": [phone(78), phone(77)]})
    cleared = await client.patch(f"/api/v1/customers/{customer_id}", json={"extra_phones": []})

    assert again.status_code == 200 and cleared.status_code == 200 and cleared.json()["extra_phones"] == []
    assert [e["changed_fields"] for e in await audit_of(customer_id) if e["action"] == "customer.updated"] == [
        ["extra_phones"], ["extra_phones"],  # the same phones in another order changed nothing
    ]
    assert await find_customer_ids(phone=phone(77)) == [] and await CustomerPhone.count() == 0


async def test_bad_further_phones_are_422_by_place_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    customer_id = await one_customer(client)
    url = f"/api/v1/customers/{customer_id}"

    bad = await client.patch(url, json={"name": "李雷", "extra_phones": [phone(77), "12345"]})
    too_many = await client.patch(url, json={"extra_phones": [phone(n) for n in range(70, 76)]})
    the_main = await client.patch(url, json={"extra_phones": [phone(77), "139-0000-0001"]})

    assert problems(bad) == {"extra_phones[1]": "not a valid phone number"}
    assert problems(too_many) == {"extra_phones": "at most 5 further phones"}
    assert problems(the_main) == {"extra_phones[1]": "this is the main phone"}
    assert await CustomerPhone.count() == 0 and (await customer_of(client, 1))["name"] == "韩梅梅"


async def test_a_phone_is_one_customers_main_or_further_phone_409_either_way(client: httpx.AsyncClient) -> None:
    place = await shop()
    await book(place.service_id, 2, 10, 1)
    await book(place.service_id, 2, 11, 2, name="李雷")
    await sign_in_as(client, "owner")
    first, second = (await customer_of(client, 1))["id"], (await customer_of(client, 2))["id"]

    others_main = await client.patch(f"/api/v1/customers/{first}", json={"extra_phones": [phone(2)]})
    set_extra = await client.patch(f"/api/v1/customers/{first}", json={"extra_phones": [phone(77)]})
    as_main = await client.patch(f"/api/v1/customers/{second}", json={"phone": "13900000077"})
    as_extra = await client.patch(f"/api/v1/customers/{second}", json={"extra_phones": [phone(3), phone(77)]})
    swapped = await client.patch(f"/api/v1/customers/{first}", json={"phone": phone(77), "extra_phones": [phone(1)]})

    assert others_main.status_code == 409 and others_main.json()["code"] == "phone_taken"
    assert set_extra.status_code == 200, set_extra.text
    assert as_main.status_code == 409 and as_main.json()["code"] == "phone_taken"
    assert as_extra.status_code == 409 and as_extra.json()["code"] == "phone_taken"
    assert swapped.status_code == 200 and (swapped.json()["phone"], swapped.json()["extra_phones"]) == (phone(77), [phone(1)])
    assert (await customer_of(client, 2))["phone"] == phone(2) and (await customer_of(client, 2))["extra_phones"] == []
    assert await find_customer_ids(phone=phone(1)) == [UUID(first)] and await find_customer_ids(phone=phone(3)) == []


async def test_staff_and_portal_bookings_with_a_further_phone_are_that_customers(client: httpx.AsyncClient) -> None:
    service = await make_bookable(channels=["web", "admin"])
    day = next_weekday(0)
    portal = {"name": "小韩", "phone": "13900000077"}
    first = await client.post("/api/v1/portal/bookings", json={
        "service_id": str(service.id), "starts_at": at(day, "10:00"), "customer": {"name": "韩梅梅", "phone": phone(1)},
    })
    customer_id = first.json()["booking"]["customer_id"]
    await sign_in_as(client, "owner")
    assert (await client.patch(f"/api/v1/customers/{customer_id}", json={"extra_phones": [phone(77), phone(78)]})).status_code == 200

    by_portal = await client.post("/api/v1/portal/bookings", json={
        "service_id": str(service.id), "starts_at": at(day, "11:00"), "customer": portal,
    })
    by_staff = await client.post("/api/v1/bookings", json={
        "service_id": str(service.id), "starts_at": at(day, "12:00"), "customer": {"name": "韩", "phone": "+86 139 0000 0078"},
    })

    assert by_portal.status_code == 201 and by_staff.status_code == 201, (by_portal.text, by_staff.text)
    assert by_portal.json()["booking"]["customer_id"] == by_staff.json()["booking"]["customer_id"] == customer_id
    assert len((await client.get("/api/v1/customers")).json()["items"]) == 1  # nobody new


async def test_erasure_removes_the_further_phones(client: httpx.AsyncClient) -> None:
    place = await shop()
    booking_id = await book(place.service_id, 2, 10, 1)
    await sign_in_as(client, "owner")
    customer_id = (await customer_of(client, 1))["id"]
    assert (await client.patch(f"/api/v1/customers/{customer_id}", json={"extra_phones": [phone(77)]})).status_code == 200
    await complete(booking_id)

    await erase_customer(UUID(customer_id), "PIPL-2026-0042", actor=cli_actor())

    assert await CustomerPhone.count() == 0
    assert await find_customer_ids(phone=phone(77)) == [] and await find_customer_ids(phone_last4="0077") == []
    view = (await client.get(f"/api/v1/customers/{customer_id}")).json()
    assert view["extra_phones"] == [] and view["phone"] is None
    [erased] = [e for e in await audit_of(customer_id) if e["action"] == "customer.erased"]
    assert "extra_phones" in erased["changed_fields"] and erased["details"]["extra_phones_removed"] == 1


async def test_a_merge_leaves_further_phones_with_the_duplicate_and_they_lead_to_the_survivor(database: str) -> None:
    survivor = await match_or_create_customer(CustomerContact(name="张伟", phone=phone(1)), channel="web", actor=cli_actor())
    duplicate = await match_or_create_customer(CustomerContact(name="张伟", phone=phone(2)), channel="web", actor=cli_actor())
    await update_customer(duplicate, CustomerUpdate(extra_phones=[phone(77)]), actor=cli_actor())

    await merge_customers(survivor, duplicate, actor=cli_actor())

    assert [r["customer"] for r in await CustomerPhone.select(CustomerPhone.customer)] == [duplicate]
    assert await extra_phones_of(survivor) == [] and await extra_phones_of(duplicate) == [phone(77)]
    booked_for = await match_or_create_customer(CustomerContact(name="张", phone=phone(77)), channel="web", actor=cli_actor())
    assert booked_for == survivor
    assert (await find_customers_by_contacts([phone(77)], []))[0] == {phone(77): survivor}


async def test_an_import_waits_for_a_further_phone_being_added_and_then_matches_its_customer(database: str) -> None:
    """The import takes the phones' locks as a profile edit does: run while an edit that gives customer 1 the
    phone is still open, it matches customer 1 once that commits, and makes no second customer with it."""
    owner = await match_or_create_customer(CustomerContact(name="张伟", phone=phone(1)), channel="web", actor=cli_actor())
    locked = asyncio.Event()

    async def edit_held_open() -> None:
        async with write_transaction():
            await update_customer(owner, CustomerUpdate(extra_phones=[phone(77)]), actor=cli_actor())
            locked.set()
            await asyncio.sleep(0.5)  # room for the import to run, were it not made to wait

    async def import_once_locked() -> ImportedCustomers:
        await locked.wait()
        return await import_customers([ImportedCustomer(row=2, name="张三", phone=phone(77))], actor=cli_actor())

    _, imported = await asyncio.gather(edit_held_open(), import_once_locked())

    assert imported.ids == {2: owner} and imported.created == 0
    assert await find_customer_ids(phone=phone(77)) == [owner]


async def test_an_import_batch_holds_a_bounded_number_of_phone_locks(database: str) -> None:
    """PostgreSQL's lock table is shared and a few thousand entries long: a batch of 500 new phones locks
    buckets of them, not each."""
    if database != "postgresql":
        pytest.skip("SQLite takes no phone locks: its write transactions are one at a time")
    batch = [ImportedCustomer(row=n, name=f"客户{n}", phone=f"+86137{n:08d}") for n in range(2, 502)]
    async with write_transaction():
        imported = await import_customers(batch, actor=cli_actor())
        [held] = await run_sql("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")

    assert imported.created == 500
    assert 0 < held["n"] <= PHONE_LOCK_BUCKETS <= 64
