"""Login and the project and dataset picker, in a real Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Lab, LiveServer, choose_dataset, login

pytestmark = pytest.mark.browser


async def test_dev_login_and_dataset_picker(page: Any, lab: Lab) -> None:
    await login(page, lab.user, [lab.group])
    assert lab.user in await page.get_by_test_id("user-chip").inner_text()
    await choose_dataset(page, lab)
    facts = await page.get_by_test_id("dataset-facts").inner_text()
    assert f"owner {lab.group}" in facts
    assert "upload" in facts
    await page.get_by_role("link", name="Upload").click()
    assert await page.get_by_test_id("file-input").is_enabled()
    assert await page.get_by_test_id("upload-refusal").count() == 0


async def test_dev_login_refusal_shows_the_services_reason(page: Any, live_server: LiveServer) -> None:
    await page.goto("/")
    await page.get_by_label("User name").fill("bad name!")
    # The browser's own pattern check would stop it first; remove it to see the service's answer.
    await page.evaluate("document.querySelector('input[name=username]').removeAttribute('pattern')")
    await page.get_by_role("button", name="Sign in (dev)").click()
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "username" in await alert.inner_text()
