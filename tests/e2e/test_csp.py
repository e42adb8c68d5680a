"""The page works under its Content-Security-Policy, and the policy is really enforced.

Every browser test already fails on a reported violation (tests/e2e/conftest.py); this one reads the header the
live server sends, uploads through the page (EvaporateJS to S3, the hashing worker's WebAssembly) and shows that
an injected inline script does not run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    Lab,
    LiveServer,
    choose_dataset,
    csp_violations,
    file_row,
    login,
    open_upload,
    random_file,
    upload_and_wait,
)

pytestmark = pytest.mark.browser

INJECT = """() => {
  const script = document.createElement("script");
  script.textContent = "window.__injected = true";
  document.body.appendChild(script);
  return window.__injected === true;
}"""


async def test_the_page_works_under_its_csp_and_inline_script_is_refused(
    page: Any, lab: Lab, live_server: LiveServer, tmp_path: Path
) -> None:
    response = await page.goto("/")
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self' 'wasm-unsafe-eval'"
    assert policy["frame-ancestors"] == "'none'"
    assert live_server.s3.url in policy["connect-src"].split()
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert "<script>" not in await response.text()  # no inline script in index.html

    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await open_upload(page)
    await upload_and_wait(page, random_file(tmp_path, "counts.tsv", 3 * 1024 * 1024), "counts.tsv", 1)
    await page.get_by_role("link", name="Files").click()
    await file_row(page, "counts.tsv").get_by_role("button").click()
    await page.get_by_test_id("file-detail").get_by_test_id("version-row").first.wait_for()
    assert await csp_violations(page) == []

    assert await page.evaluate(INJECT) is False
    reported = await csp_violations(page)
    assert len(reported) == 1 and reported[0].startswith("script-src-elem blocked inline"), reported
    await page.evaluate("window.__cspViolations = []")  # expected: the fixture checks for any other
