"""Failures on pages that no handler expected: a page in the visitor's language, never problem+json.

A request the framework refused (an unparsable query value, a body too large) keeps its status and
says so; anything else is logged with its traceback like an API failure and shows the request id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from litestar import Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from appliance.core.http import request_id_of
from appliance.web.i18n import N_
from appliance.web.templating import AnyRequest, texts_for

log = structlog.get_logger("appliance.http")

Render = Callable[[AnyRequest, str, int], Response[Any]]


def unexpected_failure_handlers(render: Render) -> ExceptionHandlersMap:
    """Handlers for a page area; `render(request, message, status)` draws the area's error page."""

    def refused(request: AnyRequest, exc: HTTPException) -> Response[Any]:
        if exc.status_code >= 500:
            return failed(request, exc)
        texts = texts_for(request)
        return render(request, texts.gettext(N_("This address is not valid. Please go back and try again.")), exc.status_code)

    def failed(request: AnyRequest, exc: Exception) -> Response[Any]:
        log.error("unhandled_error", exc_info=exc, route=request.scope.get("path_template"))
        texts = texts_for(request)
        message = texts.gettext(N_("Something went wrong on our side. If it happens again, quote this reference: %(id)s"))
        return render(request, message % {"id": request_id_of(request.scope)}, 500)

    # ValidationException by name too: the app's own handler for it would otherwise be the closer match.
    return {ValidationException: refused, HTTPException: refused, Exception: failed}
