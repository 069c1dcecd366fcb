"""The dashboard in real headless Chromium, served by ApiServer: live value, token, controls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect, sync_playwright

from telemetryhub.api.server import ApiServer
from tests.api.conftest import OPERATOR

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


@pytest.fixture
def server(real_app: Flask) -> Iterator[ApiServer]:
    srv = ApiServer(real_app, "127.0.0.1", 0)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_dashboard_live_value_controls_and_safestate(
    server: ApiServer, page: Page, tmp_path: Path
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    state = page.locator("#state")
    expect(state).to_have_text("Idle", timeout=TIMEOUT_MS)

    page.click("#btn-start")  # no token yet: the page asks for one
    expect(page.locator("#message")).to_contain_text("token", timeout=TIMEOUT_MS)

    page.fill("#token", OPERATOR)
    page.click("#save-token")
    expect(page.locator("#token-state")).to_have_text("token set for this tab")
    page.click("#btn-start")
    expect(state).to_have_text("Measuring", timeout=TIMEOUT_MS)

    value = page.locator("#seq")
    expect(value).not_to_have_text("—", timeout=TIMEOUT_MS)
    first = value.inner_text()
    expect(value).not_to_have_text(first, timeout=TIMEOUT_MS)  # the value moves
    page.wait_for_function("document.querySelector('#chart canvas') !== null", timeout=TIMEOUT_MS)

    page.click("#btn-stop")
    expect(state).to_have_text("Idle", timeout=TIMEOUT_MS)
    page.click("#btn-start")
    expect(state).to_have_text("Measuring", timeout=TIMEOUT_MS)

    page.select_option("#fault-mode", "deterministic")
    page.fill("#fault-count", "3")
    page.click("#btn-fault")
    expect(state).to_have_text("SafeState", timeout=TIMEOUT_MS)
    expect(page.locator("#banner-safestate")).to_be_visible()

    page.screenshot(path=str(tmp_path / "safestate.png"), full_page=True)
    page.click("#btn-reset")
    expect(state).to_have_text("Idle", timeout=TIMEOUT_MS)
    expect(page.locator("#banner-safestate")).to_be_hidden()
    assert errors == []
