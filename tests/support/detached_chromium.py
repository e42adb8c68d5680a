"""Debian's Chromium run as a plain process that Playwright attaches to over CDP only to act (log in, pick a file,
click), then leaves: while nothing is attached, no DevTools client sees the network, so large request bodies
are not copied for an inspector (under Playwright, four 105 MiB parts in flight stalled the page).

    with DetachedChromium() as chromium:
        async with chromium.attached() as page:   # a Playwright Page on the browser's one tab
            await pick_file(page, "[data-testid=file-input]", path)   # the path only: nothing copied
        chromium.rss_by_role_mib()               # RSS per process role (psutil)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpx
import psutil

CHROMIUM = os.environ.get("OMICSDM_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_role(proc: psutil.Process) -> str:
    """browser, renderer, gpu, utility … from Chromium's --type= argument (none: the browser process)."""
    with contextlib.suppress(psutil.Error):
        for arg in proc.cmdline():
            if arg.startswith("--type="):
                kind = arg.split("=", 1)[1]
                if kind == "utility":
                    sub = next((a for a in proc.cmdline() if a.startswith("--utility-sub-type=")), "")
                    return f"utility:{sub.rsplit('.', 1)[-1]}" if sub else "utility"
                return kind
    return "browser"


class DetachedChromium:
    def __init__(self, extra_flags: list[str] | None = None) -> None:
        self.port = _free_port()
        self._profile = tempfile.TemporaryDirectory(prefix="omicsdm-chromium-")
        self._flags = [*FLAGS, *(extra_flags or [])]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DetachedChromium:
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                *self._flags,
                f"--user-data-dir={self._profile.name}",
                f"--remote-debugging-port={self.port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: ended as one
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/json/version", timeout=2).status_code == 200:
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.2)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._profile.cleanup()

    @contextlib.asynccontextmanager
    async def attached(self, timeout_ms: float = 20_000) -> AsyncIterator[Any]:
        """Playwright on the browser's first tab; detached (the tab keeps running) when the block ends."""
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            browser = await playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{self.port}")
            try:
                context = browser.contexts[0]
                page = context.pages[0] if context.pages else await context.new_page()
                page.set_default_timeout(timeout_ms)
                yield page
            finally:
                await browser.close()  # disconnects only: the default context and its tab are the browser's

    def rss_by_role_mib(self) -> dict[str, float]:
        """RSS (MiB) of the browser's processes, summed per role (browser, renderer, gpu-process, utility:…)."""
        assert self.process is not None
        totals: dict[str, float] = {}
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    role = process_role(proc)
                    totals[role] = totals.get(role, 0.0) + proc.memory_info().rss / MIB
        return totals


async def pick_file(page: Any, selector: str, path: str | os.PathLike[str]) -> None:
    """Sets a file input to a local file by its path (CDP DOM.setFileInputFiles, which fires input and change).
    Playwright's set_input_files refuses files over 50 MB on a browser it reached over CDP (it would copy them)."""
    cdp = await page.context.new_cdp_session(page)
    try:
        found = await cdp.send("Runtime.evaluate", {"expression": f"document.querySelector({selector!r})"})
        object_id = found["result"].get("objectId")
        if not object_id:
            raise LookupError(f"no element matches {selector}")
        await cdp.send("DOM.setFileInputFiles", {"files": [os.fspath(path)], "objectId": object_id})
    finally:
        await cdp.detach()
