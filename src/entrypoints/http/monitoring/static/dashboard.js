/* Phoenix Flywheel dashboard: plain JavaScript, no build step, Chart.js served by the app.
 *
 * The API token (when the server has one) is asked once, kept in this tab's sessionStorage
 * and sent as "Authorization: Bearer" with every request of the page. */
(function () {
  "use strict";

  const REFRESH_MS = 5000;
  const TOKEN_KEY = "flywheel-token";
  const COLORS = {
    pending: "#3b82f6", processing: "#f59e0b", failed: "#ef4444", dead: "#6b7280",
    processed: "#2e9e5b", median: "#3b82f6", p95: "#e4572e",
    detected: "#94a3b8", exposed: "#3b82f6", converted: "#2e9e5b", organic: "#f59e0b",
  };
  const PALETTE = ["#3b82f6", "#e4572e", "#2e9e5b", "#f59e0b", "#8b5cf6", "#14b8a6", "#ec4899", "#64748b"];

  const state = { charts: {}, refreshes: 0, timer: null, experiments: false, nudgeChoice: false, dead: 0 };
  window.flywheelDashboard = state;

  const $ = (id) => document.getElementById(id);
  const tokenRequired = document.body.dataset.tokenRequired === "true";

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  class Unauthorized extends Error {}

  async function api(path, options) {
    const headers = Object.assign({ Accept: "application/json" }, (options || {}).headers);
    const current = token();
    if (current) headers.Authorization = "Bearer " + current;
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (response.status === 401) throw new Unauthorized("the token was refused");
    return response;
  }

  async function json(path, options) {
    const response = await api(path, options);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || path + ": HTTP " + response.status);
    return body;
  }

  /* ---------- charts ---------- */

  function chart(id, type, options) {
    const base = {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    };
    state.charts[id] = new window.Chart($(id), {
      type: type,
      data: { labels: [], datasets: [] },
      options: Object.assign(base, options || {}),
    });
    return state.charts[id];
  }

  function setData(id, labels, datasets) {
    const target = state.charts[id];
    target.data.labels = labels;
    target.data.datasets = datasets;
    target.update("none");
  }

  function series(label, data, color, extra) {
    return Object.assign(
      { label: label, data: data, borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2 },
      extra || {},
    );
  }

  function createCharts() {
    chart("chart-queue", "line", { elements: { line: { tension: 0.2 } } });
    chart("chart-throughput", "bar");
    chart("chart-duration", "line", { scales: { y: { beginAtZero: true } } });
    chart("chart-apps", "bar", { indexAxis: "y", plugins: { legend: { display: false } } });
    chart("chart-types", "bar", { indexAxis: "y", plugins: { legend: { display: false } } });
    chart("chart-users", "bar", { plugins: { legend: { display: false } } });
    chart("chart-nudges", "bar");
    chart("chart-experiments", "bar", {
      scales: { y: { beginAtZero: true, max: 1, ticks: { callback: (v) => Math.round(v * 100) + "%" } } },
    });
  }

  const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const minute = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "none";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function render(data) {
    const q = data.queue;
    $("q-pending").textContent = q.pending;
    $("q-processing").textContent = q.processing;
    $("q-failed").textContent = q.failed;
    $("q-dead").textContent = q.dead;
    $("q-age").textContent = age(q.oldest_pending_age_seconds);
    state.dead = q.dead;
    $("requeue").disabled = q.dead === 0;
    $("requeue").textContent = "Requeue dead events (" + q.dead + ")";

    const history = data.queue_history;
    // Points while the history is short: a line needs two samples to show.
    const points = { pointRadius: history.length < 60 ? 3 : 0 };
    setData("chart-queue", history.map((s) => clock(s.at)),
      ["pending", "processing", "failed", "dead"].map((k) => series(k, history.map((s) => s[k]), COLORS[k], points)));

    const minutes = data.throughput;
    setData("chart-throughput", minutes.map((m) => minute(m.minute)),
      [series("events processed", minutes.map((m) => m.processed), COLORS.processed)]);
    setData("chart-duration", minutes.map((m) => minute(m.minute)), [
      series("median", minutes.map((m) => m.median_ms), COLORS.median, { pointRadius: 3 }),
      series("p95", minutes.map((m) => m.p95_ms), COLORS.p95, { pointRadius: 3 }),
    ]);

    const eco = data.ecosystem;
    $("eco-total").textContent = eco.total_events + " events over " + eco.period_days + " days";
    const apps = Object.keys(eco.events_by_app);
    setData("chart-apps", apps, [series("events", apps.map((a) => eco.events_by_app[a]), PALETTE.slice(0, apps.length))]);
    const types = Object.keys(eco.events_by_type);
    setData("chart-types", types, [series("events", types.map((t) => eco.events_by_type[t]), PALETTE.slice(0, types.length))]);
    const userApps = Object.keys(eco.users_by_app);
    setData("chart-users", [...userApps, "across apps", "all users"], [series("users",
      [...userApps.map((a) => eco.users_by_app[a]), eco.cross_app_users, eco.unique_users],
      [...PALETTE.slice(0, userApps.length), "#8b5cf6", "#1d2330"])]);

    const nudges = data.nudges;
    setData("chart-nudges", nudges.map((n) => n.nudge_type),
      ["detected", "exposed", "converted", "organic"].map((k) => series(k, nudges.map((n) => n[k]), COLORS[k])));

    // Insights: the panel and its chart appear once an analyser has raised one.
    const kinds = Object.keys(data.insights || {});
    if (kinds.length && !state.charts["chart-insights"]) {
      $("insights").hidden = false;
      chart("chart-insights", "bar", { indexAxis: "y", plugins: { legend: { display: false } } });
    }
    if (state.charts["chart-insights"]) {
      setData("chart-insights", kinds, [series("insights", kinds.map((k) => data.insights[k]), PALETTE.slice(0, kinds.length))]);
    }

    renderErrors(data.errors);
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
  }

  function renderErrors(errors) {
    const body = $("errors").querySelector("tbody");
    body.replaceChildren();
    for (const e of errors) {
      const row = document.createElement("tr");
      cell(row, e.event_id);
      cell(row, e.event_type);
      cell(row, e.app_source);
      cell(row, e.status);
      cell(row, e.attempts);
      cell(row, e.error, "error-text");
      cell(row, new Date(e.received_at).toLocaleString());
      body.appendChild(row);
    }
    $("no-errors").hidden = errors.length > 0;
  }

  /* ---------- experiments: shown only where the server has them ---------- */

  async function detectExperiments() {
    // Asking the API description first avoids a 404 on servers without experiments.
    try {
      const schema = await json("/schema/openapi.json");
      state.experiments = Boolean(schema.paths && schema.paths["/api/experiments"]);
      state.nudgeChoice = Boolean(schema.paths && schema.paths["/api/experiments/nudge-choice"]);
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
      state.experiments = false;
    }
  }

  async function refreshExperiments() {
    if (!state.experiments) { $("experiments").hidden = true; return; }
    const response = await api("/api/experiments");
    if (response.status === 404) { state.experiments = false; $("experiments").hidden = true; return; }
    if (!response.ok) return;
    const body = await response.json();
    const experiments = Array.isArray(body) ? body : (body.experiments || []);
    const labels = [], rates = [], intervals = [];
    const table = $("experiments-table").querySelector("tbody");
    table.replaceChildren();
    for (const experiment of experiments) {
      for (const v of experiment.variants || []) {
        labels.push(experiment.nudge_type + " / " + v.variant);
        rates.push(v.conversion_rate);
        intervals.push([v.ci_low, v.ci_high]);
        const row = document.createElement("tr");
        cell(row, experiment.nudge_type);
        cell(row, experiment.mode);
        cell(row, v.variant);
        cell(row, v.assigned);
        cell(row, v.exposed);
        cell(row, v.converted);
        cell(row, v.conversion_rate === null || v.conversion_rate === undefined ? "–" : (v.conversion_rate * 100).toFixed(1) + " %");
        cell(row, v.ci_low === null || v.ci_low === undefined ? "–"
          : (v.ci_low * 100).toFixed(1) + " – " + (v.ci_high * 100).toFixed(1) + " %");
        table.appendChild(row);
      }
    }
    setData("chart-experiments", labels, [
      series("conversion rate", rates, COLORS.converted),
      series("interval", intervals, "rgba(59,130,246,0.25)", { borderColor: COLORS.exposed, borderWidth: 1 }),
    ]);
    $("experiments").hidden = experiments.length === 0;
    await refreshNudgeChoice();
  }

  const percent = (value) => value === null || value === undefined ? "–" : (value * 100).toFixed(1) + " %";

  /* Which nudge type wins the users' slots under the daily cap, and how it converts. */
  async function refreshNudgeChoice() {
    if (!state.nudgeChoice) { $("nudge-choice").hidden = true; return; }
    const response = await api("/api/experiments/nudge-choice");
    if (!response.ok) { $("nudge-choice").hidden = true; return; }
    const types = await response.json();
    const table = $("nudge-choice-table").querySelector("tbody");
    table.replaceChildren();
    for (const t of types) {
      const row = document.createElement("tr");
      cell(row, t.nudge_type);
      cell(row, t.detected);
      cell(row, t.won);
      cell(row, percent(t.share));
      cell(row, t.converted);
      cell(row, percent(t.conversion_rate));
      cell(row, (t.ci_low * 100).toFixed(1) + " – " + (t.ci_high * 100).toFixed(1) + " %");
      cell(row, percent(t.probability_best));
      table.appendChild(row);
    }
    $("nudge-choice").hidden = types.length === 0;
  }

  /* ---------- refresh loop ---------- */

  async function refreshHealth() {
    try {
      const response = await fetch("/health", { method: "GET" });
      const body = await response.json();
      const pill = $("health");
      pill.textContent = "store " + body.database + " · worker " + body.worker;
      if (body.database !== "ok") pill.textContent = "store unreachable · worker " + body.worker;
      pill.className = "pill " + (response.ok && body.worker === "running" ? "ok" : "bad");
    } catch (error) {
      $("health").textContent = "server unreachable";
      $("health").className = "pill bad";
    }
  }

  async function refresh() {
    try {
      const data = await json("/api/dashboard?days=" + encodeURIComponent($("days").value));
      render(data);
      await refreshExperiments();
      $("load-error").hidden = true;
      $("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
      state.refreshes += 1;
    } catch (error) {
      if (error instanceof Unauthorized) { signOut("The token was refused."); return; }
      $("load-error").textContent = "Could not refresh: " + error.message;
      $("load-error").hidden = false;
    }
    await refreshHealth();
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(async () => { await refresh(); if (state.timer !== null) schedule(); }, REFRESH_MS);
  }

  async function start() {
    $("login").hidden = true;
    $("main").hidden = false;
    $("logout").hidden = !tokenRequired;
    try {
      await detectExperiments();
    } catch (error) {
      signOut("The token was refused.");
      return;
    }
    await refresh();
    if (!$("main").hidden) schedule();
  }

  function signOut(message) {
    clearTimeout(state.timer);
    state.timer = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("main").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("login-error").hidden = !message;
    $("token").focus();
  }

  async function requeueDead() {
    const count = state.dead;
    if (!window.confirm("Requeue " + count + " dead event(s)? They will be processed again.")) return;
    $("requeue").disabled = true;
    try {
      const body = await json("/api/events/force-reprocess", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ status: "dead" }),
      });
      $("requeue-result").textContent = "Requeued " + body.requeued + " event(s).";
    } catch (error) {
      if (error instanceof Unauthorized) { signOut("The token was refused."); return; }
      $("requeue-result").textContent = "Requeue failed: " + error.message;
    }
    await refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    createCharts();
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $("token").value);
      $("token").value = "";
      start();
    });
    $("logout").addEventListener("click", () => signOut(""));
    $("days").addEventListener("change", refresh);
    $("requeue").addEventListener("click", requeueDead);
    if (tokenRequired && !token()) signOut("");
    else start();
  });
})();
