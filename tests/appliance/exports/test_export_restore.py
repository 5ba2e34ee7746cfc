"""Full export and restore on both engines, as an owner and IT use them: the API streams the archive,
`appliance import` restores it into a new database, and exporting that gives the same rows again (plus
the restore's and the export's own audit entries). Sealed archives, damaged ones and non-empty targets
are refused with a reason and nothing written."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import httpx
from appliance.audit.tables import AuditEntry
from appliance.auth.actor import cli_actor
from appliance.auth.roles import Role
from appliance.automation.defaults import install_default_rules
from appliance.bookings.tables import Booking
from appliance.customers.sealing import opened_customer
from appliance.customers.merge import merge_customers
from appliance.customers.tables import Customer, CustomerMerge
from appliance.exports.actions import start_export
from appliance.exports.catalogue import EXCLUDED, exported_tables
from appliance.exports.sealed import MAGIC
from appliance.testing.builders import make_branch, make_resource, make_service, requirement, sign_in_as
from appliance.testing.deliveries import settle
from tests.appliance.automation.test_seed_scenarios import next_weekday

PASSPHRASE = "风铃草-correct-horse-42"


def appliance(*args: str, database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env |= {"APPLIANCE_DATABASE_URL": database_url, "APPLIANCE_DATA_DIR": str(data_dir), "APPLIANCE_LOG_LEVEL": "warning"}
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args], env=env, capture_output=True, text=True, timeout=180, check=False,
    )


async def seed_business(client: httpx.AsyncClient) -> None:
    """A branch, staff, a service, bookings in several states with Chinese names, the worker's messages."""
    branch = await make_branch("静安店")
    await make_resource(branch.id, name="王芳", skills=["massage"], capacity=2)
    service = await make_service(branch.id, "精油按摩", 60, [requirement("staff", "massage")])
    await sign_in_as(client, "owner")
    await install_default_rules(actor=cli_actor())  # confirmations, reminders: messages and timers to export
    day = next_weekday(2)
    for n in range(6):
        response = await client.post("/api/v1/bookings", json={
            "service_id": str(service.id), "starts_at": f"{day}T{10 + n}:00:00+08:00", "notes": '=HYPERLINK("x")',
            "customer": {"name": f"韩梅梅{n}", "phone": f"+8613700000{n:03d}", "email": f"han{n}@example.com"},
        })
        assert response.status_code == 201, response.text
    booking_id = response.json()["booking"]["id"]
    assert (await client.post(f"/api/v1/bookings/{booking_id}/cancel")).status_code == 200
    await settle()


def last_frame_offset(sealed: bytes) -> int:
    """Where the last sealed chunk begins: cutting there leaves whole chunks only."""
    at = sealed.index(b"\n", len(MAGIC)) + 1
    while True:
        size = int.from_bytes(sealed[at:at + 4], "big")
        if at + 4 + size == len(sealed):
            return at
        at += 4 + size


def tables_of(archive: bytes) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        manifest = json.loads(z.read("manifest.json"))
        rows = {
            name: [json.loads(line) for line in z.read(f"tables/{name}.jsonl").splitlines()]
            for name in manifest["tables"]
        }
        for table in manifest["tables"].values():
            for entry in table["files"]:
                assert hashlib.sha256(z.read(entry["path"])).hexdigest() == entry["sha256"], entry["path"]
    return manifest, rows


async def test_export_then_restore_then_export_gives_the_same_rows(
    client: httpx.AsyncClient, fresh_database_url: str, tmp_path: Path
) -> None:
    await seed_business(client)
    named = {opened_customer(c)["name"]: c["id"] for c in await Customer.select(Customer.id, Customer.name)}
    await merge_customers(named["韩梅梅4"], named["韩梅梅5"], actor=cli_actor())  # a record with sealed values
    further = await client.patch(f"/api/v1/customers/{named['韩梅梅1']}", json={"extra_phones": ["13700000099"]})
    assert further.status_code == 200, further.text

    response = await client.post("/api/v1/exports")

    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith('attachment; filename="appliance-export-')
    manifest, first = tables_of(response.content)
    assert set(manifest["tables"]) == {t._meta.tablename for t in exported_tables()}
    assert set(manifest["excluded"]) == set(EXCLUDED) and not set(EXCLUDED) & set(manifest["tables"])
    assert manifest["tables"]["booking"]["rows"] == await Booking.count() == 6
    assert {c["name"] for c in first["customer"]} == {f"韩梅梅{n}" for n in range(6)}
    assert len(first["message"]) > 0  # the worker's confirmations are there too
    with zipfile.ZipFile(io.BytesIO(response.content)) as z:
        booking_csv = z.read("tables/booking.csv")
    assert booking_csv.startswith(b"\xef\xbb\xbf") and b"'=HYPERLINK" in booking_csv  # Excel: not a formula
    assert [b["notes"] for b in first["booking"]] == ['=HYPERLINK("x")'] * 6  # JSON Lines: exact
    assert [m["profile"]["conflicts"]["email"] for m in first["customer_merge"]] == ["han5@example.com"]  # opened
    assert [(p["customer"], p["phone"]) for p in first["customer_phone"]] == [(str(named["韩梅梅1"]), "+8613700000099")]
    archive = tmp_path / "export.zip"
    archive.write_bytes(response.content)

    migrated = appliance("migrate", database_url=fresh_database_url, data_dir=tmp_path / "var2")
    restored = appliance("import", str(archive), database_url=fresh_database_url, data_dir=tmp_path / "var2")
    again = appliance("export", str(tmp_path / "again.zip"), database_url=fresh_database_url, data_dir=tmp_path / "var2")

    assert migrated.returncode == 0, migrated.stderr
    assert restored.returncode == 0, restored.stderr
    assert f"restored {sum(t['rows'] for t in manifest['tables'].values())} rows" in restored.stdout
    assert again.returncode == 0, again.stderr
    assert oct((tmp_path / "again.zip").stat().st_mode & 0o777) == "0o600"
    _, second = tables_of((tmp_path / "again.zip").read_bytes())
    for name in first:
        if name != "audit_entry":
            assert second[name] == first[name], name
    added = [e for e in second["audit_entry"] if e not in first["audit_entry"]]
    assert [e for e in second["audit_entry"] if e in first["audit_entry"]] == first["audit_entry"]
    assert sorted(e["action"] for e in added) == ["data.exported", "data.imported"]


async def test_a_sealed_archive_needs_its_passphrase_and_any_damage_is_refused(
    client: httpx.AsyncClient, fresh_database_url: str, tmp_path: Path
) -> None:
    await seed_business(client)
    sealed = (await client.post("/api/v1/exports", json={"passphrase": PASSPHRASE})).content
    # No ZIP entry signature anywhere (a bare "PK" can occur by chance in the header's random base64 salt).
    assert sealed.startswith(MAGIC) and b"PK\x03\x04" not in sealed and "韩梅梅".encode() not in sealed
    good, wrong = tmp_path / "pass.txt", tmp_path / "wrong.txt"
    good.write_text(PASSPHRASE + "\n", encoding="utf-8")
    wrong.write_text("not-the-passphrase-at-all", encoding="utf-8")
    flipped = bytearray(sealed)
    flipped[len(sealed) // 2] ^= 0x01
    cases = {
        "wrong": (sealed, wrong, "wrong passphrase"), "flipped": (bytes(flipped), good, "altered"),
        "cut inside a chunk": (sealed[: len(sealed) - 100], good, "cut short"),
        "last chunk dropped": (sealed[: last_frame_offset(sealed)], good, "cut short"),
    }
    var = tmp_path / "var2"
    assert appliance("migrate", database_url=fresh_database_url, data_dir=var).returncode == 0

    for name, (content, passphrase, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        result = appliance("import", str(tmp_path / name), "--passphrase-file", str(passphrase),
                           database_url=fresh_database_url, data_dir=var)
        assert result.returncode == 1, name
        assert reason in result.stderr, (name, result.stderr)
        assert await Booking.count() == 6  # the test's own database; the new one is checked by the import below
    (tmp_path / "sealed").write_bytes(sealed)
    unsealed = appliance("import", str(tmp_path / "sealed"), database_url=fresh_database_url, data_dir=var)
    assert unsealed.returncode == 1 and "give its passphrase" in unsealed.stderr
    result = appliance("import", str(tmp_path / "sealed"), "--passphrase-file", str(good),
                       database_url=fresh_database_url, data_dir=var)
    assert result.returncode == 0, result.stderr


async def test_an_altered_file_or_a_non_empty_appliance_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, settings: Any, fresh_database_url: str, tmp_path: Path
) -> None:
    await seed_business(client)
    archive = (await client.post("/api/v1/exports")).content
    altered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(altered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "tables/customer.jsonl":
                data = data.replace("韩梅梅0".encode(), "李雷0".encode())
            target.writestr(item, data)
    (tmp_path / "altered.zip").write_bytes(altered.getvalue())
    (tmp_path / "export.zip").write_bytes(archive)
    var = tmp_path / "var2"
    assert appliance("migrate", database_url=fresh_database_url, data_dir=var).returncode == 0

    tampered = appliance("import", str(tmp_path / "altered.zip"), database_url=fresh_database_url, data_dir=var)
    occupied = appliance("import", str(tmp_path / "export.zip"), database_url=settings.database.url, data_dir=var)
    counted = appliance("export", str(tmp_path / "empty.zip"), database_url=fresh_database_url, data_dir=var)

    assert tampered.returncode == 1 and "tables/customer.jsonl does not match the manifest" in tampered.stderr
    assert occupied.returncode == 1 and "restoring needs an empty appliance" in occupied.stderr
    _, rows = tables_of((tmp_path / "empty.zip").read_bytes())
    assert {name: len(r) for name, r in rows.items() if r and name != "audit_entry"} == {}


async def test_only_owners_export_a_weak_passphrase_is_refused_and_exports_are_audited(
    client: httpx.AsyncClient,
) -> None:
    await sign_in_as(client, "store.manager", Role.manager)
    refused = await client.post("/api/v1/exports")
    await sign_in_as(client, "owner")
    weak = await client.post("/api/v1/exports", json={"passphrase": "123456"})
    done = await client.post("/api/v1/exports")

    assert refused.status_code == 403
    assert weak.status_code == 422 and [e["field"] for e in weak.json()["errors"]] == ["passphrase"]
    assert done.status_code == 200
    audited = await AuditEntry.select(AuditEntry.action, AuditEntry.actor_label).where(AuditEntry.action == "data.exported")
    assert len(audited) == 1


async def test_the_archive_is_a_snapshot_whatever_commits_while_it_is_written(client: httpx.AsyncClient) -> None:
    await seed_business(client)
    export = await start_export(actor=cli_actor(), passphrase=None)
    chunks = export.chunks()
    parts = [await anext(chunks)]  # the snapshot has begun

    async def cancel_all() -> None:
        await Booking.update({Booking.status: "cancelled"}).where(Booking.status != "cancelled")

    # Committed meanwhile by someone else: outside the export's transaction.
    await asyncio.create_task(cancel_all(), context=contextvars.Context())
    parts += [chunk async for chunk in chunks]

    _, rows = tables_of(b"".join(parts))
    assert sorted(b["status"] for b in rows["booking"]) == ["cancelled"] + ["confirmed"] * 5
    assert await Booking.count().where(Booking.status == "cancelled") == 6


async def test_a_customers_own_archive_holds_their_rows_only_and_is_audited_with_the_request(
    client: httpx.AsyncClient,
) -> None:
    await seed_business(client)
    customers = sorted(
        [opened_customer(c) for c in await Customer.select(Customer.id, Customer.name)], key=lambda c: c["name"]
    )
    target, other = customers[0], customers[1]

    response = await client.post(f"/api/v1/customers/{target['id']}/export", json={"reason": "PIPL 查阅申请 #17"})
    no_reason = await client.post(f"/api/v1/customers/{target['id']}/export", json={"reason": "  "})
    await sign_in_as(client, "front.desk", Role.front_desk)
    refused = await client.post(f"/api/v1/customers/{target['id']}/export", json={"reason": "asked at the desk"})

    assert response.status_code == 200, response.text
    _, rows = tables_of(response.content)
    assert [c["name"] for c in rows["customer"]] == [target["name"]]
    [booking] = rows["booking"]
    assert booking["customer"] == str(target["id"])
    assert {m["customer"] for m in rows["message"]} == {str(target["id"])}
    assert all(a["booking"] == booking["id"] for a in rows["allocation"]) and rows["allocation"]
    targets = {e["target_id"] for e in rows["audit_entry"]}
    assert targets == {str(target["id"]), booking["id"]}
    assert str(other["id"]) not in json.dumps(rows) and other["name"] not in json.dumps(rows, ensure_ascii=False)
    assert "service" not in rows and "rule" not in rows  # nothing about any one customer
    assert no_reason.status_code == 422 and [e["field"] for e in no_reason.json()["errors"]] == ["reason"]
    assert refused.status_code == 403
    [entry] = await AuditEntry.select(AuditEntry.reason).where(AuditEntry.action == "customer.exported")
    assert entry["reason"] == "PIPL 查阅申请 #17"


async def test_a_customers_own_archive_holds_the_merges_they_took_part_in_opened(client: httpx.AsyncClient) -> None:
    await seed_business(client)
    named = {opened_customer(c)["name"]: c["id"] for c in await Customer.select(Customer.id, Customer.name)}
    kept, merged_away, bystander = named["韩梅梅0"], named["韩梅梅1"], named["韩梅梅2"]
    await merge_customers(kept, merged_away, actor=cli_actor())
    [merge_id] = [r["id"] for r in await CustomerMerge.select(CustomerMerge.id)]

    archives = {
        c: tables_of((await client.post(f"/api/v1/customers/{c}/export", json={"reason": "PIPL #18"})).content)[1]
        for c in (kept, merged_away, bystander)
    }

    # The person kept holds the duplicate merged into them too; the duplicate's archive holds only itself.
    assert sorted(c["id"] for c in archives[kept]["customer"]) == sorted([str(kept), str(merged_away)])
    assert [c["id"] for c in archives[merged_away]["customer"]] == [str(merged_away)]
    for customer_id in (kept, merged_away):
        [record] = archives[customer_id]["customer_merge"]
        assert (record["id"], record["survivor"], record["duplicate"]) == (str(merge_id), str(kept), str(merged_away))
        # Sealed in the database, opened in the archive as every other personal value.
        assert record["profile"] == {"filled": {}, "conflicts": {"name": "韩梅梅1", "email": "han1@example.com"}}
    assert archives[bystander]["customer_merge"] == []
