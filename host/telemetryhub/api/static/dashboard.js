// TelemetryHub dashboard: polls the gateway's own API and drives it with the operator token.
"use strict";

(function () {
  const TOKEN_KEY = "telemetryhub.token";
  const STATUS_EVERY_MS = 1000;
  const CHART_EVERY_MS = 2000;
  const CHART_SECONDS = 300;
  const REQUEST_TIMEOUT_MS = 5000; // a gateway that hangs counts as unreachable
  const TICK_MS = 250;
  const $ = (id) => document.getElementById(id);
  let plot = null;
  let sampleAge = null; // {ageS, at}: the latest sample's age when last polled, and when
  let lastOkAt = null; // performance.now() of the last successful status poll
  let failingSince = null; // Date of the first failed poll after a success

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

  function renderStatus(s) {
    document.body.classList.remove("stale");
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
    lastOkAt = performance.now();
    failingSince = null;
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
    if (failingSince === null) failingSince = new Date();
    tick();
  }

  function tick() {
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
  }

  async function pollStatus() {
    try {
      renderStatus(await api("GET", "/status"));
      showError("");
    } catch (e) {
      const denied = e.status === 401 || e.status === 403;
      renderStale(denied ? "no access" : "gateway unreachable");
      showError(denied
        ? "Reading needs a token here: enter a viewer or operator token below."
        : "Gateway unreachable or failing since " + failingSince.toLocaleTimeString() + ": " + e.message);
    } finally {
      setTimeout(pollStatus, STATUS_EVERY_MS);
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
    try {
      const data = await api("GET", "/samples/recent?seconds=" + CHART_SECONDS + "&points=600");
      const p = ensurePlot();
      if (p) {
        p.setData([data.samples.map((s) => s.ts), data.samples.map((s) => s.value)]);
      }
    } catch (e) {
      // The status poll reports failures; the chart just keeps its last data.
    } finally {
      setTimeout(pollChart, CHART_EVERY_MS);
    }
  }

  function say(text, ok) {
    const m = $("message");
    m.textContent = text;
    m.className = ok ? "ok" : "err";
  }

  async function command(label, path, body) {
    if (!token()) { say("Enter the operator token first.", false); $("token").focus(); return; }
    try {
      await api("POST", path, body);
      say(label + ": done", true);
    } catch (e) {
      say(label + " failed: " + e.message, false);
    }
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

  function wire() {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = $("token").value.trim();
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      showTokenState();
    });
    $("forget-token").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showTokenState(); });
    $("btn-start").addEventListener("click", () => command("Start", "/start"));
    $("btn-stop").addEventListener("click", () => command("Stop", "/stop"));
    $("btn-reset").addEventListener("click", () => command("Reset", "/reset"));
    $("fault-mode").addEventListener("change", faultInputs);
    $("fault-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      command("Fault", "/fault", faultBody());
    });
    $("period-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      command("Period", "/period", { period_ms: Math.trunc(Number($("period").value)) });
    });
    faultInputs();
    showTokenState();
  }

  document.addEventListener("DOMContentLoaded", () => {
    wire();
    pollStatus();
    pollChart();
    setInterval(tick, TICK_MS);
  });
})();
