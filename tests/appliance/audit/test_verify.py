"""`appliance audit verify` against bundles made by the real export and then really edited, on both engines:
each way of tampering is caught and the first bad entry named; a log cut short or rewritten with the key is
caught by a checkpoint kept from before."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.audit.actions import export_audit_log
from appliance.audit.config import AuditConfig
from appliance.audit.merkle import Frontier, Hasher
from appliance.audit.notes import open_checkpoint, sign_checkpoint
from appliance.audit.sealing import StoredCheckpoint, checkpoints_between, seal_pending, sign_head, signing_key
from appliance.audit.verify import BundleError, Report, verify_bundle
from appliance.auth.actor import cli_actor
from appliance.core.clock import utc_now
from appliance.core.keyring import ensure_signing_key, public_key_pem
from tests.appliance.audit.support import write_entries

APPLIANCE = str(Path(sys.executable).parent / "appliance")
Members = dict[str, bytes]


async def export(tmp_path: Path, name: str = "bundle.zip", **window: object) -> Path:
    done = await export_audit_log(tmp_path / name, actor=cli_actor(), **window)  # type: ignore[arg-type]
    return done.bundle.path


@pytest.fixture
async def bundle(audit: AuditConfig, tmp_path: Path) -> Path:
    """Ten entries, a checkpoint signed after the sixth, exported by the real export."""
    await write_entries(6)
    await seal_pending(audit)
    await sign_head(audit, "periodic", key=signing_key(audit))
    await write_entries(4, start=6)
    return await export(tmp_path)


def tampered(bundle: Path, edit: Callable[[Members], None], name: str = "tampered.zip") -> Path:
    """The bundle unzipped, edited, zipped again: what anyone with the file can do."""
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    edit(members)
    out = bundle.with_name(name)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return out


def lines_of(members: Members, name: str = "entries.jsonl") -> list[bytes]:
    return members[name].split(b"\n")[:-1]


def set_lines(members: Members, lines: list[bytes], name: str = "entries.jsonl") -> None:
    members[name] = b"\n".join(lines) + b"\n"


def edit_lines(change: Callable[[list[bytes]], list[bytes]]) -> Callable[[Members], None]:
    return lambda members: set_lines(members, change(lines_of(members)))


def report_of(path: Path, kept: StoredCheckpoint | str | None = None) -> Report:
    note = kept.note if isinstance(kept, StoredCheckpoint) else kept
    return verify_bundle(path, checkpoint_note=note)


def checkpoint_in(bundle: Path) -> str:
    with zipfile.ZipFile(bundle) as archive:
        return archive.read("checkpoint.txt").decode()


async def test_an_untouched_export_verifies_every_file_entry_and_checkpoint(bundle: Path) -> None:
    report = report_of(bundle)

    assert report.ok, report.problems
    assert "10 entries, seq 1–10, in order, each matching the hash it was sealed with" in report.passed
    assert "1 checkpoint signed over time matches the entries (sizes 6–6)" in report.passed
    assert "entries.csv matches entries.jsonl" in report.passed
    assert any(line.startswith("the bundle's checkpoint (size 10") for line in report.passed)


async def test_an_edited_entry_is_named(bundle: Path) -> None:
    edited = tampered(bundle, edit_lines(lambda lines: [
        line.replace(b'"channel":"web"', b'"channel":"app"') if b'"seq":3,' in line else line for line in lines
    ]))

    report = report_of(edited)

    assert report.problems[0] == (
        "entry seq 3 (line 3 of entries.jsonl) was edited: its content does not match the hash it was sealed with"
    )
    assert "entries.jsonl does not match the manifest (its SHA-256 differs): it was altered" in report.problems
    assert any(p.startswith("the entries up to seq 6 do not match the checkpoint") for p in report.problems)


async def test_a_deleted_entry_is_named(bundle: Path) -> None:
    report = report_of(tampered(bundle, edit_lines(lambda lines: lines[:4] + lines[5:])))

    assert report.problems[0] == (
        "entry seq 5 is missing (deleted): line 5 of entries.jsonl holds seq 6 where seq 5 belongs"
    )


async def test_an_inserted_entry_is_named(bundle: Path) -> None:
    def insert_forgery(lines: list[bytes]) -> list[bytes]:
        forged = lines[6].replace(b'"channel":"web"', b'"channel":"phone"')  # claims seq 7
        return lines[:6] + [forged] + lines[6:]

    report = report_of(tampered(bundle, edit_lines(insert_forgery)))

    assert report.problems[0] == (
        "line 7 of entries.jsonl was inserted: it claims seq 7, but the entry sealed as seq 7 is at line 8"
    )


async def test_a_duplicated_entry_is_named(bundle: Path) -> None:
    report = report_of(tampered(bundle, edit_lines(lambda lines: lines[:4] + [lines[3]] + lines[4:])))

    assert report.problems[0] == (
        "line 5 of entries.jsonl repeats seq 4 (already at line 4): an entry was inserted or duplicated"
    )


async def test_reordered_entries_are_named(bundle: Path) -> None:
    report = report_of(tampered(bundle, edit_lines(lambda lines: lines[:7] + [lines[8], lines[7]] + lines[9:])))

    assert report.problems[0] == (
        "entries are out of order: line 8 of entries.jsonl holds seq 9, but seq 8 comes later, at line 9 (reordered)"
    )


async def test_a_cut_off_tail_is_named(bundle: Path) -> None:
    def cut(members: Members) -> None:
        set_lines(members, lines_of(members)[:7])
        set_lines(members, lines_of(members, "leaf-hashes.txt")[:7], "leaf-hashes.txt")
        set_lines(members, lines_of(members, "entries.csv")[:8], "entries.csv")

    report = report_of(tampered(bundle, cut))

    assert report.problems[0] == (
        "the entries end at seq 7 but the bundle covers up to seq 10: seq 8–10 are missing (the tail was cut off)"
    )


async def test_a_log_cut_short_is_caught_by_a_checkpoint_kept_from_before(
    bundle: Path, audit: AuditConfig, tmp_path: Path
) -> None:
    await write_entries(5, start=10)
    later = await export(tmp_path, "later.zip")
    kept_later = checkpoint_in(later)

    short = report_of(bundle, kept_later)  # an older, shorter log presented as the whole story
    grown = report_of(later, checkpoint_in(bundle))

    assert short.problems[0] == (
        f"the log was cut short: your checkpoint (size 16, signed "
        f"{open_checkpoint(kept_later, signing_key(audit).public_raw).signed_at:%Y-%m-%dT%H:%M:%SZ}) covers 16 "
        "entries, but this bundle's log has only 10: seq 11–16 are missing"
    )
    assert grown.ok, grown.problems
    assert any(p.startswith("your checkpoint (size 10") and "the log only grew" in p for p in grown.passed)


async def test_a_log_rewritten_by_someone_holding_the_key_is_caught_by_a_kept_checkpoint(
    bundle: Path, audit: AuditConfig
) -> None:
    """Everything recomputed and signed again with the real key: only an earlier checkpoint tells."""
    kept = await latest_checkpoint_of_size(6)
    key = signing_key(audit)

    def rewrite(members: Members) -> None:
        lines = lines_of(members)
        lines[1] = lines[1].replace(b'"channel":"web"', b'"channel":"app"')
        set_lines(members, lines)
        hasher, tree = Hasher("sha256"), Frontier(Hasher("sha256"))
        roots = {}
        leaves = []
        for number, line in enumerate(lines, start=1):
            leaves.append(f"{number} {hasher.leaf(line).hex()}".encode())
            tree.append(hasher.leaf(line))
            roots[number] = tree.root()
        set_lines(members, leaves, "leaf-hashes.txt")
        rows = lines_of(members, "entries.csv")
        rows[2] = rows[2].replace(b'""channel"":""web""', b'""channel"":""app""')
        set_lines(members, rows, "entries.csv")
        for name in [n for n in members if n.startswith("checkpoint")]:
            original = open_checkpoint(members[name].decode(), key.public_raw)
            forged = type(original)(original.origin, original.size, roots[original.size], original.signed_at, "sha256")
            members[name] = sign_checkpoint(forged, key.sign, key.public_raw).encode()
        manifest = json.loads(members["manifest.json"])
        manifest["checkpoint"]["root"] = roots[10].hex()
        for name in manifest["files"]:
            manifest["files"][name]["sha256"] = hashlib.sha256(members[name]).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
        members["manifest.sig"] = base64.b64encode(key.sign(members["manifest.json"]))

    rewritten = tampered(bundle, rewrite)

    assert report_of(rewritten).ok  # the bundle alone cannot tell: the key signed it all
    report = report_of(rewritten, kept)
    assert report.problems[0].startswith("your checkpoint (size 6, signed ")
    assert report.problems[0].endswith("does not match entries 1–6 of this bundle: the log was rewritten since it was signed")


async def latest_checkpoint_of_size(size: int) -> StoredCheckpoint:
    [checkpoint] = await checkpoints_between(size, size)
    return checkpoint


async def test_an_edited_csv_row_is_named(bundle: Path) -> None:
    def edit(members: Members) -> None:
        rows = lines_of(members, "entries.csv")
        rows[3] = rows[3].replace(b"cli:", b"boss:")
        set_lines(members, rows, "entries.csv")

    report = report_of(tampered(bundle, edit))

    assert "row 4 of entries.csv (seq 3) differs from entries.jsonl in column actor_label" in report.problems
    assert "entries.csv does not match the manifest (its SHA-256 differs): it was altered" in report.problems


async def test_a_manifest_rewritten_without_the_key_is_refused_and_the_checkpoints_still_catch_the_edit(bundle: Path) -> None:
    def edit(members: Members) -> None:
        edit_lines(lambda lines: [lines[0].replace(b"booking.created", b"booking.viewed"), *lines[1:]])(members)
        manifest = json.loads(members["manifest.json"])
        manifest["files"]["entries.jsonl"]["sha256"] = hashlib.sha256(members["entries.jsonl"]).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()

    report = report_of(tampered(bundle, edit))

    assert report.problems[0].startswith("the entries up to seq 6 do not match the checkpoint of that size signed ")
    assert report.problems[0].endswith("an entry from seq 1 to 6 was changed, added, removed or moved")
    assert "manifest.json is not signed by this key (it was altered, or manifest.sig is missing)" in report.problems


async def test_a_bundle_signed_by_another_key_than_the_one_given_is_refused(bundle: Path, tmp_path: Path) -> None:
    other = ensure_signing_key(tmp_path / "other.json").signing_key()

    report = verify_bundle(bundle, public_key_pem=public_key_pem(other.public_raw))

    assert "the bundle's public-key.pem is not the key you gave: the log's key was replaced" in report.problems
    assert "manifest.json is not signed by this key (it was altered, or manifest.sig is missing)" in report.problems


async def test_a_time_window_exports_a_run_that_verifies_with_the_tree_around_it(audit: AuditConfig, tmp_path: Path) -> None:
    await write_entries(5)
    since = utc_now()
    await write_entries(5, start=5)
    until = utc_now()
    early = await export(tmp_path, "all.zip")  # seq 1–10; its own audit entry becomes seq 11
    await write_entries(1, start=10)
    await seal_pending(audit)
    outside = await sign_head(audit, "periodic", key=signing_key(audit))
    await write_entries(2, start=11)

    window = await export(tmp_path, "window.zip", since=since, until=until)

    report = report_of(window, checkpoint_in(early))
    assert report.ok, report.problems
    assert report.facts[0].startswith("export of seq 6–10 (5 entries)")
    assert "SHA-256 Merkle tree of 14 entries" in report.facts[0]
    assert outside is not None and outside.size == 12
    assert report_of(window, outside).problems == [
        f"your checkpoint (size 12, signed {outside.signed_at:%Y-%m-%dT%H:%M:%SZ}) cannot be checked with this "
        "bundle: it falls after its last entry (the bundle holds seq 6–10); export a range that includes seq 12"
    ]


async def test_the_command_exits_zero_only_for_a_bundle_that_verifies(bundle: Path) -> None:
    good = subprocess.run([APPLIANCE, "audit", "verify", str(bundle)], capture_output=True, text=True, check=False)
    edited = tampered(bundle, edit_lines(lambda lines: lines[:4] + lines[5:]))
    bad = subprocess.run([APPLIANCE, "audit", "verify", str(edited)], capture_output=True, text=True, check=False)
    kept = bundle.with_name("kept.txt")
    kept.write_text(checkpoint_in(bundle))
    with_kept = subprocess.run(
        [APPLIANCE, "audit", "verify", str(bundle), "--checkpoint", str(kept)], capture_output=True, text=True,
        check=False,
    )

    assert good.returncode == 0 and good.stdout.rstrip().endswith("VERIFIED"), good.stdout + good.stderr
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "error: the bundle does not verify: entry seq 5 is missing (deleted): line 5 of entries.jsonl holds seq 6 "
        "where seq 5 belongs"
    )
    assert "FAILED  entry seq 5 is missing" in bad.stdout
    assert with_kept.returncode == 0 and "your checkpoint (size 10" in with_kept.stdout


async def test_an_export_of_an_empty_log_verifies(audit: AuditConfig, tmp_path: Path) -> None:
    empty = await export(tmp_path)

    report = report_of(empty)

    assert report.ok, report.problems
    assert report.facts[0].startswith("export of no entries (0 entries)")


async def test_bytes_changed_inside_the_zip_itself_are_reported_not_crashed_on(bundle: Path) -> None:
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as archive:
        info = archive.getinfo("entries.jsonl")
    data[info.header_offset + 30 + len(info.filename) + 20] ^= 0xFF  # inside the compressed entries
    damaged = bundle.with_name("damaged.zip")
    damaged.write_bytes(bytes(data))

    with pytest.raises(BundleError, match="the zip file is damaged"):
        verify_bundle(damaged)


async def test_a_csv_that_is_not_csv_any_more_is_reported(bundle: Path) -> None:
    def garble(members: Members) -> None:
        members["entries.csv"] = members["entries.csv"][:200] + b"\xff\xfe\x00" + members["entries.csv"][200:]

    report = report_of(tampered(bundle, garble))

    assert any(p.startswith("entries.csv cannot be read as CSV") for p in report.problems), report.problems
    assert report.problems[0] == "entries.csv does not match the manifest (its SHA-256 differs): it was altered"
