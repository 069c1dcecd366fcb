// TelemetryHub dashboard: polls the gateway's own API and drives it with the operator token.
"use strict";

(function () {
  const TOKEN_KEY = "telemetryhub.token";
  const STATUS_EVERY_MS = 1000;
  const CHART_EVERY_MS = 2000;
  const CHART_SECONDS = 300;
  const $ = (id) => document.getElementById(id);
  let plot = null;

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (token()) headers["Authorization"] = "Bearer " + token();
    const init = { method: method, headers: headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
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
  }

  function fmt(n) {
    if (typeof n !== "number") return n === null || n === undefined ? "—" : String(n);
    return Number.isInteger(n) ? n.toLocaleString() : n.toFixed(3);
  }

  function fillTable(table, obj) {
    table.replaceChildren();
    if (!obj) return;
    for (const [key, value] of Object.entries(obj)) {
      if (value !== null && typeof value === "object") continue;
      const row = table.insertRow();
      row.insertCell().textContent = key.replace(/_/g, " ");
      row.insertCell().textContent = fmt(value);
    }
  }

  function showError(text) {
    const banner = $("banner-error");
    banner.hidden = !text;
    banner.textContent = text || "";
  }

  function renderStatus(s) {
    const state = $("state");
    state.textContent = s.state;
    state.className = "badge badge-" + s.state;
    document.body.dataset.state = s.state;
    $("banner-safestate").hidden = s.state !== "SafeState";
    const sample = s.latest_sample;
    $("value").textContent = sample ? sample.value.toFixed(2) : "—";
    $("unit").textContent = sample ? sample.unit : "";
    $("seq").textContent = sample ? sample.seq : "—";
    $("age").textContent = sample ? Math.max(0, Date.now() / 1000 - sample.ts).toFixed(1) + " s" : "—";
    const link = s.link || {};
    $("link").textContent = "link: " + (link.connected ? "connected" : "DISCONNECTED");
    fillTable($("metrics"), s.metrics);
    fillTable($("linkinfo"), link);
    fillTable($("device"), s.device);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  }

  async function pollStatus() {
    try {
      renderStatus(await api("GET", "/status"));
      showError("");
    } catch (e) {
      showError(e.status === 401 || e.status === 403
        ? "Reading needs a token here: enter a viewer or operator token below."
        : "Gateway unreachable or failing: " + e.message);
    } finally {
      setTimeout(pollStatus, STATUS_EVERY_MS);
    }
  }

  function ensurePlot() {
    if (plot || typeof uPlot === "undefined") return plot;
    const el = $("chart");
    plot = new uPlot({
      width: Math.max(300, el.clientWidth),
      height: 260,
      series: [{}, { label: "value", stroke: "#0969da", width: 1.5 }],
      axes: [{}, {}],
    }, [[], []], el);
    window.addEventListener("resize", () => plot.setSize({ width: Math.max(300, el.clientWidth), height: 260 }));
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
    $("fault-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      command("Fault", "/fault", {
        mode: $("fault-mode").value,
        probability: Number($("fault-probability").value),
        count: Math.trunc(Number($("fault-count").value)),
      });
    });
    $("period-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      command("Period", "/period", { period_ms: Math.trunc(Number($("period").value)) });
    });
    showTokenState();
  }

  document.addEventListener("DOMContentLoaded", () => {
    wire();
    pollStatus();
    pollChart();
  });
})();
