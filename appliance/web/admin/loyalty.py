"""The loyalty programme: points per yuan, when bookings earn, when points expire, and the tier ladder as
rows, replaced as a whole through the loyalty action (which re-ranks every customer when the ladder
changes). Everyone with customer rights reads it; changing it needs loyalty.manage in every branch."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.response import Template

from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.core.errors import AppError
from appliance.customers import loyalty, queries, schemas
from appliance.customers.logic import MAX_TIERS, Tier
from appliance.web.admin.formdata import convert, field_errors, money_minor, renumber, rows, text, words, yuan
from appliance.web.admin.shell import admin_page, go_to
from appliance.web.templating import AnyRequest, texts_for

BASE = "/admin/customers/loyalty"
TIER_INPUTS = ("key", "name", "min_spend", "min_points", "benefits")


def _tier_values(tier: Tier) -> dict[str, str]:
    return {
        "key": tier.key, "name": tier.name, "min_spend": "" if tier.min_spend is None else yuan(tier.min_spend),
        "min_points": "" if tier.min_points is None else str(tier.min_points), "benefits": ", ".join(tier.benefits),
    }


def _tier_of(row: dict[str, str]) -> dict[str, Any]:
    return {
        "key": row["key"], "name": row["name"], "benefits": words(row["benefits"]),
        "min_spend": money_minor(row["min_spend"]) if row["min_spend"] else None,
        "min_points": row["min_points"] or None,
    }


class LoyaltyPage(Controller):
    path = BASE
    include_in_schema = False

    async def _page(self, request: AnyRequest, values: dict[str, Any], tiers: list[dict[str, str]], *,
                    error: AppError | None = None, rename: dict[str, str] | None = None) -> Template:
        errors, problem = field_errors(texts_for(request), error, renumber(rename or {})) if error else ({}, None)
        blank = dict.fromkeys(TIER_INPUTS, "")
        shown = min(len(tiers) + 1, MAX_TIERS)
        context = {
            "values": values, "tiers": [*tiers, *[blank] * (shown - len(tiers))], "errors": errors, "problem": problem,
            "may_write": actor_of(request).can(Permission.loyalty_manage), "saved": request.query_params.get("saved") == "1",
        }
        name = "admin/customers/_loyalty_form.html" if error else "admin/customers/loyalty.html"
        return admin_page(request, name, context, section="customers", status=error.status if error else 200)

    @get("/", opt=requires(Permission.customers_read))
    async def programme(self, request: AnyRequest) -> Template:
        found = await queries.get_programme()
        values = {"points_per_unit": str(found.points_per_unit), "earn_on": found.earn_on,
                  "expiry_months": str(found.expiry_months)}
        return await self._page(request, values, [_tier_values(t) for t in found.tiers])

    @post("/", opt=requires(Permission.loyalty_manage))
    async def update(self, request: AnyRequest) -> Response[Any]:
        """A changed ladder re-ranks every customer at once."""
        form = await request.form()
        values = {name: text(form, name, 20) for name in ("points_per_unit", "earn_on", "expiry_months")}
        posted = rows(form, "tiers", TIER_INPUTS)
        rename = {f"tiers[{index}]": f"tiers[{row}]" for index, (row, _) in enumerate(posted)}
        body = {**values, "tiers": [_tier_of(row) for _, row in posted]}
        try:
            await loyalty.update_programme(convert(body, schemas.LoyaltyProgrammeUpdate), actor=actor_of(request))
        except AppError as error:
            return await self._page(request, values, [row for _, row in posted], error=error, rename=rename)
        return go_to(request, f"{BASE}/?saved=1")
