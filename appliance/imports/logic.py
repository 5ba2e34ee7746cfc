"""Import rules that need no I/O: which columns a file's headers mean, reading each cell's value, checking
a row, and the problems a row or a file can have, with messages in English and Chinese."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from appliance.customers.logic import MAX_TAGS, normalise_email, normalise_phone, normalise_tag
from appliance.customers.schemas import ImportedCustomer

Kind = Literal["customers", "bookings"]
KINDS: Final = ("customers", "bookings")

# Header spellings of each field, compared after `header_key` (NFKC, case-folded, without spaces, _ - *
# and a trailing "(必填)" / "(required)"). The first column that names a field gets it.
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "name": ("姓名", "名字", "客户姓名", "客户名称", "客户名", "客户", "顾客", "顾客姓名", "name", "customername", "fullname", "customer"),
    "phone": (
        "手机", "手机号", "手机号码", "电话", "联系电话", "电话号码", "联系方式", "移动电话", "phone", "mobile", "telephone",
        "tel", "phonenumber", "mobilephone", "cellphone",
    ),
    "email": ("邮箱", "电子邮件", "电子邮箱", "邮件", "邮箱地址", "email", "mail", "emailaddress"),
    "gender": ("性别", "gender", "sex"),
    "birthday": ("生日", "出生日期", "出生年月日", "birthday", "birthdate", "dateofbirth", "dob"),
    "source_channel": ("来源", "渠道", "客户来源", "来源渠道", "获客渠道", "source", "channel", "sourcechannel"),
    "tags": ("标签", "客户标签", "tags", "tag", "labels"),
    "tier": ("会员等级", "等级", "会员级别", "会员类型", "tier", "membership", "membershiptier", "level"),
    "points": ("积分", "会员积分", "积分余额", "points", "pointsbalance"),
    "note": ("备注", "说明", "note", "notes", "remark", "remarks", "comment", "comments"),
    "service": ("服务", "项目", "服务项目", "服务名称", "项目名称", "service", "servicename", "treatment"),
    "branch": ("门店", "店铺", "分店", "门店名称", "branch", "store", "shop", "location"),
    "staff": ("员工", "技师", "服务人员", "美容师", "理发师", "老师", "staff", "employee", "therapist", "stylist"),
    "starts_at": (
        "开始时间", "预约时间", "预约开始时间", "到店时间", "日期时间", "时间", "start", "startsat", "starttime",
        "appointmenttime", "bookingtime", "datetime",
    ),
    "ends_at": ("结束时间", "预约结束时间", "end", "endsat", "endtime"),
    "status": ("状态", "预约状态", "status", "bookingstatus"),
    "amount": ("金额", "价格", "实付金额", "消费金额", "实收金额", "amount", "price", "paid", "paidamount", "total"),
    "payment_status": ("支付状态", "付款状态", "payment", "paymentstatus"),
}
FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "customers": ("name", "phone", "email", "gender", "birthday", "source_channel", "tags", "tier", "points", "note"),
    "bookings": (
        "name", "phone", "email", "service", "branch", "staff", "starts_at", "ends_at", "status", "amount",
        "payment_status", "note",
    ),
}
# Fields a mapping must give; customers also need a phone or an email in each row.
REQUIRED: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "customers": (("name",), ("phone", "email")),
    "bookings": (("phone",), ("service",), ("starts_at",)),
}
MAX_NAME: Final = 200
MAX_NOTE: Final = 2000
MAX_SOURCE: Final = 32
# The database holds no allocation longer than this (migration 2026-11-26T13:30), an imported one included.
LONGEST_BOOKING: Final = timedelta(hours=72)
_HEADER_NOISE = re.compile(r"[\s_\-*.:：]|[(（](必填|选填|required|optional)[)）]$")

# --- Problems -------------------------------------------------------------------------------------------

MESSAGES: Final[dict[str, tuple[str, str]]] = {
    # rows
    "required": ("is required", "必填"),
    "no_contact": ("give a phone number or an email address", "请填写手机号或邮箱"),
    "invalid_phone": ("not a valid phone number", "不是有效的电话号码"),
    "invalid_email": ("not a valid email address", "不是有效的邮箱地址"),
    "invalid_gender": ("male, female or other (男, 女, 其他)", "应为 男、女 或 其他"),
    "invalid_date": ("not a date; write it as 2024-03-05", "不是有效日期，请写成 2024-03-05"),
    "invalid_datetime": ("not a date and time; write it as 2024-03-05 14:30", "不是有效的日期时间，请写成 2024-03-05 14:30"),
    "too_long": ("at most {max} characters", "最多 {max} 个字符"),
    "invalid_tag": ("a tag has 1–32 characters, without , ; / | #", "标签为 1–32 个字符，不含 , ; / | #"),
    "too_many_tags": ("at most {max} tags", "最多 {max} 个标签"),
    "unknown_tier": ("not a membership tier of the programme ({tiers})", "不是已设置的会员等级（{tiers}）"),
    "invalid_points": ("a whole number from 0", "应为不小于 0 的整数"),
    "formula": ("a formula; save the sheet's values, not formulas", "是公式，请导入数值而不是公式"),
    "duplicate_in_file": ("the same {by} as row {first}; this row is skipped", "与第 {first} 行的{by_zh}相同，本行跳过"),
    "invalid_status": ("completed, cancelled or no_show (已完成, 已取消, 爽约)", "应为 已完成、已取消 或 爽约"),
    "invalid_payment_status": ("paid, unpaid or refunded (已支付, 未支付, 已退款)", "应为 已支付、未支付 或 已退款"),
    "invalid_amount": ("an amount such as 198 or 198.50, not negative", "应为金额，如 198 或 198.50，不能为负"),
    "not_in_past": ("a past booking must have started before now", "历史预约的开始时间必须早于现在"),
    "ends_before_start": ("ends before it starts", "结束时间早于开始时间"),
    "too_long": ("lasts more than 72 hours: a booking is at most a day and a half with its buffers", "时长超过 72 小时"),
    "unknown_branch": ("no branch of this name", "没有这个门店"),
    "branch_required": ("several branches have this service; name the branch", "多个门店都有此服务，请填写门店"),
    "unknown_service": ("no service of this name (in this branch)", "（该门店）没有这个服务项目"),
    "unknown_staff": ("no staff member of this name in the branch", "该门店没有这位员工"),
    "branch_not_allowed": ("you may not import bookings into this branch", "您无权向该门店导入预约"),
    "unknown_customer": ("no customer with this phone; give a name to create one", "没有此手机号的客户；填写姓名即可新建"),
    # files
    "unreadable_encoding": ("the file is neither UTF-8 nor GBK text; save it as CSV UTF-8", "文件既不是 UTF-8 也不是 GBK 编码，请另存为 CSV UTF-8"),
    "not_a_table": ("not a CSV or XLSX file", "不是 CSV 或 XLSX 文件"),
    "empty_file": ("the file has no header row", "文件没有表头行"),
    "no_rows": ("the file has a header row but no data", "文件只有表头，没有数据"),
    "duplicate_column": ("the column {column} appears twice", "列 {column} 出现了两次"),
    "missing_columns": ("no column for {fields}; name it in the mapping", "缺少 {fields} 列，请在映射中指定"),
    "unknown_column": ("the mapping names a column the file lacks: {column}", "映射中的列在文件中不存在：{column}"),
    "unknown_field": ("the mapping names an unknown field: {field}", "映射中的字段不存在：{field}"),
    "too_many_rows": ("more than {max} rows; split the file", "超过 {max} 行，请拆分文件"),
    "too_large": ("larger than {max_mb} MB; split the file", "超过 {max_mb} MB，请拆分文件"),
    "rows_invalid": (
        "{invalid} rows have problems; nothing was imported (fix them, or import with on_error=skip)",
        "{invalid} 行有问题，未导入任何数据（请修正，或用 on_error=skip 导入其余行）",
    ),
}
BY_ZH: Final = {"phone": "手机号", "email": "邮箱"}


@dataclass(frozen=True)
class Problem:
    """What is wrong with one cell (`column` the file's header, "" for the whole row) of a row."""

    row: int
    column: str
    code: str
    params: Mapping[str, str | int] = field(default_factory=dict)


def message(code: str, params: Mapping[str, Any], language: Literal["en", "zh"] = "en") -> str:
    en, zh = MESSAGES.get(code, (code, code))
    values = {**params, "by_zh": BY_ZH.get(str(params.get("by", "")), "")}
    return (en if language == "en" else zh).format_map(_Defaulting(values))


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


# --- Mapping -------------------------------------------------------------------------------------------


def header_key(header: str) -> str:
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", header).casefold())


def guess_mapping(kind: Kind, headers: Sequence[str]) -> dict[str, str]:
    """field → header for every header that names a field of `kind` (the first such header per field)."""
    lookup = {alias: name for name in FIELDS[kind] for alias in ALIASES[name]}
    mapping: dict[str, str] = {}
    for header in headers:
        name = lookup.get(header_key(header))
        if name is not None and name not in mapping:
            mapping[name] = header
    return mapping


def mapping_problems(kind: Kind, headers: Sequence[str], mapping: Mapping[str, str]) -> list[Problem]:
    """File-level problems of the headers and the mapping in use (row 1 is the header row)."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for header in headers:
        if header and header in seen:
            problems.append(Problem(1, header, "duplicate_column", {"column": header}))
        seen.add(header)
    for name, header in mapping.items():
        if name not in FIELDS[kind]:
            problems.append(Problem(1, "", "unknown_field", {"field": name}))
        elif header not in seen:
            problems.append(Problem(1, header, "unknown_column", {"column": header}))
    missing = [" / ".join(group) for group in REQUIRED[kind] if not any(f in mapping for f in group)]
    if missing:
        problems.append(Problem(1, "", "missing_columns", {"fields": ", ".join(missing)}))
    return problems


# --- Cells -----------------------------------------------------------------------------------------------

Cell = str | int | float | bool | date | datetime | time | Decimal | None
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# After 日 the time may follow with no space (2025年3月9日10:30), as Chinese is written.
_DATETIME = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*(?:日\s*|\s+|T)(\d{1,2})\s*[:：时点]\s*(\d{1,2})"
    r"(?:\s*[:：分]\s*(\d{1,2}))?\s*[秒分]?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
GENDERS: Final = {
    "男": "male", "男性": "male", "m": "male", "male": "male", "先生": "male",
    "女": "female", "女性": "female", "f": "female", "female": "female", "女士": "female",
    "其他": "other", "其它": "other", "other": "other",
}
STATUSES: Final = {
    "已完成": "completed", "完成": "completed", "已到店": "completed", "已服务": "completed", "completed": "completed",
    "done": "completed",
    "已取消": "cancelled", "取消": "cancelled", "cancelled": "cancelled", "canceled": "cancelled",
    "爽约": "no_show", "未到": "no_show", "未到店": "no_show", "noshow": "no_show", "no_show": "no_show", "no-show": "no_show",
}
PAYMENTS: Final = {
    "已支付": "paid", "已付款": "paid", "已付": "paid", "paid": "paid",
    "未支付": "unpaid", "未付款": "unpaid", "未付": "unpaid", "unpaid": "unpaid",
    "已退款": "refunded", "退款": "refunded", "refunded": "refunded",
}


def text(cell: Cell) -> str:
    """A cell as trimmed text; whole numbers without ".0" (a phone number a spreadsheet stored as one)."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime):
        return cell.isoformat(sep=" ")
    return unicodedata.normalize("NFKC", str(cell)).strip() if not isinstance(cell, str) else cell.strip()


def parse_date(cell: Cell) -> date | None:
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    raw = unicodedata.normalize("NFKC", text(cell))
    match = _DATE.match(raw) or _COMPACT_DATE.match(raw)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def parse_datetime(cell: Cell, zone: ZoneInfo) -> datetime | None:
    """An aware instant: a time without an offset is the branch's wall-clock time."""
    if isinstance(cell, datetime):
        moment = cell
    else:
        raw = unicodedata.normalize("NFKC", text(cell))
        match = _DATETIME.match(raw)
        if match is None:
            return None
        try:
            moment = datetime(int(match[1]), int(match[2]), int(match[3]), int(match[4]), int(match[5]), int(match[6] or 0))
        except ValueError:
            return None
        if match[7]:
            try:
                offset = datetime.fromisoformat("2000-01-01T00:00:00" + (match[7] if ":" in match[7] or match[7] == "Z" else f"{match[7][:3]}:{match[7][3:]}"))
            except ValueError:
                return None
            moment = moment.replace(tzinfo=offset.tzinfo)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def parse_amount(cell: Cell) -> int | None:
    """Minor units (fen) of an amount in yuan: 198, 198.5, ¥1,980.00."""
    if isinstance(cell, bool):
        return None
    raw = unicodedata.normalize("NFKC", text(cell)).replace(",", "").replace("¥", "").replace("元", "").strip()
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount >= 10**9 or amount != amount.quantize(Decimal("0.01")):
        return None
    return int(amount * 100)


def split_tags(raw: str) -> list[str]:
    return [part for part in re.split(r"[,，;；/|、\s]+", raw) if part]


# --- Rows ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tiers:
    """The ladder's tiers, to read a tier cell by key or by name."""

    by_label: Mapping[str, str]  # case-folded key or name → key

    @classmethod
    def of(cls, tiers: Iterable[tuple[str, str]]) -> Tiers:
        labels: dict[str, str] = {}
        for key, name in tiers:
            labels[key.casefold()] = key
            labels[unicodedata.normalize("NFKC", name).casefold()] = key
        return cls(labels)


class Row:
    """One data row's cells by field, and its problems as they are found."""

    def __init__(self, number: int, cells: Sequence[Cell], columns: Mapping[str, int], headers: Sequence[str]) -> None:
        self.number = number
        self.problems: list[Problem] = []
        self._cells = cells
        self._columns = columns
        self._headers = headers

    def has(self, name: str) -> bool:
        return name in self._columns

    def raw(self, name: str) -> Cell:
        index = self._columns.get(name)
        if index is None or index >= len(self._cells):
            return None
        return self._cells[index]

    def text(self, name: str, *, limit: int | None = None, required: bool = False) -> str:
        cell = self.raw(name)
        value = cell.strip() if type(cell) is str else text(cell)  # most cells of most files: text
        if value[:1] == "=" and len(value) > 1:
            self.add(name, "formula")
            return ""
        if required and not value:
            self.add(name, "required")
        if limit is not None and len(value) > limit:
            self.add(name, "too_long", max=limit)
            return ""
        return value

    def choice(self, name: str, choices: Mapping[str, str], code: str) -> str | None:
        """The value `choices` gives the cell's text (case-folded, spaces dropped), None when blank; a
        problem `code` when it gives none."""
        raw = self.text(name)
        if not raw:
            return None
        value = choices.get(raw.casefold().replace(" ", ""))
        if value is None:
            self.add(name, code)
        return value

    def email(self) -> str | None:
        raw = self.text("email")
        if not raw:
            return None
        if (email := normalise_email(raw)) is None:
            self.add("email", "invalid_email")
        return email

    def add(self, name: str, code: str, **params: str | int) -> None:
        index = self._columns.get(name)
        column = self._headers[index] if index is not None and index < len(self._headers) else ""
        self.problems.append(Problem(self.number, column, code, params))


def column_indexes(headers: Sequence[str], mapping: Mapping[str, str]) -> dict[str, int]:
    position = {h: i for i, h in reversed(list(enumerate(headers)))}
    return {name: position[header] for name, header in mapping.items() if header in position}


def check_customer(row: Row, tiers: Tiers) -> ImportedCustomer | None:
    """The customer a row describes, or None with its problems in `row.problems`."""
    name = row.text("name", limit=MAX_NAME, required=True)
    phone = None
    if raw_phone := row.text("phone"):
        phone = normalise_phone(raw_phone)
        if phone is None:
            row.add("phone", "invalid_phone")
    email = row.email()
    if not raw_phone and not row.text("email"):
        row.add("phone", "no_contact")
    gender = row.choice("gender", GENDERS, "invalid_gender")
    birthday = None
    if row.text("birthday"):
        birthday = parse_date(row.raw("birthday"))
        if birthday is None:
            row.add("birthday", "invalid_date")
    source = row.text("source_channel", limit=MAX_SOURCE)
    tags: list[str] = []
    for part in split_tags(row.text("tags")):
        tag = normalise_tag(part)
        if tag is None:
            row.add("tags", "invalid_tag")
            break
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        row.add("tags", "too_many_tags", max=MAX_TAGS)
    tier = None
    if raw_tier := row.text("tier"):
        tier = tiers.by_label.get(unicodedata.normalize("NFKC", raw_tier).casefold())
        if tier is None:
            row.add("tier", "unknown_tier", tiers=", ".join(sorted(set(tiers.by_label.values()))))
    points = None
    if raw_points := row.text("points"):
        amount = parse_amount(raw_points)
        if amount is None or amount % 100 or amount // 100 > 10**8:
            row.add("points", "invalid_points")
        else:
            points = amount // 100
    note = row.text("note", limit=MAX_NOTE)
    if row.problems:
        return None
    return ImportedCustomer(
        row=row.number, name=name, phone=phone, email=email, gender=gender, birthday=birthday, source_channel=source,
        tags=tags, tier=tier, points=points, note=note or None,
    )


@dataclass(frozen=True)
class BookingLine:
    """A past booking as the file gives it, checked; names still to be found in the catalogue."""

    row: int
    name: str
    phone: str
    email: str | None
    service: str
    branch: str
    staff: str
    starts_at: Cell
    ends_at: Cell
    status: str
    amount: int | None
    payment_status: str | None
    note: str


def check_booking_line(row: Row) -> BookingLine | None:
    """The cells of a booking row that need no catalogue (the names are looked up by `Catalogue`)."""
    name = row.text("name", limit=MAX_NAME)
    phone = normalise_phone(raw) if (raw := row.text("phone", required=True)) else None
    if raw and phone is None:
        row.add("phone", "invalid_phone")
    email = row.email()
    service = row.text("service", limit=200, required=True)
    branch = row.text("branch", limit=200)
    staff = row.text("staff", limit=200)
    row.text("starts_at", required=True)
    status = row.choice("status", STATUSES, "invalid_status") if row.text("status") else "completed"
    amount = None
    if raw_amount := row.text("amount"):
        amount = parse_amount(row.raw("amount"))
        if amount is None:
            row.add("amount", "invalid_amount")
    payment = row.choice("payment_status", PAYMENTS, "invalid_payment_status")
    note = row.text("note", limit=MAX_NOTE)
    if row.problems or phone is None:
        return None
    assert status is not None
    return BookingLine(
        row=row.number, name=name, phone=phone, email=email, service=service, branch=branch, staff=staff,
        starts_at=row.raw("starts_at"), ends_at=row.raw("ends_at"), status=status, amount=amount,
        payment_status=payment, note=note,
    )


@dataclass(frozen=True)
class CatalogueService:
    id: UUID
    branch_id: UUID
    duration_minutes: int
    price_amount: int
    price_currency: str


@dataclass(frozen=True)
class Catalogue:
    """Branches, services and staff by name (NFKC, case-folded), to resolve a booking row's names."""

    branches: Mapping[str, tuple[UUID, str]]  # name → (id, time zone)
    services: Mapping[str, Sequence[CatalogueService]]  # name → the services of that name, one per branch
    staff: Mapping[tuple[UUID, str], UUID]  # (branch, name) → resource
    zones: Mapping[UUID, str]  # branch → time zone


def name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


@dataclass(frozen=True)
class ResolvedBooking:
    line: BookingLine
    branch_id: UUID
    service_id: UUID
    staff_id: UUID | None
    starts_at: datetime
    ends_at: datetime
    price_amount: int
    price_currency: str
    payment_status: str


def resolve_booking(
    row: Row, line: BookingLine, catalogue: Catalogue, *, scope: frozenset[UUID] | None, now: datetime
) -> ResolvedBooking | None:
    """The booking's branch, service, staff and times, or None with the problems in `row.problems`."""
    candidates = list(catalogue.services.get(name_key(line.service), ()))
    if line.branch:
        branch = catalogue.branches.get(name_key(line.branch))
        if branch is None:
            row.add("branch", "unknown_branch")
            return None
        candidates = [s for s in candidates if s.branch_id == branch[0]]
    if not candidates:
        row.add("service", "unknown_service")
        return None
    if len(candidates) > 1:
        row.add("branch" if row.has("branch") else "service", "branch_required")
        return None
    service = candidates[0]
    if scope is not None and service.branch_id not in scope:
        row.add("branch" if line.branch else "service", "branch_not_allowed")
        return None
    staff_id = None
    if line.staff:
        staff_id = catalogue.staff.get((service.branch_id, name_key(line.staff)))
        if staff_id is None:
            row.add("staff", "unknown_staff")
    zone = ZoneInfo(catalogue.zones[service.branch_id])
    starts_at = parse_datetime(line.starts_at, zone)
    if starts_at is None:
        row.add("starts_at", "invalid_datetime")
    elif starts_at >= now:
        row.add("starts_at", "not_in_past")
    ends_at = None
    if text(line.ends_at):
        ends_at = parse_datetime(line.ends_at, zone)
        if ends_at is None:
            row.add("ends_at", "invalid_datetime")
        elif starts_at is not None and ends_at <= starts_at:
            row.add("ends_at", "ends_before_start")
        elif starts_at is not None and ends_at - starts_at > LONGEST_BOOKING:
            row.add("ends_at", "too_long")
    if row.problems or starts_at is None:
        return None
    amount = service.price_amount if line.amount is None else line.amount
    return ResolvedBooking(
        line=line, branch_id=service.branch_id, service_id=service.id, staff_id=staff_id, starts_at=starts_at,
        ends_at=ends_at or starts_at + timedelta(minutes=service.duration_minutes), price_amount=amount,
        price_currency=service.price_currency,
        # A past visit is taken as settled unless the file says otherwise; nothing else was paid.
        payment_status=line.payment_status or ("paid" if line.status == "completed" and amount else "unpaid"),
    )


def first_seen_problem(row: int, column: str, by: str, first: int) -> Problem:
    return Problem(row, column, "duplicate_in_file", {"by": by, "first": first})
