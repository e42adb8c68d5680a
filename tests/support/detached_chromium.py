"""Debian's Chromium run as a plain process, driven over one raw DevTools (CDP) connection to its tab that
enables no domain: nothing watches the network, so large request bodies are not copied for an inspector.

Why not Playwright: it enables the Network domain on every page it attaches to, without `maxPostDataSize`, so
each XHR body is serialised into a `Network.requestWillBeSent` event. A 105 MiB part then becomes a JSON message
of several hundred MB (each zero byte is `\\u0000`): measured, a part took 20 s, the renderer and the browser
process grew past 2 GB each, and Chromium dropped Playwright's session after two parts ("Target page, context
or browser has been closed"). Attaching only to act and detaching meanwhile works, but reconnecting was flaky.

    with DetachedChromium() as chromium:
        async with chromium.tab() as tab:          # one connection for the whole run
            await tab.goto(url)
            await tab.set_files("[data-testid=file-input]", [path])   # the path only: nothing copied
            await tab.wait_for("document.querySelector('[data-status=done]')")
        chromium.rss_by_role_mib()               # RSS per process role (psutil)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
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
# Debian's Chromium as every browser test and benchmark runs it (Playwright adds --headless itself).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FLAGS = ["--headless", *CHROMIUM_ARGS]
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
    async def tab(self, seconds: float = 20) -> AsyncIterator[Tab]:
        """The browser's first tab, over one CDP connection that lasts the block (the tab keeps running after)."""
        from websockets.asyncio.client import connect

        async with httpx.AsyncClient() as http:
            targets = (await http.get(f"http://127.0.0.1:{self.port}/json/list", timeout=5)).json()
        page = next(t for t in targets if t["type"] == "page")
        async with connect(page["webSocketDebuggerUrl"], max_size=None, ping_interval=None) as socket_:
            tab = Tab(socket_, seconds)
            reader = asyncio.ensure_future(tab.read())
            try:
                yield tab
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

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


class Tab:
    """Runtime.evaluate and a few Page/DOM commands on one tab; the page is driven as a script would a user."""

    def __init__(self, socket_: Any, seconds: float) -> None:
        self._socket = socket_
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.seconds = seconds  # the default wait of a command or a wait_for

    async def read(self) -> None:
        async for raw in self._socket:
            message = json.loads(raw)
            future = self._waiting.pop(message.get("id", -1), None)  # events (none enabled) are ignored
            if future is not None and not future.done():
                future.set_result(message)

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        await self._socket.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        answer = await asyncio.wait_for(future, self.seconds)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return dict(answer["result"])

    async def evaluate(self, expression: str) -> Any:
        """The expression's value (JSON), promises awaited; a page exception is raised here."""
        answer = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise RuntimeError(f"{expression[:80]}: {details.get('exception', {}).get('description') or details}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, seconds: float | None = None, what: str = "") -> Any:
        """Polls `expression` until its JSON value is truthy (an element comes back as {}: test it with !!)."""
        deadline = time.monotonic() + (seconds or self.seconds)
        while True:
            with contextlib.suppress(RuntimeError):  # a navigation in progress
                value = await self.evaluate(expression)
                if value:
                    return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or expression}")
            await asyncio.sleep(0.1)

    async def add_init_script(self, source: str) -> None:
        """Runs `source` in every document the tab loads from now on, before the page's own scripts."""
        await self.send("Page.enable")  # page events only (ignored here); without it the script is not added
        await self.send("Page.addScriptToEvaluateOnNewDocument", {"source": source})

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url})
        await self.wait_for(f"location.href.startsWith({url!r}) && document.readyState === 'complete'")

    async def reload(self) -> None:
        await self.evaluate("window.__beforeReload = true")
        await self.send("Page.reload")
        await self.wait_for("!window.__beforeReload && document.readyState === 'complete'", what="the reload")

    async def click(self, selector: str) -> None:
        await self.wait_for(f"!!document.querySelector({selector!r})", what=selector)
        await self.evaluate(f"document.querySelector({selector!r}).click()")

    async def select(self, selector: str, value: str) -> None:
        """Chooses an option of a <select> once it exists, as a user's pick would (a change event)."""
        element = f"document.querySelector({selector!r})"
        await self.wait_for(
            f"{element} && !{element}.disabled && [...{element}.options].some(o => o.value === {value!r})"
        )
        await self.evaluate(
            f"(() => {{ const e = {element}; e.value = {value!r}; e.dispatchEvent(new Event('change', {{bubbles: true}})); }})()"
        )

    async def set_files(self, selector: str, paths: list[str | os.PathLike[str]]) -> None:
        """Sets a file input to local files by their paths (DOM.setFileInputFiles fires input and change): a file
        is never read or copied to be picked, whatever its size."""
        await self.wait_for(f"!!document.querySelector({selector!r})", what=selector)
        found = await self.send("Runtime.evaluate", {"expression": f"document.querySelector({selector!r})"})
        object_id = found["result"].get("objectId")
        if not object_id:
            raise LookupError(f"no element matches {selector}")
        await self.send("DOM.setFileInputFiles", {"files": [os.fspath(p) for p in paths], "objectId": object_id})


async def open_upload_view(tab: Tab, base_url: str, token: str, via: str, project_id: str, dataset_id: str) -> None:
    """The web page signed in with `token` (put in its session, as its login would), the dataset chosen, the
    Upload view open with its file input enabled."""
    session = json.dumps({"accessToken": token, "via": via})
    await tab.goto(base_url.rstrip("/") + "/")
    await tab.evaluate(
        f"sessionStorage.setItem('omicsdm.session', JSON.stringify({{...{session}, expiresAt: Date.now() + 8 * 3600e3}}))"
    )
    await tab.reload()
    await tab.wait_for("!!document.querySelector('[data-testid=user-chip]')", what="the signed-in page")
    await tab.select("[data-testid=project-select]", project_id)
    await tab.select("[data-testid=dataset-select]", dataset_id)
    await open_upload(tab)


async def open_upload(tab: Tab) -> None:
    await tab.evaluate("location.hash = '#/upload'")
    await tab.wait_for("(e => e && !e.disabled)(document.querySelector('[data-testid=file-input]'))", what="Upload")
