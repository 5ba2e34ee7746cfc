"""Staff accounts: who holds which role where; creating, disabling and enabling accounts, changing their
roles, and resetting a lost second factor — each through the auth actions, which enforce GRANTABLE_BY."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from appliance.auth import actions, mfa, queries, schemas
from appliance.auth.actor import Actor
from appliance.auth.api import actor_of
from appliance.auth.guards import requires
from appliance.auth.roles import GLOBAL_ROLES, GRANTABLE_BY, Permission, Role
from appliance.auth.step_up import forget_reauthentication, reauthenticated_at
from appliance.core.errors import AppError, Invalid
from appliance.web.admin.form_support import BUSINESS_ZONE, branch_choices
from appliance.web.admin.formdata import convert, field_errors
from appliance.web.admin.shell import admin_page, field_messages, go_to, problem_text
from appliance.web.i18n import N_
from appliance.web.templating import AnyRequest, texts_for

ROLE_LABELS: dict[Role, str] = {
    Role.owner: N_("Owner"), Role.manager: N_("Manager"), Role.front_desk: N_("Front desk"),
    Role.staff: N_("Staff"), Role.compliance_officer: N_("Compliance officer"),
}
GRANT_ROWS = 4  # role rows a form offers (empty ones are ignored)
EVERY_BRANCH = ""  # the branch select's value for a grant that spans every branch


def grantable_roles(actor: Actor) -> list[Role]:
    """The roles this actor may hand out, in the order of ROLE_LABELS (the action checks again)."""
    if actor.superuser:
        return list(ROLE_LABELS)
    allowed = frozenset().union(*(GRANTABLE_BY.get(r, frozenset()) for r in actor.roles))
    return [role for role in ROLE_LABELS if role in allowed]


def read_grants(form: Mapping[str, str]) -> tuple[list[schemas.GrantBody], dict[str, str]]:
    """The grant rows of a form (`grant-N-role`, `grant-N-branch`); rows without a role are left out."""
    grants: list[schemas.GrantBody] = []
    errors: dict[str, str] = {}
    for row in range(GRANT_ROWS):
        role, branch = form.get(f"grant-{row}-role", ""), form.get(f"grant-{row}-branch", EVERY_BRANCH)
        if not role:
            continue
        try:
            grant_role = Role(role)
            branch_id = UUID(branch) if branch and grant_role not in GLOBAL_ROLES else None
        except ValueError:
            errors[f"grant-{row}-role"] = N_("Choose a role and a branch from the lists.")
            continue
        grants.append(schemas.GrantBody(grant_role, branch_id))
    if not grants and not errors:
        errors["grant-0-role"] = N_("Give the account at least one role.")
    return grants, errors


# What the form says when msgspec refuses these inputs (its own wording names a regex).
FIELD_HINTS = {
    "username": N_("Letters, digits and . _ @ - only, at most 150."),
    "display_name": N_("At most 200 characters."),
}



def _step_up(request: AnyRequest) -> dict[str, bool]:
    """How the acting owner confirms an MFA reset: signed in through SSO, by signing in again at the
    identity provider (and whether they just did); otherwise with their authenticator app's code."""
    at = reauthenticated_at(request)
    return {
        "sso_step_up": actor_of(request).auth_method == "sso",
        "step_up_fresh": at is not None and 0 <= time.time() - at <= mfa.STEP_UP_SECONDS,
    }

class UserPages(Controller):
    path = "/admin/users"
    include_in_schema = False

    async def _form_context(self, request: AnyRequest, **extra: Any) -> dict[str, Any]:
        actor = actor_of(request)
        return {
            "roles": grantable_roles(actor), "role_labels": ROLE_LABELS, "global_roles": GLOBAL_ROLES,
            "branches": await branch_choices(actor), "grant_rows": GRANT_ROWS, "errors": {}, "problem": None, **extra,
        }

    def _translated(self, request: AnyRequest, errors: dict[str, str]) -> dict[str, str]:
        texts = texts_for(request)
        return {name: texts.gettext(message) for name, message in errors.items()}

    @get("/", opt=requires(Permission.users_read))
    async def list_users(self, request: AnyRequest) -> Template:
        actor = actor_of(request)
        after = request.query_params.get("after") or None
        users, last = await queries.list_users(actor=actor, after=after, limit=100)
        branches = {b.id: b.name for b in await branch_choices(actor)}
        return admin_page(request, "admin/users/list.html", {
            "users": users, "next_after": last, "zone": BUSINESS_ZONE, "branch_names": branches, "role_labels": ROLE_LABELS,
        }, section="users")

    @get("/new", opt=requires(Permission.users_manage))
    async def new_user(self, request: AnyRequest) -> Template:
        context = await self._form_context(request, form={"sign_in": "password"}, grants=[])
        return admin_page(request, "admin/users/new.html", context, section="users")

    @post("/", opt=requires(Permission.users_manage))
    async def create_user(self, request: AnyRequest) -> Response[Any]:
        form = {k: str(v) for k, v in (await request.form()).items()}
        texts = texts_for(request)
        grants, grant_errors = read_grants(form)
        errors = self._translated(request, grant_errors)
        sso_only = form.get("sign_in") == "sso"
        body = {
            "username": form.get("username", "").strip(), "display_name": form.get("display_name", "").strip(),
            "password": None if sso_only else form.get("password", ""),
            "grants": [msgspec.to_builtins(g) for g in grants],
        }
        problem: str | None = None
        status = 422
        if not errors:
            try:
                data = convert(body, schemas.UserCreate, hints=FIELD_HINTS)
                await actions.create_user(data, actor=actor_of(request))
                return go_to(request, "/admin/users")
            except AppError as error:
                status = error.status
                errors, problem = field_errors(texts, error)
                if error.code == "username_taken":
                    errors["username"], problem = texts.gettext(N_("That username is taken.")), None
                if "grants" in errors:
                    errors["grant-0-role"] = errors.pop("grants")
        form.pop("password", None)  # never echoed back
        context = await self._form_context(request, form=form, grants=grants, errors=errors, problem=problem)
        return admin_page(request, "admin/users/_new_form.html", context, section="users", status=status)

    @get("/{user_id:uuid}", opt=requires(Permission.users_read))
    async def user(self, request: AnyRequest, user_id: FromPath[UUID]) -> Template:
        return await self._user_page(request, user_id)

    async def _user_page(self, request: AnyRequest, user_id: UUID, *, status: int = 200, **extra: Any) -> Template:
        actor = actor_of(request)
        user = await queries.get_user(user_id, actor=actor)
        context = await self._form_context(request, user=user, grants=user.grants, form={},
                                           has_mfa=await mfa.has_confirmed_totp(user_id),
                                           may_reset_mfa=Role.owner in actor.roles and actor.user_id != user_id,
                                           mfa_errors={}, mfa_problem=None, zone=BUSINESS_ZONE, **_step_up(request),
                                           **extra)
        context["branch_names"] = {b.id: b.name for b in context["branches"]}
        return admin_page(request, "admin/users/user.html", context, section="users", status=status)

    @post("/{user_id:uuid}/grants", opt=requires(Permission.users_manage))
    async def change_grants(self, request: AnyRequest, user_id: FromPath[UUID]) -> Response[Any]:
        form = {k: str(v) for k, v in (await request.form()).items()}
        grants, errors = read_grants(form)
        problem: str | None = None
        status = 422
        if not errors:
            try:
                await actions.change_grants(user_id, grants, actor=actor_of(request))
                return go_to(request, f"/admin/users/{user_id}")
            except Invalid as error:
                errors["grant-0-role"] = next(iter(field_messages(error).values()), error.detail)
            except AppError as error:
                status, problem = error.status, problem_text(texts_for(request), error)
        user = await queries.get_user(user_id, actor=actor_of(request))
        context = await self._form_context(request, user=user, grants=grants, errors=self._translated(request, errors),
                                           problem=problem)
        return admin_page(request, "admin/users/_grants_form.html", context, section="users", status=status)

    @post("/{user_id:uuid}/disable", opt=requires(Permission.users_manage))
    async def disable(self, request: AnyRequest, user_id: FromPath[UUID]) -> Response[Any]:
        try:
            await actions.disable_user(user_id, actor=actor_of(request))
        except AppError as error:
            return self._problem(request, error)
        return go_to(request, f"/admin/users/{user_id}")

    @post("/{user_id:uuid}/enable", opt=requires(Permission.users_manage))
    async def enable(self, request: AnyRequest, user_id: FromPath[UUID]) -> Response[Any]:
        try:
            await actions.enable_user(user_id, actor=actor_of(request))
        except AppError as error:
            return self._problem(request, error)
        return go_to(request, f"/admin/users/{user_id}")

    def _problem(self, request: AnyRequest, error: AppError) -> Template:
        problem = problem_text(texts_for(request), error)
        return admin_page(request, "admin/users/_problem.html", {"problem": problem}, section="users", status=error.status)

    @post("/{user_id:uuid}/mfa-reset", opt=requires(Permission.users_manage))
    async def reset_mfa(self, request: AnyRequest, user_id: FromPath[UUID]) -> Response[Any]:
        """The owner's own current code confirms it (step-up), as the API's reset asks."""
        form = await request.form()
        reason = str(form.get("reason", ""))[:500]
        code = str(form.get("code", "")).strip().replace(" ", "")[:16]
        actor = actor_of(request)
        try:
            await mfa.reset_totp(
                user_id, reason, code, actor=actor, lockout=request.app.state.lockout,
                reauthenticated_at=reauthenticated_at(request),
            )
            await forget_reauthentication(request)
        except AppError as error:
            texts = texts_for(request)
            errors = {}
            if error.code == "step_up_required" and actor.auth_method == "sso":
                errors["step_up"] = texts.gettext(N_("Confirm at your identity provider first."))
            elif error.code == "step_up_required":
                errors["code"] = texts.gettext(N_("Enter the current code of your own authenticator app."))
            elif "reason" in field_messages(error):
                errors["reason"] = texts.gettext(N_("Say why, e.g. a lost phone (at least 3 characters)."))
            user = await queries.get_user(user_id, actor=actor)
            return admin_page(request, "admin/users/_mfa_form.html", {
                "user": user, "mfa_errors": errors, "mfa_problem": None if errors else problem_text(texts, error),
                **_step_up(request),
            }, section="users", status=error.status)
        return go_to(request, f"/admin/users/{user_id}")
