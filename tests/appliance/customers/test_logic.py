"""The CRM's pure rules: tag and map bounds, facts from bookings, tiers, and points arithmetic."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from appliance.customers.logic import (
    DEFAULT_TIERS, MAX_TAG_LENGTH, Lot, Tier, Visit, add_months, derive_facts, earned_tier, map_problems,
    _parsed_phone, normalise_phone, normalise_tag, points_for, take_from_lots, tiers_problems,
)

SHANGHAI = "Asia/Shanghai"
MASSAGE, FACIAL = UUID(int=1), UUID(int=2)
WANG, LI = UUID(int=11), UUID(int=12)


@pytest.mark.parametrize(("raw", "tag"), [
    ("VIP", "vip"),
    ("  Regular   customer ", "regular customer"),
    ("ＶＩＰ", "vip"),  # full-width, as Chinese keyboards type it
    ("常客", "常客"),
    ("过敏 体质", "过敏 体质"),
    ("a" * MAX_TAG_LENGTH, "a" * MAX_TAG_LENGTH),
])
def test_tags_are_normalised_to_one_spelling(raw: str, tag: str) -> None:
    assert normalise_tag(raw) == tag


@pytest.mark.parametrize("raw", ["", "   ", "a" * (MAX_TAG_LENGTH + 1), "vip,gold", "常客；新客", "a/b", "zero\u200bwidth", "bell\x07"])
def test_empty_long_separated_or_control_character_tags_are_refused(raw: str) -> None:
    assert normalise_tag(raw) is None


def test_preference_maps_are_bounded_in_keys_values_and_size() -> None:
    assert map_problems({"按摩力度": "轻", "drinks": ["花茶", "温水"], "floor": 3, "quiet": True, "note": None}, "preferences") == {}
    assert map_problems({f"k{i}": 1 for i in range(51)}, "preferences") == {"preferences": "at most 50 entries"}
    assert map_problems({"nested": {"a": 1}}, "custom_fields") == {
        "custom_fields.nested": "text, a number, true/false, null, or a list of text",
    }
    assert map_problems({"": 1}, "preferences") == {"preferences": "keys are 1–64 characters"}
    assert map_problems({f"k{i}": "x" * 900 for i in range(10)}, "preferences") == {"preferences": "at most 8 KB as JSON"}


def at(day: int, hour: int) -> datetime:
    """A day of December 2026 at a Shanghai hour, in UTC."""
    return datetime(2026, 12, day, hour, tzinfo=ZoneInfo(SHANGHAI)).astimezone(UTC)


def visit(day: int, hour: int, status: str = "completed", payment: str = "paid", price: int = 19800,
          service: UUID = MASSAGE, staff: tuple[UUID, ...] = (WANG,)) -> Visit:
    return Visit(at(day, hour), SHANGHAI, status, payment, price, service, staff)


def test_facts_count_visits_no_shows_and_cancellations_and_value_paid_or_completed_unrefunded() -> None:
    facts = derive_facts([
        visit(1, 10),  # Tuesday, paid
        visit(8, 10, payment="unpaid"),  # completed, not yet paid: counts
        visit(15, 10, payment="refunded"),  # completed then refunded: does not
        visit(2, 10, status="no_show", payment="paid", price=5000),  # a forfeited prepayment counts
        visit(3, 10, status="cancelled", payment="refunded"),
        visit(4, 10, status="cancelled", payment="unpaid"),
    ])

    assert (facts.visit_count, facts.no_show_count, facts.cancellation_count) == (3, 1, 2)
    assert facts.lifetime_value == 19800 + 19800 + 5000
    assert facts.last_visit_at == at(15, 10)


def test_favourites_and_usual_times_are_the_most_frequent_visits_ties_going_to_the_latest() -> None:
    facts = derive_facts([
        visit(1, 10, service=MASSAGE, staff=(WANG,)),  # Tuesday 10:00
        visit(8, 19, service=FACIAL, staff=(LI,)),  # Tuesday 19:00
        visit(10, 19, service=FACIAL, staff=(LI, WANG)),  # Thursday 19:00
        visit(5, 19, service=MASSAGE, status="cancelled", staff=(LI,)),  # not a visit
    ])

    assert facts.favourite_service == FACIAL
    assert facts.favourite_staff == WANG  # two each; Wang seen last
    assert (facts.usual_weekday, facts.usual_hour) == ("tue", 19)


def test_the_usual_hour_is_the_branchs_local_hour() -> None:
    late = Visit(datetime(2026, 12, 1, 16, 30, tzinfo=UTC), SHANGHAI, "completed", "paid", 100, MASSAGE)
    facts = derive_facts([late])  # 00:30 on Wednesday in Shanghai

    assert (facts.usual_weekday, facts.usual_hour) == ("wed", 0)


def test_no_bookings_no_facts() -> None:
    facts = derive_facts([])

    assert (facts.visit_count, facts.lifetime_value, facts.favourite_service, facts.usual_hour) == (0, 0, None, None)


def test_the_earned_tier_is_the_highest_threshold_met_by_spend_or_points() -> None:
    ladder = [Tier("normal", "普通", min_spend=0), Tier("silver", "银卡", min_spend=100_000, min_points=800),
              Tier("gold", "金卡", min_points=5000)]

    assert earned_tier(ladder, 0, 0) == "normal"
    assert earned_tier(ladder, 99_999, 799) == "normal"
    assert earned_tier(ladder, 100_000, 0) == "silver"
    assert earned_tier(ladder, 0, 800) == "silver"
    assert earned_tier(ladder, 0, 5000) == "gold"
    assert earned_tier(ladder[1:], 0, 0) is None  # below the first rung
    assert [earned_tier(DEFAULT_TIERS, v, 0) for v in (0, 100_000, 500_000, 2_000_000)] == ["normal", "silver", "gold", "vip"]


def test_a_ladder_is_checked_whole_with_every_problem_by_path() -> None:
    assert tiers_problems(list(DEFAULT_TIERS)) == {}
    problems = tiers_problems([
        Tier("normal", "普通", min_spend=0), Tier("Gold!", "", min_spend=-1), Tier("normal", "重复"),
    ])

    assert problems == {
        "tiers[1].key": "a lower-case name of letters, digits and _, starting with a letter (≤ 32)",
        "tiers[1].name": "1–50 characters",
        "tiers[1].min_spend": "a whole number from 0",
        "tiers[2].key": "normal is given twice",
        "tiers[2].min_spend": "set min_spend, min_points or both",
    }
    assert tiers_problems([]) == {"tiers": "give 1–10 tiers, lowest first"}


def test_points_are_whole_points_per_currency_unit_rounded_down() -> None:
    assert points_for(19800, 1) == 198
    assert points_for(19850, 2) == 397
    assert points_for(99, 1) == 0
    assert points_for(19800, 0) == 0


def test_expiry_months_land_on_the_same_day_or_the_months_last() -> None:
    assert add_months(datetime(2026, 1, 31, 9, tzinfo=UTC), 1) == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 15, tzinfo=UTC), 12) == datetime(2027, 11, 15, tzinfo=UTC)
    assert add_months(datetime(2026, 12, 1, tzinfo=UTC), 1) == datetime(2027, 1, 1, tzinfo=UTC)


def test_spending_takes_the_lots_expiring_first_and_never_expiring_ones_last() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    lots = [
        Lot(UUID(int=1), 100, None, t0),  # a staff adjustment that never expires
        Lot(UUID(int=2), 50, t0 + timedelta(days=300), t0 + timedelta(days=5)),
        Lot(UUID(int=3), 80, t0 + timedelta(days=200), t0 + timedelta(days=9)),
    ]

    assert take_from_lots(lots, 100) == [(UUID(int=3), 80), (UUID(int=2), 20)]
    assert take_from_lots(lots, 200) == [(UUID(int=3), 80), (UUID(int=2), 50), (UUID(int=1), 70)]
    assert take_from_lots(lots, 500) == [(UUID(int=3), 80), (UUID(int=2), 50), (UUID(int=1), 100)]  # all there is


def test_the_mainland_mobile_short_cut_agrees_with_phonenumbers() -> None:
    rng = random.Random(20261126)
    numbers = ["1" + "".join(rng.choice("0123456789") for _ in range(10)) for _ in range(5000)]
    forms = [f for n in numbers for f in (n, f"+86{n}", f"{n[:3]} {n[3:7]} {n[7:]}", f"+86 {n[:3]}-{n[3:]}")]

    disagreements = [f for f in forms if normalise_phone(f) != _parsed_phone(f, "CN")]

    assert disagreements == []
    assert any(normalise_phone(n) is None for n in numbers) and any(normalise_phone(n) for n in numbers)
