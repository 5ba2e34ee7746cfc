"""The demo catalogue as plain data: a wellness, beauty and aesthetic-clinic chain in Shanghai.

Names are Chinese as the business would write them; each branch's address and each service's
description carries an English gloss so that a reader without Chinese can follow the demo.
Dates are offsets from the day the demo is seeded, so the data always looks current.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from appliance.catalog.schemas import (
    Channel,
    Interval,
    RecurringBlock,
    Requirement,
    ResourceKind,
    Schedule,
    Weekday,
    WeeklyHours,
)

TIMEZONE: Final = "Asia/Shanghai"
CURRENCY: Final = "CNY"
PAST_DAYS: Final = 90  # bookings from this many days before today …
FUTURE_DAYS: Final = 30  # … to this many days after it
CUSTOMERS: Final = 500
SEED: Final = 20261126  # the same demo every time, apart from where today falls

MON: Final = "mon"
TUE: Final = "tue"
WED: Final = "wed"
THU: Final = "thu"
FRI: Final = "fri"
SAT: Final = "sat"
SUN: Final = "sun"


def hours(days: tuple[Weekday, ...], *intervals: Interval) -> WeeklyHours:
    """The same intervals on each of `days`."""
    return {day: list(intervals) for day in days}


def merge(*parts: WeeklyHours) -> WeeklyHours:
    merged: WeeklyHours = {}
    for part in parts:
        merged.update(part)
    return merged


EVERY_DAY: Final[tuple[Weekday, ...]] = (MON, TUE, WED, THU, FRI, SAT, SUN)
TUE_TO_SUN: Final[tuple[Weekday, ...]] = (TUE, WED, THU, FRI, SAT, SUN)


@dataclass(frozen=True)
class BranchSpec:
    key: str
    name: str
    address: str
    opening_hours: WeeklyHours
    bookings_per_weekday: tuple[int, int]  # aimed-for range on an open Monday–Friday
    bookings_per_weekend_day: tuple[int, int]


@dataclass(frozen=True)
class ResourceSpec:
    branch: str  # BranchSpec.key
    kind: ResourceKind
    name: str
    skills: tuple[str, ...]
    schedule: Schedule
    capacity: int = 1
    post_use_lock_minutes: int = 0


@dataclass(frozen=True)
class TimeOffSpec:
    """Unavailable from `start` on today + `first_day` until `end` on today + `last_day`, local time."""

    branch: str
    resource: str  # ResourceSpec.name
    first_day: int
    start: str
    last_day: int
    end: str
    reason: str


@dataclass(frozen=True)
class ExceptionSpec:
    """Other hours on today + `day` (no intervals: a day off)."""

    branch: str
    resource: str
    day: int
    intervals: tuple[Interval, ...]


@dataclass(frozen=True)
class ServiceSpec:
    branch: str
    name: str
    description: str  # Chinese, then the English name and duration
    duration_minutes: int
    requirements: tuple[Requirement, ...]
    price_fen: int
    popularity: float  # relative share of the branch's bookings
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    seats: int = 1
    slot_step_minutes: int = 15
    min_notice_minutes: int = 60
    max_advance_days: int = 90
    channels: tuple[Channel, ...] = ()  # empty: every channel
    customer_picks_staff: bool = False
    requires_approval: bool = False
    # Group classes run at fixed local times: weekday → start times.
    class_times: dict[Weekday, tuple[str, ...]] = field(default_factory=dict)
    class_attendance: tuple[int, int] = (0, 0)


def need(kind: ResourceKind, *skills: str, count: int = 1) -> Requirement:
    return Requirement(kind=kind, skills=list(skills), count=count)


# --- Branches --------------------------------------------------------------------------------------

JINGAN, XUHUI = "jingan", "xuhui"

BRANCHES: Final = (
    BranchSpec(
        key=JINGAN,
        name="静安旗舰店",
        address="上海市静安区南京西路1601号越洋广场5楼 · 5F, 1601 West Nanjing Road, Jing'an District, "
        "Shanghai (Jing'an flagship)",
        opening_hours=hours(EVERY_DAY, ("10:00", "21:00")),
        bookings_per_weekday=(24, 32),
        bookings_per_weekend_day=(30, 40),
    ),
    BranchSpec(
        key=XUHUI,
        name="徐汇店",
        address="上海市徐汇区衡山路890号2楼 · 2F, 890 Hengshan Road, Xuhui District, Shanghai (Xuhui branch; "
        "closed on Mondays)",
        opening_hours=hours(TUE_TO_SUN, ("10:00", "20:00")),
        bookings_per_weekday=(20, 27),
        bookings_per_weekend_day=(28, 36),
    ),
)

# --- Staff, rooms and equipment --------------------------------------------------------------------

# Jing'an staff train together every Wednesday afternoon; Xuhui holds a team meeting on Tuesday mornings.
JINGAN_TRAINING = [RecurringBlock(weekday="wed", start="14:00", end="16:00")]
XUHUI_MEETING = [RecurringBlock(weekday="tue", start="10:00", end="11:00")]


def staff_schedule(weekly: WeeklyHours, blocks: list[RecurringBlock] | None = None) -> Schedule:
    return Schedule(weekly=weekly, blocks=list(blocks or []))


JINGAN_OPEN = Schedule(weekly=hours(EVERY_DAY, ("10:00", "21:00")))
XUHUI_OPEN = Schedule(weekly=hours(TUE_TO_SUN, ("10:00", "20:00")))

RESOURCES: Final = (
    # 静安旗舰店: staff
    ResourceSpec(JINGAN, "staff", "王芳", ("massage", "aromatherapy"), staff_schedule(
        hours((MON, WED, THU, FRI, SAT, SUN), ("10:00", "19:00")), JINGAN_TRAINING)),
    ResourceSpec(JINGAN, "staff", "张伟", ("massage", "tuina"), staff_schedule(
        hours(TUE_TO_SUN, ("12:00", "21:00")), JINGAN_TRAINING)),
    ResourceSpec(JINGAN, "staff", "李娜", ("facial", "skincare", "massage"), staff_schedule(
        merge(hours((MON, TUE, WED, THU, FRI), ("10:00", "13:00"), ("14:00", "19:00")), hours((SAT,), ("10:00", "18:00"))),
        JINGAN_TRAINING)),
    ResourceSpec(JINGAN, "staff", "孙悦", ("facial", "skincare", "massage", "aromatherapy"), staff_schedule(
        hours((TUE, WED, FRI, SAT, SUN), ("12:00", "21:00")))),
    ResourceSpec(JINGAN, "staff", "陈静", ("laser", "consultation", "doctor"), staff_schedule(
        merge(hours((MON, TUE, FRI), ("13:00", "20:00")), hours((SAT,), ("10:00", "12:00"), ("13:00", "18:00"))))),
    ResourceSpec(JINGAN, "staff", "刘洋", ("yoga",), staff_schedule(
        merge(hours((MON, TUE, WED, THU, FRI), ("18:00", "21:00")), hours((SAT, SUN), ("10:00", "12:00"), ("15:00", "18:00"))))),
    ResourceSpec(JINGAN, "staff", "赵敏", ("nail",), staff_schedule(
        hours((WED, THU, FRI, SAT, SUN, MON), ("11:00", "20:00")), JINGAN_TRAINING)),
    # 静安旗舰店: rooms and equipment
    ResourceSpec(JINGAN, "room", "VIP套房A", ("vip", "treatment"), JINGAN_OPEN),
    ResourceSpec(JINGAN, "room", "VIP套房B", ("vip", "treatment"), JINGAN_OPEN),
    ResourceSpec(JINGAN, "room", "护理间1", ("treatment",), JINGAN_OPEN),
    ResourceSpec(JINGAN, "room", "护理间2", ("treatment",), JINGAN_OPEN),
    ResourceSpec(JINGAN, "room", "双人SPA房", ("couple", "vip"), JINGAN_OPEN),
    # Disinfected for an hour after every use.
    ResourceSpec(JINGAN, "room", "激光治疗室", ("laser",), JINGAN_OPEN, post_use_lock_minutes=60),
    ResourceSpec(JINGAN, "room", "面诊室", ("consultation",), JINGAN_OPEN),
    ResourceSpec(JINGAN, "room", "瑜伽教室", ("studio",), JINGAN_OPEN),
    ResourceSpec(JINGAN, "room", "美甲区", ("nail",), JINGAN_OPEN, capacity=2),
    ResourceSpec(JINGAN, "equipment", "皮秒激光仪", ("laser", "picosecond"), JINGAN_OPEN),
    ResourceSpec(JINGAN, "equipment", "小气泡清洁仪", ("hydrafacial",), JINGAN_OPEN),
    # 徐汇店: staff
    ResourceSpec(XUHUI, "staff", "周杰", ("hair", "colour"), staff_schedule(
        hours((TUE, WED, FRI, SAT, SUN), ("10:00", "19:00")), XUHUI_MEETING)),
    ResourceSpec(XUHUI, "staff", "吴婷", ("hair", "colour"), staff_schedule(
        hours((TUE, WED, THU, FRI, SAT), ("11:00", "20:00")))),
    ResourceSpec(XUHUI, "staff", "马超", ("hair",), staff_schedule(  # part-time
        merge(hours((WED, THU), ("14:00", "20:00")), hours((SAT, SUN), ("10:00", "20:00"))))),
    ResourceSpec(XUHUI, "staff", "郑爽", ("facial", "skincare", "massage"), staff_schedule(
        hours((TUE, WED, THU, FRI, SAT), ("10:00", "19:00")), XUHUI_MEETING)),
    ResourceSpec(XUHUI, "staff", "黄磊", ("massage", "tuina"), staff_schedule(
        hours((WED, THU, FRI, SAT, SUN), ("12:00", "20:00")))),
    ResourceSpec(XUHUI, "staff", "何敏", ("laser", "consultation", "doctor"), staff_schedule(  # visiting doctor
        merge(hours((TUE, THU), ("14:00", "20:00")), hours((SAT, SUN), ("10:00", "12:00"), ("13:00", "17:00"))))),
    # 徐汇店: rooms and equipment
    ResourceSpec(XUHUI, "room", "美发区", ("hair",), XUHUI_OPEN, capacity=2),
    ResourceSpec(XUHUI, "room", "护理间A", ("treatment",), XUHUI_OPEN),
    ResourceSpec(XUHUI, "room", "护理间B", ("treatment",), XUHUI_OPEN),
    ResourceSpec(XUHUI, "room", "VIP房", ("vip", "treatment"), XUHUI_OPEN),
    ResourceSpec(XUHUI, "room", "光电治疗室", ("laser",), XUHUI_OPEN),
    ResourceSpec(XUHUI, "equipment", "光子嫩肤仪", ("ipl",), XUHUI_OPEN),
)

TIME_OFF: Final = (
    TimeOffSpec(JINGAN, "王芳", -40, "00:00", -35, "00:00", "年假"),
    TimeOffSpec(JINGAN, "护理间2", -20, "10:00", -18, "21:00", "空调维修"),
    TimeOffSpec(JINGAN, "皮秒激光仪", 5, "10:00", 5, "15:00", "设备年检"),
    TimeOffSpec(XUHUI, "吴婷", 8, "00:00", 12, "00:00", "婚假"),
)

SCHEDULE_EXCEPTIONS: Final = (
    ExceptionSpec(JINGAN, "李娜", 7, (("10:00", "14:00"),)),  # half day: health check
    ExceptionSpec(JINGAN, "张伟", -14, ()),  # sick day
    ExceptionSpec(XUHUI, "马超", 10, (("10:00", "16:00"),)),  # covers a weekday morning shift
)

# --- Services --------------------------------------------------------------------------------------

SERVICES: Final = (
    ServiceSpec(
        JINGAN, "精油芳香按摩", "精选植物精油全身舒缓按摩，可指定技师。Aromatherapy massage — 60 min, choose your therapist.",
        60, (need("staff", "massage", "aromatherapy"), need("room", "treatment")), 39800, 5,
        buffer_after_minutes=15, customer_picks_staff=True,
    ),
    ServiceSpec(
        JINGAN, "中式推拿", "经络推拿，缓解肩颈腰背疲劳。Chinese tuina massage — 60 min.",
        60, (need("staff", "tuina"), need("room", "treatment")), 32800, 3, buffer_after_minutes=10,
    ),
    ServiceSpec(
        JINGAN, "深层补水面部护理", "深层清洁与补水导入。Hydrating facial — 75 min.",
        75, (need("staff", "facial"), need("room", "treatment")), 58000, 4, buffer_after_minutes=15,
    ),
    ServiceSpec(
        JINGAN, "小气泡深层清洁", "小气泡仪器清洁毛孔。HydraFacial deep cleanse — 45 min (device).",
        45, (need("staff", "facial"), need("room", "treatment"), need("equipment", "hydrafacial")), 38000, 2.5,
        buffer_after_minutes=10,
    ),
    ServiceSpec(
        JINGAN, "皮秒激光祛斑", "医生评估后确认预约，术后治疗室消毒一小时。Picosecond laser pigment removal — 45 min; "
        "confirmed after a doctor's review.",
        45, (need("staff", "laser", "doctor"), need("room", "laser"), need("equipment", "picosecond")), 280000, 1,
        buffer_before_minutes=10, min_notice_minutes=1440, max_advance_days=60, channels=("admin", "phone", "wechat"),
        requires_approval=True,
    ),
    ServiceSpec(
        JINGAN, "医美面诊咨询", "医生一对一面诊，免费。Aesthetic consultation with a doctor — 30 min, free.",
        30, (need("staff", "consultation"), need("room", "consultation")), 0, 1.5, min_notice_minutes=120,
    ),
    ServiceSpec(
        JINGAN, "双人SPA套餐", "两位技师同时服务的双人护理。Couples spa — 90 min, two therapists.",
        90, (need("staff", "massage", count=2), need("room", "couple")), 128000, 0.8,
        buffer_after_minutes=15, min_notice_minutes=240, channels=("admin", "phone", "wechat"),
    ),
    ServiceSpec(
        JINGAN, "流瑜伽小班课", "12人小班流瑜伽。Vinyasa yoga group class — 60 min, 12 places.",
        60, (need("staff", "yoga"), need("room", "studio")), 12800, 0,
        seats=12, slot_step_minutes=30, channels=("web", "wechat", "admin"),
        class_times={MON: ("19:00",), TUE: ("19:00",), WED: ("19:00",), THU: ("19:00",), FRI: ("19:00",),
                     SAT: ("10:00", "16:00"), SUN: ("10:00", "16:00")},
        class_attendance=(3, 12),
    ),
    ServiceSpec(
        JINGAN, "日式美甲", "日式凝胶美甲。Japanese gel manicure — 60 min.",
        60, (need("staff", "nail"), need("room", "nail")), 26800, 3,
    ),
    ServiceSpec(
        XUHUI, "精剪造型", "洗剪吹造型，可指定发型师。Haircut and styling — 60 min, choose your stylist.",
        60, (need("staff", "hair"), need("room", "hair")), 28800, 6, buffer_after_minutes=10, customer_picks_staff=True,
    ),
    ServiceSpec(
        XUHUI, "染发护理", "染发加护理。Hair colour with treatment — 120 min.",
        120, (need("staff", "hair", "colour"), need("room", "hair")), 88000, 2.5, buffer_after_minutes=15,
    ),
    ServiceSpec(
        XUHUI, "全身精油按摩", "全身精油舒缓按摩。Full-body oil massage — 60 min.",
        60, (need("staff", "massage"), need("room", "treatment")), 35800, 4, buffer_after_minutes=15,
    ),
    ServiceSpec(
        XUHUI, "光子嫩肤", "强脉冲光嫩肤，医生操作。IPL photorejuvenation — 45 min, by a doctor.",
        45, (need("staff", "laser", "doctor"), need("room", "laser"), need("equipment", "ipl")), 168000, 1,
        min_notice_minutes=240,
    ),
    ServiceSpec(
        XUHUI, "经典面部护理", "基础清洁补水护理。Classic facial — 60 min.",
        60, (need("staff", "facial"), need("room", "treatment")), 39800, 3, buffer_after_minutes=15,
    ),
    ServiceSpec(
        XUHUI, "皮肤检测咨询", "仪器测肤与护理建议，免费。Skin analysis consultation — 30 min, free.",
        30, (need("staff", "consultation"),), 0, 1, channels=("web", "wechat", "phone", "admin"),
    ),
)

# --- Customers -------------------------------------------------------------------------------------

# Common surnames, the most frequent first (weights roughly follow their frequency in China).
SURNAMES: Final = (
    ("王", 72), ("李", 70), ("张", 68), ("刘", 53), ("陈", 45), ("杨", 31), ("黄", 24), ("赵", 22), ("吴", 21),
    ("周", 20), ("徐", 17), ("孙", 16), ("马", 15), ("朱", 14), ("胡", 13), ("郭", 12), ("何", 12), ("高", 11),
    ("林", 11), ("罗", 10), ("郑", 10), ("梁", 9), ("谢", 8), ("宋", 7), ("唐", 7), ("许", 7), ("韩", 6),
    ("冯", 6), ("邓", 6), ("曹", 6), ("彭", 6), ("曾", 5), ("肖", 5), ("田", 5), ("董", 5), ("袁", 5), ("潘", 4),
    ("蒋", 4), ("蔡", 4), ("余", 4), ("杜", 4), ("叶", 4), ("程", 4), ("苏", 4), ("魏", 4), ("吕", 4), ("丁", 3),
    ("沈", 3), ("姚", 3), ("陆", 3), ("钱", 2), ("顾", 3), ("汪", 2), ("范", 2), ("金", 2), ("方", 2), ("欧阳", 1),
)
# Characters of given names; the clientele is mostly women, so these lean that way.
GIVEN_NAME_CHARACTERS: Final = (
    "芳娜敏静丽艳婷雪慧颖琳晶洁欣怡佳悦蕾薇萍燕玲霞倩莉晓彤瑶雯妍琪璐茜菲岚瑾涵梦诗雨思佳嘉宁安"
    "伟强磊军洋勇杰涛明超斌浩宇鹏辉凯"
)
MOBILE_PREFIXES: Final = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156",
    "157", "158", "159", "166", "173", "176", "177", "180", "181", "182", "183", "185", "186", "187", "188",
    "189", "198", "199",
)
EMAIL_NAMES: Final = (
    "lily", "vivian", "amy", "grace", "cici", "momo", "jenny", "coco", "sunny", "echo", "kiki", "yoyo", "anna",
    "lucy", "helen", "tina", "ivy", "judy", "ella", "zoe", "kevin", "jack", "leo", "tony",
)
# Reserved for documentation (RFC 2606): demo mail can never reach a real mailbox.
EMAIL_DOMAINS: Final = ("example.com", "example.net", "example.org")
EMAIL_SHARE: Final = 0.4
# Where customers first came from, with weights.
SOURCE_CHANNELS: Final = (("wechat", 35), ("web", 25), ("phone", 15), ("walk_in", 17), ("admin", 8))
# How bookings arrive, with weights (api: partner platforms such as group-buying apps).
BOOKING_CHANNELS: Final[tuple[tuple[Channel, int], ...]] = (
    ("wechat", 34), ("web", 22), ("phone", 14), ("walk_in", 10), ("admin", 12), ("api", 8),
)
HOME_BRANCH_SHARE: Final = {JINGAN: 0.6, XUHUI: 0.4}
# Demand over the day (local hour → relative weight): lunch breaks and after-work evenings are busy.
WEEKDAY_HOUR_WEIGHTS: Final = {10: 0.5, 11: 0.7, 12: 1.0, 13: 0.9, 14: 0.7, 15: 0.8, 16: 0.9, 17: 1.2, 18: 1.5, 19: 1.4, 20: 0.8}
WEEKEND_HOUR_WEIGHTS: Final = {10: 0.9, 11: 1.1, 12: 1.0, 13: 1.1, 14: 1.3, 15: 1.3, 16: 1.2, 17: 1.0, 18: 0.9, 19: 0.7, 20: 0.5}
BOOKING_NOTES: Final = ("首次到店", "老客户，偏好力度轻一些", "需要发票", "会员卡消费", "团购券核销", "对精油过敏，请用无香型")
NOTE_SHARE: Final = 0.06

# --- The CRM: profiles, tags, notes, points ---------------------------------------------------------

CRM_SEED: Final = SEED + 1  # its own random stream: the bookings stay the same whatever is added here
GENDERS: Final = (("female", 70), ("male", 25), (None, 5))
BIRTHDAY_SHARE: Final = 0.7
# Tags staff give, with the share of customers carrying each (normalised spellings).
CUSTOMER_TAGS: Final = (
    ("偏好女技师", 0.12), ("过敏体质", 0.05), ("学生", 0.06), ("企业客户", 0.04), ("朋友推荐", 0.10),
    ("团购客户", 0.08), ("价格敏感", 0.06), ("安静服务", 0.09),
)
REGULAR_TAG: Final = "常客"  # customers with at least REGULAR_VISITS completed visits
REGULAR_VISITS: Final = 6
# Staff overrides: the business's own VIPs, whatever they have spent so far.
VIP_OVERRIDES: Final = 6
PREFERENCES: Final = {
    "按摩力度": ("轻", "适中", "重"),
    "饮品": ("温水", "花茶", "柠檬水"),
    "技师性别": ("女", "不限"),
}
PREFERENCE_SHARE: Final = 0.35
# The customers' profile form the demo makes (its custom field: a skin type, by option value).
PROFILE_FORM_NAME: Final = "客户档案"
SKIN_TYPES: Final = (("dry", "干性", "Dry"), ("oily", "油性", "Oily"), ("combination", "混合性", "Combination"),
                     ("sensitive", "敏感性", "Sensitive"))
PROFILE_FIELDS: Final = (
    {
        "key": "skin_type", "type": "single_select", "label": {"zh-CN": "皮肤类型", "en": "Skin type"},
        "options": [{"value": value, "label": {"zh-CN": zh, "en": en}} for value, zh, en in SKIN_TYPES],
    },
)
CUSTOMER_NOTES: Final = (
    "颈肩劳损，推拿时避开左肩旧伤", "喜欢安静，服务中不需要推荐产品", "常带朋友一起来，可推荐双人套餐",
    "对薰衣草精油过敏", "周末下午时间比较固定", "上次投诉等候太久，已致歉并赠送护理一次",
)
CUSTOMER_NOTE_SHARE: Final = 0.08
REDEEM_SHARE: Final = 0.3  # of customers with enough points, those who spent some
REDEEM_AMOUNTS: Final = (100, 200, 300, 500)
