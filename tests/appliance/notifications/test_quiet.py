"""Quiet hours on a branch's local clock: inside the window a message waits for its end, outside it does not."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from appliance.notifications.quiet import QuietHours, parse_quiet_hours, quiet_until
from appliance.settings import SettingsError, load_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = QuietHours(time(21, 0), time(8, 0))


def at(hour: int, minute: int = 0, day: int = 3) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(("now", "until"), [
    (at(22, 30), at(8, 0, day=4)),  # evening: the next morning
    (at(3, 0), at(8, 0)),  # after midnight: this morning
    (at(21, 0), at(8, 0, day=4)),  # the start is inside
])
def test_a_time_inside_a_window_over_midnight_waits_for_its_end(now: datetime, until: datetime) -> None:
    assert quiet_until(now, SHANGHAI, NIGHT) == until


@pytest.mark.parametrize("now", [at(8, 0), at(12, 0), at(20, 59)])
def test_a_time_outside_the_window_does_not_wait(now: datetime) -> None:
    assert quiet_until(now, SHANGHAI, NIGHT) is None


def test_the_window_is_read_on_the_branchs_clock_not_utc() -> None:
    utc_afternoon = datetime(2026, 12, 3, 14, 0, tzinfo=ZoneInfo("UTC"))  # 22:00 in Shanghai
    assert quiet_until(utc_afternoon, SHANGHAI, NIGHT) == at(8, 0, day=4)
    assert quiet_until(utc_afternoon, ZoneInfo("Europe/Berlin"), NIGHT) is None  # 15:00 in Berlin


def test_a_window_within_one_day() -> None:
    lunch = QuietHours(time(12, 0), time(13, 30))
    assert quiet_until(at(12, 15), SHANGHAI, lunch) == at(13, 30)
    assert quiet_until(at(13, 30), SHANGHAI, lunch) is None


def test_the_setting_is_parsed_and_a_bad_one_refused_by_name() -> None:
    assert parse_quiet_hours("") is None
    assert parse_quiet_hours(" 21:00 - 08:00 ") == NIGHT
    for bad in ("21-8", "25:00-08:00", "08:00-08:00"):
        with pytest.raises(SettingsError, match="APPLIANCE_NOTIFICATIONS_QUIET_HOURS"):
            load_settings({"APPLIANCE_NOTIFICATIONS_QUIET_HOURS": bad})
