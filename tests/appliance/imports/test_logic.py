"""The pure import rules: guessing the mapping, reading cells, checking rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from appliance.imports import logic
from appliance.imports.logic import Row, Tiers

TIERS = Tiers.of([("normal", "普通会员"), ("gold", "金卡会员")])
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_chinese_headers_map_to_customer_fields() -> None:
    headers = ["客户姓名", "联系电话", "电子邮件", "性别", "出生日期", "渠道", "标签", "会员等级", "积分", "备注", "其他"]

    mapping = logic.guess_mapping("customers", headers)

    assert mapping == {
        "name": "客户姓名", "phone": "联系电话", "email": "电子邮件", "gender": "性别", "birthday": "出生日期",
        "source_channel": "渠道", "tags": "标签", "tier": "会员等级", "points": "积分", "note": "备注",
    }


def test_english_headers_map_whatever_their_case_spacing_and_required_marks() -> None:
    headers = ["Full Name", "Mobile Phone*", "E-mail", "Date of Birth", "Source", "Tags", "NOTES (required)"]

    mapping = logic.guess_mapping("customers", headers)

    assert mapping == {
        "name": "Full Name", "phone": "Mobile Phone*", "email": "E-mail", "birthday": "Date of Birth",
        "source_channel": "Source", "tags": "Tags", "note": "NOTES (required)",
    }


def test_booking_headers_map_and_the_first_of_two_phone_columns_wins() -> None:
    headers = ["姓名", "手机号", "电话", "服务项目", "门店", "技师", "预约时间", "状态", "金额"]

    mapping = logic.guess_mapping("bookings", headers)

    assert mapping == {
        "name": "姓名", "phone": "手机号", "service": "服务项目", "branch": "门店", "staff": "技师",
        "starts_at": "预约时间", "status": "状态", "amount": "金额",
    }


def test_mapping_problems_name_duplicate_columns_missing_fields_and_unknown_headers() -> None:
    problems = logic.mapping_problems("customers", ["姓名", "姓名", "备注"], {"name": "姓名", "note": "Remarks"})

    assert [(p.code, dict(p.params)) for p in problems] == [
        ("duplicate_column", {"column": "姓名"}),
        ("unknown_column", {"column": "Remarks"}),
        ("missing_columns", {"fields": "phone / email"}),
    ]


def _row(kind: logic.Kind, **cells: object) -> Row:
    headers = list(cells)
    mapping = {name: name for name in cells}
    return Row(7, list(cells.values()), logic.column_indexes(headers, mapping), headers)  # type: ignore[arg-type]


def test_a_good_customer_row_is_normalised() -> None:
    row = _row(
        "customers", name=" 张伟 ", phone="138 0013 8000", email="ZW@Example.com", gender="男",
        birthday="1990年3月5日", source_channel="大众点评", tags="VIP，敏感肌; 老客户", tier="金卡会员", points="1200", note="怕痛",
    )

    customer = logic.check_customer(row, TIERS)

    assert row.problems == []
    assert customer is not None
    assert (customer.name, customer.phone, customer.email, customer.gender) == ("张伟", "+8613800138000", "zw@example.com", "male")
    assert customer.birthday == date(1990, 3, 5)
    assert (customer.tags, customer.tier, customer.points, customer.note) == (["vip", "敏感肌", "老客户"], "gold", 1200, "怕痛")


def test_a_bad_customer_row_gets_a_problem_per_cell_with_both_languages() -> None:
    row = _row(
        "customers", name="", phone="12345", email="not-an-email", gender="x", birthday="05/03/1990", tier="钻石",
        points="-3", note="=HYPERLINK(\"http://x\")",
    )

    assert logic.check_customer(row, TIERS) is None

    assert [(p.column, p.code) for p in row.problems] == [
        ("name", "required"), ("phone", "invalid_phone"), ("email", "invalid_email"), ("gender", "invalid_gender"),
        ("birthday", "invalid_date"), ("tier", "unknown_tier"), ("points", "invalid_points"), ("note", "formula"),
    ]
    assert all(p.row == 7 for p in row.problems)
    tier = row.problems[5]
    assert logic.message(tier.code, tier.params) == "not a membership tier of the programme (gold, normal)"
    assert logic.message(tier.code, tier.params, "zh") == "不是已设置的会员等级（gold, normal）"


def test_a_row_needs_a_phone_or_an_email() -> None:
    row = _row("customers", name="李娜", phone="", email="")

    assert logic.check_customer(row, TIERS) is None
    assert [p.code for p in row.problems] == ["no_contact"]


def test_dates_and_times_in_the_usual_spellings() -> None:
    assert [logic.parse_date(v) for v in ("2024-03-05", "2024/3/5", "2024.03.05", "20240305", datetime(2024, 3, 5, 0, 0))] == [
        date(2024, 3, 5)
    ] * 5
    assert logic.parse_date("2024-02-30") is None
    expected = datetime(2024, 3, 5, 14, 30, tzinfo=SHANGHAI)
    for spelling in (
        "2024-03-05 14:30", "2024/3/5 14:30:00", "2024年3月5日 14:30", "2024-03-05T14:30", "2024年3月5日14:30",
        "2024年3月5日14时30分",
    ):
        assert logic.parse_datetime(spelling, SHANGHAI) == expected, spelling
    assert logic.parse_datetime("2024-03-0514:30", SHANGHAI) is None  # digits run together: not guessed apart
    assert logic.parse_datetime("2024-03-05T06:30:00Z", SHANGHAI) == datetime(2024, 3, 5, 6, 30, tzinfo=UTC)
    assert logic.parse_datetime("2024-03-05 25:00", SHANGHAI) is None


def test_amounts_in_yuan_become_fen() -> None:
    assert [logic.parse_amount(v) for v in ("198", "198.5", "¥1,980.00", 88, 12.3)] == [19800, 19850, 198000, 8800, 1230]
    assert [logic.parse_amount(v) for v in ("-1", "1.234", "abc", True)] == [None, None, None, None]
