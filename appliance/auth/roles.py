"""Roles, permissions and what each role may do: pure data, no I/O."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    owner = "owner"
    manager = "manager"
    front_desk = "front_desk"
    staff = "staff"
    compliance_officer = "compliance_officer"


class Permission(StrEnum):
    branches_read = "branches.read"
    branches_write = "branches.write"
    users_read = "users.read"
    users_manage = "users.manage"
    tokens_manage = "tokens.manage"  # one's own API tokens
    audit_read = "audit.read"
    audit_export = "audit.export"
    metrics_read = "metrics.read"
    catalog_read = "catalog.read"  # resources, schedules, services
    catalog_write = "catalog.write"
    bookings_read = "bookings.read"
    bookings_write = "bookings.write"  # create, reschedule, every state transition
    customers_read = "customers.read"
    customers_write = "customers.write"  # profiles, tags, notes, redeeming points
    loyalty_manage = "loyalty.manage"  # adjusting points, overriding a tier, the loyalty programme
    automation_read = "automation.read"  # rules, templates, deliveries
    automation_write = "automation.write"
    data_export = "data.export"  # everything the appliance holds, personal data included: owners only
    customers_export = "customers.export"  # all held about one customer: data-subject requests
    customers_erase = "customers.erase"  # erase one customer's personal data: data-subject requests
    reports_read = "reports.read"  # analytics over the branch's bookings, and their downloads
    data_import = "data.import"  # importing customers and past bookings from spreadsheets


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.owner: frozenset(Permission),
    Role.manager: frozenset(
        {
            P.branches_read, P.branches_write, P.users_read, P.users_manage, P.tokens_manage, P.catalog_read,
            P.catalog_write, P.bookings_read, P.bookings_write, P.customers_read, P.customers_write,
            P.loyalty_manage, P.automation_read, P.automation_write, P.reports_read, P.data_import,
        }
    ),
    Role.front_desk: frozenset(
        {P.branches_read, P.catalog_read, P.bookings_read, P.bookings_write, P.customers_read, P.customers_write}
    ),
    Role.staff: frozenset({P.branches_read, P.catalog_read, P.bookings_read}),
    Role.compliance_officer: frozenset(
        {P.branches_read, P.users_read, P.audit_read, P.audit_export, P.customers_export, P.customers_erase}
    ),
}

# Roles whose grant always spans every branch: a branch-scoped owner or auditor makes no sense.
GLOBAL_ROLES = frozenset({Role.owner, Role.compliance_officer})
# Who may hand out which role: nobody grants a role above their own.
GRANTABLE_BY: dict[Role, frozenset[Role]] = {
    Role.owner: frozenset(Role),
    Role.manager: frozenset({Role.front_desk, Role.staff}),
}
