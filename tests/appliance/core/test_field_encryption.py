"""Field encryption in the database, on both engines: personal data written through every path the
appliance has, and the secrets it keeps (TOTP secrets, the link-signing key, sessions), are nowhere in the raw SQLite
file or a pg_dump; lookups go through blind indexes; a database with plaintext rows from before field
encryption is sealed by the migration; a rotation (of the data keys or of the blind-index key) interrupted
after one batch finishes when run again, every lookup working meanwhile."""

from __future__ import annotations

import json
import shutil
import time
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import httpx

from appliance.audit.tables import AuditEntry
from appliance.auth import totp
from appliance.auth.actor import cli_actor
from appliance.auth.mfa import check_second_factor
from appliance.auth.roles import Role
from appliance.auth.tables import SessionRecord
from appliance.automation.defaults import install_default_rules
from appliance.bookings.sealing import opened_answers, opened_notes
from appliance.bookings.tables import Booking
from appliance.core import db
from appliance.core.crypto import field_crypto, is_sealed, parse_header
from appliance.core.crypto.registry import SEALED
from appliance.core.crypto.reseal import count_stale, count_unindexed
from appliance.core.db import run_sql
from appliance.customers.actions import match_or_create_customer, update_customer
from appliance.customers.queries import find_customer_ids
from appliance.customers.schemas import CustomerContact, CustomerUpdate
from appliance.customers.sealing import opened_customer, opened_interaction, opened_note
from appliance.customers.tables import Customer, CustomerInteraction, CustomerNote, CustomerPhone
from appliance.db import open_database
from appliance.db.migrate import apply_migrations
from appliance.db.piccolo_app import APP_CONFIG
from appliance.keys.rotation import BLIND_INDEX_KEY, progress_path, read_progress, rotate
from appliance.settings import Settings
from appliance.notifications.consent import link_signing_key
from appliance.testing.builders import TOTP_SECRETS, make_profile_form, make_user, sign_in, sign_in_as
from appliance.testing.deliveries import settle
from tests.appliance.bookings.test_api import next_weekday
from tests.appliance.forms.test_api import ALLERGY_FORM, create_form, massage_service
from tests.conftest import make_settings

NAME, PHONE_LOCAL, EMAIL = "欧阳娜娜", "13912345678", "nana.ouyang.private@example.com"
BIRTHDAY, ALLERGEN, BOOKING_NOTE = "1987-06-23", "薰衣草精油过敏", "想要生日惊喜蛋糕"
CONTACT = "13811112222"  # an answer: an emergency contact's phone
EXTRA_PHONE_LOCAL = "13755556666"  # a further phone of the customer's
NOTE, CALL, PREFERENCE, CUSTOM = "右膝半月板旧伤", "电话确认改期到周五", "靠窗安静包间", "钢琴教师"
PLAINTEXT = [NAME, PHONE_LOCAL, EMAIL, BIRTHDAY, ALLERGEN, BOOKING_NOTE, CONTACT, NOTE, CALL, PREFERENCE, CUSTOM, EXTRA_PHONE_LOCAL]


async def seed_personal_data(client: httpx.AsyncClient) -> str:
    """Every kind of personal data, written the ways the appliance writes it: a booking with form answers
    and notes (with an idempotency key), a profile edit, a note, a logged call, the worker's messages."""
    service = await massage_service()
    await sign_in_as(client, "owner")
    await install_default_rules(actor=cli_actor())
    await create_form(client, service.id, ALLERGY_FORM)
    booked = await client.post("/api/v1/bookings", headers={"Idempotency-Key": "k-1"}, json={
        "service_id": str(service.id), "starts_at": f"{next_weekday(2)}T10:00:00+08:00", "notes": BOOKING_NOTE,
        "customer": {"name": NAME, "phone": PHONE_LOCAL, "email": EMAIL.upper()},
        "answers": {"has_allergy": True, "allergy": ALLERGEN, "pressure": "soft", "contact": CONTACT},
    })
    assert booked.status_code == 201, booked.text
    assert booked.json()["booking"]["answers"]["allergy"] == ALLERGEN and booked.json()["booking"]["notes"] == BOOKING_NOTE
    customer_id: str = booked.json()["booking"]["customer_id"]
    await make_profile_form(texts=["job"])
    edited = await client.patch(f"/api/v1/customers/{customer_id}", json={
        "gender": "female", "birthday": BIRTHDAY, "preferences": {"room": PREFERENCE}, "custom_fields": {"job": CUSTOM},
        "extra_phones": [EXTRA_PHONE_LOCAL],
    })
    assert edited.status_code == 200, edited.text
    assert (await client.post(f"/api/v1/customers/{customer_id}/notes", json={"body": NOTE})).status_code == 201
    logged = await client.post(f"/api/v1/customers/{customer_id}/interactions", json={"kind": "call", "note": CALL})
    assert logged.status_code == 201, logged.text
    await settle()
    return customer_id


def found_in(data: bytes) -> list[str]:
    return [value for value in PLAINTEXT if value.encode() in data]


async def test_no_personal_value_is_in_the_database_files_and_the_api_still_shows_them(
    client: httpx.AsyncClient, settings: Settings, database: str
) -> None:
    customer_id = await seed_personal_data(client)
    # the owner signed in with a second factor; their session (in the database here) holds its CSRF token
    kept_secrets = [TOTP_SECRETS["owner"], (await link_signing_key()).hex(), client.headers["X-CSRF-Token"]]
    assert await SessionRecord.count() >= 1

    view = (await client.get(f"/api/v1/customers/{customer_id}")).json()
    assert (view["name"], view["phone"], view["email"], view["birthday"]) == (NAME, f"+86{PHONE_LOCAL}", EMAIL, BIRTHDAY)
    assert view["extra_phones"] == [f"+86{EXTRA_PHONE_LOCAL}"]
    assert view["preferences"] == {"room": PREFERENCE} and view["custom_fields"] == {"job": CUSTOM}
    assert [n["body"] for n in view["notes"]] == [NOTE]
    assert [c["note"] for c in (await client.get(f"/api/v1/customers/{customer_id}/communications")).json()["items"]
            if c["source"] == "staff"] == [CALL]
    assert await Booking.count() == 1 and await CustomerNote.count() == 1 and await CustomerPhone.count() == 1
    await db.close_pool()  # everything written is on disk

    if database == "sqlite":
        path = Path(db.sqlite_path(settings.database_url))
        files = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
        dump = b"".join(p.read_bytes() for p in files)
    else:
        name = settings.database_url.rsplit("/", 1)[1]
        dump = subprocess.run(
            ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--no-owner", name],
            capture_output=True, check=True, timeout=120,
        ).stdout
        assert b"COPY public.customer" in dump and b"COPY public.booking" in dump and b"COPY public.customer_phone" in dump
    await db.start_pool()

    assert len(dump) > 10_000 and found_in(dump) == []
    assert [s for s in kept_secrets if s.encode() in dump] == []
    assert await sign_in(client, "owner")  # the sealed TOTP secret still checks codes
    assert found_in(NAME.encode() + EMAIL.encode()) == [NAME, EMAIL]  # the scan itself finds what is there


async def test_lookups_by_phone_email_last_four_and_full_name_use_the_blind_indexes(database: str) -> None:
    lily = await match_or_create_customer(
        CustomerContact(name="Lily  Wang", phone="13900000001", email="Lily@Example.com"), channel="staff", actor=cli_actor()
    )
    other = await match_or_create_customer(CustomerContact(name="李雷", phone="13700000001"), channel="staff", actor=cli_actor())
    row = await Customer.select().where(Customer.id == lily).first()
    assert row is not None

    assert await find_customer_ids(phone="+86 139 0000 0001") == [lily]
    assert await find_customer_ids(email="LILY@example.COM") == [lily]
    assert await find_customer_ids(name="lily wang") == [lily]
    assert await find_customer_ids(name="Lily") == []  # exact full names only
    assert sorted(await find_customer_ids(phone_last4="0001")) == sorted([lily, other])
    assert await find_customer_ids(phone_last4="0001", name="李雷") == [other]
    assert await find_customer_ids(phone_last4="01") == [] and await find_customer_ids(phone="nonsense") == []
    assert all(is_sealed(row[c]) for c in ("name", "phone", "email"))
    assert "0001" not in (row["phone_last4_bidx"] or "") and len(row["phone_bidx"]) == 32


# --- The migration on a database with rows ---------------------------------------------------------------

async def migrate_all_but(skipped: tuple[str, ...], database_url: str, tmp_path: Path) -> None:
    """A database migrated as a release without `skipped` would have left it; `apply_migrations()` then runs them."""
    open_database(make_settings(database_url, tmp_path / "var"))
    before = tmp_path / "before"
    shutil.copytree(
        APP_CONFIG.resolved_migrations_folder_path, before, ignore=shutil.ignore_patterns("__pycache__", *skipped)
    )
    await apply_migrations(before)


FIELD_ENCRYPTION_MIGRATIONS = ("appliance_2026_11_26t23_00_00_000000.py", "appliance_2026_11_26t23_00_01_000000.py")


async def test_the_migration_seals_plaintext_rows_written_before_field_encryption(
    fresh_database_url: str, tmp_path: Path
) -> None:
    await migrate_all_but(FIELD_ENCRYPTION_MIGRATIONS, fresh_database_url, tmp_path)
    service = await massage_service()
    customer_id, note_id, call_id, booking_id = uuid4(), uuid4(), uuid4(), uuid4()
    now = datetime.now(UTC)
    await run_sql(
        "INSERT INTO customer (id, name, phone, email, phone_last4, source_channel, gender, birthday, preferences, "
        "custom_fields, visit_count, lifetime_value, no_show_count, cancellation_count, created_at, updated_at) "
        "VALUES ({}, {}, {}, {}, {}, 'web', 'female', {}, {}, {}, 0, 0, 0, 0, {}, {})",
        customer_id, NAME, f"+86{PHONE_LOCAL}", EMAIL, PHONE_LOCAL[-4:], datetime.fromisoformat(BIRTHDAY).date(),
        '{"room": "%s"}' % PREFERENCE, "{}", now, now,
    )
    await run_sql(
        "INSERT INTO customer_note (id, customer, body, author_kind, author_label, created_at) VALUES ({}, {}, {}, 'user', 'x', {})",
        note_id, customer_id, NOTE, now,
    )
    await run_sql(
        "INSERT INTO customer_interaction (id, customer, kind, note, at, author_kind, author_label, created_at) "
        "VALUES ({}, {}, 'call', {}, {}, 'user', 'x', {})", call_id, customer_id, CALL, now, now,
    )
    await run_sql(
        "INSERT INTO booking (id, branch, service, customer, starts_at, ends_at, status, channel, seats, price_amount, "
        "price_currency, payment_status, answers, notes, manage_token_hash, created_at, updated_at) VALUES "
        "({}, {}, {}, {}, {}, {}, 'completed', 'staff', 1, 100, 'CNY', 'paid', {}, {}, 'h', {}, {})",
        booking_id, service.branch_id, service.id, customer_id, now, now, '{"allergy": "%s"}' % ALLERGEN, BOOKING_NOTE, now, now,
    )

    applied = await apply_migrations()

    assert [m[:19] for m in applied] == ["2026-11-26T23:00:00", "2026-11-26T23:00:01"]
    row = await Customer.select().where(Customer.id == customer_id).first()
    assert row is not None and all(is_sealed(row[c]) for c in ("name", "phone", "email", "gender", "birthday", "preferences"))
    opened = opened_customer(row)
    assert (opened["name"], opened["phone"], opened["email"], str(opened["birthday"])) == (
        NAME, f"+86{PHONE_LOCAL}", EMAIL, BIRTHDAY,
    )
    assert opened["preferences"] == {"room": PREFERENCE} and opened["custom_fields"] == {}
    for lookup in ({"phone": PHONE_LOCAL}, {"email": EMAIL}, {"phone_last4": PHONE_LOCAL[-4:]}, {"name": NAME}):
        assert await find_customer_ids(**lookup) == [customer_id], lookup
    note = await CustomerNote.select().where(CustomerNote.id == note_id).first()
    call = await CustomerInteraction.select().where(CustomerInteraction.id == call_id).first()
    booking = await Booking.select().where(Booking.id == booking_id).first()
    assert note and call and booking
    assert opened_note(note)["body"] == NOTE and opened_interaction(call)["note"] == CALL
    assert opened_answers(booking_id, booking["answers"]) == {"allergy": ALLERGEN}
    assert opened_notes(booking_id, booking["notes"]) == BOOKING_NOTE
    assert sum((await count_stale()).values()) == 0


SEALED_SECRETS_MIGRATIONS = ("appliance_2026_11_27t02_40_00_000000.py", "appliance_2026_11_27t02_40_01_000000.py")


async def test_the_migration_seals_totp_secrets_and_the_link_key_kept_in_plaintext_before(
    fresh_database_url: str, tmp_path: Path
) -> None:
    await migrate_all_but(SEALED_SECRETS_MIGRATIONS, fresh_database_url, tmp_path)
    user = await make_user("boss", Role.staff)
    secret, link_secret = totp.new_secret(), "ab" * 32
    now = datetime.now(UTC)
    await run_sql("UPDATE app_user SET totp_secret = {}, totp_confirmed_at = {} WHERE id = {}", secret, now, user.id)
    await run_sql("INSERT INTO link_key (id, secret, created_at) VALUES ('links', {}, {})", link_secret, now)

    applied = await apply_migrations()

    assert [m[:19] for m in applied] == ["2026-11-27T02:40:00", "2026-11-27T02:40:01"]
    stored = (await run_sql("SELECT totp_secret FROM app_user WHERE id = {}", user.id))[0]["totp_secret"]
    link = (await run_sql("SELECT secret FROM link_key"))[0]["secret"]
    assert is_sealed(stored) and is_sealed(link) and secret not in stored and link_secret not in link
    assert await check_second_factor(user.id, totp.code_at(secret, time.time()), None) == "totp"
    assert await link_signing_key() == bytes.fromhex(link_secret)  # links sent before still work
    assert sum((await count_stale()).values()) == 0


# --- Rotation --------------------------------------------------------------------------------------------


async def seed_customers(count: int) -> list[UUID]:
    ids = []
    for n in range(count):
        ids.append(await match_or_create_customer(
            CustomerContact(name=f"客户{n}", phone=f"1390000{n:04d}", email=f"c{n}@example.com"), channel="staff",
            actor=cli_actor(),
        ))
    return ids


async def sealed_values() -> list[tuple[str, str, object, str]]:
    found = []
    for table, columns in SEALED.items():
        for row in await run_sql(f'SELECT * FROM "{table}"'):
            found += [(table, c, row["id"], row[c]) for c in columns if row[c] not in (None, "")]
    return found


async def test_a_rotation_interrupted_after_a_batch_finishes_when_run_again(database: str) -> None:
    ids = await seed_customers(5)
    first_key = field_crypto().current_key().id

    stopped = await rotate(actor=cli_actor(), batch=2, stop_after_batches=1, settle_seconds=0)
    progress = read_progress(field_crypto().keyring_path)
    half = {parse_header(v).key_id for *_, v in await sealed_values()}

    assert not stopped.finished and stopped.key_id != first_key
    assert progress is not None and progress.finished_at is None and progress.tables["customer"].scanned == 2
    assert half == {first_key, stopped.key_id}  # some rows re-sealed, the rest still under the old key
    assert sorted(await find_customer_ids(phone_last4="0003")) == [ids[3]]  # the appliance reads both meanwhile

    resumed = await rotate(actor=cli_actor(), batch=2, settle_seconds=0)

    assert resumed.resumed and resumed.finished and resumed.key_id == stopped.key_id
    assert resumed.remaining == dict.fromkeys(SEALED, 0) and resumed.resealed["customer"] == 5
    assert [k.id for k in field_crypto().keyring().data_keys] == [first_key, stopped.key_id]  # no third key
    values = await sealed_values()
    assert {parse_header(v).key_id for *_, v in values} == {stopped.key_id}
    assert [opened_customer(r)["name"] for r in await Customer.select().order_by(Customer.phone_bidx)]
    assert sorted(opened_customer(r)["name"] for r in await Customer.select()) == [f"客户{n}" for n in range(5)]
    actions = [r["action"] for r in await AuditEntry.select(AuditEntry.action).where(AuditEntry.action.like("keys.%"))]
    assert sorted(actions) == ["keys.rotated", "keys.rotation_started"]
    assert progress_path(field_crypto().keyring_path).exists()
    again = await rotate(actor=cli_actor(), batch=50, settle_seconds=0)  # a finished rotation: the next one starts
    assert again.key_id not in (first_key, stopped.key_id) and not again.resumed


async def lookups_of(n: int) -> list[list[UUID]]:
    """What the front desk finds for customer n of `seed_customers` by each kind of lookup."""
    return [
        await find_customer_ids(phone=f"1390000{n:04d}"), await find_customer_ids(email=f"C{n}@example.com"),
        await find_customer_ids(phone_last4=f"{n:04d}"), await find_customer_ids(name=f"客户{n}"),
    ]


async def test_a_blind_index_rotation_keeps_every_lookup_working_while_it_runs_and_retires_the_old_key(
    database: str,
) -> None:
    ids = await seed_customers(5)
    await update_customer(ids[0], CustomerUpdate(extra_phones=["13700009999"]), actor=cli_actor())
    old_key = field_crypto().keyring().blind_index_key
    indexes_before = {r["id"]: r["phone_bidx"] for r in await Customer.select(Customer.id, Customer.phone_bidx)}
    further_before = await CustomerPhone.select(CustomerPhone.phone_bidx).first()

    stopped = await rotate(actor=cli_actor(), batch=2, stop_after_batches=1, settle_seconds=0, kind=BLIND_INDEX_KEY)
    midway = field_crypto().keyring(fresh=True)
    rebuilt = {r["id"] for r in await Customer.select(Customer.id, Customer.phone_bidx) if r["phone_bidx"] != indexes_before[r["id"]]}
    late = await match_or_create_customer(  # written during the rotation: indexed under the new key
        CustomerContact(name="客户5", phone="13900000005", email="c5@example.com"), channel="staff", actor=cli_actor()
    )
    again = await match_or_create_customer(  # the same phone under an index of the old key: found, not duplicated
        CustomerContact(name="别名", phone="13900000004"), channel="staff", actor=cli_actor()
    )

    assert not stopped.finished and old_key is not None and stopped.key_id != old_key.id
    assert midway.blind_index_key and midway.blind_index_key.id == stopped.key_id
    assert [k.id for k in midway.previous_blind_index_keys] == [old_key.id]
    assert rebuilt == set(sorted(ids)[:2])  # one batch of two (in id order) rebuilt, three still under the old key
    assert again == ids[4]
    for n, customer_id in enumerate([*ids, late]):
        assert await lookups_of(n) == [[customer_id]] * 4, n
    assert await find_customer_ids(phone="13700009999") == await find_customer_ids(phone_last4="9999") == [ids[0]]

    finished = await rotate(actor=cli_actor(), batch=2, settle_seconds=0, kind=BLIND_INDEX_KEY)

    keyring = field_crypto().keyring(fresh=True)
    assert finished.resumed and finished.finished and finished.key_id == stopped.key_id
    assert finished.remaining == {"customer": 0, "customer_phone": 0} and await count_unindexed() == finished.remaining
    assert keyring.blind_index_key and keyring.blind_index_key.id == stopped.key_id
    assert keyring.previous_blind_index_keys == ()  # the old key is retired
    assert "previous_blind_index_keys" not in json.loads(keyring.path.read_text())["field_encryption"]
    for n, customer_id in enumerate([*ids, late]):
        assert await lookups_of(n) == [[customer_id]] * 4, n
    after = {r["id"]: r["phone_bidx"] for r in await Customer.select(Customer.id, Customer.phone_bidx)}
    assert all(after[i] != indexes_before[i] for i in ids)
    assert await CustomerPhone.select(CustomerPhone.phone_bidx).first() != further_before  # rebuilt under the new key
    assert await find_customer_ids(phone="13700009999") == await find_customer_ids(phone_last4="9999") == [ids[0]]
    entries = await AuditEntry.select(AuditEntry.action, AuditEntry.details).where(
        AuditEntry.action.like("keys.%")
    ).output(load_json=True)
    assert sorted(e["action"] for e in entries) == ["keys.blind_index_rotated", "keys.blind_index_rotation_started"]
    done = next(e for e in entries if e["action"] == "keys.blind_index_rotated")
    assert done["details"]["retired_key_ids"] == [old_key.id] and done["details"]["resumed"] is True
    assert read_progress(keyring.path, BLIND_INDEX_KEY) is not None
    assert read_progress(keyring.path) is None  # the data keys' rotation is another matter
