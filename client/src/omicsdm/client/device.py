"""Log in without copying a token: RFC 8628's device flow against the service (POST /api/device/...).

`device_login` asks for a code pair, hands it to `show` (print it, open the browser), then polls at the
service's interval until the user approved or denied it on the web page, or it expired.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

from omicsdm.client.api import ApiClient
from omicsdm.client.errors import ApiError, ClientError, ExitCode
from omicsdm.client.models import DeviceAuthorization, DeviceToken
from omicsdm.client.version import __version__

CLIENT_NAME = f"omicsdm-cli {__version__}"
SLOW_DOWN_STEP = 5


def this_machine() -> str:
    return socket.gethostname() or "unknown host"


async def device_login(
    api: ApiClient,
    show: Callable[[DeviceAuthorization], None],
    *,
    hostname: str | None = None,
    token_name: str | None = None,
    expires_in_days: int | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DeviceToken:
    grant = await api.authorize_device(
        hostname or this_machine(), CLIENT_NAME, token_name=token_name, expires_in_days=expires_in_days
    )
    show(grant)
    interval = grant.interval
    deadline = time.monotonic() + grant.expires_in
    while True:
        await sleep(interval)
        try:
            return await api.poll_device_token(grant.device_code)
        except ApiError as exc:
            code = exc.problem_code
            if code == "authorization_pending":
                pass
            elif code == "slow_down":
                interval = int(exc.problem.get("interval") or interval + SLOW_DOWN_STEP)
            elif code == "access_denied":
                raise ClientError("the login was denied on the web page", ExitCode.AUTH) from None
            elif code in ("expired_token", "invalid_grant"):
                raise ClientError(
                    "the code expired before it was approved: run `omicsdm login` again", ExitCode.AUTH
                ) from None
            else:
                raise
        if time.monotonic() > deadline + interval:
            raise ClientError("the code expired before it was approved: run `omicsdm login` again", ExitCode.AUTH)
