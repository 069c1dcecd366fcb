// TelemetryHub dashboard: the fleet view first (fleet.js), a board's own view at
// #/device/<id>; polls the gateway's own API and drives it with the operator token.
"use strict";

(function () {
  const TOKEN_KEY = "telemetryhub.token";
  const STATUS_EVERY_MS = 1000;
  const CHART_EVERY_MS = 2000;
  const CHART_SECONDS = 300;
  const SPARK_EVERY_MS = 5000;
  const SPARK_SECONDS = 120;
  const SPARK_POINTS = 30;
  const SPARK_MOST = 100; // the API takes at most 100 device= per request
  const REQUEST_TIMEOUT_MS = 5000; // a gateway that hangs counts as unreachable
  const TICK_MS = 250;
  const fleet = window.TelemetryHubFleet;
  const $ = (id) => document.getElementById(id);
  let current = null; // the board of the device view; null in the fleet view
  let plot = null;
  let sampleAge = null; // {ageS, at}: the latest sample's age when last polled, and when
  let lastOkAt = null; // performance.now() of the last successful status poll
  let failingSince = null; // Date of the first failed poll after a success
  let statusTimer = null;
  let pollSeq = 0; // only the newest status poll renders and schedules the next
  let ticks = 0;

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (token()) headers["Authorization"] = "Bearer " + token();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    const init = { method: method, headers: headers, cache: "no-store", signal: abort.signal };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      const response = await fetch(path, init);
      let data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      if (!response.ok) {
        const message = data && data.error ? data.error : response.statusText;
        const err = new Error(response.status + ": " + message);
        err.status = response.status;
        throw err;
      }
      return data;
    } catch (e) {
      if (e.name === "AbortError") throw new Error("no answer within " + REQUEST_TIMEOUT_MS / 1000 + " s");
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  function boardPath(id) { return "/devices/" + encodeURIComponent(id); }

  // The form logs and /metrics use for a boot id: 8 lower-case hex digits.
  function bootHex(n) { return (n >>> 0).toString(16).padStart(8, "0"); }

  function fmt(key, n) {
    if (key === "boot_id" && typeof n === "number") return bootHex(n);
    if (typeof n !== "number") return n === null || n === undefined ? "—" : String(n);
    return Number.isInteger(n) ? n.toLocaleString() : n.toFixed(3);
  }

  function fillTable(table, obj, skip) {
    table.replaceChildren();
    if (!obj) return;
    for (const [key, value] of Object.entries(obj)) {
      if (value !== null && typeof value === "object") continue;
      if (skip && skip.includes(key)) continue;
      const row = table.insertRow();
      row.insertCell().textContent = key.replace(/_/g, " ");
      row.insertCell().textContent = fmt(key, value);
    }
  }

  function showError(text) {
    const banner = $("banner-error");
    banner.hidden = !text;
    banner.textContent = text || "";
  }

  // "random, probability 0.25", "intermittent, count 3", "none"; null when not reported.
  function describeFault(fault) {
    if (!fault || typeof fault.mode !== "string") return null;
    if (fault.mode === "random") return "random, probability " + fault.probability;
    if (fault.mode === "intermittent" || fault.mode === "deterministic") {
      return fault.mode + ", count " + fault.count;
    }
    return fault.mode;
  }

  function renderFault(device) {
    const fault = device ? device.fault : null;
    const text = describeFault(fault);
    const armed = text !== null && fault.mode !== "none";
    $("fault-armed").textContent = text === null ? "—" : text;
    $("fault-chip").hidden = !armed;
    $("fault-chip").textContent = armed ? "fault armed: " + text : "";
    $("banner-fault").hidden = !armed;
    $("banner-fault").textContent = armed
      ? "The armed fault (" + text + ") stays armed after Reset: inject “none” to clear it."
      : "";
  }

  function renderLink(link) {
    $("link").textContent = "link: " + (link.connected ? "connected" : "DISCONNECTED");
    const error = typeof link.last_error === "string" && link.last_error ? link.last_error : "";
    $("link-error").hidden = !error;
    $("link-error").textContent = error ? "last link error: " + error : "";
  }

  function renderSample(s) {
    const sample = s.latest_sample;
    $("value").textContent = sample ? sample.value.toFixed(2) : "—";
    $("unit").textContent = sample ? sample.unit : "";
    $("seq").textContent = sample ? sample.seq : "—";
    // The gateway's own clock (`ts` of the snapshot) when it sends one: no browser clock skew.
    const now = typeof s.ts === "number" ? s.ts : Date.now() / 1000;
    sampleAge = sample ? { ageS: Math.max(0, now - sample.ts), at: performance.now() } : null;
  }

  // One board's document (GET /devices/<id>).
  function renderDevice(s) {
    const state = $("state");
    state.textContent = s.state;
    state.className = "badge badge-" + s.state;
    document.body.dataset.state = s.state;
    $("banner-safestate").hidden = s.state !== "SafeState";
    renderSample(s);
    const link = s.link || {};
    renderLink(link);
    renderFault(s.device);
    $("boot").textContent = s.device && typeof s.device.boot_id === "number" ? bootHex(s.device.boot_id) : "—";
    fillTable($("metrics"), s.metrics);
    fillTable($("linkinfo"), link, ["last_error"]);
    fillTable($("device"), s.device);
  }

  function renderFleet(listing) {
    const started = performance.now();
    const n = fleet.render(listing);
    const parts = [n.all + (n.all === 1 ? " board" : " boards")];
    for (const [key, label] of [["SafeState", "SafeState"], ["offline", "offline"], ["silent", "silent"]]) {
      if (n[key]) parts.push(n[key] + " " + label);
    }
    const summary = $("fleet-summary");
    summary.textContent = parts.join(" · ");
    summary.className = "summary" + (n.SafeState ? " bad" : n.offline || n.silent ? " warn" : "");
    // What one poll of the fleet costs this page (the browser test bounds it); only the last
    // is kept, so a dashboard left open for days does not pile them up.
    performance.clearMeasures("fleet-render");
    performance.measure("fleet-render", { start: started });
  }

  function markFresh() {
    document.body.classList.remove("stale");
    lastOkAt = performance.now();
    failingSince = null;
    showError("");
    tick();
  }

  // Everything shown is now of unknown age: grey it out, say why, and keep counting the age.
  function renderStale(reason) {
    document.body.classList.add("stale");
    document.body.dataset.state = "unknown";
    const state = $("state");
    state.textContent = reason;
    state.className = "badge badge-stale";
    $("link").textContent = "link: unknown";
    $("fleet-summary").textContent = reason;
    $("fleet-summary").className = "summary";
    if (failingSince === null) failingSince = new Date();
    tick();
  }

  function tick() {
    ticks += 1;
    $("age").textContent = sampleAge
      ? (sampleAge.ageS + (performance.now() - sampleAge.at) / 1000).toFixed(1) + " s"
      : "—";
    if (lastOkAt === null) {
      $("updated").textContent = "";
    } else if (document.body.classList.contains("stale")) {
      $("updated").textContent = "no answer for " + ((performance.now() - lastOkAt) / 1000).toFixed(0) + " s";
    } else {
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    }
    if (current === null && ticks % 4 === 0) fleet.tick();
  }

  function pollFailed(view, e) {
    const denied = e.status === 401 || e.status === 403;
    if (view !== null && e.status === 404) {
      renderStale("unknown board");
      showError("No board " + JSON.stringify(view) + " is known to this gateway.");
      return;
    }
    renderStale(denied ? "no access" : "gateway unreachable");
    showError(denied
      ? "Reading needs a token here: enter a viewer or operator token below."
      : "Gateway unreachable or failing since " + failingSince.toLocaleTimeString() + ": " + e.message);
  }

  // The current view's status: /devices for the fleet, /devices/<id> for one board. A poll
  // overtaken by a newer one (a route change, a command) neither renders nor reschedules.
  async function pollStatus() {
    clearTimeout(statusTimer);
    const seq = ++pollSeq;
    const view = current;
    try {
      const data = await api("GET", view === null ? "/devices" : boardPath(view));
      if (seq !== pollSeq) return;
      if (view === null) renderFleet(data); else renderDevice(data);
      markFresh();
    } catch (e) {
      if (seq === pollSeq) pollFailed(view, e);
    } finally {
      if (seq === pollSeq) statusTimer = setTimeout(pollStatus, STATUS_EVERY_MS);
    }
  }

  async function pollSparks() {
    const ids = current === null ? fleet.sparkIds(SPARK_MOST) : [];
    try {
      if (ids.length) {
        const query = ids.map((id) => "&device=" + encodeURIComponent(id)).join("");
        const data = await api("GET", "/samples/recent?seconds=" + SPARK_SECONDS + "&points=" + SPARK_POINTS + query);
        const started = performance.now();
        fleet.renderSparks(data.samples);
        performance.clearMeasures("fleet-sparks");
        performance.measure("fleet-sparks", { start: started });
      }
    } catch (e) {
      // The status poll reports failures; the sparklines keep their last data.
    } finally {
      // No tile yet (the first listing is on its way): look again soon.
      setTimeout(pollSparks, ids.length ? SPARK_EVERY_MS : STATUS_EVERY_MS);
    }
  }

  function ensurePlot() {
    if (plot || typeof uPlot === "undefined") return plot;
    const el = $("chart");
    const width = () => Math.max(200, el.clientWidth);
    plot = new uPlot({
      width: width(),
      height: 260,
      series: [{}, { label: "value", stroke: "#0969da", width: 1.5 }],
      axes: [{}, {}],
    }, [[], []], el);
    window.addEventListener("resize", () => plot.setSize({ width: width(), height: 260 }));
    return plot;
  }

  async function pollChart() {
    const view = current;
    try {
      if (view !== null) {
        const path = "/samples/recent?seconds=" + CHART_SECONDS + "&points=600&device=" + encodeURIComponent(view);
        const data = await api("GET", path);
        const p = view === current ? ensurePlot() : null;
        if (p) p.setData([data.samples.map((s) => s.ts), data.samples.map((s) => s.value)]);
      }
    } catch (e) {
      // The status poll reports failures; the chart just keeps its last data.
    } finally {
      setTimeout(pollChart, view === current ? CHART_EVERY_MS : 0);
    }
  }

  function say(text, ok) {
    const m = $("message");
    m.textContent = text;
    m.className = ok ? "ok" : "err";
  }

  // A command to the board of the device view: `verb` is start, stop, reset, fault or period.
  async function command(label, verb, body) {
    if (!token()) { say("Enter the operator token first.", false); $("token").focus(); return; }
    if (current === null) return;
    try {
      const answer = await api("POST", boardPath(current) + "/" + verb, body);
      const refused = Object.entries(answer.devices || {}).filter(([, outcome]) => outcome !== "ok");
      if (refused.length) say(label + " failed: " + refused.map(([, why]) => why).join("; "), false);
      else say(label + ": done", true);
    } catch (e) {
      say(label + " failed: " + e.message, false);
    }
    pollStatus();
  }

  function showTokenState() {
    $("token-state").textContent = token() ? "token set for this tab" : "no token";
  }

  // Only the input the chosen mode uses is enabled and sent (see POST /fault in the API).
  function faultInputs() {
    const mode = $("fault-mode").value;
    const counted = mode === "intermittent" || mode === "deterministic";
    $("fault-probability").disabled = mode !== "random";
    $("fault-count").disabled = !counted;
    $("fault-count").min = mode === "deterministic" ? "0" : "1";
  }

  function faultBody() {
    const mode = $("fault-mode").value;
    const body = { mode: mode };
    if (mode === "random") body.probability = Number($("fault-probability").value);
    if (mode === "intermittent" || mode === "deterministic") {
      body.count = Math.trunc(Number($("fault-count").value));
    }
    return body;
  }

  // #/device/<id> shows one board; anything else the fleet.
  function route() {
    const match = /^#\/device\/(.+)$/.exec(location.hash);
    const next = match ? decodeURIComponent(match[1]) : null;
    if (next === current && statusTimer !== null) return;
    current = next;
    document.body.dataset.view = current === null ? "fleet" : "device";
    $("fleet-view").hidden = current !== null;
    $("device-view").hidden = current === null;
    $("device-title").textContent = current === null ? "—" : current;
    $("state").textContent = "…";
    $("state").className = "badge badge-unknown";
    $("message").textContent = "";
    sampleAge = null;
    if (plot) plot.setData([[], []]);
    pollStatus();
  }

  function wire() {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = $("token").value.trim();
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      showTokenState();
    });
    $("forget-token").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showTokenState(); });
    $("btn-start").addEventListener("click", () => command("Start", "start"));
    $("btn-stop").addEventListener("click", () => command("Stop", "stop"));
    $("btn-reset").addEventListener("click", () => command("Reset", "reset"));
    $("fault-mode").addEventListener("change", faultInputs);
    $("fault-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      command("Fault", "fault", faultBody());
    });
    $("period-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      command("Period", "period", { period_ms: Math.trunc(Number($("period").value)) });
    });
    window.addEventListener("hashchange", route);
    fleet.init();
    faultInputs();
    showTokenState();
  }

  document.addEventListener("DOMContentLoaded", () => {
    wire();
    route();
    pollChart();
    pollSparks();
    setInterval(tick, TICK_MS);
  });
})();
