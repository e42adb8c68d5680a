"""How the server commands (serve, db upgrade, janitor, dev) fail: one line on stderr and an exit code.

An operator reading a cron mail or a container log needs what went wrong and where, not 550 lines of
asyncpg traceback; `omicsdm --debug ...` prints the traceback too. The client commands have their own
codes (omicsdm.client.errors.ExitCode).
"""

from __future__ import annotations

import enum
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import typer

from omicsdm.cli.debug import debug_requested

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from omicsdm.settings import Settings


class ServerExit(enum.IntEnum):
    OK = 0
    FAILURE = 1  # an unexpected error (a bug: please report it), or the janitor could not handle some records
    CONFIG = 2  # invalid settings or arguments
    DATABASE = 3  # PostgreSQL unreachable, or it refused the credentials or the database
    STORAGE = 4  # S3 unreachable, or it refused the credentials or the bucket


# S3 error codes that mean "these credentials may not do this", whatever the server (AWS, MinIO, SeaweedFS).
S3_REFUSALS = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "AuthorizationHeaderMalformed",
        "InvalidToken",
        "ExpiredToken",
        "InvalidSecurity",
        "AllAccessDisabled",
        "403",
        "Forbidden",
    }
)
_DB_REFUSALS = ("28", "3D000", "42501")  # credentials or role (class 28), no such database, no privilege
_MAX_MESSAGE = 400


@dataclass(frozen=True)
class Failure:
    code: ServerExit
    lines: tuple[str, ...]


class CommandRun:
    """What a failing command knows about its targets, so its line can name them."""

    settings: Settings | None = None


@contextmanager
def server_command() -> Iterator[CommandRun]:
    """Run a server command's body; any exception ends it in one line (see `fail`)."""
    run = CommandRun()
    try:
        yield run
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        fail(exc, run.settings)


def fail(exc: BaseException, settings: Settings | None = None) -> NoReturn:
    """The one rule: print what `exc` means in one line (the traceback too with --debug), exit with its code."""
    failure = describe(exc, settings)
    if debug_requested():
        traceback.print_exception(exc)
    for line in failure.lines:
        typer.echo(f"omicsdm: {line}", err=True)
    raise typer.Exit(int(failure.code))


def describe(exc: BaseException, settings: Settings | None = None) -> Failure:
    """Configuration errors and refused credentials first (they are the commands' own), then outages by
    the service's one rule (omicsdm.errors.outage_of), so a command and a request agree on what is down."""
    from omicsdm.errors import causes, outage_of

    chain = causes(exc)
    for cause in chain:
        found = _specific(cause, settings)
        if found is not None:
            return found
    part = outage_of(exc)
    if part == "database":
        return _database(False, chain[-1], settings)
    if part == "storage":
        return _storage(False, _text(chain[-1]), settings)
    return Failure(
        ServerExit.FAILURE,
        (f"unexpected error: {type(exc).__name__}: {_text(exc)} (run with --debug for the traceback)",),
    )


def _specific(exc: BaseException, settings: Settings | None) -> Failure | None:
    from botocore.exceptions import ClientError as S3ClientError
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return Failure(ServerExit.CONFIG, tuple(_config_line(error) for error in exc.errors()))
    if isinstance(exc, S3ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "")) or "error"
        message = str(error.get("Message", "")) or str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        if code in S3_REFUSALS:
            return _storage(
                True, f"{code}: {message} (check OMICSDM_S3__ACCESS_KEY_ID and _SECRET_ACCESS_KEY)", settings
            )
        return _storage(True, f"{code}: {message}", settings)
    sqlstate = getattr(exc, "sqlstate", None)
    if (
        isinstance(sqlstate, str)
        and type(exc).__module__.startswith(("asyncpg", "sqlalchemy"))
        and sqlstate.startswith(_DB_REFUSALS)
    ):
        return _database(True, exc, settings)
    return None


def _database(refused: bool, exc: BaseException, settings: Settings | None) -> Failure:
    where = ""
    if settings is not None:
        from sqlalchemy.engine import make_url

        where = f" ({make_url(settings.database.url).render_as_string(hide_password=True)})"
    what = "database refused the connection" if refused else "database unreachable"
    return Failure(ServerExit.DATABASE, (f"{what}{where}: {_text(exc)}",))


def _storage(answered: bool, detail: str, settings: Settings | None) -> Failure:
    where = f" ({settings.s3.endpoint_url}, bucket {settings.s3.bucket!r})" if settings is not None else ""
    what = "S3 refused the request" if answered else "S3 unreachable"
    return Failure(ServerExit.STORAGE, (f"{what}{where}: {detail}",))


def _config_line(error: ErrorDetails) -> str:
    """`configuration error: OMICSDM_DATABASE__URL: <why>` for one pydantic error."""
    loc = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    name = "OMICSDM_" + "__".join(part.upper() for part in loc) if loc else ""
    return f"configuration error: {name}: {message}" if name else f"configuration error: {message}"


def _text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    # SQLAlchemy appends "(Background on this error at: https://sqlalche.me/...)" and prefixes the DBAPI class.
    text = text.split(" (Background on this error at:", 1)[0]
    if text.startswith("(") and ") " in text:
        text = text.split(") ", 1)[1]
    text = text or type(exc).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
