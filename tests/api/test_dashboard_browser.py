"""The dashboard in real headless Chromium, served by ApiServer. One board's view: live value,
token, controls, a gateway that goes away, a phone-width screen, the boot id, the armed fault,
the link error. The fleet view is in test_dashboard_fleet.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from telemetryhub.api.server import ApiServer
from telemetryhub.core.gateway import GatewayCore
from telemetryhub.models import Fault, FaultMode
from tests.api.conftest import OPERATOR, make_app, serving
from tests.api.fakecore import FakeCore

TIMEOUT_MS = 10_000
DEVICE_VIEW = "/#/device/fake-1"  # the view of the fake's first board


@pytest.fixture
def server(real_app: Flask) -> Iterator[ApiServer]:
    with serving(real_app) as srv:
        yield srv


def test_dashboard_live_value_controls_and_safestate(
    server: ApiServer, page: Page, tmp_path: Path, real_core: GatewayCore
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.click('.tile[data-id="sim-0001"]')  # the fleet view first; its tile opens the board
    expect(page).to_have_url(re.compile(r"#/device/sim-0001$"))
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
    device = real_core.device()
    assert device is not None
    assert device.info is not None
    boot = f"{device.info.boot_id:08x}"  # as the logs write it
    expect(page.locator("#boot")).to_have_text(boot)
    expect(page.locator("#device")).to_contain_text(f"boot id{boot}")
    page.locator("#chart canvas").wait_for(timeout=TIMEOUT_MS)  # CSP forbids polled JS

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


@pytest.fixture
def fake_core() -> FakeCore:
    return FakeCore(period_ms=20)


@pytest.fixture
def fake_server(fake_core: FakeCore) -> Iterator[ApiServer]:
    """The dashboard over the API's fake core, whose status a test sets at will."""
    with serving(make_app(fake_core)) as srv:
        yield srv


def _age_s(page: Page) -> float:
    return float(page.locator("#age").inner_text().removesuffix(" s"))


def test_dashboard_greys_out_and_counts_the_age_when_the_gateway_goes_away(
    fake_server: ApiServer, fake_core: FakeCore, page: Page
) -> None:
    fake_core.start()
    page.goto(fake_server.url + DEVICE_VIEW)
    state = page.locator("#state")
    expect(state).to_have_text("Measuring", timeout=TIMEOUT_MS)
    expect(page.locator("#age")).to_have_text(re.compile(r"^\d+\.\d s$"), timeout=TIMEOUT_MS)

    fake_server.stop()
    expect(state).to_have_text("gateway unreachable", timeout=TIMEOUT_MS)
    expect(page.locator("body")).to_have_class(re.compile(r"\bstale\b"))
    expect(page.locator("#banner-error")).to_contain_text("Gateway unreachable")
    expect(page.locator("#link")).to_have_text("link: unknown")
    style = page.evaluate(
        "(() => { const s = getComputedStyle(document.querySelector('main'));"
        " return [s.opacity, s.filter]; })()"
    )
    assert float(style[0]) < 0.6
    assert "grayscale" in style[1]
    first = _age_s(page)
    expect(page.locator("#age")).not_to_have_text(f"{first:.1f} s", timeout=TIMEOUT_MS)
    later = _age_s(page)
    assert later > first  # counting up from the last answer, not frozen
    expect(page.locator("#updated")).to_have_text(
        re.compile(r"^no answer for \d+ s$"), timeout=TIMEOUT_MS
    )


def _no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate(
        "(() => { const d = document.documentElement; const header = document.querySelector("
        "'header'); return {scroll: d.scrollWidth, client: d.clientWidth, header:"
        " Math.max(...[...header.children].map((e) => e.getBoundingClientRect().right))}; })()"
    )
    assert widths["scroll"] <= widths["client"], widths
    assert widths["header"] <= widths["client"], widths


def test_dashboard_fits_a_390_px_phone_without_horizontal_scroll(
    fake_server: ApiServer, fake_core: FakeCore, page: Page
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    fake_core.board.extra_link = {
        "last_error": "cannot open /dev/serial/by-id/usb-MicroPython_Board_in_FS_mode_"
        "e6614103e7452d2f-if00: [Errno 2] No such file or directory"
    }
    fake_core.start()
    fake_core.inject_fault(Fault(FaultMode.RANDOM, probability=0.25))
    page.goto(fake_server.url + DEVICE_VIEW)
    expect(page.locator("#state")).to_have_text("Measuring", timeout=TIMEOUT_MS)
    expect(page.locator("#link-error")).to_be_visible()
    expect(page.locator("#fault-chip")).to_be_visible()
    page.locator("#chart canvas").wait_for(timeout=TIMEOUT_MS)  # CSP forbids polled JS
    _no_horizontal_scroll(page)
    fake_server.stop()
    expect(page.locator("#state")).to_have_text("gateway unreachable", timeout=TIMEOUT_MS)
    _no_horizontal_scroll(page)


def test_dashboard_shows_the_boot_id_in_hex_the_armed_fault_and_the_link_error(
    fake_server: ApiServer, fake_core: FakeCore, page: Page
) -> None:
    fake_core.board.boot_id = 3_626_764_237
    page.goto(fake_server.url + DEVICE_VIEW)
    expect(page.locator("#boot")).to_have_text("d82c07cd", timeout=TIMEOUT_MS)
    expect(page.locator("#device")).to_contain_text("boot idd82c07cd")
    expect(page.locator("#device")).not_to_contain_text("3,626,764,237")
    expect(page.locator("#fault-armed")).to_have_text("none")
    expect(page.locator("#fault-chip")).to_be_hidden()
    expect(page.locator("#link-error")).to_be_hidden()

    page.fill("#token", OPERATOR)
    page.click("#save-token")
    page.select_option("#fault-mode", "intermittent")
    page.click("#btn-fault")  # the form's defaults are a fault the board takes
    expect(page.locator("#message")).to_have_text("Fault: done", timeout=TIMEOUT_MS)
    expect(page.locator("#fault-armed")).to_have_text("intermittent, count 1", timeout=TIMEOUT_MS)
    expect(page.locator("#fault-chip")).to_have_text("fault armed: intermittent, count 1")

    fake_core.board.extra_link = {"last_error": "board unplugged"}
    expect(page.locator("#link-error")).to_have_text(
        "last link error: board unplugged", timeout=TIMEOUT_MS
    )
    fake_core.board.extra_link = {"last_error": None}
    expect(page.locator("#link-error")).to_be_hidden(timeout=TIMEOUT_MS)

    fake_core.start()
    page.select_option("#fault-mode", "deterministic")
    page.fill("#fault-count", "2")
    page.click("#btn-fault")
    expect(page.locator("#state")).to_have_text("SafeState", timeout=TIMEOUT_MS)
    expect(page.locator("#banner-safestate")).to_contain_text("stays armed after Reset")
