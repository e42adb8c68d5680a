"""`omicsdm login`, `logout` and `token list|create|revoke`: personal API tokens without copying secrets.

`login` runs the device flow (omicsdm.client.device): it prints a short code and a link, the user approves on
the web page, and the token the service issues for this machine is stored with mode 0600. `token create`
does the same for a token to hand to a script, and prints it instead of storing it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from omicsdm.cli.client_commands import _run
from omicsdm.cli.output import Column, TsvOpt, WideOpt, choose, natural_sorted, print_rows
from omicsdm.client.api import ApiClient
from omicsdm.client.config import ClientConfig, config_path, load_config, normalise_server, save_config
from omicsdm.client.device import device_login
from omicsdm.client.errors import ApiError, ClientError, ExitCode
from omicsdm.client.models import ApiToken, DeviceAuthorization

out = Console(soft_wrap=True)
err = Console(stderr=True)

ServerOpt = Annotated[
    str | None, typer.Option(help="The omicsdm URL, e.g. https://omicsdm.example.org", envvar="OMICSDM_SERVER")
]
BrowserOpt = Annotated[
    bool,
    typer.Option(
        "--browser/--no-browser",
        envvar="OMICSDM_BROWSER",
        help="Open the approval page in a browser when this machine has a display",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table")]

token_app = typer.Typer(no_args_is_help=True, help="Your personal API tokens (for scripts and other machines).")


def _stored() -> ClientConfig | None:
    try:
        return load_config(require_login=False)
    except ClientError:
        return None


def _server(server: str | None) -> str:
    stored = _stored()
    url = normalise_server(server) if server else (stored.server if stored else None)
    if not url:
        raise ClientError("give --server URL (the address of the omicsdm web page)", ExitCode.USAGE)
    return url


def _has_display() -> bool:
    return sys.platform == "darwin" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _show_code(browser: bool) -> Callable[[DeviceAuthorization], None]:
    def show(grant: DeviceAuthorization) -> None:
        minutes = max(1, grant.expires_in // 60)
        err.print(
            f"To log in, open [bold]{escape(grant.verification_uri_complete)}[/bold]\n"
            f"and check that the page shows the code [bold]{escape(grant.user_code)}[/bold]. "
            f"Waiting for approval (the code expires in {minutes} min)…",
            soft_wrap=True,
        )
        if browser and _has_display() and sys.stderr.isatty():
            webbrowser.open(grant.verification_uri_complete)

    return show


def _expiry(when: datetime | None) -> str:
    return when.astimezone().strftime("%Y-%m-%d") if when else "never"


def login(
    server: ServerOpt = None,
    token: Annotated[
        str | None,
        typer.Option(help="Store this API token (odm_…) instead of approving a login on the web page"),
    ] = None,
    browser: BrowserOpt = True,
) -> None:
    """Log in: approve this machine on the web page (a code and a link are shown); the token is stored (0600)."""

    async def main() -> int:
        url = _server(server)
        previous = _stored()
        if token:
            secret, token_id = token.strip(), None
        else:
            async with ApiClient(url, None, retries=2) as anonymous:
                issued = await device_login(anonymous, _show_code(browser))
            secret, token_id = issued.access_token, str(issued.token_id)
        async with ApiClient(url, secret, retries=1) as api:
            me = await api.me()
            if previous and previous.server == url and previous.token_id and previous.token != secret:
                await _revoke_quietly(api, previous.token_id)  # the token this machine had before
        path = save_config(ClientConfig(url, secret, token_id))
        groups = ", ".join(me.groups) or "no groups"
        err.print(
            f"logged in to {escape(url)} as [bold]{escape(me.username)}[/bold] ({escape(groups)}); "
            f"token saved in {path}"
        )
        return 0

    _run(main)


async def _revoke_quietly(api: ApiClient, token_id: str) -> None:
    with contextlib.suppress(ApiError, ValueError):  # already revoked, or expired: nothing to do
        await api.revoke_token(uuid.UUID(token_id))


async def _current_token(api: ApiClient, config: ClientConfig) -> ApiToken | None:
    """The stored token's record: by the id `login` stored, else by its displayed prefix."""
    tokens = [t for t in await api.tokens() if t.revoked_at is None]
    if config.token_id:
        return next((t for t in tokens if str(t.id) == config.token_id), None)
    matches = [t for t in tokens if config.token and config.token.startswith(t.prefix)]
    return matches[0] if len(matches) == 1 else None


def logout() -> None:
    """Revoke the stored API token on the server and forget it here (the server URL stays)."""

    async def main() -> int:
        stored = _stored()
        if stored is None or not stored.token:
            err.print("not logged in")
            return 0
        if os.environ.get("OMICSDM_TOKEN"):
            raise ClientError(
                "the token comes from OMICSDM_TOKEN: unset it (and revoke it with `omicsdm token revoke`)"
            )
        note = ""
        try:
            async with ApiClient(stored.server, stored.token, retries=1) as api:
                current = await _current_token(api, stored)
                if current is None:
                    note = " (not found among your active tokens: it was revoked or expired already)"
                else:
                    await api.revoke_token(current.id)
                    note = f" and revoked on the server ({current.name})"
        except ApiError as exc:
            if exc.status != 401:
                raise
            note = " (the server no longer accepts it)"
        save_config(ClientConfig(stored.server, None))
        err.print(f"token removed from {config_path()}{escape(note)}")
        return 0

    _run(main)


@token_app.command("list")
def token_list(
    all_: Annotated[bool, typer.Option("--all", help="Revoked and expired tokens too")] = False,
    as_json: JsonOpt = False,
    tsv: TsvOpt = False,
    wide: WideOpt = False,
) -> None:
    """Your API tokens (the secrets are never shown again); * marks the one this machine uses."""

    async def main() -> int:
        config = load_config()
        async with ApiClient(config.server, config.token) as api:
            tokens = await api.tokens()
            current = await _current_token(api, config)
        now = datetime.now(UTC)

        def state(t: ApiToken) -> str:
            if t.revoked_at:
                return "revoked"
            return "expired" if t.expires_at and t.expires_at <= now else "active"

        shown = [t for t in tokens if all_ or state(t) == "active"]
        shown = natural_sorted(shown, key=lambda t: t.name)
        fmt = choose(out, as_json=as_json, tsv=tsv)
        rows = [
            [
                str(t.id),
                ("* " if current and t.id == current.id else "") + t.name,
                t.prefix + "…",
                t.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                _expiry(t.expires_at),
                t.last_used_at.astimezone().strftime("%Y-%m-%d %H:%M") if t.last_used_at else "",
                state(t),
            ]
            for t in shown
        ]
        columns = [Column("id", "id"), Column("name", "text"), Column("starts with"), Column("created")]
        columns += [Column("expires"), Column("last used"), Column("state")]
        print_rows(out, fmt, columns, rows, wide=wide, json_rows=[t.model_dump(mode="json") for t in shown])
        return 0

    _run(main)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", "-n", help="What the token is for, e.g. 'nightly pipeline'")],
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Lifetime in days (at most the service's limit)")
    ] = None,
    server: ServerOpt = None,
    browser: BrowserOpt = True,
) -> None:
    """A new API token for a script, approved on the web page; only the secret is printed (on stdout)."""

    async def main() -> int:
        async with ApiClient(_server(server), None, retries=2) as anonymous:
            issued = await device_login(
                anonymous,
                _show_code(browser),
                token_name=name,
                expires_in_days=expires_in_days,
            )
        err.print(f"created {escape(issued.name)} for {escape(issued.username)}, expires {_expiry(issued.expires_at)}")
        typer.echo(issued.access_token)
        return 0

    _run(main)


@token_app.command("revoke")
def token_revoke(
    tokens: Annotated[list[str], typer.Argument(help="Token ids, names or the start of the secret (odm_…)")],
) -> None:
    """Revoke tokens at once (by id, by name, or by the start of the secret shown in `token list`)."""

    async def main() -> int:
        config = load_config()
        async with ApiClient(config.server, config.token) as api:
            active = [t for t in await api.tokens() if t.revoked_at is None]
            chosen: list[ApiToken] = []
            for text in tokens:
                found = [t for t in active if str(t.id) == text or t.name == text or text.startswith(t.prefix)]
                if not found:
                    raise ClientError(f"no active token {text!r} (see `omicsdm token list`)", ExitCode.NOT_FOUND)
                if len(found) > 1:
                    options = ", ".join(f"{t.name} ({t.id})" for t in found)
                    raise ClientError(f"{text!r} names several tokens: {options}; give the id", ExitCode.USAGE)
                chosen.append(found[0])
            for t in chosen:
                await api.revoke_token(t.id)
                err.print(f"revoked {escape(t.name)} ({t.id})")
        return 0

    _run(main)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Client")(login)
    app.command(rich_help_panel="Client")(logout)
    app.add_typer(token_app, name="token", rich_help_panel="Client")
