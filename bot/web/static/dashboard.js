// The run's dashboard: draws the payload of /api/v1/dashboard with plotly.
// Served by `bot serve` it fetches the payload and redraws every REFRESH_MS;
// in the file `bot report --html` writes, the payload is embedded instead.
// Text from the run (symbols, reasons, event messages) reaches the page only
// through textContent, and plotly only through plain(): never as markup.
"use strict";

// Every 30 s, or every ?refresh=N seconds, from 1 s to a day. setInterval
// takes a delay past 2^31 - 1 ms (or Infinity) as none: ?refresh=3000000
// reloaded the payload back to back.
const REFRESH_MS = Math.min(86400, Math.max(1, Number(new URLSearchParams(location.search).get("refresh")) || 30)) * 1000;
const COLORS = { bot: "#1f77b4", hold: "#7f7f7f", down: "#d62728", up: "#2ca02c", stop: "#ff7f0e" };
const PLOT_CONFIG = { displaylogo: false, responsive: true };

// plotly reads a few HTML tags in its labels; entities keep every string text.
function plain(text) {
  return String(text ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function when(ts) {
  return ts === null || ts === undefined ? null : new Date(ts);
}

function isoMinute(ts) {
  return ts === null || ts === undefined ? "\u2013" : new Date(ts).toISOString().slice(0, 16).replace("T", " ");
}

const FORMATS = {
  money: (v) => v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
  // Four significant digits under one unit: a coin at 0.000005753 read 0.00.
  price: (v) =>
    Math.abs(v) >= 1 || v === 0
      ? FORMATS.money(v)
      : v.toLocaleString("en-US", { minimumSignificantDigits: 4, maximumSignificantDigits: 4 }),
  pct: (v) => (v * 100).toFixed(2) + "%",
  dec2: (v) => v.toFixed(2),
  dec3: (v) => v.toFixed(3),
  int: (v) => String(Math.round(v)),
};

function formatted(value, kind) {
  return value === null || value === undefined ? "\u2013" : FORMATS[kind](value);
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// -- headline figures -------------------------------------------------------

const KPIS = [
  ["final_equity", "equity", "money"],
  ["total_return", "return", "pct"],
  ["buy_and_hold_return", "buy and hold", "pct"],
  ["sharpe", "Sharpe", "dec2"],
  ["psr", "PSR", "dec3"],
  ["max_drawdown", "max drawdown", "pct"],
  ["buy_and_hold_max_drawdown", "buy and hold drawdown", "pct"],
  ["trades", "round trips", "int"],
  ["win_rate", "win rate", "pct"],
  ["exposure", "exposure", "pct"],
  ["fees_paid", "fees", "money"],
  ["model_versions", "model versions", "int"],
];

function drawKpis(summary) {
  const box = document.getElementById("kpis");
  box.replaceChildren();
  for (const [key, label, kind] of KPIS) {
    const card = element("div", null, "kpi");
    const value = element("div", formatted(summary[key], kind), "value");
    value.dataset.field = key;
    value.dataset.value = summary[key] === null || summary[key] === undefined ? "" : String(summary[key]);
    card.append(value, element("div", label, "label"));
    box.append(card);
  }
}

function drawState(data) {
  document.getElementById("title").textContent = data.title;
  document.getElementById("generated").textContent =
    "as of " + data.generated + (data.summary.traded_from ? ", traded from " + data.summary.traded_from : "");
  document.getElementById("verdict").textContent = data.summary.verdict || "";
  const risk = data.status.risk_state || {};
  const badge = document.getElementById("trading");
  badge.textContent = risk.halted ? "HALTED: " + (risk.halt_reason || "") : "trading active";
  badge.className = risk.halted ? "badge halted" : "badge active";
}

// -- tables -----------------------------------------------------------------

function table(id, columns, rows, empty) {
  const holder = document.getElementById(id);
  holder.replaceChildren();
  if (!rows.length) {
    holder.append(element("p", empty, "note"));
    return;
  }
  const grid = element("table");
  const head = grid.createTHead().insertRow();
  for (const [label] of columns) head.append(element("th", label));
  const body = grid.createTBody();
  for (const row of rows) {
    const line = body.insertRow();
    for (const [, cell, className] of columns) {
      const td = element("td", cell(row));
      const extra = typeof className === "function" ? className(row) : className;
      if (extra) td.className = extra;
      line.append(td);
    }
  }
  holder.append(grid);
}

const signClass = (v) => (v > 0 ? "up" : v < 0 ? "down" : "");
// An open trade marked to the newest close shows what closing there would
// make; its realized PnL is only its entry fee.
const marked = (t) => t.open_pnl !== null && t.open_pnl !== undefined;
const tradePnl = (t) => (marked(t) ? t.open_pnl : t.pnl);

function drawTables(data) {
  table("positions", [
    ["symbol", (p) => p.symbol],
    ["quantity", (p) => p.qty.toFixed(6)],
    ["entry", (p) => formatted(p.avg_entry, "price")],
    ["protection", (p) => p.protective_orders.map((o) => o.reason + " " + formatted(o.price, "price")).join(", ") || "none"],
  ], data.status.positions, "No open position.");
  table("trades", [
    ["symbol", (t) => t.symbol],
    ["entry", (t) => isoMinute(t.entry_ts)],
    ["exit", (t) => isoMinute(t.exit_ts)],
    ["entry price", (t) => formatted(t.entry_price, "price")],
    ["exit price", (t) => (marked(t) ? formatted(t.mark_price, "price") + " (last close)" : formatted(t.exit_price, "price"))],
    ["bars", (t) => formatted(t.bars_held, "int")],
    ["PnL", (t) => formatted(tradePnl(t), "money"), (t) => signClass(tradePnl(t))],
    ["return", (t) => formatted(marked(t) ? t.open_return_pct : t.return_pct, "pct"), (t) => signClass(tradePnl(t))],
    ["fees", (t) => formatted(t.fees, "money")],
    ["exit reason", (t) => t.exit_reason || (marked(t) ? "open, at the last close" : "open")],
  ], data.trades, "No trade yet.");
  table("models", [
    ["version", (m) => m.version],
    ["trained", (m) => isoMinute(m.created_ts)],
    ["status", (m) => m.status],
    ["validation AUC", (m) => formatted(m.val_auc, "dec3")],
    ["live n", (m) => formatted(m.live_n, "int")],
    ["live accuracy", (m) => formatted(m.live_accuracy, "dec3")],
    ["live AUC", (m) => formatted(m.live_auc, "dec3")],
    ["gate", (m) => m.gate || ""],
  ], data.models.slice().reverse(), "No model trained yet.");
  table("events", [
    ["time", (e) => isoMinute(e.ts)],
    ["level", (e) => e.level, (e) => (e.level === "error" || e.level === "warning" ? "down" : "")],
    ["kind", (e) => e.kind],
    ["symbol", (e) => e.symbol || ""],
    ["message", (e) => e.message],
  ], data.events, "No event yet.");
  table("quality", [
    ["data quality", (q) => q.label],
    ["count", (q) => q.count],
  ], data.data_quality, "");
}

// -- charts -----------------------------------------------------------------

function layout(title, extra) {
  return Object.assign({
    title: { text: plain(title), font: { size: 14 } },
    margin: { l: 60, r: 20, t: 40, b: 40 },
    height: 320,
    legend: { orientation: "h", y: -0.15 },
    hovermode: "x unified",
  }, extra || {});
}

function plot(id, traces, title, extra) {
  Plotly.react(id, traces, layout(title, extra), PLOT_CONFIG);
}

function line(x, y, name, color, extra) {
  return Object.assign({ type: "scatter", mode: "lines", x: x.map(when), y, name: plain(name),
    line: { color, width: 1.5 } }, extra || {});
}

function drawEquity(e) {
  plot("equity-chart", [
    line(e.ts, e.equity, "bot equity", COLORS.bot),
    line(e.ts, e.buy_and_hold, "buy and hold", COLORS.hold, { line: { color: COLORS.hold, width: 1, dash: "dot" } }),
    line(e.ts, e.drawdown.map((d) => (d === null ? null : -d)), "drawdown", COLORS.down,
      { yaxis: "y2", fill: "tozeroy", line: { color: COLORS.down, width: 1 } }),
  ], "Equity against buy and hold, and drawdown", {
    height: 420,
    yaxis: { title: { text: "equity" }, domain: [0.35, 1] },
    yaxis2: { title: { text: "drawdown" }, domain: [0, 0.28], tickformat: ".0%" },
  });
  plot("risk-chart", [
    line(e.ts, e.rolling_sharpe, "rolling 30-day Sharpe", COLORS.bot),
    line(e.ts, e.exposure, "exposure", COLORS.stop, { yaxis: "y2", fill: "tozeroy", line: { color: COLORS.stop, width: 1 } }),
  ], "Rolling Sharpe and exposure", {
    yaxis: { title: { text: "Sharpe" }, domain: [0.4, 1] },
    yaxis2: { title: { text: "exposure" }, domain: [0, 0.32], tickformat: ".0%" },
  });
}

function drawPrices(prices) {
  const holder = document.getElementById("prices");
  const ids = prices.map((_, i) => "price-chart-" + i);
  if (holder.children.length !== prices.length) {
    holder.replaceChildren(...ids.map((id) => { const d = element("div", null, "chart"); d.id = id; return d; }));
  }
  prices.forEach((p, i) => {
    const markers = (x, y, name, color, symbol, text) => ({
      type: "scatter", mode: "markers", x: x.map(when), y, name: plain(name), text: text && text.map(plain),
      marker: { color, symbol, size: 9, line: { width: 1, color: "#fff" } },
    });
    plot(ids[i], [
      line(p.ts, p.close, p.symbol + " close", "#444", { line: { color: "#444", width: 1 } }),
      line(p.stops.ts, p.stops.price, "stop", COLORS.down, { line: { color: COLORS.down, width: 1, dash: "dash" }, connectgaps: false }),
      line(p.take_profits.ts, p.take_profits.price, "take-profit", COLORS.up,
        { line: { color: COLORS.up, width: 1, dash: "dash" }, connectgaps: false }),
      markers(p.entries.ts, p.entries.price, "entry", COLORS.up, "triangle-up"),
      markers(p.exits.ts, p.exits.price, "exit", COLORS.down, "triangle-down", p.exits.reason),
    ], p.symbol + ": price, entries, exits and stops", { height: 380, hovermode: "closest" });
  });
}

function drawModel(m, timeline) {
  const up = m.outcome.map((o) => (o === null ? null : o));
  plot("prob-chart", [
    line(m.ts, m.prob_up, "P(up)", COLORS.bot, { line: { color: COLORS.bot, width: 1 } }),
    { type: "scatter", mode: "markers", x: m.ts.map(when), y: up, name: "outcome (1 up, 0 not)",
      marker: { color: COLORS.hold, size: 3, opacity: 0.5 } },
  ], "The model's P(up) against the outcomes", { yaxis: { range: [-0.05, 1.05] }, hovermode: "closest" });
  const rolling = [];
  for (const r of m.rolling) {
    rolling.push(line(r.ts, r.accuracy, r.version + " accuracy", undefined, { line: { width: 1 } }));
    rolling.push(line(r.ts, r.auc, r.version + " AUC", undefined, { line: { width: 1, dash: "dot" } }));
  }
  plot("rolling-chart", rolling.length ? rolling : [line([], [], "no scored prediction yet", COLORS.hold)],
    "Rolling live accuracy and AUC per version", { hovermode: "closest", showlegend: rolling.length <= 12 });
  plot("calibration-chart", [
    { type: "scatter", mode: "lines", x: [0, 1], y: [0, 1], name: "perfect calibration",
      line: { color: COLORS.hold, dash: "dash", width: 1 } },
    { type: "scatter", mode: "lines+markers", x: m.calibration.map((b) => b.predicted), y: m.calibration.map((b) => b.observed),
      text: m.calibration.map((b) => b.count + " predictions"), name: "the bot's model", marker: { color: COLORS.bot } },
  ], "Calibration", { xaxis: { range: [0, 1], title: { text: "mean P(up)" } },
    yaxis: { range: [0, 1], title: { text: "observed frequency" } }, hovermode: "closest" });
  const kinds = [...new Set(timeline.map((t) => t.kind))];
  plot("timeline-chart", kinds.map((kind) => {
    const rows = timeline.filter((t) => t.kind === kind);
    return { type: "scatter", mode: "markers", x: rows.map((t) => when(t.ts)), y: rows.map(() => plain(kind)),
      text: rows.map((t) => plain(t.message)), name: plain(kind), marker: { size: 8 } };
  }), "Retrains, rejections and promotions", { hovermode: "closest", showlegend: false, margin: { l: 140, r: 20, t: 40, b: 40 } });
}

function drawReturns(data) {
  const months = data.monthly_returns;
  const years = [...new Set(months.map((r) => r.year))];
  const grid = years.map((y) => Array.from({ length: 12 }, (_, k) => {
    const cell = months.find((r) => r.year === y && r.month === k + 1);
    return cell ? cell.return : null;
  }));
  plot("monthly-chart", [{
    type: "heatmap", z: grid, x: ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    y: years.map(String), zmid: 0,
    colorscale: [[0, "#c62828"], [0.5, "#f7f7f7"], [1, "#2e7d32"]], hoverongaps: false,
    texttemplate: "%{z:.1%}", hovertemplate: "%{y} %{x}: %{z:.2%}<extra></extra>",
  }], "Monthly returns", { hovermode: "closest", yaxis: { type: "category", autorange: "reversed" } });
  const reasons = Object.entries(data.exit_reasons);
  plot("exits-chart", [{ type: "bar", x: reasons.map(([r]) => plain(r)), y: reasons.map(([, n]) => n),
    marker: { color: COLORS.stop }, name: "round trips" }], "Exit reasons", { hovermode: "closest" });
}

function draw(data) {
  drawState(data);
  drawKpis(data.summary);
  drawTables(data);
  drawEquity(data.equity);
  drawPrices(data.prices);
  drawModel(data.model, data.timeline);
  drawReturns(data);
  document.body.dataset.drawn = String(Number(document.body.dataset.drawn || 0) + 1);
}

// The server's own words for a failed answer (a 503 names the fault: a
// database locked, replaced or damaged); the bare status code said nothing.
async function reason(reply) {
  try {
    const body = await reply.json();
    return typeof body.detail === "string" ? ": " + body.detail : "";
  } catch (error) {
    return "";
  }
}

async function refresh() {
  const note = document.getElementById("refresh");
  try {
    const reply = await fetch("api/v1/dashboard", { cache: "no-store" });
    if (!reply.ok) throw new Error("the API answered " + reply.status + (await reason(reply)));
    draw(await reply.json());
    note.textContent = "refreshes every " + REFRESH_MS / 1000 + " s";
  } catch (error) {
    note.textContent = "refresh failed (" + error.message + "); retrying";
  }
}

function start() {
  const embedded = document.getElementById("payload");
  if (embedded) {
    draw(JSON.parse(embedded.textContent));
    return;
  }
  refresh();
  setInterval(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
