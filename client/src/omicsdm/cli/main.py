"""`omicsdm`: the command line. The client commands (login, upload, ls, download...) are always here;
the service's commands (serve, db, dev, janitor, verify, reconcile, openapi) are added by the `omicsdm`
distribution through the `omicsdm.commands` entry point group, so `pip install omicsdm-client` gives the
same command without the server's dependencies.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Annotated

import typer

from omicsdm.cli.account_commands import register as register_account_commands
from omicsdm.cli.client_commands import register as register_client_commands
from omicsdm.cli.debug import set_debug

COMMAND_GROUP = "omicsdm.commands"  # entry points: callables taking the Typer app

app = typer.Typer(no_args_is_help=True, help="omicsdm: the file store of an omics data warehouse.")


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="OMICSDM_DEBUG", help="On failure, print the traceback too")
    ] = False,
) -> None:
    """omicsdm: the file store of an omics data warehouse."""
    set_debug(debug)


def _register_installed_commands(app: typer.Typer) -> None:
    """Add the commands of installed distributions (the service's, when `omicsdm` is installed)."""
    for point in sorted(entry_points(group=COMMAND_GROUP), key=lambda p: p.name):
        try:
            register = point.load()
        except ImportError as exc:  # a half-installed server must not break the client commands
            print(f"omicsdm: commands {point.name!r} unavailable: {exc}", file=sys.stderr)
            continue
        register(app)


register_account_commands(app)  # login, logout, token
register_client_commands(app)  # whoami, projects, datasets, upload, ls, trash, versions, download, rm, restore
_register_installed_commands(app)

if __name__ == "__main__":
    app()
