"""The `appliance` command: serve, migrate, check, up, user and token management, keys.

Every command exits non-zero with a readable reason on failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import click

from appliance.audit.cli import audit_group
from appliance.cli_support import fail, run, settings_or_fail
from appliance.core.errors import AppError
from appliance.exports.cli import export_command, import_command
from appliance.imports.cli import import_data_command
from appliance.keys.cli import keys_group
from appliance.settings import Settings, effective_settings

FIRST_LOGIN_FILE = "first-login.txt"
_fail, _settings, _run = fail, settings_or_fail, run


@click.group()
@click.version_option(package_name="booking-appliance")
def main() -> None:
    """The booking appliance."""


@main.command()
def migrate() -> None:
    """Apply pending database migrations (each one all-or-nothing)."""
    from appliance.db.migrate import apply_migrations

    applied = _run(_settings(), apply_migrations)
    for migration_id in applied:
        click.echo(f"applied {migration_id}")
    click.echo("database is up to date" if not applied else f"{len(applied)} migration(s) applied")


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    import uvicorn

    from appliance.app import create_app
    from appliance.db.migrate import pending_migrations

    pending = _run(settings, pending_migrations)
    if pending:
        _fail(f"{len(pending)} migration(s) pending: {', '.join(pending)}. Run `appliance migrate` first.")
    options: dict[str, Any] = dict(
        host=host or settings.http.host, port=port or settings.http.port, log_config=None, proxy_headers=False,
        server_header=False, timeout_keep_alive=settings.http.keep_alive_seconds,
    )
    if settings.http.workers > 1:
        # Each process makes its own app from the same environment (an app object cannot cross processes).
        uvicorn.run("appliance.app:create_app", factory=True, workers=settings.http.workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: APPLIANCE_HTTP_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: APPLIANCE_HTTP_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the API, admin UI and portal. Refuses to start while migrations are pending."""
    _serve(_settings(), host, port)


@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--no-demo", is_flag=True, help="Do not seed the demo business into an empty database.")
def up(host: str | None, port: int | None, no_demo: bool) -> None:
    """Migrate, make sure a first owner account exists (printing its login), seed the demo business
    into an empty database (unless --no-demo), then serve."""
    settings = _settings()
    from appliance.core.keyring import KeyRingError, ensure_field_keys
    from appliance.db.migrate import apply_migrations

    try:  # the key ring (signing and field-encryption keys) on first start; kept as it is after
        ensure_field_keys(settings.keyring_path)
    except KeyRingError as exc:
        _fail(str(exc))
    _run(settings, apply_migrations)
    login_file = settings.data.dir / FIRST_LOGIN_FILE
    created = _run(settings, lambda: _ensure_first_owner(login_file))
    if created:
        installed = _run(settings, _install_default_rules)
        click.echo(f"Installed {len(installed)} default rules (edit or disable them under /api/v1/rules).")
    if created or login_file.exists():
        click.echo(f"\nFirst owner login ({'just created' if created else 'kept in ' + str(login_file)}):")
        click.echo(login_file.read_text(encoding="utf-8"))
        click.echo("Change this password after signing in, then delete the file.\n")
    if not no_demo:
        _run(settings, _seed_demo_on_first_start)
    click.echo(f"Booking appliance at http://{host or settings.http.host}:{port or settings.http.port}")
    _serve(settings, host, port)


async def _ensure_first_owner(login_file: Path) -> bool:
    from appliance.auth import actions, queries, schemas
    from appliance.auth.actor import cli_actor
    from appliance.auth.roles import Role

    if await queries.count_users():
        return False
    password = secrets.token_urlsafe(15)
    data = schemas.UserCreate(username="owner", password=password, grants=[schemas.GrantBody(Role.owner)])
    await actions.create_user(data, actor=cli_actor())
    login_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(login_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"username: owner\npassword: {password}\n")
    return True


async def _install_default_rules() -> list[str]:
    from appliance.auth.actor import cli_actor
    from appliance.automation.defaults import install_default_rules

    return await install_default_rules(actor=cli_actor())


@main.group()
def rules() -> None:
    """Automation rules."""


@rules.command("install-defaults")
def rules_install_defaults() -> None:
    """Install the default rules (confirmation, reminder, awaiting payment, payment reminder) not present yet."""
    installed = _run(_settings(), _install_default_rules)
    for name in installed:
        click.echo(f"installed: {name}")
    click.echo(f"{len(installed)} rule(s) installed")


async def _seed_demo_on_first_start() -> None:
    """Seed the demo when there are no branches yet; on any later start this is one count query."""
    from time import monotonic

    from appliance.auth.actor import cli_actor
    from appliance.catalog.tables import Branch
    from appliance.demo.actions import DemoExists, seed_demo

    if await Branch.count():
        return
    click.echo("No branches yet: seeding the demo business (a few seconds; `appliance up --no-demo` skips this)…")
    started = monotonic()
    try:
        summary = await seed_demo(actor=cli_actor())
    except DemoExists:
        return  # a branch appeared meanwhile: the database is in use, leave it be
    except Exception as exc:  # the demo is a convenience: report it and serve anyway
        click.echo(
            f"warning: the demo could not be seeded ({type(exc).__name__}: {exc}); `appliance demo` tries again",
            err=True,
        )
        return
    click.echo(summary.describe(monotonic() - started) + "\n")


@main.command()
@click.option("--reset", is_flag=True, help="Delete every branch, service, customer and booking first.")
def demo(reset: bool) -> None:
    """Seed a realistic demo business (two Shanghai branches, staff, rooms, services, customers and
    bookings from 90 days back to 30 ahead). Refused while branches exist, unless --reset."""
    from time import monotonic

    from appliance.auth.actor import cli_actor
    from appliance.db.migrate import pending_migrations
    from appliance.demo.actions import seed_demo

    async def work() -> Any:
        if pending := await pending_migrations():
            raise AppError(f"{len(pending)} migration(s) pending: {', '.join(pending)}. Run `appliance migrate` first.")
        return await seed_demo(actor=cli_actor(), reset=reset)

    started = monotonic()
    summary = _run(_settings(), work)
    click.echo(summary.describe(monotonic() - started))


@main.group()
def reports() -> None:
    """Analytics."""


@reports.command("rebuild")
def reports_rebuild() -> None:
    """Derive the report rollups again from every booking and clear the stale marks (booking changes mark
    their days and reports derive those before reading; this sets the rollups right after writes that went
    around the appliance, such as SQL by hand)."""
    from appliance.db.migrate import pending_migrations
    from appliance.reports.rollup import rebuild

    async def work() -> None:
        if pending := await pending_migrations():
            raise AppError(f"{len(pending)} migration(s) pending: {', '.join(pending)}. Run `appliance migrate` first.")
        await rebuild()

    _run(_settings(), work)
    click.echo("report rollups rebuilt")


@main.command()
def check() -> None:
    """Print the effective configuration (secrets masked) and check the database and broker."""
    settings = _settings()
    click.echo("Configuration:")
    for env_name, value in effective_settings(settings):
        click.echo(f"  {env_name}={value}")
    engine = "SQLite" if settings.database_url.startswith("sqlite") else "PostgreSQL"
    worker = "worker threads inside `appliance serve`" if settings.embedded else "Redis broker, `appliance worker` processes"
    click.echo(f"Mode: {engine}; {worker}")
    problems = _run(settings, lambda: _check_services(settings), pool=False)
    if problems:
        _fail("; ".join(problems))
    click.echo("All checks passed.")


async def _check_services(settings: Settings) -> list[str]:
    from appliance.core import db
    from appliance.core.cache import open_redis
    from appliance.db.migrate import pending_migrations

    problems = []
    try:
        await asyncio.wait_for(db.ping(), 5)
        pending = await pending_migrations()
        click.echo(f"  database: reachable, {len(pending)} migration(s) pending")
        if pending:
            problems.append(f"{len(pending)} migration(s) pending: run `appliance migrate`")
    except Exception as exc:  # report, whatever went wrong
        problems.append(f"database unreachable ({type(exc).__name__}: {exc})")
    if settings.redis.url:
        client = open_redis(settings.redis.url)
        try:
            await asyncio.wait_for(client.ping(), 5)
            click.echo("  redis: reachable")
        except Exception as exc:  # report, whatever went wrong
            problems.append(f"redis unreachable ({type(exc).__name__})")
        finally:
            await client.aclose()
    else:
        click.echo("  broker: in-process (no Redis configured)")
    return problems


@main.group()
def user() -> None:
    """Staff accounts."""


@user.command("create")
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Prompted if omitted.")
@click.option("--role", "roles", required=True, multiple=True,
              type=click.Choice(["owner", "manager", "front_desk", "staff", "compliance_officer"]))
@click.option("--branch", "branch_id", default=None, help="Branch id the roles apply to (default: every branch).")
@click.option("--display-name", default="")
def user_create(username: str, password: str, roles: tuple[str, ...], branch_id: str | None, display_name: str) -> None:
    """Create a local staff account."""
    from appliance.auth import actions, schemas
    from appliance.auth.actor import cli_actor
    from appliance.auth.roles import Role
    from appliance.core.errors import Invalid

    try:
        branch = UUID(branch_id) if branch_id else None
    except ValueError:
        _fail("--branch must be a branch id (UUID)")
        return
    try:
        data = schemas.UserCreate(
            username=username, password=password, display_name=display_name,
            grants=[schemas.GrantBody(Role(r), branch) for r in roles],
        )
    except Exception as exc:
        _fail(str(exc))
        return

    async def work() -> Any:
        return await actions.create_user(data, actor=cli_actor())

    try:
        created = _run(_settings(), work)
    except Invalid as exc:  # pragma: no cover - _run already reports AppErrors
        _fail(exc.detail)
        return
    click.echo(f"created user {created.username} ({created.id})")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--username", required=True)
@click.option("--name", default="cli", help="A label to tell tokens apart.")
@click.option("--scope", "scopes", multiple=True, help="Permission to grant (repeatable; default: all the user holds).")
@click.option("--expires-in-days", type=int, default=None)
def token_create(username: str, name: str, scopes: tuple[str, ...], expires_in_days: int | None) -> None:
    """Create an API token for a user and print it (it is shown only once)."""
    from appliance.auth import actions, queries, schemas
    from appliance.auth.actor import cli_actor
    from appliance.auth.roles import Permission
    from appliance.core.clock import utc_now

    unknown = [s for s in scopes if s not in Permission._value2member_map_]
    if unknown:
        _fail(f"unknown scope {unknown[0]!r}; known: {', '.join(p.value for p in Permission)}")

    async def work() -> Any:
        user_id = await queries.user_id_by_username(username)
        holder = await queries.actor_of_user(user_id)
        chosen = [Permission(s) for s in scopes] or [p for p in Permission if holder.can(p)]
        expires_at = utc_now() + timedelta(days=expires_in_days) if expires_in_days else None
        data = schemas.TokenCreate(name=name, scopes=chosen, expires_at=expires_at)
        return await actions.create_api_token(data, actor=cli_actor(), owner_id=user_id)

    created = _run(_settings(), work)
    click.echo(created.token)


@main.command()
@click.option("--threads", type=int, default=8, show_default=True, help="Worker threads in this process.")
def worker(threads: int) -> None:
    """Consume background jobs from Redis (production mode). Stops cleanly on SIGTERM or Ctrl-C."""
    import signal
    import threading

    import dramatiq

    from appliance.core.log import configure_logging
    from appliance.db import open_database
    from appliance.worker.broker import IDLE_WAKE_MS, SweeperThread, create_broker

    settings = _settings()
    if settings.embedded:
        _fail("APPLIANCE_REDIS_URL is not set: in embedded mode the worker runs inside `appliance serve`")
    if threads < 1:
        _fail("--threads must be at least 1")
    configure_logging(settings.log.format, settings.log.level)
    open_database(settings)
    # Idle consumers look for work every IDLE_WAKE_MS (Dramatiq's default backs off to a second per hop).
    consumer = dramatiq.Worker(create_broker(settings), worker_threads=threads, worker_timeout=IDLE_WAKE_MS)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    consumer.start()
    # Every worker process runs a sweeper; an advisory lock lets one sweep at a time.
    sweeper = SweeperThread(timedelta(seconds=settings.worker.sweep_seconds))
    sweeper.start()
    click.echo(f"worker running with {threads} thread(s); stop with SIGTERM")
    stop.wait()
    sweeper.stop()
    consumer.stop()

main.add_command(export_command)
main.add_command(import_command)
main.add_command(import_data_command)
main.add_command(audit_group)
main.add_command(keys_group)
