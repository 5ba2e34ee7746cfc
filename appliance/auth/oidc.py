"""The OpenID Connect relying party: discovery, code flow with PKCE (S256), state, nonce, RFC 9207 `iss`,
ID token validation, and the provider's say on whether a signed-in user may stay.

authlib builds the authorization request and talks to the token endpoint; joserfc checks the ID
token's signature against the provider's keys and authlib's `CodeIDToken` its claims (iss, aud, exp,
iat, nonce, at_hash). Nothing here knows about accounts or sessions.
"""

from __future__ import annotations

import hmac
import secrets
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
import structlog
from authlib.common.errors import AuthlibBaseError  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from litestar.stores.base import Store

from appliance.auth.credentials import digest
from appliance.auth.sessions import SsoTokens
from appliance.core.errors import AppError, Unauthenticated, Unavailable
from appliance.settings import OidcSettings

with warnings.catch_warnings():
    # authlib 1.9 nudges httpx users towards httpx2, which the project does not ship; httpx works.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]

log = structlog.get_logger(__name__)

FLOW_SECONDS = 600  # from the redirect to the provider until the callback
_METADATA_SECONDS = 600
_TIMEOUT = httpx.Timeout(10.0)
# Asymmetric algorithms only: an HS256 ID token would be signed with our own client secret.
_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA", "Ed25519", "RS384", "RS512", "ES384", "ES512", "PS384", "PS512")
LEEWAY_SECONDS = 60
# OpenID Connect Back-Channel Logout 1.0: the event a logout token must carry, and how old (by iat) a
# token may be. Its jti is remembered for as long, so within that window a replay is refused and
# after it the token is too old anyway.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_MAX_AGE_SECONDS = 600


def refused(detail: str, code: str) -> Unauthenticated:
    return Unauthenticated(detail, code=code)


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    iss_parameter_supported: bool  # RFC 9207: the callback must then carry `iss`
    algorithms: tuple[str, ...]


class StepUp(msgspec.Struct, frozen=True):
    """A re-authentication asked of a person already signed in (`prompt=login`, `max_age=0`): only
    their own provider account may answer it, with a sign-in made after it was asked, and it returns
    to the session that asked."""

    subject: str
    session_key: str  # digest of the session id that asked
    return_to: str
    asked_at: float


class PendingFlow(msgspec.Struct, frozen=True):
    """One sign-in started by this browser: kept server-side under the flow cookie, used once."""

    state: str
    nonce: str
    code_verifier: str
    step_up: StepUp | None = None


@dataclass(frozen=True)
class SsoLogin:
    claims: dict[str, Any]  # the ID token's claims, with the userinfo claims added
    tokens: SsoTokens
    step_up: StepUp | None = None  # answered a re-authentication, not a sign-in


@dataclass(frozen=True)
class LogoutNotice:
    """A verified back-channel logout: end the sessions of this provider session (sid), or, with no
    sid, every session of this subject."""

    subject: str | None
    sid: str | None


def logout_refused(reason: str, detail: str) -> AppError:
    """Back-Channel Logout 1.0 section 2.8: an invalid logout token gets a 400. `reason` is a short key
    for the audit log."""
    return AppError(f"the logout token is not valid: {detail}", code="logout_token_invalid", extra={"reason": reason})


def _check_step_up(step_up: StepUp, claims: Mapping[str, Any]) -> None:
    """The ID token answers the re-authentication only if it is the same provider account and the
    provider says (`auth_time`) the person signed in after it was asked; LEEWAY_SECONDS allows for the
    provider's clock. A provider that kept its old session instead states an older time or none."""
    if claims["sub"] != step_up.subject:
        raise refused("another account signed in at the identity provider", "sso_step_up_other_account")
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, (int, float)) or isinstance(auth_time, bool) or auth_time < step_up.asked_at - LEEWAY_SECONDS:
        raise refused(
            "the identity provider did not confirm a new sign-in (auth_time missing or older than the request)",
            "sso_step_up_not_fresh",
        )


@dataclass(frozen=True)
class Unreachable:
    """The provider could not be asked: not a "no"."""


class OidcClient:
    def __init__(self, settings: OidcSettings, *, public_url: str, flows: Store, logout_tokens: Store) -> None:
        self.settings = settings
        base = public_url.rstrip("/")
        self.redirect_url = settings.redirect_url or f"{base}/api/v1/auth/oidc/callback"
        self.post_logout_redirect_url = settings.post_logout_redirect_url or f"{base}/"
        self.flows = flows
        self.seen_logout_tokens = logout_tokens  # jti of accepted logout tokens, until they are too old anyway
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: KeySet | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.issuer and self.settings.client_id)

    def _oauth(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.settings.client_id, client_secret=self.settings.client_secret or None,
            scope=self.settings.scopes, redirect_uri=self.redirect_url, code_challenge_method="S256",
            timeout=_TIMEOUT,
        )

    async def metadata(self) -> ProviderMetadata:
        """Discovery, cached for ten minutes; the document must name exactly our configured issuer."""
        if not self.enabled:
            raise Unavailable("single sign-on is not set up (APPLIANCE_OIDC_ISSUER)", code="sso_not_configured")
        if self._metadata and time.monotonic() - self._metadata[0] < _METADATA_SECONDS:
            return self._metadata[1]
        issuer = self.settings.issuer
        try:
            async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
                response = await http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
                response.raise_for_status()
                doc = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable("the identity provider cannot be reached", code="sso_provider_unreachable") from exc
        if doc.get("issuer") != issuer:
            # A mix-up or a misconfiguration: never use endpoints an unexpected issuer advertises.
            raise refused("the identity provider's discovery document names another issuer", "sso_issuer_mismatch")
        if "S256" not in doc.get("code_challenge_methods_supported", ["S256"]):
            raise Unavailable("the identity provider does not support PKCE with S256", code="sso_provider_unsuitable")
        advertised = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        metadata = ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=doc["authorization_endpoint"],
            token_endpoint=doc["token_endpoint"],
            jwks_uri=doc["jwks_uri"],
            userinfo_endpoint=doc.get("userinfo_endpoint"),
            end_session_endpoint=doc.get("end_session_endpoint"),
            iss_parameter_supported=bool(doc.get("authorization_response_iss_parameter_supported")),
            algorithms=tuple(a for a in advertised if a in _ALGORITHMS),
        )
        self._metadata = (time.monotonic(), metadata)
        return metadata

    async def _key_set(self, metadata: ProviderMetadata, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            try:
                async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
                    response = await http.get(metadata.jwks_uri)
                    response.raise_for_status()
                    self._keys = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, JoseError) as exc:
                raise Unavailable("the identity provider's keys cannot be fetched", code="sso_provider_unreachable") from exc
        return self._keys

    async def start(self, step_up: StepUp | None = None) -> tuple[str, str]:
        """(flow id for the browser's cookie, the provider's authorization URL to send the browser to).
        A step-up asks the provider to sign the person in again whatever session it holds (OIDC Core
        3.1.2.1: `prompt=login`, and `max_age=0`, which also makes it state `auth_time`)."""
        metadata = await self.metadata()
        flow = PendingFlow(
            state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32), code_verifier=secrets.token_urlsafe(64),
            step_up=step_up,
        )
        flow_id = secrets.token_urlsafe(32)
        await self.flows.set(digest(flow_id), msgspec.json.encode(flow), expires_in=FLOW_SECONDS)
        extra = {"prompt": "login", "max_age": "0"} if step_up is not None else {}
        async with self._oauth() as oauth:
            url, _ = oauth.create_authorization_url(
                metadata.authorization_endpoint, state=flow.state, code_verifier=flow.code_verifier, nonce=flow.nonce,
                **extra,
            )
        return flow_id, url

    async def _take_flow(self, flow_id: str | None) -> PendingFlow:
        raw = await self.flows.get(digest(flow_id)) if flow_id else None
        if flow_id:
            await self.flows.delete(digest(flow_id))  # a flow is good for one callback, whatever happens
        if raw is None:
            raise refused("no sign-in is in progress in this browser, or it took too long: start again", "sso_flow_unknown")
        return msgspec.json.decode(raw, type=PendingFlow)

    async def finish(self, flow_id: str | None, params: Mapping[str, str | None]) -> SsoLogin:
        """Check the callback against the flow this browser started and redeem the code."""
        flow = await self._take_flow(flow_id)
        metadata = await self.metadata()
        if not hmac.compare_digest((params.get("state") or "").encode(), flow.state.encode()):
            raise refused("the sign-in response does not belong to the sign-in this browser started", "sso_state_mismatch")
        iss = params.get("iss")
        if (iss is not None and iss != metadata.issuer) or (iss is None and metadata.iss_parameter_supported):
            # RFC 9207: an authorization response from another issuer (a mix-up attack) is refused.
            raise refused("the sign-in response comes from another issuer", "sso_issuer_mismatch")
        if error := params.get("error"):
            detail = (params.get("error_description") or "")[:200]
            raise refused(f"the identity provider refused the sign-in ({error}{': ' + detail if detail else ''})", "sso_refused_by_provider")
        if not (code := params.get("code")):
            raise refused("the sign-in response carries no authorization code", "sso_code_missing")
        try:
            async with self._oauth() as oauth:
                token = await oauth.fetch_token(
                    metadata.token_endpoint, grant_type="authorization_code", code=code,
                    code_verifier=flow.code_verifier, redirect_uri=self.redirect_url,
                )
        except AuthlibBaseError as exc:
            raise refused(f"the identity provider did not accept the authorization code ({exc.error})", "sso_code_rejected") from exc
        except httpx.HTTPError as exc:
            raise Unavailable("the identity provider cannot be reached", code="sso_provider_unreachable") from exc
        id_token = token.get("id_token")
        if not id_token:
            raise refused("the identity provider sent no ID token", "sso_id_token_invalid")
        claims = await self._validated_claims(metadata, id_token, nonce=flow.nonce, access_token=token.get("access_token"))
        if metadata.userinfo_endpoint and token.get("access_token"):
            claims = {**await self._userinfo(metadata, token["access_token"], claims["sub"]), **claims}
        if flow.step_up is not None:
            _check_step_up(flow.step_up, claims)
        sid = claims.get("sid")
        tokens = SsoTokens(
            subject=claims["sub"], id_token=id_token, refresh_token=token.get("refresh_token"),
            access_token=token.get("access_token"), checked_at=time.time(),
            sid=sid if isinstance(sid, str) and sid else None,
        )
        return SsoLogin(claims, tokens, flow.step_up)

    async def _verified(self, metadata: ProviderMetadata, token: str) -> Any:
        """The decoded JWT if its signature verifies with the provider's keys (fetched again once, in
        case the provider rotated them); JoseError otherwise."""
        registry = JWSRegistry(algorithms=list(metadata.algorithms))
        try:
            return jwt.decode(token, await self._key_set(metadata), registry=registry)
        except JoseError:
            return jwt.decode(token, await self._key_set(metadata, refresh=True), registry=registry)

    async def logout_notice(self, logout_token: str) -> LogoutNotice:
        """Validate a logout token as Back-Channel Logout 1.0 section 2.6 says: signature with the
        provider's keys, iss, aud, iat (not older than LOGOUT_TOKEN_MAX_AGE_SECONDS), exp if present,
        the back-channel logout event, sub and/or sid, no nonce, and a jti not seen before."""
        metadata = await self.metadata()
        try:
            decoded = await self._verified(metadata, logout_token)
        except JoseError as exc:
            raise logout_refused("bad_signature", f"its signature does not verify ({exc.error})") from exc
        except ValueError as exc:
            raise logout_refused("malformed", "it is not a signed JWT") from exc
        claims = dict(decoded.claims)
        now = time.time()
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        events = claims.get("events")
        iat, exp = claims.get("iat"), claims.get("exp")
        if claims.get("iss") != metadata.issuer:
            raise logout_refused("wrong_issuer", "it comes from another issuer")
        if self.settings.client_id not in audiences:
            raise logout_refused("wrong_audience", "it is meant for another client")
        if not isinstance(iat, (int, float)) or iat > now + LEEWAY_SECONDS or iat < now - LOGOUT_TOKEN_MAX_AGE_SECONDS:
            raise logout_refused("bad_iat", "its iat is missing, in the future or too old")
        if exp is not None and (not isinstance(exp, (int, float)) or exp < now - LEEWAY_SECONDS):
            raise logout_refused("expired", "it has expired")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
            raise logout_refused("no_logout_event", "it carries no back-channel logout event")
        if "nonce" in claims:
            raise logout_refused("has_nonce", "it carries a nonce, so it may be an ID token")
        subject, sid = claims.get("sub"), claims.get("sid")
        subject = subject if isinstance(subject, str) and subject else None
        sid = sid if isinstance(sid, str) and sid else None
        if subject is None and sid is None:
            raise logout_refused("no_subject_or_sid", "it names neither a subject (sub) nor a session (sid)")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise logout_refused("no_jti", "it has no jti")
        key = digest(f"{metadata.issuer}\n{jti}")
        if await self.seen_logout_tokens.exists(key):
            raise logout_refused("replayed_jti", "it was used already (a replayed jti)")
        await self.seen_logout_tokens.set(key, b"1", expires_in=LOGOUT_TOKEN_MAX_AGE_SECONDS + LEEWAY_SECONDS)
        return LogoutNotice(subject=subject, sid=sid)

    async def _validated_claims(
        self, metadata: ProviderMetadata, id_token: str, *, nonce: str, access_token: str | None
    ) -> dict[str, Any]:
        try:
            decoded = await self._verified(metadata, id_token)
        except JoseError as exc:
            raise refused(f"the ID token's signature does not verify ({exc.error})", "sso_id_token_invalid") from exc
        claims = dict(decoded.claims)
        options = {"iss": {"essential": True, "values": [metadata.issuer]}}
        params: dict[str, Any] = {"nonce": nonce, "client_id": self.settings.client_id}
        if access_token:
            params["access_token"] = access_token
        try:
            CodeIDToken(claims, dict(decoded.header), options, params).validate(now=int(time.time()), leeway=LEEWAY_SECONDS)
        except (AuthlibBaseError, JoseError) as exc:  # authlib 1.9 raises joserfc's claim errors
            reason = getattr(exc, "description", None) or getattr(exc, "error", type(exc).__name__)
            raise refused(f"the ID token is not valid: {reason}", "sso_id_token_invalid") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise refused("the ID token names no subject", "sso_id_token_invalid")
        return claims

    async def _userinfo(self, metadata: ProviderMetadata, access_token: str, subject: str) -> dict[str, Any]:
        assert metadata.userinfo_endpoint is not None
        try:
            async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
                response = await http.get(metadata.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"})
                if response.status_code in (401, 403):
                    raise refused("the identity provider no longer accepts the access token", "sso_session_revoked")
                response.raise_for_status()
                info = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable("the identity provider's userinfo endpoint did not answer", code="sso_provider_unreachable") from exc
        if not isinstance(info, dict) or info.get("sub") != subject:
            # OIDC Core 5.3.2: userinfo for another subject must not be used.
            raise refused("the identity provider's userinfo names another subject", "sso_id_token_invalid")
        return info

    async def recheck(self, tokens: SsoTokens) -> SsoTokens | None | Unreachable:
        """Ask the provider whether the user may stay: new tokens, None for a definite no (account
        disabled or deleted, grant revoked, session ended there), or Unreachable."""
        try:
            metadata = await self.metadata()
            if tokens.refresh_token:
                async with self._oauth() as oauth:
                    token = await oauth.refresh_token(metadata.token_endpoint, refresh_token=tokens.refresh_token)
                return msgspec.structs.replace(
                    tokens, refresh_token=token.get("refresh_token") or tokens.refresh_token,
                    access_token=token.get("access_token") or tokens.access_token,
                    id_token=token.get("id_token") or tokens.id_token, checked_at=time.time(),
                )
            if tokens.access_token and metadata.userinfo_endpoint:
                await self._userinfo(metadata, tokens.access_token, tokens.subject)
                return msgspec.structs.replace(tokens, checked_at=time.time())
            return None  # nothing to ask with: the provider's word has run out
        except AuthlibBaseError:
            return None
        except Unauthenticated:
            return None
        except (Unavailable, httpx.HTTPError) as exc:
            log.warning("sso_recheck_unreachable", error=type(exc).__name__)
            return Unreachable()

    async def logout_url(self, id_token: str | None) -> str | None:
        """RP-initiated logout at the provider (OpenID Connect RP-Initiated Logout 1.0), if it offers it."""
        try:
            metadata = await self.metadata()
        except (Unavailable, Unauthenticated):
            return None
        if not metadata.end_session_endpoint:
            return None
        query = {"client_id": self.settings.client_id, "post_logout_redirect_uri": self.post_logout_redirect_url}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{metadata.end_session_endpoint}?{urlencode(query)}"
