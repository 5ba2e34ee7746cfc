"""The customers section: the searchable list, the 360 profile and what staff do there (edit, tags,
notes, calls and visits, points, merge and undo, the subject export, erasure).

Every read and write goes through `appliance.customers` (queries and actions), the same calls as the JSON
API, so auditing of what is read and the storage of contact details stay theirs.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from appliance.auth.actor import Actor
from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import Permission
from appliance.catalog import queries as catalog
from appliance.core.errors import AppError, Invalid
from appliance.core.pagination import decode_instant_cursor, encode_instant_cursor
from appliance.customers import actions, merge, queries, schemas
from appliance.customers.points import adjust_points
from appliance.customers.reveals import record_listed, record_viewed
from appliance.forms.messages import pick
from appliance.forms.queries import CUSTOMERS, current_form, form_fields
from appliance.forms.schemas import FieldDef, Locale
from appliance.web.admin.formdata import convert, field_errors, message_of, text
from appliance.web.admin.shell import admin_page, go_to
from appliance.web.answers import answers_from_form
from appliance.web.i18n import N_
from appliance.web.templating import AnyRequest, texts_for

SECTION = "customers"
DEFAULT_ZONE = "Asia/Shanghai"  # before any branch exists
PAGE_SIZE = 25
LEDGER_LINES = 20
CUSTOMER = "/{customer_id:uuid}"
# What staff type to confirm an erasure: the word in their language (or this English one).
ERASE_WORD = N_("ERASE")
GENDERS = {"female": N_("Female"), "male": N_("Male"), "other": N_("Other")}
INTERACTIONS = {"call": N_("Call"), "visit": N_("Visit"), "message": N_("Message")}
WEEKDAYS = {
    "mon": N_("Mondays"), "tue": N_("Tuesdays"), "wed": N_("Wednesdays"), "thu": N_("Thursdays"), "fri": N_("Fridays"),
    "sat": N_("Saturdays"), "sun": N_("Sundays"),
}
PURPOSES = {
    "marketing": N_("Marketing"), "data_processing": N_("Data processing"), "email": N_("Email messages"),
    "sms": N_("Text messages (SMS)"), "wecom": N_("WeCom messages"), "dingtalk": N_("DingTalk messages"),
    "inbox": N_("Portal inbox"),
}
STATUSES = {
    "pending_approval": N_("Awaiting approval"), "confirmed": N_("Confirmed"), "checked_in": N_("Checked in"),
    "completed": N_("Completed"), "cancelled": N_("Cancelled"), "no_show": N_("No-show"), "rejected": N_("Rejected"),
}


def _path(customer_id: UUID, tail: str = "") -> str:
    return f"/admin/customers/{customer_id}{tail}"


async def _profile_questions(locale: Locale) -> list[dict[str, Any]]:
    """The customers form's questions (custom profile fields) with labels in the staff member's language."""
    form = await current_form(CUSTOMERS)
    fields: list[FieldDef] = await form_fields(form) if form else []
    return [
        {"field": f, "label": pick(f.label, locale), "help": pick(f.help, locale) if f.help else "",
         "options": [(o.value, pick(o.label, locale)) for o in f.options]}
        for f in fields
    ]


async def _time_zones(actor: Actor) -> tuple[dict[UUID, str], str]:
    """Each branch's zone, to show a booking's time where it happens, and the zone of what belongs to no
    branch (a note, a points line): the first branch's, by name."""
    branches, _ = await catalog.list_branches(actor=actor, after=None, limit=500)
    first = min(branches, key=lambda b: b.name).timezone if branches else DEFAULT_ZONE
    return {b.id: b.timezone for b in branches}, first


class CustomerPages(Controller):
    path = "/admin/customers"
    include_in_schema = False

    @get("/", opt=requires(Permission.customers_read))
    async def customer_list(
        self, request: AnyRequest, phone: FromQuery[str | None] = None, last4: FromQuery[str | None] = None,
        email: FromQuery[str | None] = None, q: FromQuery[str | None] = None, tag: FromQuery[str | None] = None,
        tier: FromQuery[str | None] = None, segment: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None,
    ) -> Template:
        """Exact phone, last four digits and email go through the customers' own lookup; name, tag, tier
        and a saved segment filter the list."""
        asked = {"phone": phone, "last4": last4, "email": email, "q": q, "tag": tag, "tier": tier, "segment": segment}
        asked = {k: v.strip() for k, v in asked.items() if v and v.strip()}
        segments = await queries.list_segments()
        programme = await queries.get_programme()
        context: dict[str, Any] = {
            "asked": asked, "segments": segments, "tiers": programme.tiers, "tier_names": {t.key: t.name for t in programme.tiers},
            "items": [], "next_cursor": None, "errors": {},
        }
        last4_value = asked.get("last4")
        if last4_value is not None and not (len(last4_value) == 4 and last4_value.isdigit()):
            context["errors"] = field_errors(texts_for(request), Invalid({"last4": "four digits"}))[0]
            return admin_page(request, "admin/customers/list.html", context, section=SECTION, status=422)
        chosen = next((s for s in segments if s.key == asked.get("segment")), None)
        filters = queries.CustomerFilter(
            phone=asked.get("phone"), phone_last4=last4_value, email=asked.get("email"), q=asked.get("q"),
            tag=asked.get("tag"), tier=asked.get("tier"), segment=chosen.filter if chosen else None,
        )
        items, last = await queries.list_customers(filters, after=decode_instant_cursor(cursor), limit=PAGE_SIZE)
        await record_listed([c.id for c in items], actor=actor_of(request))
        context.update(items=items, next_cursor=encode_instant_cursor(last) if last else None)
        return admin_page(request, "admin/customers/list.html", context, section=SECTION)

    @get(CUSTOMER, opt=requires(Permission.customers_read))
    async def profile(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Template:
        """The 360 view, read with the same query as the API and recorded the same way (customer.viewed)."""
        actor = actor_of(request)
        texts = texts_for(request)
        customer = await queries.get_customer(customer_id, actor=actor)
        await record_viewed(customer_id, actor=actor)
        ledger, _ = await queries.list_points(customer_id, after=None, limit=LEDGER_LINES)
        zones, zone = await _time_zones(actor)
        return admin_page(request, "admin/customers/profile.html", {
            "c": customer, "ledger": ledger, "merges": await queries.list_merges(customer_id, actor=actor),
            "questions": await _profile_questions(texts.locale), "zones": zones, "zone": zone,
            "genders": GENDERS, "interactions": INTERACTIONS, "weekdays": WEEKDAYS, "purposes": PURPOSES,
            "statuses": STATUSES, "customer_id": customer_id, "errors": {}, "values": {}, "problem": None,
        }, section=SECTION)

    # --- Editing the profile ---------------------------------------------------------------------------

    @get(f"{CUSTOMER}/edit", opt=requires(Permission.customers_write))
    async def edit_form(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Template:
        customer = await queries.get_customer(customer_id, actor=actor_of(request))
        return await self._edit_page(request, customer, _values_of(customer), {}, None)

    @post(f"{CUSTOMER}/edit", opt=requires(Permission.customers_write))
    async def edit(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Response[Any]:
        actor = actor_of(request)
        texts = texts_for(request)
        customer = await queries.get_customer(customer_id, actor=actor)
        form = await request.form()
        values = {
            k: text(form, k, 300) for k in ("name", "phone", "extra_phones", "email", "gender", "birthday", "tier_override")
        }
        questions = await _profile_questions(texts.locale)
        fields = [q["field"] for q in questions]
        try:
            change: dict[str, Any] = {
                "name": values["name"], "phone": values["phone"], "email": values["email"] or None,
                "gender": values["gender"] or None, "birthday": values["birthday"] or None,
                # The form's fields as answered now (a cleared one goes), checked by the action; keys from
                # elsewhere (an import, an older form) stay as they are.
                "custom_fields": {
                    **{k: v for k, v in customer.custom_fields.items() if k not in {f.key for f in fields}},
                    **answers_from_form(fields, form, "custom_fields"),
                },
            }
            if not (values["phone"] or customer.phone):
                del change["phone"]  # imported with an email only: the form may leave it so
            if "extra_phones" in form:
                change["extra_phones"] = further_phones(values["extra_phones"])
            if actor.can(Permission.loyalty_manage):
                change["tier_override"] = values["tier_override"] or None
            await actions.update_customer(
                customer_id, convert(change, schemas.CustomerUpdate), actor=actor, locale=texts.locale
            )
        except AppError as error:
            errors, problem = field_errors(texts, error, rename=lambda key: re.sub(r"^extra_phones\[\d+\]$", "extra_phones", key))
            values |= {f"custom_fields.{f.key}": text(form, f"custom_fields.{f.key}") for f in fields}
            return await self._edit_page(request, customer, values, errors, problem, status=error.status, fragment=True)
        return go_to(request, _path(customer_id))

    async def _edit_page(
        self, request: AnyRequest, customer: schemas.Customer, values: dict[str, Any], errors: dict[str, str],
        problem: str | None, *, status: int = 200, fragment: bool = False,
    ) -> Template:
        texts = texts_for(request)
        template = "admin/customers/_edit_form.html" if fragment else "admin/customers/edit.html"
        return admin_page(request, template, {
            "c": customer, "values": values, "errors": errors, "problem": problem, "genders": GENDERS,
            "questions": await _profile_questions(texts.locale), "tiers": (await queries.get_programme()).tiers,
        }, section=SECTION, status=status)

    # --- Tags, notes, the communication log, points -------------------------------------------------------

    @post(f"{CUSTOMER}/tags", opt=requires(Permission.customers_write))
    async def add_tag(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Response[Any]:
        form = await request.form()
        tag = text(form, "tag", 100)
        try:
            await actions.add_tags(customer_id, [tag], actor=actor_of(request))
        except AppError as error:
            return self._small_form(request, "_tag_form.html", customer_id, {"tag": tag}, error, rename={"tags[0]": "tag"})
        return go_to(request, _path(customer_id))

    @post(f"{CUSTOMER}/tags/remove", opt=requires(Permission.customers_write))
    async def remove_tag(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Response[Any]:
        await actions.remove_tag(customer_id, text(await request.form(), "tag", 100) or "-", actor=actor_of(request))
        return go_to(request, _path(customer_id))

    @post(f"{CUSTOMER}/notes", opt=requires(Permission.customers_write))
    async def add_note(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Response[Any]:
        body = text(await request.form(), "body")
        try:
            await actions.add_note(customer_id, convert({"body": body}, schemas.NoteCreate), actor=actor_of(request))
        except AppError as error:
            return self._small_form(request, "_note_form.html", customer_id, {"body": body}, error)
        return go_to(request, _path(customer_id))

    @post(f"{CUSTOMER}/interactions", opt=requires(Permission.customers_write))
    async def log_interaction(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Response[Any]:
        form = await request.form()
        values = {"kind": text(form, "kind", 20), "note": text(form, "note")}
        try:
            entry = convert(values, schemas.InteractionCreate)
            await actions.log_interaction(customer_id, entry, actor=actor_of(request))
        except AppError as error:
            return self._small_form(request, "_interaction_form.html", customer_id, values, error)
        return go_to(request, _path(customer_id))

    @post(f"{CUSTOMER}/points", opt=requires(Permission.loyalty_manage))
    async def adjust(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Response[Any]:
        form = await request.form()
        values = {"points": text(form, "points", 20), "reason": text(form, "reason", 500)}
        try:
            await adjust_points(customer_id, convert(values, schemas.PointsAdjust), actor=actor_of(request))
        except AppError as error:
            return self._small_form(request, "_points_form.html", customer_id, values, error)
        return go_to(request, _path(customer_id))

    @post(f"{CUSTOMER}/consent", opt=requires(Permission.customers_write))
    async def change_consent(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Response[Any]:
        """The choices the customer told staff ("yes" / "no" per purpose; left blank: as recorded)."""
        form = await request.form()
        choices = {p: form.get(f"consent.{p}") == "yes" for p in PURPOSES if form.get(f"consent.{p}") in ("yes", "no")}
        if choices:
            await actions.set_consent(customer_id, choices, source="staff", actor=actor_of(request))
        return go_to(request, _path(customer_id))

    def _small_form(
        self, request: AnyRequest, name: str, customer_id: UUID, values: dict[str, str], error: AppError,
        rename: dict[str, str] | None = None,
    ) -> Template:
        """One of the profile's small forms again, with what was typed and the messages inline."""
        errors, problem = field_errors(texts_for(request), error, lambda key: (rename or {}).get(key, key))
        return admin_page(request, f"admin/customers/{name}", {
            "customer_id": customer_id, "values": values, "errors": errors, "problem": problem,
            "interactions": INTERACTIONS,
        }, section=SECTION, status=error.status)

    # --- Merging duplicates ---------------------------------------------------------------------------

    @get(f"{CUSTOMER}/merge", opt=requires(Permission.customers_write))
    async def merge_page(
        self, request: AnyRequest, customer_id: FromPath[UUID], phone: FromQuery[str | None] = None,
        duplicate: FromQuery[UUID | None] = None,
    ) -> Template:
        """Find the duplicate by phone, see what would move, confirm."""
        actor = actor_of(request)
        customer = await queries.get_customer(customer_id, actor=actor)
        found: list[schemas.CustomerSummary] = []
        if phone and phone.strip():
            found, _ = await queries.list_customers(queries.CustomerFilter(phone=phone.strip()), after=None, limit=10)
            found = [f for f in found if f.id != customer_id]
        other = preview = None
        problem = None
        if duplicate is not None:
            try:
                other = await queries.get_customer(duplicate, actor=actor)
                preview = await merge.preview_merge(customer_id, duplicate)
            except AppError as error:
                problem = message_of(texts_for(request), error)
                other = None
        return admin_page(request, "admin/customers/merge.html", {
            "c": customer, "phone": phone or "", "found": found, "other": other, "preview": preview, "problem": problem,
        }, section=SECTION)

    @post(f"{CUSTOMER}/merge", opt=requires(Permission.customers_write))
    async def merge(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Response[Any]:
        form = await request.form()
        try:
            chosen = convert({"duplicate_id": text(form, "duplicate_id", 40)}, schemas.MergeRequest)
            record = await merge.merge_customers(customer_id, chosen.duplicate_id, actor=actor_of(request))
        except AppError as error:
            return admin_page(request, "admin/customers/_problem.html", {
                "problem": message_of(texts_for(request), error),
            }, section=SECTION, status=error.status)
        return go_to(request, f"/admin/customers/merges/{record.id}")

    @get("/merges/{merge_id:uuid}", opt=requires(Permission.customers_read))
    async def merge_record(self, request: AnyRequest, merge_id: FromPath[UUID]) -> Template:
        actor = actor_of(request)
        record = await queries.merge_in_reach(await queries.get_merge(merge_id), actor)
        _, zone = await _time_zones(actor)
        return admin_page(request, "admin/customers/merge_record.html", {"m": record, "zone": zone}, section=SECTION)

    @post("/merges/{merge_id:uuid}/undo", opt=requires(Permission.customers_write))
    async def undo(self, request: AnyRequest, merge_id: FromPath[UUID]) -> Response[Any]:
        try:
            await merge.undo_merge(merge_id, actor=actor_of(request))
        except AppError as error:
            return admin_page(request, "admin/customers/_problem.html", {
                "problem": message_of(texts_for(request), error),
            }, section=SECTION, status=error.status)
        return go_to(request, f"/admin/customers/merges/{merge_id}")

    # --- Data-subject requests ------------------------------------------------------------------------

    @get(f"{CUSTOMER}/export", opt=requires(Permission.customers_export))
    async def export_page(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Template:
        """A form for the subject-export API (POST /api/v1/customers/{id}/export), which the page's script calls."""
        await queries.require_customer(customer_id)
        return admin_page(request, "admin/customers/export.html", {"customer_id": customer_id}, section=SECTION)

    @get(f"{CUSTOMER}/erase", opt=requires(Permission.customers_erase))
    async def erase_page(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Template:
        await queries.require_customer(customer_id)
        return self._erase_form(request, customer_id, {}, {}, None)

    @post(f"{CUSTOMER}/erase", opt=requires(Permission.customers_erase))
    async def erase(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Response[Any]:
        """Erasure after the staff member typed the confirmation word; the reason goes to the audit log."""
        texts = texts_for(request)
        form = await request.form()
        values = {"reason": text(form, "reason", 500), "confirm": text(form, "confirm", 40)}
        try:
            if values["confirm"] not in (texts.gettext(ERASE_WORD), ERASE_WORD):
                raise Invalid({"confirm": "type the word to confirm"})
            await actions.erase_customer(customer_id, values["reason"], actor=actor_of(request))
        except AppError as error:
            errors, problem = field_errors(texts, error)
            if "confirm" in errors:
                errors["confirm"] = texts.gettext("Type %(word)s to confirm.") % {"word": texts.gettext(ERASE_WORD)}
            return self._erase_form(request, customer_id, values, errors, problem, status=error.status, fragment=True)
        return go_to(request, _path(customer_id, "/erase?done=1"))

    def _erase_form(
        self, request: AnyRequest, customer_id: UUID, values: dict[str, str], errors: dict[str, str],
        problem: str | None, *, status: int = 200, fragment: bool = False,
    ) -> Template:
        template = "admin/customers/_erase_form.html" if fragment else "admin/customers/erase.html"
        return admin_page(request, template, {
            "customer_id": customer_id, "values": values, "errors": errors, "problem": problem, "erase_word": ERASE_WORD,
            "done": request.query_params.get("done") == "1",
        }, section=SECTION, status=status)


def further_phones(typed: str) -> list[str]:
    """The further phones typed in one input, separated by commas or semicolons (ASCII or full-width) or
    new lines; spaces stay inside a number (one may be typed "139 0000 0077")."""
    return [p.strip() for p in re.split(r"[,，;；\n]", typed) if p.strip()]


def _values_of(customer: schemas.Customer) -> dict[str, Any]:
    """The edit form filled in from the profile."""
    values: dict[str, Any] = {
        "name": customer.name, "phone": customer.phone or "", "extra_phones": ", ".join(customer.extra_phones),
        "email": customer.email or "",
        "gender": customer.gender or "", "birthday": customer.birthday.isoformat() if customer.birthday else "",
        "tier_override": customer.membership.tier_override or "",
    }
    for key, value in customer.custom_fields.items():
        values[f"custom_fields.{key}"] = value
    return values

