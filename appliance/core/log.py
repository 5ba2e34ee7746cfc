"""structlog set-up: JSON (or console) lines, bound request context, and redaction of personal data."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"

# Keys whose values never reach a log line, whatever they hold.
SENSITIVE_KEYS = frozenset(
    {
        "password", "passwd", "secret", "token", "api_token", "access_token", "refresh_token", "id_token",
        "authorization", "cookie", "set-cookie", "session", "session_id", "csrf_token", "totp", "authorization_code",
        "name", "full_name", "phone", "mobile", "email", "address", "birthday", "id_number", "body",
        "answers", "customer", "notes", "query_string",
    }
)
_SENSITIVE_PARTS = ("password", "secret", "token", "cookie", "phone", "email")
# Values that look like personal data even under an innocent key.
_PII_PATTERNS = (
    # Email address. The local part is bounded (RFC 5321 allows 64) so a long line without an @ stays linear.
    re.compile(r"[\w.+-]{1,64}@[\w-]+\.[\w.-]+"),
    # Mainland China mobile number, not a digit run inside a hex identifier (a request id, a UUID).
    re.compile(r"(?<![0-9A-Za-z])(?:\+?86)?1[3-9]\d{9}(?![0-9A-Za-z])"),
    re.compile(r"(?i)\b(?:bearer|basic)\s+\S+"),  # Authorization header credentials
)
# Secrets written into free text (a library's message, an exception), where no key marks them:
# `scheme://user:pw@host`, `password=...`, `"token": "..."`, `Cookie: a=1; b=2`. The name stays, the value goes.
_SECRETS_IN_TEXT = (
    re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://[^/\s:@]*:)[^/\s@]+(@)"),
    re.compile(r"(?i)\b((?:set-)?cookie[\"']?\s*[=:]\s*)[^\s;,\"']+(?:;\s*[^\s;,\"']+)*()"),
    # Vendor webhook addresses carry their secret as a bare query parameter (WeCom group robot: `?key=`,
    # DingTalk robot: `&sign=`).
    re.compile(r"(?i)([?&](?:key|sign|signature)=)[^&\s#\"']+()"),
    re.compile(
        r"(?i)\b([\w-]{0,40}(?:password|passwd|secret|token|session|authorization|api[_-]?key)[\w-]{0,40}[\"']?\s*[=:]\s*)"
        r"(?:\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)()"
    ),
)


def _is_sensitive(key: str) -> bool:
    lowered = key.lower()
    return lowered in SENSITIVE_KEYS or any(part in lowered for part in _SENSITIVE_PARTS)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for pattern in _PII_PATTERNS:
            value = pattern.sub(REDACTED, value)
        for secret in _SECRETS_IN_TEXT:
            value = secret.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", value)
        return value
    if isinstance(value, dict):
        return {k: REDACTED if _is_sensitive(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def redact_text(text: str) -> str:
    """Text with personal data patterns and embedded secrets masked (responses kept for diagnosis)."""
    scrubbed: str = _scrub(text)
    return scrubbed


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Drop sensitive keys and mask personal data patterns in every value, exceptions included."""
    for key in list(event_dict):
        if key == "event":
            event_dict[key] = _scrub(event_dict[key])
        elif _is_sensitive(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    """Route structlog and stdlib logging (uvicorn, piccolo, dramatiq) through one redacting pipeline."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer(default=repr)
    )
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # At debug these log SQL with its parameters, or whole URLs with their query strings: personal data
    # and secrets. Whatever the level asked for, they say only what went wrong.
    for name in ("piccolo", "aiosqlite", "asyncpg", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
    # uvicorn's access log prints full paths with query strings; our request log replaces it.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
