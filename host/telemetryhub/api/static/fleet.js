// TelemetryHub dashboard, fleet view: one tile per board from GET /devices, trouble first,
// filtered by state; sparklines from /samples/recent. Tiles are kept and updated in place
// (keyed by device id), so a poll of 50 boards touches only the text that changed.
"use strict";

window.TelemetryHubFleet = (function () {
  const SVG = "http://www.w3.org/2000/svg";
  const SPARK_W = 100;
  const SPARK_H = 24;
  const SILENT_MIN_S = 3; // a measuring board silent this long (or 5 periods) is in trouble
  // Lower is more trouble: tiles sort by this, then by device id.
  const RANK = { SafeState: 0, offline: 1, silent: 2, Idle: 3, Measuring: 4 };
  const tiles = new Map(); // device id -> tile {el, parts, shown: {...}}
  let filter = "all";
  let order = []; // device ids as the tiles are laid out now
  let clock = null; // {ts: the gateway's clock at the last poll, at: performance.now() then}
  let boards = []; // the last listing's summaries

  // The board's state, or "offline" when its link is down (as GET /devices?state= says).
  function statusOf(d) { return d.connected ? d.state : "offline"; }

  function gatewayNow() {
    if (!clock) return Date.now() / 1000;
    return clock.ts + (performance.now() - clock.at) / 1000;
  }

  function ageS(d) {
    return typeof d.last_seen === "number" ? Math.max(0, gatewayNow() - d.last_seen) : null;
  }

  function isSilent(d) {
    if (statusOf(d) !== "Measuring") return false;
    const limit = Math.max(SILENT_MIN_S, 5 * (d.period_ms || 0) / 1000);
    const age = ageS(d);
    return age === null || age > limit;
  }

  function rank(d) { return isSilent(d) ? RANK.silent : RANK[statusOf(d)] ?? RANK.Idle; }

  function byTrouble(a, b) {
    return rank(a) - rank(b) || (a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0);
  }

  function span(cls, parent) {
    const el = document.createElement("span");
    el.className = cls;
    parent.append(el);
    return el;
  }

  function makeTile(id) {
    const el = document.createElement("a");
    el.className = "tile";
    el.href = "#/device/" + encodeURIComponent(id);
    el.dataset.id = id;
    const head = document.createElement("div");
    head.className = "tile-head";
    span("tile-id", head).textContent = id;
    const badge = span("badge", head);
    const value = document.createElement("div");
    value.className = "tile-value";
    const number = span("v", value);
    value.append(" ");
    const unit = span("u", value);
    const spark = document.createElementNS(SVG, "svg");
    spark.setAttribute("class", "spark");
    spark.setAttribute("viewBox", `0 0 ${SPARK_W} ${SPARK_H}`);
    spark.setAttribute("preserveAspectRatio", "none");
    spark.setAttribute("aria-hidden", "true");
    const line = document.createElementNS(SVG, "polyline");
    spark.append(line);
    const foot = document.createElement("div");
    foot.className = "tile-foot";
    const seen = span("seen", foot);
    const link = span("linkh", foot);
    const error = document.createElement("div");
    error.className = "tile-err";
    error.hidden = true;
    el.append(head, value, spark, foot, error);
    return { el, parts: { badge, number, unit, line, seen, link, error }, shown: {} };
  }

  // Set what differs from what the tile shows, and nothing else.
  function put(tile, key, text, apply) {
    if (tile.shown[key] === text) return;
    tile.shown[key] = text;
    apply(text);
  }

  function linkHealth(d) {
    if (!d.connected) return "offline";
    const parts = ["link up"];
    if (d.reconnects) parts.push(d.reconnects + " reconnects");
    if (d.samples_lost) parts.push(d.samples_lost + " lost");
    return parts.join(" · ");
  }

  function updateTile(tile, d) {
    const status = statusOf(d);
    const silent = isSilent(d);
    const p = tile.parts;
    put(tile, "class", "tile st-" + status + (silent ? " silent" : ""), (c) => { tile.el.className = c; });
    put(tile, "badge", status, (t) => { p.badge.textContent = t; p.badge.className = "badge badge-" + t; });
    const sample = d.latest_sample;
    put(tile, "value", sample ? sample.value.toFixed(2) : "—", (t) => { p.number.textContent = t; });
    put(tile, "unit", sample ? sample.unit : d.unit || "", (t) => { p.unit.textContent = t; });
    put(tile, "link", linkHealth(d), (t) => { p.link.textContent = t; });
    const error = typeof d.last_error === "string" ? d.last_error : "";
    put(tile, "error", error, (t) => { p.error.hidden = !t; p.error.textContent = t; });
    updateSeen(tile, d);
  }

  function updateSeen(tile, d) {
    const age = ageS(d);
    const text = age === null ? "never seen" : "seen " + (age < 10 ? age.toFixed(1) : Math.round(age)) + " s ago";
    put(tile, "seen", text, (t) => { tile.parts.seen.textContent = t; });
  }

  function counts(list) {
    const n = { all: list.length, SafeState: 0, offline: 0, Measuring: 0, Idle: 0, silent: 0 };
    for (const d of list) {
      n[statusOf(d)] = (n[statusOf(d)] || 0) + 1;
      if (isSilent(d)) n.silent += 1;
    }
    return n;
  }

  function renderFilters(n) {
    for (const button of document.querySelectorAll("#filters button")) {
      const key = button.dataset.filter;
      const text = String(n[key] || 0);
      const label = button.querySelector(".n");
      if (label.textContent !== text) label.textContent = text;
      button.setAttribute("aria-pressed", String(key === filter));
    }
  }

  // Lay the tiles out in `ids` order, moving only when the order changed.
  function layout(container, ids) {
    if (ids.length === order.length && ids.every((id, i) => id === order[i])) return;
    const fragment = document.createDocumentFragment();
    for (const id of ids) fragment.append(tiles.get(id).el);
    container.replaceChildren(fragment);
    order = ids;
  }

  // A new /devices answer: {ts, devices: [...]}. Returns the counts by status.
  function render(listing) {
    clock = { ts: typeof listing.ts === "number" ? listing.ts : Date.now() / 1000, at: performance.now() };
    boards = listing.devices.slice().sort(byTrouble);
    return show();
  }

  function show() {
    for (const d of boards) {
      let tile = tiles.get(d.device_id);
      if (!tile) {
        tile = makeTile(d.device_id);
        tiles.set(d.device_id, tile);
      }
      updateTile(tile, d);
    }
    const shown = boards.filter((d) => filter === "all" || statusOf(d) === filter);
    layout(document.getElementById("tiles"), shown.map((d) => d.device_id));
    document.getElementById("no-tiles").hidden = shown.length > 0 || boards.length === 0;
    const n = counts(boards);
    renderFilters(n);
    return n;
  }

  // The ages move between polls.
  function tick() {
    for (const d of boards) {
      const tile = tiles.get(d.device_id);
      if (tile) updateSeen(tile, d);
    }
  }

  function points(values) {
    if (values.length < 2) return "";
    let min = Infinity;
    let max = -Infinity;
    for (const v of values) { if (v < min) min = v; if (v > max) max = v; }
    const span = max - min || 1;
    const step = SPARK_W / (values.length - 1);
    return values.map((v, i) => (i * step).toFixed(1) + "," + (SPARK_H - 1 - (v - min) / span * (SPARK_H - 2)).toFixed(1)).join(" ");
  }

  // Recent samples of several boards (oldest first): each tile's sparkline.
  function renderSparks(samples) {
    const series = new Map();
    for (const s of samples) {
      if (!series.has(s.device_id)) series.set(s.device_id, []);
      series.get(s.device_id).push(s.value);
    }
    for (const [id, tile] of tiles) {
      put(tile, "spark", points(series.get(id) || []), (t) => { tile.parts.line.setAttribute("points", t); });
    }
  }

  // The boards whose sparklines are worth fetching: the first `most` shown, trouble first.
  function sparkIds(most) { return order.slice(0, most); }

  function setFilter(value) {
    filter = value;
    show();
  }

  function init() {
    for (const button of document.querySelectorAll("#filters button")) {
      button.addEventListener("click", () => setFilter(button.dataset.filter));
    }
  }

  return { init, render, renderSparks, sparkIds, tick, statusOf };
})();
