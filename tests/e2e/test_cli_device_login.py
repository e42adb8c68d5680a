"""End to end as a bioinformatician on an HPC login node: a fresh venv with only `omicsdm-client`, `omicsdm login`
approved on the web page in Chromium, then a folder uploaded, listed, downloaded with verified bytes, deleted,
found in the trash and restored by name; the web page lists the machine's token and revokes it."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Lab, LiveServer, login
from tests.support.client_venv import ClientVenv, client_venv

pytestmark = pytest.mark.browser
CODE_URL = re.compile(r"(http://\S+/#/device\?code=([A-Z]{4}-[A-Z]{4}))")


@pytest.fixture(scope="session")
def fresh_client() -> ClientVenv:
    return client_venv()


class Omicsdm:
    """The `omicsdm` command of the fresh venv, with its own config and state under `home`."""

    def __init__(self, fresh: ClientVenv, home: Path) -> None:
        self.fresh, self.home = fresh, home
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "OMICSDM_CONFIG": str(home / "config.toml"),
            "OMICSDM_STATE_DIR": str(home / "state"),
            "COLUMNS": "200",
        }

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.fresh.omicsdm), *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    async def __call__(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        done = await asyncio.to_thread(
            subprocess.run,
            [str(self.fresh.omicsdm), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == expect, (args, done.returncode, done.stdout, done.stderr)
        return done


async def read_until(stream: Any, pattern: re.Pattern[str]) -> tuple[re.Match[str], str]:
    seen = ""
    while (match := pattern.search(seen)) is None:
        line = await asyncio.to_thread(stream.readline)
        assert line, f"the command ended without showing a code: {seen}"
        seen += line
    return match, seen


async def test_fresh_client_logs_in_through_the_browser_and_moves_files(
    fresh_client: ClientVenv, live_server: LiveServer, lab: Lab, page: Any, tmp_path: Path
) -> None:
    omicsdm = Omicsdm(fresh_client, tmp_path / "home")
    dataset = f"{lab.project['code']}/{lab.dataset['code']}"

    # omicsdm login: a code and a link; the user approves on the web page, logged in as themselves.
    process = omicsdm.start("login", "--server", live_server.url, "--no-browser")
    assert process.stderr is not None
    match, shown = await read_until(process.stderr, CODE_URL)
    link, code = match.groups()
    assert link.startswith(live_server.url)
    await login(page, lab.user, [lab.group])
    await page.goto(link)
    request = page.get_by_test_id("device-request")
    await request.wait_for()
    assert await page.get_by_test_id("device-hostname").inner_text() == socket.gethostname()
    assert code in await request.inner_text()
    assert "127.0.0.1" in await request.inner_text()
    await page.get_by_test_id("device-approve").click()
    await page.get_by_test_id("device-result").wait_for()
    _, rest = await asyncio.to_thread(process.communicate, timeout=60)
    assert process.returncode == 0, shown + rest
    assert f"as {lab.user}" in rest
    config = omicsdm.home / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600 and "odm_" in config.read_text()

    # A folder up, listed, down with verified bytes.
    folder = tmp_path / "run7"
    content = {"run7/sample1.fastq": os.urandom(300_000), "run7/lanes/sample2.fastq": os.urandom(7_000_001)}
    for name, data in content.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    await omicsdm("upload", str(folder), "--dataset", dataset, "--quiet")
    listed = await omicsdm("ls", "--dataset", dataset, "--sort", "name")
    rows = [line.split("\t") for line in listed.stdout.splitlines()[1:]]
    assert [r[2] for r in rows] == ["run7/lanes/sample2.fastq", "run7/sample1.fastq"]
    out = tmp_path / "out"
    await omicsdm("download", "--dataset", dataset, "--output", str(out), "--quiet")
    for name, data in content.items():
        assert (out / name).read_bytes() == data

    # Deleted, found in the trash, restored by name.
    await omicsdm("rm", "sample1.fastq", "--dataset", dataset)
    trash = await omicsdm("trash", "--dataset", dataset)
    assert [line.split("\t")[2] for line in trash.stdout.splitlines()[1:]] == ["run7/sample1.fastq"]
    await omicsdm("restore", "sample1.fastq", "--dataset", dataset)
    assert (await omicsdm("trash", "--dataset", dataset)).stdout.splitlines()[1:] == []
    assert len((await omicsdm("ls", "--dataset", dataset)).stdout.splitlines()) == 3

    # The web page lists the machine's token and revokes it: the command is logged out at once.
    await page.goto("/#/tokens")
    row = page.get_by_test_id("token-row").filter(has_text=socket.gethostname())
    await row.get_by_role("button", name="Revoke").click()
    await row.wait_for(state="detached")
    refused = await omicsdm("whoami", expect=3)
    assert "401" in refused.stderr
