"""Checking an audit bundle with nothing but the bundle (and, optionally, a checkpoint kept from before).

Pure: reads the zip file, never the database. A bundle holds entries seq first..last of one log:

    manifest.json     what the bundle covers, the tree around it, and the SHA-256 of every other file
    manifest.sig      Ed25519 signature of manifest.json by the log's key
    entries.jsonl     one entry per line, its canonical JSON: leaf hash = H(0x00 ‖ line)
    entries.csv       the same entries for spreadsheets (checked against entries.jsonl)
    leaf-hashes.txt   `seq hex` per entry: the hash each entry was sealed with
    checkpoint.txt    the checkpoint signed when the bundle was made (size ≥ last): keep it
    checkpoints/      the checkpoints signed over time whose size falls within first..last
    public-key.pem    the log's Ed25519 public key
    README.txt        how to check it

What is checked: the manifest's signature and every file's hash; each entry's place (seq one more than
the line before) and its hash against the one it was sealed with; the Merkle root recomputed from the
entries (plus the manifest's prefix and suffix subtrees) against every signed checkpoint; the CSV
against the entries; and a checkpoint kept from earlier against the same tree, which is what catches a
log cut short or rewritten by someone holding the key.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.audit.logic import CSV_COLUMNS, csv_row
from appliance.audit.merkle import HASH_NAMES, Frontier, Hasher, range_heights
from appliance.audit.notes import Checkpoint, NoteError, format_time, open_checkpoint
from appliance.core.keyring import load_public_key_pem, public_key_fingerprint, public_key_id

BUNDLE_FORMAT = "appliance-audit-bundle/1"
MANIFEST = "manifest.json"
MANIFEST_SIGNATURE = "manifest.sig"
ENTRIES = "entries.jsonl"
ENTRIES_CSV = "entries.csv"
LEAF_HASHES = "leaf-hashes.txt"
CHECKPOINT = "checkpoint.txt"
CHECKPOINTS_DIR = "checkpoints/"
PUBLIC_KEY = "public-key.pem"
README = "README.txt"
_READ_CHUNK = 1 << 20
decode_json = msgspec.json.Decoder().decode
HASH_LABELS = {"sha256": "SHA-256", "sm3": "SM3"}


class BundleError(Exception):
    """The file cannot be read as an audit bundle at all."""


@dataclass
class Report:
    bundle: Path
    facts: list[str] = field(default_factory=list)  # what the bundle is
    passed: list[str] = field(default_factory=list)  # checks that held
    problems: list[str] = field(default_factory=list)  # checks that failed; the first bad entry first

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Manifest:
    raw: bytes
    kind: str
    origin: str
    hash_name: str
    first_seq: int
    last_seq: int
    tree_size: int
    archived_through: int
    prefix: list[bytes]
    suffix: list[bytes]
    files: dict[str, str]  # name -> sha256 hex

    @property
    def entries(self) -> int:
        return self.last_seq - self.first_seq + 1


def _manifest(raw: bytes) -> _Manifest:
    try:
        data = json.loads(raw)
        if data.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{MANIFEST} is not a {BUNDLE_FORMAT} manifest")
        manifest = _Manifest(
            raw=raw, kind=str(data["kind"]), origin=str(data["origin"]), hash_name=str(data["hash"]),
            first_seq=int(data["first_seq"]), last_seq=int(data["last_seq"]), tree_size=int(data["tree_size"]),
            archived_through=int(data.get("archived_through", 0)),
            prefix=[bytes.fromhex(h) for h in data["prefix"]], suffix=[bytes.fromhex(h) for h in data["suffix"]],
            files={str(name): str(entry["sha256"]) for name, entry in data["files"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BundleError(f"{MANIFEST} cannot be read ({exc})") from None
    if manifest.hash_name not in HASH_NAMES:
        raise BundleError(f"{MANIFEST} names an unknown hash {manifest.hash_name!r}")
    if not 1 <= manifest.first_seq <= manifest.last_seq + 1 <= manifest.tree_size + 1:
        raise BundleError(f"{MANIFEST} covers an impossible range (seq {manifest.first_seq}–{manifest.last_seq})")
    return manifest


def _sha256_of(archive: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with archive.open(name) as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _lines(archive: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    """The file's lines without their newline, split on \\n only (an entry may hold U+2028)."""
    with archive.open(name) as handle:
        rest = b""
        while chunk := handle.read(_READ_CHUNK):
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            yield from parts
        if rest:
            yield rest


def _seq_of(record: Any) -> int | None:
    if isinstance(record, dict):
        seq = record.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            return seq
    return None


@dataclass
class _Entries:
    """What the entry lines hold, line by line: their seq (-1: not an entry) and computed leaf hash."""

    seqs: array[int] = field(default_factory=lambda: array("q"))
    leaves: bytearray = field(default_factory=bytearray)
    csv_problem: str | None = None

    def leaf(self, index: int) -> bytes:
        return bytes(self.leaves[32 * index : 32 * index + 32])

    def where(self, seq: int, start: int = 0) -> int | None:
        """The first line index at or after `start` that holds `seq`."""
        for index in range(start, len(self.seqs)):
            if self.seqs[index] == seq:
                return index
        return None


def _first_bad_line(entries: _Entries, manifest: _Manifest, sealed: Callable[[int], bytes | None] | None) -> str | None:
    """The first line that is not the entry expected there, and what happened to it."""
    first, last = manifest.first_seq, manifest.last_seq
    for index, seq in enumerate(entries.seqs):
        expected, line = first + index, index + 1
        if seq == expected:
            sealed_hash = sealed(seq) if sealed is not None else None
            if sealed_hash is None or entries.leaf(index) == sealed_hash:
                continue
            later = entries.where(seq, index + 1)
            if later is not None and entries.leaf(later) == sealed_hash:
                return (
                    f"line {line} of {ENTRIES} was inserted: it claims seq {seq}, but the entry sealed as seq {seq} "
                    f"is at line {later + 1}"
                )
            return (
                f"entry seq {seq} (line {line} of {ENTRIES}) was edited: its content does not match the hash it "
                "was sealed with"
            )
        if seq < 0:
            return f"line {line} of {ENTRIES} is not an audit entry (damaged or inserted)"
        if seq < expected and entries.where(seq) != index:
            earlier = entries.where(seq)
            assert earlier is not None
            return (
                f"line {line} of {ENTRIES} repeats seq {seq} (already at line {earlier + 1}): an entry was inserted "
                "or duplicated"
            )
        if not first <= seq <= last:
            return (
                f"line {line} of {ENTRIES} holds seq {seq}, outside this bundle's seq {first}–{last}: an entry was "
                "inserted"
            )
        found = entries.where(expected, index + 1)
        if found is None:
            return (
                f"entry seq {expected} is missing (deleted): line {line} of {ENTRIES} holds seq {seq} where seq "
                f"{expected} belongs"
            )
        return (
            f"entries are out of order: line {line} of {ENTRIES} holds seq {seq}, but seq {expected} comes later, "
            f"at line {found + 1} (reordered)"
        )
    present = len(entries.seqs)
    if present < manifest.entries:
        last_seen = first + present - 1
        return (
            f"the entries end at seq {last_seen} but the bundle covers up to seq {last}: seq {last_seen + 1}–{last} "
            "are missing (the tail was cut off)"
        )
    return None


def _sealed_hashes(archive: zipfile.ZipFile, manifest: _Manifest) -> Callable[[int], bytes | None] | None:
    """The hash each entry was sealed with, from leaf-hashes.txt; None when the file cannot be trusted."""
    table = bytearray(32 * manifest.entries)
    try:
        for number, line in enumerate(_lines(archive, LEAF_HASHES)):
            seq_text, _, hex_hash = line.decode().partition(" ")
            if int(seq_text) != manifest.first_seq + number:
                return None
            table[32 * number : 32 * number + 32] = bytes.fromhex(hex_hash)
    except (ValueError, KeyError, UnicodeDecodeError, IndexError):
        return None

    def sealed(seq: int) -> bytes | None:
        index = seq - manifest.first_seq
        if not 0 <= index < manifest.entries:
            return None
        return bytes(table[32 * index : 32 * index + 32])

    return sealed


def _read_entries(
    archive: zipfile.ZipFile, hasher: Hasher, tree: Frontier, at_sizes: Callable[[Frontier], None]
) -> _Entries:
    """Hash every line into the tree (in file order), calling `at_sizes` after each; compare the CSV."""
    entries = _Entries()
    leaf, append = hasher.leaf, tree.append
    csv_rows = _csv_rows(archive)

    def next_row() -> list[str] | None:
        try:
            return next(csv_rows, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            if entries.csv_problem is None:
                entries.csv_problem = f"{ENTRIES_CSV} cannot be read as CSV ({exc})"
            return None

    if next_row() != list(CSV_COLUMNS) and entries.csv_problem is None:
        entries.csv_problem = f"{ENTRIES_CSV} does not start with the expected header row"
    for index, line in enumerate(_lines(archive, ENTRIES)):
        leaf_hash = leaf(line)
        entries.leaves += leaf_hash
        try:
            record = decode_json(line)
        except msgspec.DecodeError:
            record = None
        seq = _seq_of(record)
        entries.seqs.append(-1 if seq is None else seq)
        append(leaf_hash)
        at_sizes(tree)
        row = next_row() if entries.csv_problem is None else None
        if entries.csv_problem is None and isinstance(record, dict) and row != (expected := csv_row(record)):
            entries.csv_problem = _csv_difference(index + 1, seq, row, expected)
    if entries.csv_problem is None and next_row() is not None:
        entries.csv_problem = f"{ENTRIES_CSV} has more rows than {ENTRIES} has entries"
    return entries


def _csv_rows(archive: zipfile.ZipFile) -> Iterator[list[str]]:
    if ENTRIES_CSV not in archive.namelist():
        return iter(())
    handle = io.TextIOWrapper(archive.open(ENTRIES_CSV), encoding="utf-8-sig", newline="")
    return iter(csv.reader(handle))


def _csv_difference(row_number: int, seq: int | None, row: list[str] | None, expected: list[str]) -> str:
    if row is None:
        return f"{ENTRIES_CSV} has fewer rows than {ENTRIES} has entries: it ends before seq {seq}"
    where = f"row {row_number + 1} of {ENTRIES_CSV} (seq {seq})"
    if len(row) != len(expected):
        return f"{where} has {len(row)} columns, not {len(expected)}"
    column = next(name for name, got, want in zip(CSV_COLUMNS, row, expected, strict=True) if got != want)
    return f"{where} differs from {ENTRIES} in column {column}"


def _signed_checkpoints(
    archive: zipfile.ZipFile, manifest: _Manifest, public_raw: bytes, report: Report
) -> tuple[Checkpoint | None, list[Checkpoint]]:
    """The bundle's own checkpoint and the intermediate ones, each checked against the key."""
    own: Checkpoint | None = None
    names = sorted(n for n in archive.namelist() if n.startswith(CHECKPOINTS_DIR) and n != CHECKPOINTS_DIR)
    found = []
    for name in [CHECKPOINT, *names]:
        try:
            checkpoint = open_checkpoint(archive.read(name).decode(), public_raw)
        except KeyError:
            report.problems.append(f"{name} is missing: the bundle has no signed checkpoint")
            continue
        except (NoteError, UnicodeDecodeError) as exc:
            report.problems.append(f"{name}: {exc}")
            continue
        if checkpoint.origin != manifest.origin or checkpoint.hash_name != manifest.hash_name:
            report.problems.append(f"{name} belongs to another log ({checkpoint.origin}, {checkpoint.hash_name})")
            continue
        if name == CHECKPOINT:
            own = checkpoint
            if checkpoint.size != manifest.tree_size:
                report.problems.append(
                    f"{CHECKPOINT} covers {checkpoint.size} entries but the manifest says {manifest.tree_size}"
                )
        else:
            found.append(checkpoint)
    return own, found


def verify_bundle(bundle: Path, *, checkpoint_note: str | None = None, public_key_pem: bytes | None = None) -> Report:
    """Check the bundle; `checkpoint_note` is a checkpoint kept from before (e.g. an earlier bundle's
    checkpoint.txt), `public_key_pem` the key to trust instead of the bundle's own."""
    report = Report(bundle=bundle)
    try:
        archive = zipfile.ZipFile(bundle)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{bundle} is not a readable zip file ({exc})") from None
    with archive:
        try:
            _verify(archive, report, checkpoint_note, public_key_pem)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise BundleError(f"the zip file is damaged ({exc}): its bytes were altered") from None
    return report


def _verify(archive: zipfile.ZipFile, report: Report, checkpoint_note: str | None, public_key_pem: bytes | None) -> None:
    names = set(archive.namelist())
    if MANIFEST not in names:
        raise BundleError(f"there is no {MANIFEST}: this is not an audit bundle")
    manifest = _manifest(archive.read(MANIFEST))
    hasher = Hasher(manifest.hash_name)  # type: ignore[arg-type]
    entry_problems: list[str] = []

    # The key: the one given, or the bundle's own.
    try:
        bundle_key = load_public_key_pem(archive.read(PUBLIC_KEY))
    except (KeyError, ValueError):
        bundle_key = None
    if public_key_pem is not None:
        public_raw = load_public_key_pem(public_key_pem)
        if bundle_key is not None and bundle_key != public_raw:
            report.problems.append(f"the bundle's {PUBLIC_KEY} is not the key you gave: the log's key was replaced")
    elif bundle_key is not None:
        public_raw = bundle_key
    else:
        raise BundleError(f"{PUBLIC_KEY} is missing or not an Ed25519 public key")
    kind = "archive" if manifest.kind == "archive" else "export"
    range_text = f"seq {manifest.first_seq}–{manifest.last_seq}" if manifest.entries else "no entries"
    report.facts.append(
        f"{kind} of {range_text} ({manifest.entries} entries) from the log {manifest.origin}, "
        f"{HASH_LABELS[manifest.hash_name]} Merkle tree of {manifest.tree_size} entries"
    )
    if manifest.archived_through:
        report.facts.append(f"entries 1–{manifest.archived_through} had been archived when it was made")
    report.facts.append(
        f"key {public_key_id(public_raw)}{' (given)' if public_key_pem else ''}, fingerprint "
        f"{public_key_fingerprint(public_raw)}"
    )

    # The manifest's signature, then every file against the manifest.
    manifest_signed = False
    try:
        signature = base64.b64decode(archive.read(MANIFEST_SIGNATURE).strip(), validate=True)
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, manifest.raw)
        manifest_signed = True
        report.passed.append(f"{MANIFEST} is signed by this key")
    except (KeyError, binascii.Error, InvalidSignature):
        report.problems.append(f"{MANIFEST} is not signed by this key (it was altered, or {MANIFEST_SIGNATURE} is missing)")
    files_ok: dict[str, bool] = {}
    for name, expected in sorted(manifest.files.items()):
        if name not in names:
            report.problems.append(f"{name} is missing from the bundle")
            files_ok[name] = False
            continue
        files_ok[name] = _sha256_of(archive, name) == expected
        if not files_ok[name]:
            report.problems.append(f"{name} does not match the manifest (its SHA-256 differs): it was altered")
    extra = sorted(names - set(manifest.files) - {MANIFEST, MANIFEST_SIGNATURE, CHECKPOINTS_DIR})
    for name in extra:
        report.problems.append(f"{name} is not listed in the manifest: it was added")
    if all(files_ok.values()) and not extra:
        report.passed.append(f"{len(files_ok)} files match the manifest")

    # The signed checkpoints, and the one kept from before.
    own, checkpoints = _signed_checkpoints(archive, manifest, public_raw, report)
    kept: Checkpoint | None = None
    if checkpoint_note is not None:
        try:
            kept = open_checkpoint(checkpoint_note, public_raw)
        except NoteError as exc:
            report.problems.append(f"your checkpoint: {exc} — was the log's key replaced?")
        else:
            if kept.origin != manifest.origin:
                report.problems.append(f"your checkpoint is from another log ({kept.origin}), not {manifest.origin}")
                kept = None

    # The entries: hashed into the tree, roots compared whenever the tree reaches a checkpoint's size.
    if len(manifest.prefix) != bin(manifest.first_seq - 1).count("1"):
        raise BundleError(f"{MANIFEST}: the prefix does not describe a tree of {manifest.first_seq - 1} entries")
    tree = Frontier(hasher, manifest.first_seq - 1, manifest.prefix)
    by_size: dict[int, list[tuple[str, Checkpoint]]] = {}
    for checkpoint in checkpoints:
        by_size.setdefault(checkpoint.size, []).append(("checkpoint", checkpoint))
    if kept is not None:
        by_size.setdefault(kept.size, []).append(("kept", kept))
    if own is not None:
        by_size.setdefault(own.size, []).append(("own", own))
    compared: list[tuple[str, Checkpoint, bool]] = []

    def at_sizes(current: Frontier) -> None:
        if current.size in by_size:
            root = current.root()
            compared.extend((role, cp, cp.root == root) for role, cp in by_size[current.size])

    at_sizes(tree)
    entries = _read_entries(archive, hasher, tree, at_sizes)
    sealed = _sealed_hashes(archive, manifest) if manifest_signed and files_ok.get(LEAF_HASHES) else None
    if first_bad := _first_bad_line(entries, manifest, sealed):
        entry_problems.append(first_bad)
    else:
        sealed_note = ", each matching the hash it was sealed with" if sealed else ""
        report.passed.append(f"{len(entries.seqs)} entries, {range_text}, in order{sealed_note}")
    if entries.csv_problem:
        report.problems.append(entries.csv_problem)
    else:
        report.passed.append(f"{ENTRIES_CSV} matches {ENTRIES}")

    # The subtrees after the bundle's last entry, up to the bundle's checkpoint.
    if len(entries.seqs) == manifest.entries:
        heights = list(range_heights(manifest.last_seq, manifest.tree_size))
        if len(heights) != len(manifest.suffix):
            raise BundleError(f"{MANIFEST}: the suffix does not describe seq {manifest.last_seq + 1}–{manifest.tree_size}")
        for (_, height), node in zip(heights, manifest.suffix, strict=True):
            tree.append_subtree(node, height)
            if tree.size == manifest.tree_size:
                at_sizes(tree)

    _judge_checkpoints(compared, manifest, own, kept, report, entry_problems)
    report.problems[:0] = entry_problems


def _judge_checkpoints(
    compared: list[tuple[str, Checkpoint, bool]], manifest: _Manifest, own: Checkpoint | None,
    kept: Checkpoint | None, report: Report, entry_problems: list[str],
) -> None:
    intermediate = sorted(((cp, ok) for role, cp, ok in compared if role == "checkpoint"), key=lambda r: r[0].size)
    good_before = manifest.first_seq - 1
    bad = next(((cp, good) for cp, good in _with_last_good(intermediate, good_before) if not cp[1]), None)
    if bad is not None:
        (checkpoint, _), last_good = bad
        entry_problems.append(
            f"the entries up to seq {checkpoint.size} do not match the checkpoint of that size signed "
            f"{format_time(checkpoint.signed_at)}: an entry from seq {last_good + 1} to {checkpoint.size} was "
            "changed, added, removed or moved"
        )
    elif intermediate:
        sizes = [cp.size for cp, _ in intermediate]
        report.passed.append(
            f"{len(intermediate)} checkpoint{'s' if len(intermediate) > 1 else ''} signed over time match"
            f"{'' if len(intermediate) > 1 else 'es'} the entries (sizes {sizes[0]}–{sizes[-1]})"
        )
    own_results = [ok for role, _, ok in compared if role == "own"]
    if own is not None:
        if own_results == [True]:
            report.passed.append(
                f"the bundle's checkpoint (size {own.size}, signed {format_time(own.signed_at)}) matches the entries"
            )
        elif bad is None:
            entry_problems.append(
                f"the entries do not match the bundle's checkpoint (size {own.size}, signed "
                f"{format_time(own.signed_at)})"
            )
    if kept is None:
        return
    kept_results = [ok for role, _, ok in compared if role == "kept"]
    when = f"size {kept.size}, signed {format_time(kept.signed_at)}"
    if kept.size > manifest.tree_size:
        entry_problems.append(
            f"the log was cut short: your checkpoint ({when}) covers {kept.size} entries, but this bundle's log has "
            f"only {manifest.tree_size}: seq {manifest.tree_size + 1}–{kept.size} are missing"
        )
    elif kept_results == [True]:
        report.passed.append(f"your checkpoint ({when}) is consistent with this bundle: the log only grew since")
    elif kept_results:
        entry_problems.append(
            f"your checkpoint ({when}) does not match entries 1–{kept.size} of this bundle: the log was rewritten "
            "since it was signed"
        )
    else:
        where = "before its first entry" if kept.size < manifest.first_seq - 1 else "after its last entry"
        report.problems.append(
            f"your checkpoint ({when}) cannot be checked with this bundle: it falls {where} (the bundle holds seq "
            f"{manifest.first_seq}–{manifest.last_seq}); export a range that includes seq {kept.size}"
        )


def _with_last_good(
    results: list[tuple[Checkpoint, bool]], start: int
) -> Iterator[tuple[tuple[Checkpoint, bool], int]]:
    """Each result with the size of the last good checkpoint before it."""
    last_good = start
    for checkpoint, ok in results:
        yield (checkpoint, ok), last_good
        if ok:
            last_good = checkpoint.size
