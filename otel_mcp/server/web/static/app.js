// otel-mcp's pages: plain ES module, no build step. Data comes from ./api/*; every string from the store
// is put in the page as text (never as HTML). The screen and its filters live in the URL hash, so a link
// shows the same view; a poll of ./api/changes redraws the screen when something was recorded.
import dagre from "./dagre.js";

const API = "api/";
const POLL_MS = 500;
const SVG = "http://www.w3.org/2000/svg";
const SCREENS = ["now", "graph", "timeline", "gates", "trace"];
const STATUS_COLOUR = { complete: "#2f9e44", started: "#1c7ed6", planned: "#adb5bd", failed: "#e03131", blocked: "#ae3ec9" };
const KIND_COLOUR = { task: "#1c7ed6", check: "#0c8599", gate: "#2f9e44", claim: "#f59f00", tool: "#c5cbd6", external: "#7048e8", other: "#868e96" };

// -- small helpers -------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v; // CSSOM, which the page's CSP allows (a style attribute it refuses)
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  if (seconds < 60) return `${Math.round(seconds)}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h ago`;
  return `${(seconds / 86400).toFixed(1)} days ago`;
}

function clock(ms) {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function shortTime(ms, span) {
  const iso = new Date(ms).toISOString();
  return span < 120000 ? iso.slice(11, 21) : span < 86400000 ? iso.slice(11, 16) : iso.slice(5, 16).replace("T", " ");
}

function badge(text, cls = text) {
  return h("span", { class: `badge b-${cls}` }, text);
}

const tip = () => document.getElementById("tip");
function showTip(event, text) {
  const t = tip();
  t.textContent = text;
  t.hidden = false;
  t.style.left = `${Math.min(event.clientX + 14, window.innerWidth - 440)}px`;
  t.style.top = `${event.clientY + 14}px`;
}
function hideTip() { tip().hidden = true; }
function withTip(el, text) {
  el.addEventListener("mousemove", (e) => showTip(e, text));
  el.addEventListener("mouseleave", hideTip);
  return el;
}

// -- state in the URL ------------------------------------------------------------------------------

function readHash() {
  const [screen, query] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query || "");
  return { screen: SCREENS.includes(screen) ? screen : "now", params };
}

function go(screen, changes = {}, keep = true) {
  const { params } = readHash();
  const next = keep ? params : new URLSearchParams();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") next.delete(k);
    else next.set(k, v);
  }
  const q = next.toString();
  location.hash = `${screen}${q ? "?" + q : ""}`;
}

function query(params, names) {
  const q = new URLSearchParams();
  for (const n of names) if (params.get(n)) q.set(n, params.get(n));
  return q.toString();
}

async function getJSON(path) {
  const answer = await fetch(API + path, { headers: { accept: "application/json" }, credentials: "same-origin" });
  if (answer.status === 401) {
    location.href = "login";
    throw new Error("not logged in");
  }
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error_description || `HTTP ${answer.status}`);
  return body;
}

// -- pan and zoom on an SVG viewBox ------------------------------------------------------------------

function panZoom(svg, box) {
  let [x, y, w, hgt] = box;
  const full = [...box];
  const apply = () => svg.setAttribute("viewBox", `${x} ${y} ${w} ${hgt}`);
  apply();
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    const fx = (e.clientX - r.left) / r.width, fy = (e.clientY - r.top) / r.height;
    const k = e.deltaY < 0 ? 0.8 : 1.25;
    if ((k < 1 && w < full[2] / 20) || (k > 1 && w > full[2] * 4)) return;
    x += w * (1 - k) * fx; y += hgt * (1 - k) * fy; w *= k; hgt *= k;
    apply();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (e) => { drag = { cx: e.clientX, cy: e.clientY, x, y }; });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    const scale = Math.max(w / r.width, hgt / r.height);
    x = drag.x - (e.clientX - drag.cx) * scale; y = drag.y - (e.clientY - drag.cy) * scale;
    apply();
  });
  svg.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("pointerleave", () => { drag = null; });
  svg.addEventListener("dblclick", () => { [x, y, w, hgt] = full; apply(); });
}

// -- Now -----------------------------------------------------------------------------------------------

function gateChips(gates) {
  return h("div", { class: "chips" }, gates.map((g) =>
    withTip(h("span", { class: `chip gate-${g.decision}` }, `${g.gate}: ${g.decision}${g.attempt ? " #" + g.attempt : ""}${g.other_definition ? " ⚑" : ""}`),
      g.other_definition ? "decided under another definition of the gate than the one in force now" : `latest decision ${g.span_id || "none"}`)));
}

async function renderNow(params, main) {
  const data = await getJSON("now?" + query(params, ["agent", "prefix", "since"]));
  fillAgents(data.agents.map((a) => a.agent_id));
  if (!data.agents.length) return main.append(h("div", { class: "empty" }, "No agent has recorded anything yet."));
  const counts = { working: 0, stuck: 0, idle: 0 };
  data.agents.forEach((a) => counts[a.state]++);
  main.append(h("h2", {}, `${data.agents.length} agents · ${counts.working} working · ${counts.stuck} stuck · ${counts.idle} idle`,
    h("span", { class: "muted" }, `  (stuck: work in hand, nothing recorded for ${Math.round(data.stuck_after_s / 60)} min)`)));
  const grid = h("div", { class: "grid", id: "agents" });
  for (const a of data.agents) {
    const card = h("div", { class: `card agent s-${a.state}`, "data-agent": a.agent_id },
      h("h3", {}, a.agent_id, badge(a.state)),
      h("div", { class: "meta" }, `last span ${ago(a.last_span_age_s)}${a.last_span_name ? " · " + a.last_span_name : ""} · ${a.completed} completed`));
    if (!a.tasks.length) card.append(h("div", { class: "muted" }, "no task in hand"));
    for (const t of a.tasks) {
      const row = h("div", { class: "task-row" },
        h("div", {}, h("a", { class: "tid", href: `#trace?task=${encodeURIComponent(t.task_id)}` }, t.task_id), " ",
          t.status ? badge(t.status) : null),
        h("div", { class: "muted" }, t.lease_until_ms ? `claimed until ${clock(t.lease_until_ms)}` : "no live claim",
          t.since_ms ? ` · ${t.status} ${ago((data.now_ms - t.since_ms) / 1000)}` : ""));
      if (t.paths.length) row.append(h("div", { class: "chips" }, t.paths.map((p) => h("span", { class: "chip" }, p))));
      if (t.gates.length) row.append(gateChips(t.gates));
      card.append(row);
    }
    if (a.waiting_on.length) card.append(h("div", { class: "wait" }, "waiting on gate " + a.waiting_on.join(", ")));
    grid.append(card);
  }
  main.append(grid);
}

// -- Graph ---------------------------------------------------------------------------------------------

async function renderGraph(params, main) {
  const data = await getJSON("graph?" + query(params, ["agent", "prefix", "since"]));
  if (!data.total) return main.append(h("div", { class: "empty" }, "No task matches."));
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 22, ranksep: 70, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const prefix = params.get("prefix") || "";
  if (data.collapsed) {
    main.append(h("h2", {}, `${data.total} tasks, grouped by prefix `, h("span", { class: "muted" }, "(click a group to open it)")));
    for (const grp of data.groups) g.setNode(grp.prefix, { width: 230, height: 64, grp });
    for (const grp of data.groups) for (const d of grp.depends_on) g.setEdge(d, grp.prefix, {});
  } else {
    const done = data.tasks.filter((t) => t.status === "complete").length;
    main.append(h("h2", {}, `${data.total} tasks · ${done} complete`,
      h("span", { class: "muted" }, "  (arrows run from a dependency to the task that waits for it; red dashes: still blocking)")));
    const ids = new Set(data.tasks.map((t) => t.task_id));
    for (const t of data.tasks) g.setNode(t.task_id, { width: 240, height: t.gates.length ? 74 : 58, t });
    for (const t of data.tasks) for (const d of t.depends_on) if (ids.has(d)) g.setEdge(d, t.task_id, { blocking: t.blocked_by.includes(d) });
  }
  dagre.layout(g);
  const { width, height } = g.graph();
  const svg = s("svg", { id: "graph", height: Math.min(Math.max(height, 260), 720), preserveAspectRatio: "xMidYMin meet" });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#98a2b3" }))));
  for (const e of g.edges()) {
    const pts = g.edge(e).points;
    const d = pts.map((p, i) => `${i ? "L" : "M"} ${p.x} ${p.y}`).join(" ");
    svg.append(s("path", { class: `edge${g.edge(e).blocking ? " blocking" : ""}`, d, "marker-end": "url(#arrow)" }));
  }
  for (const id of g.nodes()) {
    const n = g.node(id);
    const x = n.x - n.width / 2, y = n.y - n.height / 2;
    if (n.grp) {
      const grp = n.grp;
      const node = s("g", { class: "node group", "data-prefix": grp.prefix, onclick: () => go("graph", { prefix: grp.prefix }) },
        s("rect", { x, y, width: n.width, height: n.height, rx: 10, fill: "#f8f9fc", stroke: "#748ffc" }),
        s("text", { class: "id", x: x + 12, y: y + 20 }, `${grp.prefix}…`),
        s("text", { class: "sub", x: x + 12, y: y + 37 }, `${grp.tasks} tasks`));
      let bx = x + 12;
      for (const [status, count] of Object.entries(grp.by_status)) {
        const w = Math.max(3, (n.width - 24) * (count / grp.tasks));
        node.append(withTip(s("rect", { x: bx, y: y + 46, width: w, height: 8, rx: 2, fill: STATUS_COLOUR[status] || "#868e96" }), `${count} ${status}`));
        bx += w;
      }
      svg.append(node);
      continue;
    }
    const t = n.t;
    const colour = STATUS_COLOUR[t.status] || "#868e96";
    const shown = prefix && t.task_id.startsWith(prefix) && t.task_id !== prefix ? "…" + t.task_id.slice(prefix.length) : t.task_id;
    const node = s("g", { class: "node", "data-task": t.task_id, "data-status": t.status, onclick: () => go("trace", { task: t.task_id }) },
      s("rect", { x, y, width: n.width, height: n.height, rx: 9, fill: "#fff", stroke: t.blocking.length ? "#e03131" : colour }),
      s("rect", { x, y, width: 6, height: n.height, rx: 3, fill: colour }),
      s("text", { class: "id", x: x + 14, y: y + 19 }, shown.length > 30 ? shown.slice(0, 29) + "…" : shown),
      s("text", { class: "sub", x: x + 14, y: y + 36 }, `${t.status}${t.task_type ? " · " + t.task_type : ""}${t.holder ? " · held by " + t.holder : t.agent_id ? " · " + t.agent_id : ""}`));
    let gx = x + 14;
    for (const gm of t.gates) {
      const label = `${gm.gate} ${gm.decision === "pass" ? "✓" : gm.decision === "fail" ? "✗" : "…"}`;
      const w = 10 + label.length * 6.2;
      node.append(s("rect", { x: gx, y: y + 46, width: w, height: 17, rx: 8, fill: gm.decision === "pass" ? "#ebfbee" : gm.decision === "fail" ? "#fff5f5" : "#f1f3f5" }),
        s("text", { x: gx + 5, y: y + 58, "font-size": 11, fill: gm.decision === "pass" ? "#2b8a3e" : gm.decision === "fail" ? "#c92a2a" : "#495057" }, label));
      gx += w + 4;
    }
    const why = [`${t.task_id}: ${t.status}`, t.agent_id ? `last record by ${t.agent_id}` : "", t.holder ? `claimed by ${t.holder} until ${clock(t.lease_until_ms)}` : "",
      t.blocked_by.length ? `waits for ${t.blocked_by.join(", ")}` : "", t.blocking.length ? `blocks ${t.blocking.join(", ")}` : ""].filter(Boolean).join("\n");
    svg.append(withTip(node, why));
  }
  const box = h("div", { class: "svgbox" }, svg, h("span", { class: "hint" }, "wheel: zoom · drag: pan · double-click: reset"));
  main.append(box);
  panZoom(svg, [0, 0, Math.max(width, 400), Math.max(height, 200)]);
  main.append(h("div", { class: "legend" }, Object.entries(STATUS_COLOUR).map(([k, c]) => h("span", {}, h("i", { style: `background:${c}` }), k))));
  if (data.missing.length) main.append(h("p", { class: "muted" }, `depended on but never recorded: ${data.missing.join(", ")}`));
}

// -- Timeline ------------------------------------------------------------------------------------------

async function renderTimeline(params, main) {
  const data = await getJSON("timeline?" + query(params, ["agent", "prefix", "since", "until"]));
  fillAgents(data.lanes.map((l) => l.agent_id));
  if (!data.count) return main.append(h("div", { class: "empty" }, "No span in this window."));
  let lo = Infinity, hi = -Infinity;
  for (const l of data.lanes) for (const sp of l.spans) { lo = Math.min(lo, sp.start_ms); hi = Math.max(hi, sp.end_ms); }
  const pad = Math.max((hi - lo) * 0.03, 200);
  lo -= pad; hi += pad;
  main.append(h("h2", {}, `${data.count} spans · ${data.lanes.length} agents · ${clock(lo)} – ${clock(hi)}`,
    data.truncated ? h("span", { class: "muted" }, "  (more in this window than shown: narrow it)") : null));
  const LABEL = 130, W = 1200, LANE = 46, TOP = 26;
  const height = TOP + data.lanes.length * LANE + 10;
  const svg = s("svg", { id: "timeline", height, preserveAspectRatio: "none" });
  const plot = s("g", {});
  const axis = s("g", { class: "axis" });
  const xs = (ms) => LABEL + ((ms - lo) / (hi - lo)) * (W - LABEL - 10);
  data.lanes.forEach((lane, i) => {
    const y = TOP + i * LANE;
    svg.append(s("rect", { x: 0, y, width: W, height: LANE, fill: i % 2 ? "#fbfcfe" : "#fff" }));
    const row = s("g", { class: "lane", "data-agent": lane.agent_id });
    for (const sp of lane.spans) {
      const x1 = xs(sp.start_ms), x2 = Math.max(xs(sp.end_ms), x1 + 2);
      const colour = sp.kind === "gate" ? (sp.decision === "pass" ? "#2f9e44" : "#e03131") : sp.status_code === "Error" && sp.kind === "check" ? "#e8590c" : KIND_COLOUR[sp.kind];
      const text = `${sp.label}\n${sp.kind} · ${((sp.end_ms - sp.start_ms) / 1000).toFixed(3)}s · ${clock(sp.start_ms)}\nspan ${sp.span_id}`;
      const target = sp.task_id ? () => go("trace", { task: sp.task_id }) : null;
      if (sp.kind === "gate") {
        const cy = y + LANE / 2;
        row.append(withTip(s("path", { class: "bar mark", "data-kind": "gate", d: `M ${x1} ${cy - 9} L ${x1 + 8} ${cy} L ${x1} ${cy + 9} L ${x1 - 8} ${cy} Z`, fill: colour, stroke: "#fff", onclick: target }), text));
      } else {
        const top = sp.kind === "tool" ? y + LANE / 2 + 6 : y + 10;
        const hgt = sp.kind === "tool" ? 8 : LANE - 26;
        row.append(withTip(s("rect", { class: "bar", "data-kind": sp.kind, x: x1, y: top, width: x2 - x1, height: hgt, rx: 2, fill: colour, onclick: target }), text));
      }
    }
    plot.append(row);
  });
  svg.append(plot, axis);
  const labels = s("g", {});
  data.lanes.forEach((lane, i) => {
    const y = TOP + i * LANE;
    labels.append(s("rect", { x: 0, y, width: LABEL - 6, height: LANE, fill: i % 2 ? "#fbfcfe" : "#fff" }),
      s("text", { class: "lane-label", x: 10, y: y + LANE / 2 + 4 }, lane.agent_id));
  });
  svg.append(labels);
  // Zoom and pan move the plot horizontally; lane labels stay put. The window shown goes into the URL
  // (from/to, without a redraw), so a link opens on it and a live redraw keeps it.
  const plotW = W - LABEL - 10;
  let view = { x: 0, w: W };
  const from = Number(params.get("from")), to = Number(params.get("to"));
  if (from && to && to > from) {
    const k = Math.min(Math.max((W - LABEL) / (xs(to) - xs(from)), 1), 500);
    const w = W / k;
    view = { x: Math.min(Math.max(xs(from) - LABEL / k, 0), W - w), w };
  }
  const draw = () => {
    const k = W / view.w;
    plot.setAttribute("transform", `matrix(${k} 0 0 1 ${-view.x * k} 0)`);
    axis.replaceChildren();
    const toTime = (px) => lo + ((px - LABEL) / (W - LABEL - 10)) * (hi - lo);
    const t0 = toTime(view.x + LABEL / k), t1 = toTime(view.x + W / k);
    const step = niceStep((t1 - t0) / 8);
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const x = (xs(t) - view.x) * k;
      axis.append(s("line", { x1: x, x2: x, y1: TOP - 4, y2: height }), s("text", { x: x + 3, y: 16 }, shortTime(t, t1 - t0)));
    }
  };
  const svgBox = h("div", { class: "svgbox" }, svg, h("span", { class: "hint" }, "wheel: zoom · drag: pan · double-click: reset · click: trace"));
  main.append(svgBox);
  svg.setAttribute("viewBox", `0 0 ${W} ${height}`);
  let remember = null;
  zoomX(svg, W, view, (v) => {
    view = v;
    draw();
    clearTimeout(remember);
    remember = setTimeout(() => {
      const k = W / view.w;
      const toTime = (px) => lo + ((px - LABEL) / plotW) * (hi - lo);
      const q = new URLSearchParams(readHash().params);
      if (view.w >= W) { q.delete("from"); q.delete("to"); }
      else { q.set("from", Math.round(toTime(view.x + LABEL / k))); q.set("to", Math.round(toTime(view.x + W / k))); }
      history.replaceState(null, "", `#timeline${q.toString() ? "?" + q : ""}`);
    }, 300);
  });
  draw();
  main.append(h("div", { class: "legend" },
    Object.entries({ "task record": KIND_COLOUR.task, "check run": KIND_COLOUR.check, "gate pass": "#2f9e44", "gate fail": "#e03131", claim: KIND_COLOUR.claim, "tool call": KIND_COLOUR.tool, "host telemetry": KIND_COLOUR.external })
      .map(([k, c]) => h("span", {}, h("i", { style: `background:${c}` }), k))));
}

function niceStep(raw) {
  const steps = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 900000, 1800000, 3600000, 7200000, 21600000, 43200000, 86400000];
  return steps.find((st) => st >= raw) || 86400000 * Math.ceil(raw / 86400000);
}

function zoomX(svg, W, start, changed) {
  let { x, w } = start, drag = null;
  const clamp = () => { w = Math.min(Math.max(w, W / 500), W); x = Math.min(Math.max(x, 0), W - w); changed({ x, w }); };
  const px = (e) => { const r = svg.getBoundingClientRect(); return ((e.clientX - r.left) / r.width) * W; };
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const at = px(e), k = e.deltaY < 0 ? 0.75 : 1.33;
    const world = x + (at / W) * w;
    w *= k; x = world - (at / W) * w; clamp();
  }, { passive: false });
  svg.addEventListener("pointerdown", (e) => { drag = { at: px(e), x }; });
  svg.addEventListener("pointermove", (e) => { if (drag) { x = drag.x - (px(e) - drag.at) * (w / W); clamp(); } });
  svg.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("pointerleave", () => { drag = null; });
  svg.addEventListener("dblclick", () => { x = 0; w = W; clamp(); });
}

// -- Gates ---------------------------------------------------------------------------------------------

function sparkline(buckets) {
  const W = 180, H = 36;
  const svg = s("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  if (!buckets.length) return svg;
  const bw = W / buckets.length;
  buckets.forEach((b, i) => {
    const rate = b.first_attempts ? b.first_attempt_passes / b.first_attempts : 0;
    svg.append(withTip(s("rect", { x: i * bw + 1, y: 2, width: bw - 2, height: H - 4, fill: "#f1f3f5", rx: 2 }), `${clock(b.start_ms)}: ${b.first_attempt_passes}/${b.first_attempts} first attempts passed`));
    svg.append(s("rect", { x: i * bw + 1, y: H - 2 - (H - 4) * rate, width: bw - 2, height: (H - 4) * rate, fill: "#2f9e44", rx: 2 }));
  });
  return svg;
}

async function renderGates(params, main) {
  const data = await getJSON("gates?" + query(params, ["agent", "prefix", "since"]));
  if (!data.gates.length) return main.append(h("div", { class: "empty" }, "No gate decision recorded in this window."));
  const cards = h("div", { class: "gates" });
  for (const g of data.gates) {
    const rate = g.first_attempt_pass_rate === null ? "–" : `${Math.round(g.first_attempt_pass_rate * 100)}%`;
    cards.append(h("div", { class: "card gate", "data-gate": g.gate },
      h("h3", {}, g.gate, " ", g.other_definition ? badge(`${g.other_definition} under another definition`, "flag") : null),
      h("div", { class: "rate" }, rate, h("span", { class: "muted", style: "font-size:13px;font-weight:400" }, ` first-attempt pass (${g.first_attempt_passes}/${g.first_attempts})`)),
      h("div", { class: "muted" }, `all decisions: ${g.passes}/${g.decisions} pass`),
      sparkline(g.over_time),
      g.failure_reasons.length ? h("ul", { class: "reasons" }, g.failure_reasons.map((r) => h("li", {}, `${r.reason}${r.count > 1 ? ` (×${r.count})` : ""}`))) : h("div", { class: "muted" }, "no failures")));
  }
  main.append(cards);
  main.append(h("h2", {}, "Decisions, newest first"));
  const table = h("table", { id: "decisions" }, h("tr", {}, ["when", "gate", "task", "agent", "attempt", "decision", "why", "evidence cited", "code state"].map((c) => h("th", {}, c))));
  for (const d of data.decisions) {
    table.append(h("tr", { "data-decision": d.span_id },
      h("td", { class: "mono" }, d.at.slice(0, 19)),
      h("td", {}, d.gate),
      h("td", {}, d.task_id ? h("a", { href: `#trace?task=${encodeURIComponent(d.task_id)}` }, d.task_id) : "?"),
      h("td", {}, d.agent_id || "?"),
      h("td", {}, d.attempt ?? "?"),
      h("td", {}, badge(d.decision), d.other_definition ? h("div", {}, badge("other definition", "flag")) : null),
      h("td", {}, d.reasons.map((r) => h("div", { class: "why" }, r)), d.failed_requirements.length ? h("div", { class: "muted" }, `failed: ${d.failed_requirements.join(", ")}`) : null),
      h("td", {}, d.evidence.map((e) => h("div", { class: "ev" },
        h("a", { class: "mono", href: `#trace?task=${encodeURIComponent(d.trace_id)}` }, e.span_id), " ",
        e.found ? `${e.check || e.name}${e.exit_code !== null ? " exit " + e.exit_code : ""}` : "(not in the store)",
        e.output_sha256 ? h("div", { class: "muted mono" }, `output sha256 ${e.output_sha256.slice(0, 16)}…`) : null))),
      h("td", { class: "mono" }, d.code_digest ? d.code_digest.slice(0, 20) + "…" : "–", d.code_head ? h("div", { class: "muted" }, `HEAD ${d.code_head.slice(0, 10)}`) : null)));
  }
  main.append(table);
}

// -- Trace ---------------------------------------------------------------------------------------------

async function renderTrace(params, main) {
  const task = params.get("task");
  if (!task) return main.append(h("div", { class: "empty" }, "Give a task id (or a trace id) above, or click a task anywhere."));
  const data = await getJSON("trace?" + new URLSearchParams({ task }).toString());
  const starts = data.spans.map((x) => Date.parse(x.start_time.replace(" ", "T") + "Z"));
  const lo = Math.min(...starts);
  const hi = Math.max(...data.spans.map((x, i) => starts[i] + x.duration_ms));
  const total = Math.max(hi - lo, 1);
  main.append(h("h2", {}, `${task} · trace ${data.trace_id} · ${data.spans.length} spans · ${(total / 1000).toFixed(2)}s`,
    data.truncated ? h("span", { class: "muted" }, " (truncated)") : null));
  const box = h("div", { class: "card", id: "trace", style: "padding:0" });
  data.spans.forEach((sp, i) => {
    const left = ((starts[i] - lo) / total) * 100, width = Math.max((sp.duration_ms / total) * 100, 0.3);
    const colour = sp.source === "gate" ? (sp.attributes["otel_mcp.gate.decision"] === "pass" ? "#2f9e44" : "#e03131") : sp.source === "runner" ? KIND_COLOUR.check : sp.source === "audit" ? KIND_COLOUR.tool : sp.source === "external" ? KIND_COLOUR.external : STATUS_COLOUR[sp.task_status] || KIND_COLOUR.claim;
    const gate = sp.source === "gate" ? `${sp.attributes["otel_mcp.gate"]} #${sp.attributes["otel_mcp.gate.attempt"]} ${String(sp.attributes["otel_mcp.gate.decision"]).toUpperCase()}` : "";
    const check = sp.source === "runner" ? `(${sp.attributes["otel_mcp.check"]}, exit ${sp.attributes["process.exit.code"]})` : "";
    const what = [sp.name, gate, check, sp.task_id && sp.task_id !== task ? sp.task_id : "", sp.agent_id ? `· ${sp.agent_id}` : ""].filter(Boolean).join(" ");
    const row = h("div", { class: "trace-row", "data-span": sp.span_id },
      h("div", { class: "name", style: `padding-left:${8 + sp.depth * 18}px` }, sp.status_code === "Error" ? "✗ " : "", what),
      h("div", { class: "wf" }, h("span", { style: `left:${left}%;width:${width}%;background:${colour}` })));
    let open = null;
    const toggle = () => {
      if (open) { open.remove(); open = null; openSpans.delete(sp.span_id); return; }
      openSpans.add(sp.span_id);
      const attrs = { span_id: sp.span_id, parent: sp.parent_span_id || "–", source: sp.source, status: sp.status_code, start: sp.start_time, duration_ms: sp.duration_ms, ...sp.attributes };
      open = h("div", { class: "attrs" }, h("table", {}, Object.entries(attrs).map(([k, v]) => h("tr", {}, h("td", { class: "mono" }, k), h("td", { class: "mono" }, typeof v === "object" ? JSON.stringify(v) : String(v))))));
      row.append(open);
    };
    row.addEventListener("click", toggle);
    if (openSpans.has(sp.span_id)) toggle();
    withTip(row, `${sp.name}\n${sp.start_time} UTC · ${sp.duration_ms.toFixed(1)} ms\nclick for attributes`);
    box.append(row);
  });
  main.append(box);
}

// -- the frame: tabs, filters, live refresh ---------------------------------------------------------------

const RENDER = { now: renderNow, graph: renderGraph, timeline: renderTimeline, gates: renderGates, trace: renderTrace };
const knownAgents = new Set();
const openSpans = new Set(); // trace rows whose attributes are shown, kept across live redraws

function fillAgents(agents) {
  let changed = false;
  for (const a of agents) if (!knownAgents.has(a)) { knownAgents.add(a); changed = true; }
  if (changed) document.getElementById("agent-list").replaceChildren(...[...knownAgents].sort().map((a) => h("option", { value: a })));
}

let drawing = 0;
async function draw() {
  const ticket = ++drawing;
  const { screen, params } = readHash();
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.screen === screen);
  const form = document.getElementById("filters");
  for (const name of ["agent", "prefix", "since", "task"]) if (document.activeElement !== form.elements[name]) form.elements[name].value = params.get(name) || "";
  document.getElementById("task-field").hidden = screen !== "trace";
  const main = h("main", { id: "screen", "data-screen": screen });
  try {
    await RENDER[screen](params, main);
  } catch (err) {
    main.replaceChildren(h("div", { class: "error" }, String(err.message || err)));
  }
  if (ticket !== drawing) return; // a newer draw started meanwhile
  hideTip();
  const old = document.getElementById("screen");
  const scroll = window.scrollY;
  old.replaceWith(main);
  window.scrollTo(0, scroll);
}

let mark = null;
async function poll() {
  const dot = document.getElementById("live-dot"), text = document.getElementById("live-text");
  try {
    const c = await getJSON("changes");
    dot.className = "dot on";
    text.textContent = `live · ${c.count} spans`;
    if (mark !== null && c.mark !== mark) await draw();
    mark = c.mark;
  } catch (err) {
    dot.className = "dot off";
    text.textContent = "offline";
  }
  setTimeout(poll, POLL_MS);
}

document.getElementById("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const { screen } = readHash();
  go(screen, { agent: f.agent.value.trim(), prefix: f.prefix.value.trim(), since: f.since.value, task: f.task.value.trim() });
});
document.getElementById("clear").addEventListener("click", () => go(readHash().screen, {}, false));
document.getElementById("filters").elements.since.addEventListener("change", (e) => go(readHash().screen, { since: e.target.value }));
window.addEventListener("hashchange", draw);
draw();
poll();
