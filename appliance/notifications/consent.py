"""Customers' opt-outs per channel: set by staff or by the unsubscribe link in a message, both audited.
An opt-out is the customer's refusal of the channel in their consent (`customers.actions.set_consent`,
the one record; `customers.queries.refused` reads it).

The link carries a signed token, `<customer id>.<channel>.<signature>` (HMAC-SHA256 over both, with
the key in `LinkKey`, sealed like personal data): no row per link, and it works for as long as the key is
unchanged."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from uuid import UUID

from appliance.auth.actor import Actor
from appliance.core.clock import utc_now
from appliance.core.crypto.registry import open_value, seal_present
from appliance.core.db import is_unique_violation, write_transaction
from appliance.core.errors import Invalid, NotFound
from appliance.customers.actions import set_consent
from appliance.customers.queries import refused
from appliance.notifications import schemas
from appliance.notifications.catalogue import CHANNELS
from appliance.notifications.tables import LinkKey

UNSUBSCRIBE_PATH = "/portal/unsubscribe/{token}"  # the portal page the link in a message opens
ONE_CLICK_PATH = "/api/v1/portal/unsubscribe/{token}"  # RFC 8058 one-click POST from mail clients
_KEY_ID = "links"
_TABLE = LinkKey._meta.tablename


async def link_signing_key() -> bytes:
    """The signing key, made on first use by whichever node needs it first (the others read it). Kept in
    the database, sealed, rather than in the key ring: every node shares it at once, with no copying of
    the key ring after first use. Read each time, not cached: deleting the row takes effect on every node
    at once."""
    row = await LinkKey.select(LinkKey.secret).where(LinkKey.id == _KEY_ID).first()
    if row is None:
        try:
            async with write_transaction():
                secret = seal_present(_TABLE, "secret", _KEY_ID, secrets.token_hex(32))
                await LinkKey.insert(LinkKey(id=_KEY_ID, secret=secret, created_at=utc_now()))
        except Exception as exc:  # another node made it first
            if not is_unique_violation(exc):
                raise
        row = await LinkKey.select(LinkKey.secret).where(LinkKey.id == _KEY_ID).first()
    assert row is not None
    return bytes.fromhex(open_value(_TABLE, "secret", _KEY_ID, row["secret"]))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _signature(key: bytes, customer_id: UUID, channel: str) -> str:
    return _b64(hmac.new(key, f"unsubscribe:{customer_id}:{channel}".encode(), hashlib.sha256).digest()[:16])


async def unsubscribe_token(customer_id: UUID, channel: str) -> str:
    key = await link_signing_key()
    return f"{_b64(customer_id.bytes)}.{channel}.{_signature(key, customer_id, channel)}"


async def _read_token(token: str) -> tuple[UUID, str]:
    """The customer and channel of a genuine token; anything else is as unknown as a wrong one."""
    try:
        encoded, channel, signature = token.split(".")
        customer_id = UUID(bytes=base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error):
        raise NotFound("no such link") from None
    if channel not in CHANNELS or not hmac.compare_digest(signature, _signature(await link_signing_key(), customer_id, channel)):
        raise NotFound("no such link")
    return customer_id, channel


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise Invalid({"channel": f"one of: {', '.join(CHANNELS)}"})


async def opt_out(customer_id: UUID, channel: str, *, actor: Actor, source: str = "staff") -> bool:
    """The customer gets no more messages on `channel`; False when they had opted out already."""
    _check_channel(channel)
    return bool(await set_consent(customer_id, {channel: False}, source=source, actor=actor))


async def opt_in(customer_id: UUID, channel: str, *, actor: Actor) -> bool:
    """Messages on `channel` may reach the customer again; False when they had not opted out."""
    _check_channel(channel)
    if not await refused(customer_id, channel):
        return False
    return bool(await set_consent(customer_id, {channel: True}, source="staff", actor=actor))


async def unsubscribe_status(token: str) -> schemas.Unsubscribed:
    customer_id, channel = await _read_token(token)
    return schemas.Unsubscribed(channel=channel, opted_out=await refused(customer_id, channel))


async def unsubscribe(token: str, *, ip: str | None, request_id: str | None) -> schemas.Unsubscribed:
    """The link's customer opts out of its channel, audited as the customer (clicking twice is fine)."""
    customer_id, channel = await _read_token(token)
    actor = Actor(kind="customer", id=str(customer_id), label="customer", auth_method="unsubscribe_link", ip=ip,
                  request_id=request_id)
    await opt_out(customer_id, channel, actor=actor, source="link")
    return schemas.Unsubscribed(channel=channel, opted_out=True)
