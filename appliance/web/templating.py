"""The Jinja2 environment, static files and `page()`, the one way a page handler renders a template."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from litestar import Request, Router
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import CacheControlHeader, Cookie
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from appliance.auth.guards import PUBLIC
from appliance.web.i18n import COOKIE, LOCALES, Texts, choose_locale

WEB = Path(__file__).parent
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
STATIC_PATH = "/static"
AnyRequest = Request[Any, Any, Any]


@pass_context
def _gettext(context: Context, message: str) -> str:
    texts: Texts = context["texts"]
    return texts.gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    texts: Texts = context["texts"]
    return texts.ngettext(singular, plural, n)


def environment() -> Environment:
    """Our own templates: autoescaped, not sandboxed (user-written message templates use the sandbox in
    notifications), undefined names are errors, and `_()` / `{% trans %}` in the request's language."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["static"] = lambda name: f"{STATIC_PATH}/{name}"
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(engine=JinjaTemplateEngine.from_environment(environment()))


def static_router() -> Router:
    """`/static/…` from appliance/web/static (shipped in the wheel); public, cacheable for an hour."""
    return create_static_files_router(
        path=STATIC_PATH, directories=[STATIC], opt=PUBLIC, include_in_schema=False,
        cache_control=CacheControlHeader(max_age=3600, public=True),
    )


class Links:
    """Builds in-app links that keep the page embedded (`?embed=1`) once it was opened embedded."""

    def __init__(self, embed: bool) -> None:
        self.embed = embed

    def __call__(self, path: str, **query: object) -> str:
        params = {k: str(v) for k, v in query.items() if v is not None and v != ""}
        if self.embed:
            params["embed"] = "1"
        return f"{path}?{urlencode(params)}" if params else path


def texts_for(request: AnyRequest) -> Texts:
    return Texts(choose_locale(request.query_params.get("lang"), request.cookies.get(COOKIE), request.headers.get("accept-language")))


def page(
    request: AnyRequest, name: str, context: Mapping[str, Any] | None = None, *, status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Template:
    """Render `name` with the request's language (`texts`, `_()`), `link()` and `embed`; a `?lang=` choice
    is remembered in a cookie for the pages after."""
    texts = texts_for(request)
    embed = request.query_params.get("embed") == "1"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    languages = {locale: f"{request.url.path}?{urlencode({**query, 'lang': locale})}" for locale in LOCALES}
    cookies = []
    if request.query_params.get("lang") == texts.locale:
        cookies.append(Cookie(key=COOKIE, value=texts.locale, max_age=365 * 86400, httponly=True, samesite="lax", path="/"))
    return Template(
        template_name=name, status_code=status, cookies=cookies, headers=dict(headers or {}),
        context={"texts": texts, "lang": texts.locale, "embed": embed, "link": Links(embed), "languages": languages,
                 **(context or {})},
    )
