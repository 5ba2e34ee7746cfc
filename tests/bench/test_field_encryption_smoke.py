"""The field-encryption benchmark's quick run: every figure is printed; nothing about time is asserted."""

from __future__ import annotations

import io

from tests.bench import field_encryption


def test_quick_run_prints_every_figure() -> None:
    out = io.StringIO()

    field_encryption.run(bookings=5, rounds=2, out=out)

    text = out.getvalue()
    for line in ("cipher aes-256-gcm seal_us=", "cipher sm4-gcm seal_us=", "cipher blind_index_us="):
        assert line in text, text
    for engine in ("sqlite", "postgresql"):
        for name in ("booking_create_ms", "list_page_ms", "detail_ms"):
            assert f"{engine} {name} sealed=" in text and "ratio=" in text, text
