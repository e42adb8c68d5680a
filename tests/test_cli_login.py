"""The command line without copying tokens, and output people can use, against the app on a real port:
`omicsdm login` approved (or denied) through the service's device flow, `logout` revoking the token,
`token create|list|revoke`; full ids in tables and tab-separated lines, natural name order, `trash`,
`restore` and `rm` by name with clear ambiguity errors."""

from __future__ import annotations

import asyncio
import io
import os
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from omicsdm.cli.output import Column, natural_sorted, print_rows
from omicsdm.client.config import load_config
from omicsdm.client.errors import ExitCode
from omicsdm.embedded.seaweedfs import S3Endpoint
from tests.support.idp import LocalIdP
from tests.support.live import LiveApp, LiveWorld, live_world, serve
from tests.test_cli import Cli, write

CODE = re.compile(r"code=([A-Z]{4}-[A-Z]{4})")


@pytest.fixture(scope="module")
def live(database_url: str, s3: S3Endpoint, idp: LocalIdP, bucket: str) -> Iterator[LiveApp]:
    with serve(database_url, s3, idp, bucket, auth={"device_poll_seconds": 1}) as running:
        yield running


@pytest.fixture
async def lw(live: LiveApp, idp: LocalIdP, database_url: str) -> AsyncIterator[LiveWorld]:
    async with live_world(live, idp, database_url) as world:
        yield world


@pytest.fixture
def cli(lw: LiveWorld, tmp_path: Path) -> Cli:
    return Cli(lw, tmp_path / "home")


class Command:
    """`omicsdm ARGS` as its own process (it polls while the test approves on the service's API)."""

    def __init__(self, cli: Cli, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMICSDM_")}
        env |= {"OMICSDM_CONFIG": str(cli.config), "OMICSDM_STATE_DIR": str(cli.state), "COLUMNS": "200"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "omicsdm", *args, "--no-browser"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.shown = ""

    async def user_code(self) -> str:
        assert self.process.stderr is not None
        while not CODE.search(self.shown):
            line = await asyncio.to_thread(self.process.stderr.readline)
            assert line, f"exited without showing a code: {self.shown}"
            self.shown += line
        match = CODE.search(self.shown)
        assert match
        return match.group(1)

    async def finish(self) -> tuple[int, str, str]:
        out, rest = await asyncio.to_thread(self.process.communicate, timeout=60)
        return self.process.returncode, out, self.shown + rest


async def decide(lw: LiveWorld, code: str, verdict: str, token: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=lw.url) as http:
        page = await http.get(f"/api/device/requests/{code}", headers={"Authorization": f"Bearer {token}"})
        assert page.status_code == 200, page.text
        done = await http.post(f"/api/device/requests/{code}/{verdict}", headers={"Authorization": f"Bearer {token}"})
        assert done.status_code == 200, done.text
        return dict(page.json())


async def tokens_of(lw: LiveWorld, token: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient(base_url=lw.url) as http:
        response = await http.get("/api/auth/tokens", headers={"Authorization": f"Bearer {token}"})
        return list(response.json())


async def test_login_approved_on_the_web_page_then_logout_revokes(cli: Cli, lw: LiveWorld) -> None:
    login = Command(cli, "login", "--server", lw.url)
    code = await login.user_code()
    assert f"{lw.url}/#/device?code={code}" in login.shown
    page = await decide(lw, code, "approve", lw.alice.token)
    assert page["client_name"] == "omicsdm-cli 0.1.0" and page["client_ip"] == "127.0.0.1"
    status, _, shown = await login.finish()
    assert status == 0, shown
    assert "logged in to" in shown and "as alice" in shown
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600
    config = load_config({"OMICSDM_CONFIG": str(cli.config)})
    assert config.token and config.token.startswith("odm_") and config.token_id

    listed = await cli("token", "list", token=None, server=None)  # not a terminal: tab-separated
    header, *rows = listed.stdout.splitlines()
    assert header.split("\t")[:3] == ["id", "name", "starts with"]
    mine = [r.split("\t") for r in rows if r.startswith(config.token_id)]
    assert mine and mine[0][1] == f"* {page['hostname']} (omicsdm-cli 0.1.0)"

    out = await cli("logout", token=None, server=None)
    assert "revoked on the server" in out.stderr
    revoked = [t for t in await tokens_of(lw, lw.alice.token) if t["id"] == config.token_id]
    assert revoked and revoked[0]["revoked_at"] is not None
    await cli("whoami", token=config.token, server=None, expect=ExitCode.AUTH)
    assert config.token not in cli.config.read_text()


async def test_denied_login_stores_nothing(cli: Cli, lw: LiveWorld) -> None:
    login = Command(cli, "login", "--server", lw.url)
    await decide(lw, await login.user_code(), "deny", lw.alice.token)
    status, _, shown = await login.finish()
    assert status == ExitCode.AUTH and "denied on the web page" in shown
    assert not cli.config.exists() or "token" not in cli.config.read_text()


async def test_token_create_for_scripts_and_revoke_by_name(cli: Cli, lw: LiveWorld) -> None:
    create = Command(cli, "token", "create", "--name", "nightly pipeline", "--server", lw.url)
    page = await decide(lw, await create.user_code(), "approve", lw.alice.token)
    assert page["token_name"] == "nightly pipeline"
    status, stdout, shown = await create.finish()
    assert status == 0, shown
    secret = stdout.strip()
    assert secret.startswith("odm_") and "\n" not in secret  # only the secret on stdout: $(omicsdm token create)
    assert (await cli.json("whoami", token=secret))["username"] == "alice"
    assert not cli.config.exists()  # printed, not stored

    await cli("token", "revoke", "nightly pipeline")
    await cli("whoami", token=secret, expect=ExitCode.AUTH)
    missing = await cli("token", "revoke", "nightly pipeline", expect=ExitCode.NOT_FOUND)
    assert "no active token" in missing.stderr


async def test_full_ids_natural_order_trash_and_restore_by_name(cli: Cli, lw: LiveWorld, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    for name in ("Sample10.txt", "sample2.txt", "sample1.txt", "B.txt", "a.txt", "run1/x.txt", "run2/x.txt"):
        write(folder / name, name.encode())
    await cli("upload", str(folder), "-d", "rnaseq", "-q")

    by_name = [r["name"] for r in await cli.json("ls", "--sort", "name")]
    want = [
        f"batch/{n}"
        for n in ("a.txt", "B.txt", "run1/x.txt", "run2/x.txt", "sample1.txt", "sample2.txt", "Sample10.txt")
    ]
    assert by_name == want
    assert [r["name"] for r in await cli.json("ls", "--sort", "-name")] == want[::-1]

    piped = await cli("ls", "--sort", "name")  # stdout is not a terminal: one tab-separated line per file
    header, *lines = piped.stdout.splitlines()
    assert header.split("\t")[:3] == ["id", "project/dataset", "name"]
    rows = [line.split("\t") for line in lines]
    assert [r[2] for r in rows] == want
    assert all(uuid.UUID(r[0]) and len(r[0]) == 36 for r in rows)  # never cut
    ids = {r[2]: r[0] for r in rows}

    removed = await cli("rm", "batch/run1/x.txt", ids["batch/run2/x.txt"], "batch/a.txt")
    assert "marked deleted: atlas/rnaseq/batch/run1/x.txt" in removed.stderr
    trash = await cli("trash")
    assert sorted(line.split("\t")[2] for line in trash.stdout.splitlines()[1:]) == [
        "batch/a.txt",
        "batch/run1/x.txt",
        "batch/run2/x.txt",
    ]
    assert not [r for r in await cli.json("ls") if r["name"].endswith("x.txt")]

    ambiguous = await cli("restore", "x.txt", "batch/a.txt", expect=ExitCode.USAGE)
    assert "2 files named 'x.txt' in the trash" in ambiguous.stderr
    assert ids["batch/run1/x.txt"] in ambiguous.stderr and ids["batch/run2/x.txt"] in ambiguous.stderr
    assert len(await cli.json("trash")) == 3  # nothing was restored: names are resolved first

    await cli("restore", "batch/run1/x.txt", "batch/a.txt")
    await cli("restore", "x.txt")  # now only run2/x.txt is in the trash
    assert await cli.json("trash") == []
    missing = await cli("restore", "nosuch.txt", expect=ExitCode.NOT_FOUND)
    assert "no file named 'nosuch.txt' in the trash" in missing.stderr
    assert [r["name"] for r in await cli.json("ls", "--sort", "name")] == want


def test_tables_fold_names_not_ids() -> None:
    ids = [str(uuid.uuid4()) for _ in range(2)]
    rows = [
        [ids[0], "atlas/rnaseq", "run7/" + "very_long_sample_name_" * 4 + "R1.fastq.gz", "1"],
        [ids[1], "a/b", "x", "2"],
    ]
    columns = [Column("id", "id"), Column("project/dataset", "text"), Column("name", "text"), Column("v")]
    for wide in (False, True):
        screen = io.StringIO()
        print_rows(Console(file=screen, width=80, force_terminal=True), "table", columns, rows, wide=wide)
        text = re.sub(r"\x1b\[[0-9;]*m", "", screen.getvalue())
        lines = text.splitlines()
        assert all(any(i in line for line in lines) for i in ids), text  # each id whole, on one line
        assert any(rows[0][2] in line for line in lines) == wide, text  # the long name folds, unless --wide


def test_natural_order() -> None:
    names = ["sample10", "Sample2", "sample1", "b", "A", "run 3", "run 20"]
    assert natural_sorted(names, key=str) == ["A", "b", "run 3", "run 20", "sample1", "Sample2", "sample10"]
