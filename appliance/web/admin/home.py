"""The site root: staff land in the admin UI."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from appliance.auth.guards import PUBLIC
from appliance.web.admin.shell import HOME_PATH


class SiteRoot(Controller):
    path = "/"
    include_in_schema = False

    @get("/", opt=PUBLIC, status_code=HTTP_303_SEE_OTHER)
    async def root(self) -> Response[Any]:
        """Staff land in the admin UI (customers are sent links to /portal/)."""
        return Redirect(HOME_PATH, status_code=HTTP_303_SEE_OTHER)

