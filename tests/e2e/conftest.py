"""End-to-end fixtures: the real app served by uvicorn on a loopback port, and Debian's Chromium via Playwright.

The server reuses the suite's session fixtures (PostgreSQL database, SeaweedFS, the local IdP, the bucket)
and runs in dev mode so the web frontend's dev login works. Each test seeds its own project, dataset and
groups with unique names, so tests never see each other's files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from omicsdm.app import create_app
from omicsdm.embedded.seaweedfs import S3Endpoint
from tests.conftest import fresh_database, make_settings
from tests.support.detached_chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.idp import LocalIdP
from tests.support.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
SCREENSHOTS = ROOT / "docs" / "screenshots"


def _ensure_frontend_built() -> None:
    """The app mounts frontend/dist when it is created: build it first when a checkout has none."""
    if (FRONTEND / "dist" / "index.html").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("frontend/dist is missing and npm is not installed: run `npm ci && npm run build` in frontend/")
    if not (FRONTEND / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
    subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True)


@dataclass
class LiveServer:
    url: str
    s3: S3Endpoint
    bucket: str

    def api(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def token(self, username: str, groups: list[str]) -> str:
        with self.api() as client:
            answer = client.post("/api/auth/dev-login", json={"username": username, "groups": groups})
            answer.raise_for_status()
            return str(answer.json()["access_token"])


@pytest.fixture(scope="session")
async def e2e_database_url(server_url: str) -> AsyncIterator[str]:
    """The browser tests' own database: the rest of the suite truncates its tables between tests."""
    async with fresh_database(server_url, "e2e") as url:
        yield url


@contextlib.contextmanager
def serve_app(database_url: str, endpoint: S3Endpoint, idp: LocalIdP, **settings: Any) -> Iterator[LiveServer]:
    """The app (dev mode, its own bucket) served by uvicorn in a thread on a loopback port."""
    _ensure_frontend_built()
    bucket = f"omicsdm-e2e-{secrets.token_hex(4)}"  # its own CORS rule: other apps re-provision the shared bucket
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    config = make_settings(
        database_url, endpoint, idp, bucket, dev_mode=True, public_url=url, cors_origins=[url], **settings
    )
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(url=url, s3=endpoint, bucket=bucket)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture(scope="session")
def live_server(e2e_database_url: str, s3: S3Endpoint, idp: LocalIdP) -> Iterator[LiveServer]:
    with serve_app(e2e_database_url, s3, idp) as server:
        yield server


@pytest.fixture(scope="module")
def s3_proxy(s3: S3Endpoint) -> Iterator[TcpProxy]:
    """A TCP proxy in front of SeaweedFS that a test can cut, hold requests at, and read requests from."""
    upstream = urlsplit(s3.url)
    proxy = TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 80).start()
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def proxied_server(e2e_database_url: str, s3: S3Endpoint, idp: LocalIdP, s3_proxy: TcpProxy) -> Iterator[LiveServer]:
    """A module's app whose browsers reach S3 through `s3_proxy` (it signs for that address); the service itself
    talks to SeaweedFS directly. A module uses it as its `live_server`."""
    with serve_app(e2e_database_url, s3, idp, s3={"public_url": s3_proxy.url}) as server:
        yield LiveServer(
            url=server.url, s3=S3Endpoint(s3_proxy.url, s3.region, s3.access_key, s3.secret_key), bucket=server.bucket
        )


@dataclass
class Lab:
    """One test's world: a project and a dataset owned by `group`, the owner `user`, an admin."""

    group: str
    user: str
    reader_group: str
    reader: str
    project: dict[str, Any]
    dataset: dict[str, Any]
    user_token: str
    admin_token: str


@pytest.fixture
def lab(live_server: LiveServer) -> Lab:
    tag = secrets.token_hex(3)
    group, reader_group = f"lab-{tag}", f"readers-{tag}"
    user, reader = f"alice-{tag}", f"bob-{tag}"
    admin_token = live_server.token(f"root-{tag}", ["admin"])
    user_token = live_server.token(user, [group])
    with live_server.api(admin_token) as admin:
        project = admin.post(
            "/api/projects", json={"code": f"atlas-{tag}", "name": "Liver atlas", "owner_groups": [group]}
        )
        assert project.status_code == 201, project.text
    with live_server.api(user_token) as owner:
        dataset = owner.post(
            "/api/datasets",
            json={
                "project_id": project.json()["id"],
                "code": f"rnaseq-{tag}",
                "name": "RNA-seq batch 1",
                "owner_group": group,
                "shared_with": [reader_group],
            },
        )
        assert dataset.status_code == 201, dataset.text
    return Lab(group, user, reader_group, reader, project.json(), dataset.json(), user_token, admin_token)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            await instance.close()


# Every page records the Content-Security-Policy violations it reports (the server sends the policy).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber} ${e.sample}`));
"""


async def csp_violations(page: Any) -> list[str]:
    return list(await page.evaluate("window.__cspViolations || []"))


@pytest.fixture
async def context(browser: Any, live_server: LiveServer) -> AsyncIterator[Any]:
    ctx = await browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 800}, accept_downloads=True
    )
    ctx.set_default_timeout(20_000)
    await ctx.add_init_script(CSP_LISTENER)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest.fixture
async def page(context: Any) -> AsyncIterator[Any]:
    page = await context.new_page()
    errors: list[str] = []
    trail: list[str] = []  # printed at teardown: pytest shows it when a test fails
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: trail.append(f"console.{msg.type}: {msg.text}"))
    page.on("requestfailed", lambda r: trail.append(f"failed {r.method} {r.url[:160]}: {r.failure}"))
    page.on(
        "response", lambda r: trail.append(f"{r.status} {r.request.method} {r.url[:160]}") if r.status >= 400 else None
    )

    async def problem_body(response: Any) -> None:
        if response.status >= 400 and "/api/" in response.url:
            with contextlib.suppress(Exception):
                trail.append(f"  -> {(await response.text())[:300]}")

    page.on("response", problem_body)
    yield page
    violations: list[str] = []
    with contextlib.suppress(Exception):  # the page may be gone
        violations = await csp_violations(page)
    trail.extend(f"CSP violation: {v}" for v in violations)
    for line in trail[-60:]:
        print(line)
    try:
        for item in await page.get_by_test_id("transfer").all_inner_texts():
            print("transfer:", item.replace("\n", " | "))
    except Exception as exc:  # the page may be gone
        print("no transfers:", exc)
    assert not errors, f"uncaught errors in the page: {errors}"
    assert not violations, f"the page broke its Content-Security-Policy: {violations}"


async def login(page: Any, username: str, groups: list[str], url: str = "/") -> None:
    """Through the dev login form, as a person would (`url`: the app's, for a page without a base URL)."""
    await page.goto(url)
    await page.get_by_label("User name").fill(username)
    await page.get_by_label("Groups").fill(", ".join(groups))
    await page.get_by_role("button", name="Sign in (dev)").click()
    await page.get_by_test_id("user-chip").wait_for()


async def choose_dataset(page: Any, lab: Lab) -> None:
    await page.get_by_test_id("project-select").select_option(lab.project["id"])
    await page.get_by_test_id("dataset-select").select_option(lab.dataset["id"])


@pytest.fixture(scope="session")
def s3_client(s3: S3Endpoint) -> Any:
    """boto3 on the same S3 server, to check what really landed in the bucket."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=s3.url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def objects_of(s3_client: Any, bucket: str, dataset_id: str) -> list[dict[str, Any]]:
    """Every stored object (each key's current version) of one dataset, oldest first."""
    answer = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"datasets/{dataset_id}/")
    return sorted(answer.get("Contents", []), key=lambda o: o["LastModified"])


def random_file(directory: Path, name: str, size: int) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        remaining = size
        while remaining:
            chunk = min(remaining, 8 * 1024 * 1024)
            out.write(os.urandom(chunk))
            remaining -= chunk
    return path


async def open_upload(page: Any) -> None:
    await page.get_by_role("link", name="Upload").click()
    await page.get_by_test_id("dropzone").wait_for()


def transfer(page: Any, name: str, status: str | None = None) -> Any:
    selector = f'[data-testid=transfer][data-name="{name}"]'
    if status:
        selector += f"[data-status={status}]"
    return page.locator(selector)


def part_puts(page: Any) -> list[Any]:
    """Collects every S3 UploadPart request the page sends."""
    seen: list[Any] = []
    page.on("request", lambda r: seen.append(r) if r.method == "PUT" and "partNumber=" in r.url else None)
    return seen


async def upload_and_wait(page: Any, path: Path, name: str, version: int) -> None:
    await page.get_by_test_id("file-input").set_input_files(path)
    row = page.locator(f'[data-testid=transfer][data-name="{name}"][data-status=done]').last
    await row.wait_for(timeout=45_000)
    await page.get_by_text(f"Stored as version {version}").first.wait_for()


def file_row(page: Any, name: str) -> Any:
    return page.locator(f'[data-testid=file-row][data-name="{name}"]')
