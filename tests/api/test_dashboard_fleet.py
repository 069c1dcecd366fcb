"""The dashboard's fleet view in real headless Chromium over the fleet fake: a tile per board,
trouble first, SafeState red, filters, a click into one board, phone and desktop widths, and
the frame time with 50 boards polled live."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from telemetryhub.api.server import ApiServer
from telemetryhub.models import Fault, FaultMode
from tests.api.conftest import OPERATOR, make_app, serving
from tests.api.fakecore import FakeCore

TIMEOUT_MS = 10_000
RED = "rgb(207, 34, 46)"  # --bad in dashboard.css
# 50 boards polled every second, sparklines every 5 s. Our own cost is bounded tightly: one
# poll's render of the tiles or of their sparklines (the page's "fleet-render" and
# "fleet-sparks" measures). The frames are bounded with room for two busy shared cores
# (tasks of 70-90 ms were seen at load average 5.5 while each render took ~1 ms): 95 % within
# two 60 Hz frames, and no freeze a person would see.
RENDER_MAX_MS = 25.0
FRAME_P95_MS = 34.0
TASK_MAX_MS = 200.0


@pytest.fixture
def fleet() -> FakeCore:
    return FakeCore(period_ms=50, devices=6)


@pytest.fixture
def served(fleet: FakeCore) -> Iterator[ApiServer]:
    with serving(make_app(fleet)) as srv:
        yield srv


def _tile_ids(page: Page) -> list[str]:
    return [str(el.get_attribute("data-id")) for el in page.locator(".tile").all()]


def test_a_tile_per_board_trouble_first_safestate_red_and_a_click_opens_the_board(
    served: ApiServer, fleet: FakeCore, page: Page
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    fleet.start()
    fleet.boards["fake-5"].connected = False
    fleet.boards["fake-5"].extra_link = {"last_error": "board unplugged"}
    page.goto(served.url + "/")
    expect(page.locator(".tile")).to_have_count(6, timeout=TIMEOUT_MS)
    expect(page.locator("#fleet-summary")).to_have_text("6 boards · 1 offline")

    fleet.inject_fault(Fault(FaultMode.DETERMINISTIC, count=1), device_id="fake-4")
    safe = page.locator('.tile[data-id="fake-4"]')
    expect(safe).to_have_class(re.compile(r"\bst-SafeState\b"), timeout=TIMEOUT_MS)
    expect(safe.locator(".badge")).to_have_text("SafeState")
    assert safe.locator(".badge").evaluate("e => getComputedStyle(e).backgroundColor") == RED
    assert safe.evaluate("e => getComputedStyle(e).borderLeftColor") == RED
    expect(page.locator("#fleet-summary")).to_have_text("6 boards · 1 SafeState · 1 offline")
    assert _tile_ids(page)[:2] == ["fake-4", "fake-5"]  # SafeState, then offline
    offline = page.locator('.tile[data-id="fake-5"]')
    expect(offline.locator(".linkh")).to_have_text("offline")
    expect(offline.locator(".tile-err")).to_have_text("board unplugged")
    measuring = page.locator('.tile[data-id="fake-1"]')
    expect(measuring.locator(".v")).not_to_have_text("—")
    expect(measuring.locator(".seen")).to_have_text(re.compile(r"^seen \d+(\.\d)? s ago$"))
    expect(measuring.locator("polyline")).to_have_attribute(
        "points", re.compile(r"\d"), timeout=TIMEOUT_MS
    )

    page.click('#filters button[data-filter="SafeState"]')
    assert _tile_ids(page) == ["fake-4"]
    expect(page.locator('#filters button[data-filter="SafeState"] .n')).to_have_text("1")
    page.click('#filters button[data-filter="all"]')
    expect(page.locator(".tile")).to_have_count(6)

    page.click('.tile[data-id="fake-4"]')
    expect(page).to_have_url(re.compile(r"#/device/fake-4$"))
    expect(page.locator("#device-title")).to_have_text("fake-4")
    expect(page.locator("#state")).to_have_text("SafeState", timeout=TIMEOUT_MS)
    expect(page.locator("#banner-safestate")).to_be_visible()
    expect(page.locator("#fleet-view")).to_be_hidden()

    page.fill("#token", OPERATOR)
    page.click("#save-token")
    page.click("#btn-reset")  # to this board only
    expect(page.locator("#message")).to_have_text("Reset: done", timeout=TIMEOUT_MS)
    expect(page.locator("#state")).to_have_text("Idle", timeout=TIMEOUT_MS)
    assert fleet.boards["fake-1"].state.label == "Measuring"
    page.click("#back")
    expect(page.locator(".tile")).to_have_count(6, timeout=TIMEOUT_MS)
    expect(page.locator('.tile[data-id="fake-4"] .badge')).to_have_text("Idle")
    assert errors == []


def _no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate(
        "(() => { const d = document.documentElement; return {scroll: d.scrollWidth,"
        " client: d.clientWidth, widest: Math.max(...[...document.querySelectorAll("
        "'header > *, .tile, .filters button')].map((e) => e.getBoundingClientRect().right))};"
        " })()"
    )
    assert widths["scroll"] <= widths["client"], widths
    assert widths["widest"] <= widths["client"], widths


_FRAMES_JS = """
async (ms) => {
  const deltas = [], longTasks = [], renders = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.entryType === "longtask") longTasks.push(entry.duration);
      else if (entry.name.startsWith("fleet-")) renders.push(entry.duration);
    }
  });
  observer.observe({ entryTypes: ["longtask", "measure"] });
  let last = performance.now();
  const end = last + ms;
  await new Promise((resolve) => {
    const frame = (t) => {
      deltas.push(t - last);
      last = t;
      if (t < end) requestAnimationFrame(frame); else resolve();
    };
    requestAnimationFrame(frame);
  });
  observer.disconnect();
  return { deltas, longTasks, renders };
}
"""


@pytest.mark.slow
def test_fifty_boards_fit_a_phone_and_a_desktop_and_polling_them_keeps_frames_short(
    page: Page,
) -> None:
    fleet = FakeCore(period_ms=20, devices=50)
    fleet.start()
    fleet.inject_fault(Fault(FaultMode.DETERMINISTIC, count=1), device_id="fake-17")
    fleet.boards["fake-33"].connected = False
    with serving(make_app(fleet)) as srv:
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(srv.url + "/")
        expect(page.locator(".tile")).to_have_count(50, timeout=TIMEOUT_MS)
        expect(page.locator(".tile polyline[points*=',']")).to_have_count(49, timeout=TIMEOUT_MS)
        _no_horizontal_scroll(page)
        # 6 s: six polls of /devices (50 summaries, values moving) and one of the sparklines
        frames = page.evaluate(_FRAMES_JS, 6000)
        page.set_viewport_size({"width": 390, "height": 844})
        expect(page.locator(".tile").first).to_have_attribute("data-id", "fake-17")
        _no_horizontal_scroll(page)
        srv.stop()
        expect(page.locator("#fleet-summary")).to_have_text(
            "gateway unreachable", timeout=TIMEOUT_MS
        )
        _no_horizontal_scroll(page)
    deltas = sorted(frames["deltas"][1:])
    p95 = deltas[int(0.95 * (len(deltas) - 1))]
    renders = frames["renders"]
    print(  # the figures, with -s
        f"frames {len(deltas)} in 6 s: median {statistics.median(deltas):.1f} ms, "
        f"p95 {p95:.1f} ms, max {deltas[-1]:.1f} ms; long tasks {frames['longTasks']}; "
        f"renders (tiles, sparklines) {[round(r, 1) for r in renders]} ms"
    )
    assert len(renders) >= 5  # the polls went on while measuring (tiles and sparklines)
    assert max(renders) <= RENDER_MAX_MS, renders
    assert len(deltas) > 100  # frames kept coming (about 360 at 60 Hz)
    assert p95 <= FRAME_P95_MS, deltas[-20:]
    assert max(frames["longTasks"], default=0.0) <= TASK_MAX_MS, frames["longTasks"]
