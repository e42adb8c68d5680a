"""`omicsdm login` without copying tokens: the RFC 8628 device authorization grant, hosted by the service.

The command asks for a code pair (authorize), shows the short user code and a link, and polls. The user,
logged in on the web page by whatever identity provider (or the dev login), sees which machine asks and
approves or denies. The next poll receives a personal API token named for that machine, made by the
existing token machinery (services.tokens) and shown only in that answer. Codes are random, stored as
SHA-256 hashes, expire after `auth.device_code_seconds`, and are spent by the token's delivery; polling
faster than the interval is answered slow_down and widens the interval (stored, so any replica enforces it).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from omicsdm.auth.principal import Principal
from omicsdm.auth.secrets import new_api_token
from omicsdm.db.models import DeviceAuthorization, DeviceState
from omicsdm.errors import Conflict, DomainError, Forbidden, NotFound
from omicsdm.repository import audit, devices, users
from omicsdm.schemas.device import (
    DeviceAuthorization as DeviceAuthorizationOut,
)
from omicsdm.schemas.device import (
    DeviceAuthorizeRequest,
    DeviceRequestOut,
    DeviceToken,
)
from omicsdm.settings import Settings

# RFC 8628 6.1: consonants only (no vowels: no words; no 0/O, 1/I confusion), 20^8 ≈ 2.6e10 codes.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_STEP = 5  # seconds added to the interval on each too-early poll (RFC 8628 3.5)
VERIFICATION_PATH = "/#/device"
AUTHORIZE_PER_MINUTE = 30  # per client address: enough for a lab behind one NAT, not for filling the table


class TooManyRequests(DomainError):
    status, code = 429, "too-many-requests"


@dataclass(frozen=True)
class PollRefusal:
    """A poll answered with an RFC 8628 error (400): the command keeps polling only on the first two."""

    code: str  # authorization_pending, slow_down, access_denied, expired_token, invalid_grant
    detail: str
    interval: int | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_user_code(text: str) -> str:
    """What the user typed, as stored: upper case, letters only (dashes and spaces dropped)."""
    return "".join(c for c in text.upper() if c.isalnum())


def _format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def _token_days(settings: Settings, asked: int | None) -> int | None:
    limit = settings.auth.device_token_days or None  # 0: tokens never expire
    if asked is None:
        return limit
    return asked if limit is None else min(asked, limit)


async def authorize(
    session: AsyncSession, settings: Settings, body: DeviceAuthorizeRequest, client_ip: str | None
) -> DeviceAuthorizationOut:
    now = datetime.now(UTC)
    if await devices.count_since(session, client_ip, now - timedelta(minutes=1)) >= AUTHORIZE_PER_MINUTE:
        raise TooManyRequests(
            f"more than {AUTHORIZE_PER_MINUTE} logins started from {client_ip} in a minute; wait a minute",
            retry_after=60,
        )
    await devices.delete_expired(session, now - timedelta(days=1))
    device_code = secrets.token_urlsafe(32)
    user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    lifetime = settings.auth.device_code_seconds
    await devices.add(
        session,
        DeviceAuthorization(
            device_code_hash=_digest(device_code),
            user_code_hash=_digest(user_code),
            client_name=body.client_name,
            hostname=body.hostname,
            client_ip=client_ip,
            token_name=body.token_name or f"{body.hostname} ({body.client_name})"[:255],
            token_days=_token_days(settings, body.expires_in_days),
            expires_at=now + timedelta(seconds=lifetime),
            poll_interval=settings.auth.device_poll_seconds,
        ),
    )
    page = settings.public_url.rstrip("/") + VERIFICATION_PATH
    shown = _format_user_code(user_code)
    return DeviceAuthorizationOut(
        device_code=device_code,
        user_code=shown,
        verification_uri=page,
        verification_uri_complete=f"{page}?code={shown}",
        expires_in=lifetime,
        interval=settings.auth.device_poll_seconds,
    )


async def poll(session: AsyncSession, device_code: str) -> DeviceToken | PollRefusal:
    """The token once approved; otherwise why not. Refusals are returned, not raised, so the poll's
    bookkeeping (the time of the last poll, a widened interval) is committed with the answer."""
    row = await devices.by_device_code(session, _digest(device_code))
    now = datetime.now(UTC)
    if row is None or row.state == DeviceState.ISSUED:
        return PollRefusal("invalid_grant", "unknown device code, or its token was already issued")
    if row.expires_at <= now:
        return PollRefusal("expired_token", "the code expired before it was approved; run `omicsdm login` again")
    too_early = row.last_polled_at is not None and now - row.last_polled_at < timedelta(seconds=row.poll_interval)
    row.last_polled_at = now
    if too_early:
        row.poll_interval += SLOW_DOWN_STEP
        return PollRefusal("slow_down", f"poll at most every {row.poll_interval} s", interval=row.poll_interval)
    if row.state == DeviceState.DENIED:
        return PollRefusal("access_denied", "the request was denied on the web page")
    if row.state == DeviceState.PENDING or row.user_id is None:
        return PollRefusal("authorization_pending", "waiting for approval on the web page", interval=row.poll_interval)
    return await _issue(session, row, now)


async def _issue(session: AsyncSession, row: DeviceAuthorization, now: datetime) -> DeviceToken:
    assert row.user_id is not None
    user = await users.get(session, row.user_id)
    if user is None:  # pragma: no cover - the row is deleted with its user (ON DELETE CASCADE)
        raise NotFound("the approving user no longer exists")
    secret, digest, prefix = new_api_token()
    expires_at = now + timedelta(days=row.token_days) if row.token_days else None
    token = await users.add_api_token(session, row.user_id, row.token_name, digest, prefix, expires_at)
    row.state, row.token_id = DeviceState.ISSUED, token.id
    await audit.record(
        session,
        action="api_token.created",
        actor_id=user.id,
        actor_name=user.username,
        target_type="api_token",
        target_id=token.id,
        detail={"name": token.name, "via": "device", "hostname": row.hostname, "client_ip": row.client_ip},
    )
    return DeviceToken(
        access_token=secret,
        token_id=token.id,
        name=token.name,
        expires_at=expires_at,
        expires_in=int((expires_at - now).total_seconds()) if expires_at else None,
        username=user.username,
    )


async def _pending(session: AsyncSession, principal: Principal, user_code: str) -> DeviceAuthorization:
    if principal.via == "api-token":
        raise Forbidden("an API token cannot approve logins; use the web page")
    code = normalise_user_code(user_code)
    row = await devices.by_user_code(session, _digest(code)) if len(code) == USER_CODE_LENGTH else None
    # A code decided by someone else is "not found" to this user: nobody learns another user's machines.
    if row is None or row.expires_at <= datetime.now(UTC) or (row.user_id not in (None, principal.user_id)):
        raise NotFound("no login request with this code (it may have expired: run `omicsdm login` again)")
    return row


def _out(row: DeviceAuthorization, user_code: str) -> DeviceRequestOut:
    return DeviceRequestOut(
        user_code=_format_user_code(normalise_user_code(user_code)),
        client_name=row.client_name,
        hostname=row.hostname,
        client_ip=row.client_ip,
        requested_at=row.created_at,
        expires_at=row.expires_at,
        state=row.state.value,
        token_name=row.token_name,
        token_expires_in_days=row.token_days,
    )


async def describe(session: AsyncSession, principal: Principal, user_code: str) -> DeviceRequestOut:
    return _out(await _pending(session, principal, user_code), user_code)


async def decide(session: AsyncSession, principal: Principal, user_code: str, *, approve: bool) -> DeviceRequestOut:
    row = await _pending(session, principal, user_code)
    if row.state != DeviceState.PENDING:
        raise Conflict(f"this login request was already {row.state.value}")
    row.state = DeviceState.APPROVED if approve else DeviceState.DENIED
    row.user_id, row.decided_at = principal.user_id, datetime.now(UTC)
    await audit.record_by(
        session,
        principal,
        action="device_login.approved" if approve else "device_login.denied",
        target_type="device_login",
        target_id=row.id,
        detail={"hostname": row.hostname, "client_name": row.client_name, "client_ip": row.client_ip},
    )
    await session.flush()
    return _out(row, user_code)
