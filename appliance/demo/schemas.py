"""What seeding the demo reports: counts only, never a customer's details."""

from __future__ import annotations

from datetime import date

import msgspec


class DemoSummary(msgspec.Struct, frozen=True):
    counts: dict[str, int]  # rows per table written (and resources per kind)
    bookings_by_status: dict[str, int]
    first_day: date  # bookings span these local dates
    last_day: date
    today: date
    timezone: str
    deleted: dict[str, int] | None = None  # rows a reset removed first; None when nothing was reset

    def describe(self, seconds: float) -> str:
        """One paragraph for the operator: rows per table and the dates the bookings span."""
        counts = self.counts
        by_status = ", ".join(f"{n:,} {status.replace('_', ' ')}" for status, n in self.bookings_by_status.items())
        deleted = ""
        if self.deleted is not None:
            removed = ", ".join(f"{n:,} {table.replace('_', ' ')}" for table, n in self.deleted.items() if n)
            deleted = f"Deleted first: {removed or 'nothing'}. "
        return (
            f"{deleted}Seeded the demo business in {seconds:.1f} s: {counts['branches']} branches, "
            f"{counts['staff']} staff, {counts['rooms']} rooms, {counts['equipment']} pieces of equipment, "
            f"{counts['time_off']} time-off ranges, {counts['services']} services, {counts['customers']:,} customers "
            f"and {counts['bookings']:,} bookings ({by_status}) holding {counts['allocations']:,} allocations, "
            f"dated {self.first_day} to {self.last_day} around today, {self.today} ({self.timezone})."
        )
