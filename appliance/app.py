"""create_app(): the one place where routes, middleware, stores, guards and the error map are wired."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Router
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore

from appliance import __version__
from appliance.audit.api import AuditController
from appliance.auth.api import AuthController, UserController
from appliance.auth.guards import PUBLIC, permission_guard, requires
from appliance.auth.lockout import LoginLockout
from appliance.auth.middleware import AuthenticationMiddleware
from appliance.auth.oidc import OidcClient
from appliance.auth.oidc_api import OidcController
from appliance.auth.roles import Permission
from appliance.auth.session_store import DatabaseStore
from appliance.auth.sessions import SessionManager
from appliance.bookings.api import AvailabilityController, BookingController, PortalController
from appliance.catalog.api import BranchController, ResourceController, ServiceController
from appliance.core import db
from appliance.customers.api import CustomerController, CustomerMergeController, LoyaltyController, SegmentController
from appliance.core.cache import open_redis
from appliance.core.headers import security_headers
from appliance.core.http import EXCEPTION_HANDLERS, RequestIdMiddleware, rate_limit_network
from appliance.core.log import configure_logging
from appliance.forms.api import FormController, PortalFormController
from appliance.db import open_database
from appliance.health.api import HealthController
from appliance.settings import Settings, load_settings
from appliance.automation.api import ApprovalController, RuleController
from appliance.events.api import DeliveryController
from appliance.events.outbox import hand_over_now
from appliance.surveys.api import SurveyController
from appliance.reports.api import ReportController
from appliance.notifications.api import (
    InboxController, OptOutController, TemplateController, UnsubscribeController,
)
from appliance.events.sweeper import run_sweeper
from appliance.exports.api import ExportController, SubjectExportController
from appliance.imports.api import ImportController
from appliance.worker.broker import InProcessWorker, create_broker
from appliance.web.admin.home import SiteRoot
from appliance.web.admin.router import admin_router
from appliance.web.portal import PortalPages
from appliance.web.templating import static_router, template_config

ROUTE_HANDLERS: list[Any] = [
    HealthController, AuthController, OidcController, UserController, BranchController, ResourceController,
    ServiceController, ExportController, SubjectExportController, ImportController, ReportController,
    AuditController,
]

BOOKING_HANDLERS: list[Any] = [AvailabilityController, BookingController, PortalController]
FORM_HANDLERS: list[Any] = [FormController, PortalFormController]
CUSTOMER_HANDLERS: list[Any] = [CustomerController, CustomerMergeController, LoyaltyController, SegmentController]
AUTOMATION_HANDLERS: list[Any] = [
    RuleController, ApprovalController, DeliveryController, SurveyController, TemplateController, InboxController,
    OptOutController, UnsubscribeController,
]
# Server-rendered pages (appliance/web): the customer portal and the site root; the admin UI is its own router.
PAGE_HANDLERS: list[Any] = [PortalPages, SiteRoot]


class MetricsController(PrometheusController):
    """Prometheus text; scrape with an API token holding metrics.read."""

    path = "/metrics"
    opt = requires(Permission.metrics_read)
    include_in_schema = False


def _rate_limit_key(request: Request[Any, Any, Any]) -> str:
    return rate_limit_network(request.scope.get("state", {}).get("client_ip"))


def _limiter(kind: str, per_minute: int, store: str) -> RateLimitConfig:
    """A per-client-address limit on the routes whose opt says `rate_limited=kind`."""

    async def applies(request: Request[Any, Any, Any]) -> bool:
        return request.route_handler.opt.get("rate_limited") == kind

    return RateLimitConfig(
        rate_limit=("minute", per_minute), store=store, check_throttle_handler=applies,
        identifier_for_request=_rate_limit_key,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    configure_logging(settings.log.format, settings.log.level)
    open_database(settings)
    redis = open_redis(settings.redis.url) if settings.redis.url else None
    session_store: Store = RedisStore(redis, namespace="appliance:sessions") if redis else DatabaseStore("sessions")
    login_store: Store = RedisStore(redis, namespace="appliance:login_attempts") if redis else MemoryStore()
    # Per-account lockout counters: shared by every node in production, like the per-address limit.
    lockout = LoginLockout(
        RedisStore(redis, namespace="appliance:lockout") if redis else MemoryStore(),
        attempts=settings.auth.lockout_attempts, minutes=settings.auth.lockout_minutes,
    )
    flow_store: Store = RedisStore(redis, namespace="appliance:oidc_flows") if redis else DatabaseStore("oidc_flows")
    sso_index: Store = RedisStore(redis, namespace="appliance:sso_sessions") if redis else DatabaseStore("sso_sessions")
    logout_tokens: Store = (
        RedisStore(redis, namespace="appliance:oidc_logout_jti") if redis else DatabaseStore("oidc_logout_jti")
    )
    oidc = OidcClient(settings.oidc, public_url=settings.public.url, flows=flow_store, logout_tokens=logout_tokens)
    portal_store: Store = RedisStore(redis, namespace="appliance:portal_requests") if redis else MemoryStore()
    sessions = SessionManager(
        session_store,
        idle_seconds=settings.session.idle_minutes * 60,
        absolute_seconds=settings.session.absolute_hours * 3600,
        secure_cookie=settings.http.secure_cookies,
        sso_index=sso_index,
    )

    broker = create_broker(settings)
    # Production runs `appliance worker` processes; embedded mode works inside this process.
    in_process_worker = InProcessWorker(broker) if settings.embedded else None

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.start_pool()
        stop_sweeping = asyncio.Event()
        sweeping: asyncio.Task[None] | None = None
        if in_process_worker is not None:
            in_process_worker.start()
            sweeping = asyncio.create_task(run_sweeper(stop_sweeping, timedelta(seconds=settings.worker.sweep_seconds)))
        try:
            yield
        finally:
            hand_over_now()  # events committed in the last moments: not left to the sweeper
            stop_sweeping.set()
            if sweeping is not None:
                await sweeping
            if in_process_worker is not None:
                await asyncio.to_thread(in_process_worker.stop)
            await db.close_pool()
            if redis is not None:
                await redis.aclose()

    login_limit = _limiter("login", settings.auth.login_attempts_per_minute, "login_attempts")
    portal_limit = _limiter("portal", settings.portal.requests_per_minute, "portal_requests")
    prometheus = PrometheusConfig(app_name="appliance", group_path=True, exclude=["/metrics"])
    return Litestar(
        route_handlers=[*ROUTE_HANDLERS, *BOOKING_HANDLERS, *FORM_HANDLERS, *CUSTOMER_HANDLERS, *AUTOMATION_HANDLERS, *PAGE_HANDLERS,
                        admin_router(), static_router(), MetricsController],
        guards=[permission_guard],
        middleware=[
            RequestIdMiddleware,
            prometheus.middleware,
            DefineMiddleware(
                AuthenticationMiddleware,
                sessions=sessions,
                trusted_proxies=settings.http.trusted_proxies,
                public_url=settings.public.url,
                oidc=oidc if oidc.enabled else None,
                recheck_seconds=settings.oidc.recheck_seconds,
            ),
            login_limit.middleware,
            portal_limit.middleware,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=template_config(),
        before_send=[security_headers(hsts=settings.http.hsts, portal_frame_ancestors=settings.http.frame_ancestors)],
        stores={"sessions": session_store, "login_attempts": login_store, "portal_requests": portal_store},
        state=State({
            "settings": settings, "sessions": sessions, "redis": redis, "broker": broker, "lockout": lockout, "oidc": oidc,
        }),
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="Booking appliance API",
            version=__version__,
            openapi_router=Router(path="/api/schema", route_handlers=[], opt=PUBLIC),
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"]), YamlRenderPlugin()],
        ),
        request_max_body_size=settings.http.max_body_kb * 1024,
        logging_config=None,  # core.log configures logging; Litestar's default would re-format it
        debug=False,
    )
