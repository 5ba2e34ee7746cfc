"""All admin pages in one router, so their errors render as pages (or send to the login form)."""

from __future__ import annotations

from litestar import Router

from appliance.web.admin.account import AccountPages
from appliance.web.admin.audit import AuditPages
from appliance.web.admin.automation import AutomationPages
from appliance.web.admin.bookings import BookingPages
from appliance.web.admin.calendar import CalendarPages
from appliance.web.admin.catalog import CatalogPages
from appliance.web.admin.customers import CustomerPages
from appliance.web.admin.dashboard import DashboardPage
from appliance.web.admin.form_editor import FormEditorPages
from appliance.web.admin.data_export import DataExportPage
from appliance.web.admin.deliveries import DeliveryPages
from appliance.web.admin.imports import ImportPages
from appliance.web.admin.inbox import InboxPages
from appliance.web.admin.login import AdminLoginPages
from appliance.web.admin.loyalty import LoyaltyPage
from appliance.web.admin.message_templates import TemplatePages
from appliance.web.admin.reports import ReportPages
from appliance.web.admin.segments import SegmentPages
from appliance.web.admin.settings_page import SettingsPage
from appliance.web.admin.shell import admin_exception_handlers
from appliance.web.admin.users import UserPages

# Each section's controller joins this list.
ADMIN_PAGES: list[type] = [
    AdminLoginPages, DashboardPage, CalendarPages, BookingPages, CustomerPages, SegmentPages, LoyaltyPage,
    CatalogPages, FormEditorPages, AutomationPages, DeliveryPages, TemplatePages, ReportPages, ImportPages, UserPages,
    AuditPages, DataExportPage, SettingsPage, InboxPages, AccountPages,
]


def admin_router() -> Router:
    return Router(path="/", route_handlers=ADMIN_PAGES, exception_handlers=admin_exception_handlers(),
                  include_in_schema=False)
