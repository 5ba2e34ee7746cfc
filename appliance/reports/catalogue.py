"""The reports there are: name, titles in zh-CN and en, parameters and columns. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

ColumnKind = Literal["text", "date", "count", "money", "rate", "hours", "rating"]
Bucket = Literal["day", "week", "month"]
BUCKETS: Final[tuple[Bucket, ...]] = ("day", "week", "month")


@dataclass(frozen=True)
class Column:
    key: str
    title_zh: str
    title_en: str
    kind: ColumnKind


@dataclass(frozen=True)
class Report:
    name: str
    title_zh: str
    title_en: str
    columns: tuple[Column, ...]
    bucketed: bool = False  # takes ?bucket=day|week|month; the others answer over the whole period


def _c(key: str, zh: str, en: str, kind: ColumnKind) -> Column:
    return Column(key, zh, en, kind)


PERIOD = _c("period", "周期", "Period", "date")
CURRENCY = _c("currency", "币种", "Currency", "text")
BOOKINGS = _c("bookings", "预约数", "Bookings", "count")
REVENUE_BOOKINGS = _c("bookings", "计收入预约数", "Revenue bookings", "count")
REVENUE = _c("revenue", "收入（分）", "Revenue (minor units)", "money")
COMPLETED = _c("completed", "已完成", "Completed", "count")
CANCELLED = _c("cancelled", "已取消", "Cancelled", "count")
NO_SHOW = _c("no_show", "爽约", "No-shows", "count")
CUSTOMERS = _c("customers", "客户数", "Customers", "count")
BOOKED_HOURS = _c("booked_hours", "已约小时", "Booked hours", "hours")
SCHEDULED_HOURS = _c("scheduled_hours", "排班小时", "Scheduled hours", "hours")
UTILISATION = _c("utilisation", "利用率", "Utilisation", "rate")

REPORTS: Final[dict[str, Report]] = {
    r.name: r
    for r in (
        Report("volume", "预约量趋势", "Booking volume", (
            PERIOD, BOOKINGS,
            _c("pending_approval", "待审批", "Pending approval", "count"),
            _c("confirmed", "已确认", "Confirmed", "count"),
            _c("checked_in", "已签到", "Checked in", "count"),
            COMPLETED, CANCELLED, NO_SHOW,
            _c("rejected", "已拒绝", "Rejected", "count"),
        ), bucketed=True),
        Report("revenue_by_period", "收入（按周期）", "Revenue by period", (PERIOD, CURRENCY, REVENUE_BOOKINGS, REVENUE), bucketed=True),
        Report("revenue_by_service", "收入（按服务）", "Revenue by service", (
            _c("service_id", "服务ID", "Service id", "text"), _c("service", "服务", "Service", "text"),
            CURRENCY, REVENUE_BOOKINGS, REVENUE,
        )),
        Report("revenue_by_staff", "收入（按员工）", "Revenue by staff", (
            _c("staff_id", "员工ID", "Staff id", "text"), _c("staff", "员工", "Staff", "text"),
            CURRENCY, REVENUE_BOOKINGS, REVENUE,
        )),
        Report("revenue_by_branch", "收入（按门店）", "Revenue by branch", (
            _c("branch_id", "门店ID", "Branch id", "text"), _c("branch", "门店", "Branch", "text"),
            CURRENCY, REVENUE_BOOKINGS, REVENUE,
        )),
        Report("customer_sources", "客户来源", "Customer sources", (
            _c("source", "来源渠道", "Source channel", "text"), CUSTOMERS, BOOKINGS,
            _c("share", "客户占比", "Share of customers", "rate"),
        )),
        Report("service_popularity", "服务热度排行", "Service popularity", (
            _c("rank", "排名", "Rank", "count"), _c("service_id", "服务ID", "Service id", "text"),
            _c("service", "服务", "Service", "text"), BOOKINGS, COMPLETED, CANCELLED, CUSTOMERS,
        )),
        Report("staff_performance", "员工绩效", "Staff performance", (
            _c("staff_id", "员工ID", "Staff id", "text"), _c("staff", "员工", "Staff", "text"),
            BOOKINGS, COMPLETED, NO_SHOW, _c("no_show_rate", "爽约率", "No-show rate", "rate"),
            CURRENCY, REVENUE, BOOKED_HOURS, SCHEDULED_HOURS, UTILISATION,
            _c("ratings", "评价数", "Ratings", "count"), _c("average_rating", "平均评分", "Average rating", "rating"),
        )),
        Report("resource_utilisation", "资源利用率", "Resource utilisation", (
            _c("resource_id", "资源ID", "Resource id", "text"), _c("resource", "资源", "Resource", "text"),
            _c("kind", "类型", "Kind", "text"), _c("capacity", "容量", "Capacity", "count"),
            BOOKED_HOURS, SCHEDULED_HOURS, UTILISATION,
        )),
        Report("cancellations", "取消率与爽约率", "Cancellation and no-show rates", (
            PERIOD, BOOKINGS, CANCELLED, NO_SHOW,
            _c("cancellation_rate", "取消率", "Cancellation rate", "rate"),
            _c("no_show_rate", "爽约率", "No-show rate", "rate"),
        ), bucketed=True),
        Report("new_vs_returning", "新客与回头客", "New vs returning customers", (
            PERIOD, CUSTOMERS, _c("new", "新客", "New", "count"), _c("returning", "回头客", "Returning", "count"),
        ), bucketed=True),
        Report("retention_cohorts", "月度留存", "Monthly retention cohorts", (
            _c("cohort", "首访月份", "Cohort (first month)", "text"),
            _c("cohort_size", "群组人数", "Cohort size", "count"),
            _c("months_after", "间隔月数", "Months after", "count"), CUSTOMERS,
            _c("retention", "留存率", "Retention", "rate"),
        )),
    )
}
