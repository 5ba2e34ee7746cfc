"""This process's audit settings: where the key ring and archives are, which hash a new log uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from appliance.audit.merkle import HashName
from appliance.core.errors import Unavailable
from appliance.settings import Settings

# How often, at most, a signed checkpoint covers newly sealed entries.
CHECKPOINT_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class AuditConfig:
    keyring_path: Path
    hash_name: HashName  # for a log that does not exist yet; an existing log keeps its own
    origin_host: str  # the first part of a new log's name
    retention: timedelta
    archive_dir: Path
    work_dir: Path  # where exports are assembled before they are sent


def hash_name_for(settings: Settings) -> HashName:
    """SM3 with the national suite (`APPLIANCE_CRYPTO_SUITE=sm4-gcm`), SHA-256 otherwise."""
    return "sm3" if settings.crypto.suite == "sm4-gcm" else "sha256"


def config_from(settings: Settings) -> AuditConfig:
    return AuditConfig(
        keyring_path=settings.keyring_path,
        hash_name=hash_name_for(settings),
        origin_host=urlsplit(settings.public.url).netloc.rpartition("@")[2] or "appliance.local",
        retention=timedelta(days=settings.audit.retention_days),
        archive_dir=settings.audit.archive_dir or settings.data.dir / "audit-archive",
        work_dir=settings.data.dir / "tmp",
    )


_config: AuditConfig | None = None


def configure_audit(settings: Settings) -> None:
    """Every process that seals, signs, exports or archives calls this (the app, the worker, the CLI)."""
    global _config
    _config = config_from(settings)


def configured() -> AuditConfig | None:
    return _config


def audit_config() -> AuditConfig:
    if _config is None:
        raise Unavailable("the audit log is not configured in this process")
    return _config
