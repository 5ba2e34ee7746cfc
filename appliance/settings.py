"""Grouped, frozen settings read from APPLIANCE_<GROUP>_<NAME> env vars and an optional TOML file."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_type_hints
from urllib.parse import urlsplit, urlunsplit

import msgspec

from appliance.auth.claim_map import role_map_problems
from appliance.notifications.quiet import parse_quiet_hours

ENV_PREFIX = "APPLIANCE_"
CONFIG_ENV = "APPLIANCE_CONFIG"
MASK = "********"


def _env(name: str, key: str | None = None) -> dict[str, Any]:
    """Field metadata: the env var name (and TOML key) when they differ from the field name."""
    return {"env": name, "key": key} if key else {"env": name}


SECRET: dict[str, Any] = {"secret": True}
_QUERY_PASSWORD = re.compile(r"(?i)(^|&)((?:ssl)?password=)[^&]*")


def mask_url(url: str) -> str:
    """The URL with its password (in the user info or the query) replaced, for printing."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    query = _QUERY_PASSWORD.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def printable(value: Any, *, secret: bool = False) -> str:
    """A setting's value as it may be shown: secrets and passwords inside URLs masked."""
    if secret:
        return MASK if value else ""
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


class _MaskedRepr:
    """A repr that never shows a secret, for tracebacks, debuggers and test reports."""

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            masked = f.metadata.get("secret") or (isinstance(value, str) and "://" in value)
            shown = printable(value, secret=bool(f.metadata.get("secret"))) if masked else value
            parts.append(f"{f.name}={shown!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


@dataclass(frozen=True, repr=False)
class DataSettings(_MaskedRepr):
    """Where the appliance keeps its files (SQLite database, key ring, exports)."""

    dir: Path = Path("var")


@dataclass(frozen=True, repr=False)
class DatabaseSettings(_MaskedRepr):
    """Unset url means the embedded SQLite file `<data dir>/appliance.db`."""

    url: str = ""
    pool_min_size: int = 1
    pool_max_size: int = 10


@dataclass(frozen=True, repr=False)
class RedisSettings(_MaskedRepr):
    """Unset url means embedded mode: in-process worker and in-database sessions."""

    url: str = ""


@dataclass(frozen=True, repr=False)
class PublicSettings(_MaskedRepr):
    """The address users reach the appliance at: the origin accepted on state-changing browser
    requests, and (with later features) the base of links in messages."""

    url: str = "http://127.0.0.1:8000"


@dataclass(frozen=True, repr=False)
class HttpSettings(_MaskedRepr):
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_kb: int = 1024
    # How long an idle keep-alive connection stays open. Longer than the load balancer's own idle
    # timeout (nginx and most balancers: 60 s), or it may reuse a connection just as we close it: a 502.
    keep_alive_seconds: int = 75
    # Server processes on this host, sharing its port: one core each. Production only (PostgreSQL and
    # Redis); the embedded mode's worker runs inside its one process.
    workers: int = 1
    # Secure + __Host- cookies. Browsers accept them on http://127.0.0.1 and http://localhost.
    secure_cookies: bool = True
    # Client addresses whose X-Forwarded-For is believed (the load balancer in front).
    trusted_proxies: tuple[str, ...] = ()
    # Strict-Transport-Security on every response: only when people reach the appliance over https.
    hsts: bool = False
    # Origins allowed to embed the customer portal in a frame (CSP frame-ancestors); staff pages never.
    frame_ancestors: tuple[str, ...] = ()


@dataclass(frozen=True, repr=False)
class SessionSettings(_MaskedRepr):
    idle_minutes: int = 30
    absolute_hours: int = 12


@dataclass(frozen=True, repr=False)
class AuthSettings(_MaskedRepr):
    # Failed or successful attempts per client address per minute before 429.
    login_attempts_per_minute: int = 10
    # Failed sign-ins in a row for one username (known or not) before it is locked for lockout_minutes.
    lockout_attempts: int = 10
    lockout_minutes: int = 15


@dataclass(frozen=True, repr=False)
class PortalSettings(_MaskedRepr):
    # Requests per minute per client address to the public booking portal's API.
    requests_per_minute: int = 120


@dataclass(frozen=True, repr=False)
class WorkerSettings(_MaskedRepr):
    # How often the sweeper hands on undelivered events, due retries and due timers.
    sweep_seconds: int = 5


@dataclass(frozen=True, repr=False)
class SmtpSettings(_MaskedRepr):
    host: str = ""
    port: int = 587
    username: str = ""
    password: str = field(default="", metadata=SECRET)
    sender: str = field(default="", metadata=_env("APPLIANCE_SMTP_FROM", key="from"))
    tls: Literal["none", "starttls", "tls"] = "starttls"


@dataclass(frozen=True, repr=False)
class NotificationSettings(_MaskedRepr):
    # "21:00-08:00" in each branch's time zone: customers' non-urgent messages wait until it ends.
    quiet_hours: str = ""


@dataclass(frozen=True, repr=False)
class OidcSettings(_MaskedRepr):
    issuer: str = ""
    client_id: str = ""
    client_secret: str = field(default="", metadata=SECRET)
    # Empty: <public url>/api/v1/auth/oidc/callback. Register it at the identity provider.
    redirect_url: str = ""
    # Empty: <public url>/. Where the provider sends people after signing out there.
    post_logout_redirect_url: str = ""
    scopes: str = "openid profile email"
    # The claim whose values role_map maps (a list of group names, or one string).
    role_claim: str = "groups"
    # "VALUE=ROLE" (every branch) or "VALUE=ROLE@BRANCH_ID": each claim value a user has gives that grant.
    role_map: tuple[str, ...] = ()
    # How often a signed-in SSO session asks the provider (refresh token) whether the user may still be in.
    recheck_seconds: int = 300


@dataclass(frozen=True, repr=False)
class CryptoSettings(_MaskedRepr):
    # The standard suite (AES-256-GCM, SHA-256) or the national one (SM4-GCM, SM3).
    suite: Literal["aes-256-gcm", "sm4-gcm"] = "aes-256-gcm"
    # Unset means `<data dir>/keyring.json`.
    keyring: Path | None = field(default=None, metadata=_env("APPLIANCE_KEYRING"))


# The Cybersecurity Law (Art. 21) asks for network logs to be kept at least six months.
MIN_AUDIT_RETENTION_DAYS = 180


@dataclass(frozen=True, repr=False)
class AuditSettings(_MaskedRepr):
    # Entries stay in the database at least this long; older ones move to archive bundles.
    retention_days: int = MIN_AUDIT_RETENTION_DAYS
    # Unset means `<data dir>/audit-archive`.
    archive_dir: Path | None = None


@dataclass(frozen=True, repr=False)
class LogSettings(_MaskedRepr):
    format: Literal["json", "console"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True, repr=False)
class Settings(_MaskedRepr):
    data: DataSettings = DataSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    public: PublicSettings = PublicSettings()
    http: HttpSettings = HttpSettings()
    session: SessionSettings = SessionSettings()
    auth: AuthSettings = AuthSettings()
    portal: PortalSettings = PortalSettings()
    worker: WorkerSettings = WorkerSettings()
    smtp: SmtpSettings = SmtpSettings()
    notifications: NotificationSettings = NotificationSettings()
    oidc: OidcSettings = OidcSettings()
    crypto: CryptoSettings = CryptoSettings()
    audit: AuditSettings = AuditSettings()
    log: LogSettings = LogSettings()

    @property
    def database_url(self) -> str:
        """The effective database URL: the embedded SQLite file when none is configured."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data.dir / 'appliance.db').resolve()}"

    @property
    def embedded(self) -> bool:
        return not self.redis.url

    @property
    def keyring_path(self) -> Path:
        return self.crypto.keyring or self.data.dir / "keyring.json"


class SettingsError(Exception):
    """Every problem found in the configuration, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class SettingSpec:
    group: str
    name: str
    env: str
    key: str  # the name inside the TOML section
    type: Any
    default: Any
    secret: bool


def setting_specs() -> list[SettingSpec]:
    """Every setting with its env name, type and default: the reference for docs and `check`."""
    specs = []
    group_types = get_type_hints(Settings)
    for group in dataclasses.fields(Settings):
        group_cls = group_types[group.name]
        hints = get_type_hints(group_cls)
        for f in dataclasses.fields(group_cls):
            env = f.metadata.get("env", f"{ENV_PREFIX}{group.name.upper()}_{f.name.upper()}")
            key = f.metadata.get("key", f.name)
            secret = bool(f.metadata.get("secret"))
            specs.append(SettingSpec(group.name, f.name, env, key, hints[f.name], f.default, secret))
    return specs


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (if APPLIANCE_CONFIG names one), then env vars over it; validate everything."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    file_values: dict[str, Any] = {}
    if config_path := environ.get(CONFIG_ENV):
        try:
            file_values = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
        except OSError as exc:
            problems.append(f"{CONFIG_ENV}={config_path}: cannot read ({exc.strerror})")
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{CONFIG_ENV}={config_path}: not valid TOML ({exc})")
    known_groups = {f.name for f in dataclasses.fields(Settings)}
    for group_name, group_values in file_values.items():
        if group_name not in known_groups or not isinstance(group_values, dict):
            problems.append(f"config file: unknown section [{group_name}]")
    known_envs = {spec.env for spec in setting_specs()} | {CONFIG_ENV}
    for name in environ:
        if name.startswith(ENV_PREFIX) and name not in known_envs:
            problems.append(f"{name}: unknown setting")

    groups: dict[str, dict[str, Any]] = {}
    for spec in setting_specs():
        raw: Any
        source: str
        if spec.env in environ:
            raw, source = environ[spec.env], spec.env
            if _is_sequence(spec.type):
                raw = [item.strip() for item in raw.split(",") if item.strip()]
        else:
            section = file_values.get(spec.group)
            if not isinstance(section, dict):
                continue
            if spec.key not in section:
                continue
            raw, source = section[spec.key], f"config file [{spec.group}] {spec.key}"
        try:
            value = _convert(raw, spec.type)
        except msgspec.ValidationError as exc:
            shown = MASK if spec.secret else repr(raw)
            problems.append(f"{source}={shown}: {_type_problem(spec.type, exc)}")
            continue
        groups.setdefault(spec.group, {})[spec.name] = value
    for group_name, section in file_values.items():
        if isinstance(section, dict) and group_name in known_groups:
            names = {s.key for s in setting_specs() if s.group == group_name}
            for key in section:
                if key not in names:
                    problems.append(f"config file [{group_name}] {key}: unknown setting")

    built = {name: type(getattr(Settings(), name))(**values) for name, values in groups.items()}
    settings = Settings(**built)
    problems.extend(validate(settings))
    if problems:
        raise SettingsError(problems)
    return settings


def _convert(raw: Any, tp: Any) -> Any:
    if tp in (Path, Path | None):
        return Path(msgspec.convert(raw, str)) if raw != "" else None if tp != Path else Path(".")
    return msgspec.convert(raw, tp, strict=False)


def _is_sequence(tp: Any) -> bool:
    return getattr(tp, "__origin__", None) in (tuple, list)


def _type_problem(tp: Any, exc: msgspec.ValidationError) -> str:
    if getattr(tp, "__origin__", None) is Literal:
        return "must be one of " + ", ".join(repr(v) for v in tp.__args__)
    return str(exc).split(" - at ")[0].replace("Expected", "expected")


def validate(settings: Settings) -> list[str]:
    """Checks across values that types alone cannot express."""
    problems = []
    db_url = settings.database.url
    if db_url and urlsplit(db_url).scheme not in ("sqlite", "postgresql", "postgres"):
        problems.append("APPLIANCE_DATABASE_URL: must start with sqlite:/// or postgresql://")
    if db_url.startswith("sqlite") and not db_url.startswith("sqlite:///"):
        problems.append("APPLIANCE_DATABASE_URL: a SQLite URL is sqlite:////absolute/path/app.db")
    if settings.redis.url and urlsplit(settings.redis.url).scheme not in ("redis", "rediss"):
        problems.append("APPLIANCE_REDIS_URL: must start with redis:// or rediss://")
    public = urlsplit(settings.public.url)
    if public.scheme not in ("http", "https") or not public.hostname:
        problems.append("APPLIANCE_PUBLIC_URL: must be an http(s) URL such as https://booking.example.com")
    if not 1 <= settings.http.port <= 65535:
        problems.append("APPLIANCE_HTTP_PORT: must be between 1 and 65535")
    if settings.http.max_body_kb < 1:
        problems.append("APPLIANCE_HTTP_MAX_BODY_KB: must be at least 1")
    if settings.http.keep_alive_seconds < 1:
        problems.append("APPLIANCE_HTTP_KEEP_ALIVE_SECONDS: must be at least 1")
    if not 1 <= settings.http.workers <= 64:
        problems.append("APPLIANCE_HTTP_WORKERS: must be between 1 and 64")
    elif settings.http.workers > 1 and (settings.embedded or not settings.database_url.startswith("postgresql")):
        problems.append(
            "APPLIANCE_HTTP_WORKERS: more than one server process needs production mode (PostgreSQL and "
            "APPLIANCE_REDIS_URL): the embedded worker and the SQLite file belong to one process"
        )
    if not 1 <= settings.database.pool_min_size <= settings.database.pool_max_size:
        problems.append("APPLIANCE_DATABASE_POOL_MIN_SIZE: must be at least 1 and not above POOL_MAX_SIZE")
    if settings.session.idle_minutes < 1 or settings.session.absolute_hours < 1:
        problems.append("APPLIANCE_SESSION_*: timeouts must be positive")
    if settings.session.idle_minutes > settings.session.absolute_hours * 60:
        problems.append("APPLIANCE_SESSION_IDLE_MINUTES: must not exceed the absolute timeout")
    if not 1 <= settings.worker.sweep_seconds <= 60:
        problems.append("APPLIANCE_WORKER_SWEEP_SECONDS: must be between 1 and 60")
    if settings.portal.requests_per_minute < 1:
        problems.append("APPLIANCE_PORTAL_REQUESTS_PER_MINUTE: must be at least 1")
    if settings.auth.login_attempts_per_minute < 1:
        problems.append("APPLIANCE_AUTH_LOGIN_ATTEMPTS_PER_MINUTE: must be at least 1")
    if settings.auth.lockout_attempts < 1 or settings.auth.lockout_minutes < 1:
        problems.append("APPLIANCE_AUTH_LOCKOUT_ATTEMPTS and APPLIANCE_AUTH_LOCKOUT_MINUTES: must be at least 1")
    if settings.http.hsts and urlsplit(settings.public.url).scheme != "https":
        problems.append("APPLIANCE_HTTP_HSTS: only with an https APPLIANCE_PUBLIC_URL")
    problems.extend(f"APPLIANCE_HTTP_FRAME_ANCESTORS: {p}" for p in map(_frame_ancestor_problem, settings.http.frame_ancestors) if p)
    if settings.smtp.host and not settings.smtp.sender:
        problems.append("APPLIANCE_SMTP_FROM: required when APPLIANCE_SMTP_HOST is set")
    if not _quiet_hours_ok(settings.notifications.quiet_hours):
        problems.append("APPLIANCE_NOTIFICATIONS_QUIET_HOURS: a window such as 21:00-08:00, or empty for none")
    if settings.audit.retention_days < MIN_AUDIT_RETENTION_DAYS:
        problems.append(f"APPLIANCE_AUDIT_RETENTION_DAYS: must be at least {MIN_AUDIT_RETENTION_DAYS} (six months)")
    oidc = settings.oidc
    if any((oidc.issuer, oidc.client_id, oidc.client_secret)) and not all((oidc.issuer, oidc.client_id)):
        problems.append("APPLIANCE_OIDC_ISSUER and APPLIANCE_OIDC_CLIENT_ID: set both to enable SSO")
    if oidc.issuer and urlsplit(oidc.issuer).scheme != "https" and urlsplit(oidc.issuer).hostname not in ("127.0.0.1", "localhost"):
        problems.append("APPLIANCE_OIDC_ISSUER: must be https (plain http only on loopback)")
    if "openid" not in oidc.scopes.split():
        problems.append("APPLIANCE_OIDC_SCOPES: must include openid")
    for url_name in ("redirect_url", "post_logout_redirect_url"):
        url = getattr(oidc, url_name)
        if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname):
            problems.append(f"APPLIANCE_OIDC_{url_name.upper()}: must be an http(s) URL")
    problems.extend(f"APPLIANCE_OIDC_ROLE_MAP: {p}" for p in role_map_problems(oidc.role_map))
    if oidc.recheck_seconds < 1:
        problems.append("APPLIANCE_OIDC_RECHECK_SECONDS: must be at least 1")
    return problems


def _frame_ancestor_problem(origin: str) -> str | None:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return f"{origin!r} is not an origin such as https://www.example.com"
    return None


def _quiet_hours_ok(text: str) -> bool:
    try:
        parse_quiet_hours(text)
    except ValueError:
        return False
    return True


# libpq, asyncpg and redis-py also take the password as a query parameter (`?password=...`).


def effective_settings(settings: Settings) -> list[tuple[str, str]]:
    """(env name, printable value) for every setting; secrets and URL passwords masked."""
    rows = []
    for spec in setting_specs():
        value = getattr(getattr(settings, spec.group), spec.name)
        rows.append((spec.env, printable(value, secret=spec.secret)))
    return rows
