"""An RFC 5545 calendar file for one booking (hand-built: one event, so no calendar library is needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from appliance.bookings.schemas import PortalBooking
from appliance.catalog.schemas import Branch
from appliance.core.clock import utc_now


def escape_text(value: str) -> str:
    """TEXT value escaping (RFC 5545 §3.3.11): backslash, semicolon, comma and newlines."""
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Lines of at most 75 octets, continued with CRLF and a space (§3.1), never splitting a UTF-8 character."""
    out: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += char
        size += width
    out.append(current)
    return "\r\n".join(out)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def booking_calendar(booking: PortalBooking, branch: Branch, *, manage_url: str) -> bytes:
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//booking-appliance//portal//EN", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{booking.id}@booking-appliance",
        f"DTSTAMP:{_stamp(utc_now())}",
        f"DTSTART:{_stamp(booking.starts_at)}",
        f"DTEND:{_stamp(booking.ends_at)}",
        f"SUMMARY:{escape_text(f'{booking.service_name} · {branch.name}')}",
        f"LOCATION:{escape_text(branch.address or branch.name)}",
        f"DESCRIPTION:{escape_text(manage_url)}",
        f"URL:{manage_url}",
        "STATUS:CANCELLED" if booking.status == "cancelled" else "STATUS:CONFIRMED",
        "END:VEVENT", "END:VCALENDAR",
    ]
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode("utf-8")
