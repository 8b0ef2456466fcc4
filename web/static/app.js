/* Dashboard page: live status over server-sent events, display panel, traffic light, MQTT console.
 * No framework, no build step. Everything from the server is inserted as text (never as HTML). */
"use strict";

(function () {
  const TRAFFIC_THING = "GG_TrafficLight";
  const HISTORY = 60;          // chart points kept per location
  const MAX_MESSAGES = 200;    // console messages kept
  const COLOURS = ["#0b5cad", "#c0392b", "#1e8449", "#8e44ad", "#b9770e", "#117a65", "#2c3e50", "#d35400"];

  // -- token: from ?token= once, then from this tab's session storage (kept out of the address bar)
  const params = new URLSearchParams(location.search);
  let token = params.get("token");
  if (token) {
    sessionStorage.setItem("dashboardToken", token);
    history.replaceState(null, "", location.pathname + location.hash);
  } else {
    token = sessionStorage.getItem("dashboardToken");
  }

  const $ = (id) => document.getElementById(id);

  /** h("td", {class: "num"}, "text", childNode...) — builds elements, text is always text. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v; else if (k === "text") el.textContent = v; else el.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return el;
  }
  function svg(tag, attrs) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    return el;
  }
  function replace(container, ...nodes) { container.replaceChildren(...nodes.filter((n) => n)); }
  function fmt(v) {
    if (v === undefined || v === null) return "–";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(3);
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function fmtBytes(n) {
    if (typeof n !== "number") return fmt(n);
    const units = ["B", "KiB", "MiB", "GiB"]; let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }
  function fmtTime(t) { return typeof t === "number" ? new Date(t * 1000).toLocaleTimeString() : fmt(t); }
  function down(section) { return h("p", {class: "down"}, "Service not running (the core reports no “" + section + "”)."); }
  /** Long names and topics may wrap after "/", ":" or "_" (never inside a word). */
  function breakable(text) {
    if (text.length < 16 || !/[/:_]/.test(text)) return document.createTextNode(text);
    const span = h("span");
    for (const part of text.split(/(?<=[/:_])/)) { span.appendChild(document.createTextNode(part)); span.appendChild(h("wbr")); }
    return span;
  }
  /** rowClass(rowIndex) → a class for that row (optional). */
  function table(caption, headers, rows, numeric, rowClass) {
    const t = h("table", {}, h("caption", {}, caption));
    t.appendChild(h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", {scope: "col"}, x)))));
    const body = h("tbody");
    for (const [r, row] of rows.entries()) {
      body.appendChild(h("tr", {class: rowClass ? rowClass(r) : null}, ...row.map((cell, i) => {
        const td = h("td", {class: numeric && numeric.includes(i) ? "num" : null});
        td.appendChild(cell instanceof Node ? cell : breakable(fmt(cell)));
        return td;
      })));
    }
    t.appendChild(body);
    return t;
  }
  function kv(obj) {
    const dl = h("dl", {class: "kv"});
    for (const [k, v] of Object.entries(obj)) dl.append(h("dt", {}, k), h("dd", {}, fmt(v)));
    return dl;
  }
  function badge(ok, yes, no) { return h("span", {class: "badge " + (ok ? "badge-ok" : "badge-bad")}, ok ? yes : no); }

  // -- API ----------------------------------------------------------------------------------------
  async function api(method, path, body) {
    const init = {method, headers: {"X-Dashboard-Token": token || ""}, credentials: "same-origin"};
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const resp = await fetch(path, init);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = {reason: "answer was not JSON (HTTP " + resp.status + ")"}; }
    if (!resp.ok) throw new Error((data && data.reason) || ("HTTP " + resp.status));
    return data;
  }

  // -- Group ----------------------------------------------------------------------------------------
  function renderGroup(s) {
    const g = s.group;
    if (!g) replace($("group-info"), down("group"));
    else {
      const d = g.deployment || {};
      replace($("group-info"), kv({"Group": g.name, "Group id": g.id, "Deployment": d.id,
        "Deployment status": d.status, "Group version": d.version}));
    }
    // keep the log panes the user opened across live re-renders
    const open = new Set([...$("functions").querySelectorAll("details[open]")].map((d) => d.dataset.fn));
    if (!s.functions) replace($("functions"), down("functions"));
    else replace($("functions"), table("Lambda functions of the group", ["Function", "Lifecycle", "State", "Invocations", "Errors", "Last log lines"],
      s.functions.map((f) => {
        const lines = f.last_log_lines || [];
        const logs = lines.length ? h("details", {"data-fn": f.name, open: open.has(f.name) ? "" : null},
          h("summary", {}, lines.length + " lines"), h("pre", {}, lines.join("\n"))) : "–";
        return [f.name, f.pinned ? "pinned (long-lived)" : "on demand", f.state, f.invocations, f.errors, logs];
      }), [3, 4]));
    if (!s.devices) replace($("devices"), down("devices"));
    else replace($("devices"), table("Devices of the group", ["Thing", "Connected"],
      s.devices.map((d) => [d.thing, badge(d.connected, "connected", "not connected")])));
    if (!s.subscriptions) { replace($("subscriptions"), down("subscriptions")); drawGraph([]); }
    else {
      replace($("subscriptions"), table("Subscription table (one-way routes)", ["Source", "Target", "Topic filter"],
        s.subscriptions.map((r) => [r.source, r.target, r.topic])));
      drawGraph(s.subscriptions);
    }
    if (!s.connectors) replace($("connectors"), down("connectors"));
    else if (!s.connectors.length) replace($("connectors"), h("p", {}, "No connectors."));
    else replace($("connectors"), table("Connectors", ["Connector", "State", "Why", "Details"],
      s.connectors.map((c) => {
        const rest = Object.assign({}, c);
        for (const k of ["name", "id", "state", "reason"]) delete rest[k];
        const details = Object.keys(rest).length
          ? h("details", {}, h("summary", {}, "details"), h("pre", {}, JSON.stringify(rest, null, 1))) : "–";
        return [c.name || c.id || "?", typeof c.state === "string" ? c.state.replace(/-/g, " ") : c.state,
          c.reason, details];
      })));
  }

  let lastGraph = "";
  function drawGraph(routes) {
    const key = JSON.stringify(routes);
    if (key === lastGraph) return;
    lastGraph = key;
    const g = $("subscription-graph");
    g.replaceChildren();
    const sources = [...new Set(routes.map((r) => r.source))];
    const targets = [...new Set(routes.map((r) => r.target))];
    const rowH = 26, width = 640, boxW = 230;
    const height = Math.max(sources.length, targets.length, 1) * rowH + 10;
    g.setAttribute("height", height);
    g.setAttribute("viewBox", "0 0 " + width + " " + height);
    const y = (i, n) => 5 + (height - 10) * (i + 0.5) / n;
    for (const r of routes) {
      const y1 = y(sources.indexOf(r.source), sources.length), y2 = y(targets.indexOf(r.target), targets.length);
      const path = svg("path", {class: "edge", d: `M${boxW} ${y1} C${width / 2} ${y1} ${width / 2} ${y2} ${width - boxW} ${y2}`});
      const title = svg("title"); title.textContent = r.source + " → " + r.target + " on " + r.topic;
      path.appendChild(title); g.appendChild(path);
    }
    const node = (label, x, yy) => {
      const grp = svg("g", {class: "node"});
      grp.appendChild(svg("rect", {x, y: yy - 10, width: boxW, height: 20, rx: 4}));
      const t = svg("text", {x: x + 6, y: yy + 4}); t.textContent = label.length > 34 ? label.slice(0, 33) + "…" : label;
      grp.appendChild(t); g.appendChild(grp);
    };
    sources.forEach((s, i) => node(s, 0, y(i, sources.length)));
    targets.forEach((t, i) => node(t, width - boxW, y(i, targets.length)));
  }

  // -- Display panel ---------------------------------------------------------------------------------
  const aggregates = {};   // location -> latest record
  const series = {};       // location -> [{t, mean}]
  let aggregateUpdates = 0;
  function onAggregates(data) {
    const records = data.records || [];
    for (const r of records) {
      if (!r || typeof r.location !== "string") continue;
      aggregates[r.location] = r;
      const t = typeof r.window_end === "number" ? r.window_end / 1000 : (data.time || Date.now() / 1000);
      const hist = series[r.location] || (series[r.location] = []);
      if (typeof r.mean === "number") {
        // the reader repeats every location in each snapshot: one point per window, not per message
        const last = hist[hist.length - 1];
        if (last && last.t === t) last.mean = r.mean; else hist.push({t, mean: r.mean});
        if (hist.length > HISTORY) hist.shift();
      }
    }
    if (records.length && !data.initial) aggregateUpdates += 1;
    if (records.length) {
      $("aggregates-updates").textContent = aggregateUpdates
        ? aggregateUpdates + " update" + (aggregateUpdates === 1 ? "" : "s") + " received, last at " + new Date().toLocaleTimeString() + "."
        : "Showing the latest aggregates.";
    }
    renderAggregates();
  }
  function colourOf(location) { return COLOURS[Object.keys(series).sort().indexOf(location) % COLOURS.length]; }
  function renderAggregates() {
    const locs = Object.keys(aggregates).sort();
    if (!locs.length) { replace($("aggregates"), h("p", {class: "down"}, "No aggregates yet (is the reader Lambda running?).")); }
    else replace($("aggregates"), table("Latest window per location", ["Location", "Mean", "Min", "Max", "Count", "Window end"],
      locs.map((l) => {
        const a = aggregates[l];
        return [l, a.mean, a.min, a.max, a.count, typeof a.window_end === "number" ? new Date(a.window_end).toLocaleTimeString() : fmt(a.window_end)];
      }), [1, 2, 3, 4]));
    const legend = $("aggregates-legend");
    legend.replaceChildren(...Object.keys(series).sort().map((l) => {
      const sw = h("span", {class: "swatch", "aria-hidden": "true"}); sw.style.background = colourOf(l);
      return h("li", {}, sw, l);
    }));
    drawChart();
  }
  function drawChart() {
    const canvas = $("aggregates-chart");
    const ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height, pad = 36;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, W, H);
    const all = Object.values(series).flat();
    ctx.strokeStyle = "#c4c9d0"; ctx.lineWidth = 1;
    ctx.strokeRect(pad, 8, W - pad - 8, H - pad - 8 + 8);
    if (!all.length) {
      ctx.fillStyle = "#4a4f57"; ctx.font = "14px system-ui, sans-serif";
      ctx.fillText("waiting for aggregates…", pad + 12, H / 2);
      return;
    }
    let lo = Math.min(...all.map((p) => p.mean)), hi = Math.max(...all.map((p) => p.mean));
    if (hi === lo) { hi += 1; lo -= 1; }
    const t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t));
    const x = (t) => pad + (W - pad - 16) * (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0));
    const yy = (v) => 8 + (H - pad - 8) * (1 - (v - lo) / (hi - lo));
    ctx.fillStyle = "#4a4f57"; ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(hi.toFixed(2), 2, 16); ctx.fillText(lo.toFixed(2), 2, H - pad);
    for (const [loc, pts] of Object.entries(series)) {
      ctx.strokeStyle = colourOf(loc); ctx.fillStyle = colourOf(loc); ctx.lineWidth = 2;
      ctx.beginPath();
      pts.forEach((p, i) => (i ? ctx.lineTo(x(p.t), yy(p.mean)) : ctx.moveTo(x(p.t), yy(p.mean))));
      ctx.stroke();
      for (const p of pts) { ctx.beginPath(); ctx.arc(x(p.t), yy(p.mean), 3, 0, 2 * Math.PI); ctx.fill(); }
    }
  }

  // -- Traffic light ---------------------------------------------------------------------------------
  function lightColour(reported) {
    if (!reported || typeof reported !== "object") return null;
    const norm = (v) => {
      if (typeof v !== "string") return null;
      const u = v.trim().toUpperCase();
      if (u === "AMBER" || u === "ORANGE" || u === "Y") return "YELLOW";
      if (u === "G") return "GREEN";     // the devices report G / Y / R, as AWS's sample does
      if (u === "R") return "RED";
      return ["RED", "YELLOW", "GREEN"].includes(u) ? u : null;
    };
    for (const k of ["property", "color", "colour", "light", "state", "signal"]) {
      const c = norm(reported[k]); if (c) return c;
    }
    for (const v of Object.values(reported)) { const c = norm(v); if (c) return c; }
    return null;
  }
  function renderTraffic(s) {
    const shadows = s.shadows;
    let thing = TRAFFIC_THING, doc = null;
    if (shadows) {
      if (!shadows[thing]) thing = Object.keys(shadows).find((t) => /light/i.test(t)) || thing;
      doc = shadows[thing] || null;
    }
    $("light-thing").textContent = thing;
    const reported = doc && doc.state ? doc.state.reported : null;
    const colour = lightColour(reported);
    for (const c of ["red", "yellow", "green"]) $("lamp-" + c).classList.toggle("on", colour === c.toUpperCase());
    $("traffic-light").dataset.colour = colour || "";
    $("light-state").textContent = !shadows ? "Light: shadow service not running"
      : !doc ? "Light: no shadow document yet" : "Light: " + (colour || "unknown (reported state has no colour)");
    $("light-version").textContent = doc ? fmt(doc.version) : "–";
    $("light-document").textContent = doc ? JSON.stringify(doc, null, 2) : "(none)";
    if (!s.car_stats) replace($("car-stats"), down("car_stats"));
    else replace($("car-stats"), Object.keys(s.car_stats).length ? kv(s.car_stats) : h("p", {}, "No cars counted yet."));
    if (!s.dynamodb_items) replace($("dynamodb-items"), down("dynamodb_items"));
    else if (!s.dynamodb_items.length) replace($("dynamodb-items"), h("p", {}, "The table is empty."));
    else {
      const unwrap = (v) => (v && typeof v === "object" && Object.keys(v).length === 1 && ["S", "N", "BOOL"].includes(Object.keys(v)[0]) ? Object.values(v)[0] : v);
      const items = s.dynamodb_items.slice(-20);
      const cols = [...new Set(items.flatMap((i) => Object.keys(i)))].slice(0, 8);
      replace($("dynamodb-items"), table("Latest items (up to 20)", cols, items.map((i) => cols.map((c) => unwrap(i[c])))));
    }
  }

  // -- Webcam ------------------------------------------------------------------------------------------
  let lastFrameKey = null;
  let frameShown = false;  // a frame loaded once: keep it after the uploader deleted the file
  function renderWebcam(s) {
    const w = s.webcam;
    const img = $("webcam-image");
    if (!w) { replace($("webcam-body"), down("webcam")); img.hidden = true; return; }
    const counts = {"Frames captured": w.captured, "Frames saved": w.saved, "Frames uploaded": w.uploaded};
    if (w.source) counts["Frame source"] = w.source === "synthetic" ? "synthetic test pattern (no camera)" : w.source;
    if (w.last_error) counts["Last error"] = w.last_error;
    const parts = [kv(counts)];
    const st = w.export_statuses || [];
    if (st.length) {
      const cols = [...new Set(st.flatMap((x) => Object.keys(x)))].slice(0, 6);
      parts.push(table("S3 export status (newest last)", cols, st.slice(-10).map((x) => cols.map((c) => x[c]))));
    } else parts.push(h("p", {class: "hint"}, "No S3 export status yet."));
    replace($("webcam-body"), ...parts);
    if (w.latest_jpeg_path) {
      const key = w.latest_jpeg_path + "|" + w.saved + "|" + w.captured;
      if (key !== lastFrameKey) {
        lastFrameKey = key;
        img.src = "/api/webcam/latest.jpg?token=" + encodeURIComponent(token) + "&v=" + encodeURIComponent(key);
      }
      img.hidden = false;
    } else img.hidden = !frameShown;
  }
  async function takeSnapshot() {
    const out = $("snapshot-result"), btn = $("snapshot-button");
    btn.disabled = true;
    out.replaceChildren(h("p", {}, "Asking the snapshot API…"));
    try {
      const r = await api("POST", "/api/snapshot?stream_name=webcam");
      const nodes = [h("p", {}, "Snapshot ready.")];
      const url = r.url || r.presigned_url || r.PresignedUrl;
      if (typeof url === "string" && /^https?:\/\//.test(url)) nodes.push(h("p", {}, h("a", {href: url, target: "_blank", rel: "noopener noreferrer"}, "Open the snapshot JPEG")));
      nodes.push(h("pre", {}, JSON.stringify(r, null, 2)));
      out.replaceChildren(...nodes);
    } catch (e) {
      out.replaceChildren(h("p", {class: "error"}, "Snapshot failed: " + e.message));
    } finally { btn.disabled = false; }
  }

  // -- Streams -----------------------------------------------------------------------------------------
  function renderStreams(s) {
    if (!s.streams) { replace($("streams-body"), down("streams")); return; }
    if (!s.streams.length) { replace($("streams-body"), h("p", {}, "No streams.")); return; }
    replace($("streams-body"), table("Message streams", ["Stream", "Sequence numbers", "Size", "When full", "Exporters (position, lag)"],
      s.streams.map((st) => {
        const range = st.oldest === null || st.oldest === undefined ? "empty" : st.oldest + " … " + st.newest;
        const ex = (st.exporters || []).length
          ? h("ul", {}, ...st.exporters.map((e) => h("li", {}, breakable(`${e.id} (${e.kind}): position ${fmt(e.position)}, lag ${fmt(e.lag)}` +
            (e.state ? `, ${e.state}` : "") + (e.error ? ` — ${e.error}` : "")))))
          : "none";
        return [st.name, range, fmtBytes(st.bytes), st.strategy, ex];
      })));
  }

  // -- Platform: V1 or Greengrass V2 (deployment, components, client-device auth) --------------------------
  const PROBLEM = new Set(["FAILED", "ERRORED", "BROKEN", "UNHEALTHY"]);
  function stateBadge(state) {
    if (!state) return h("span", {class: "badge badge-neutral"}, "not reported");
    const cls = PROBLEM.has(state) ? "badge-bad" : (state === "RUNNING" || state === "SUCCEEDED" || state === "HEALTHY"
      || state === "FINISHED") ? "badge-ok" : "badge-neutral";
    return h("span", {class: "badge " + cls}, state);
  }
  function renderPlatform(s) {
    // a core without a "platform" section predates V2: it is a V1 core
    if (!s.platform && s.errors && s.errors.platform) return;   // keep what the page shows; the error is listed
    const p = (s.platform && typeof s.platform === "object") ? s.platform : {name: "v1", label: "Greengrass V1"};
    const label = p.label || p.name;
    if ($("platform").textContent !== label) { $("platform").textContent = label; document.title = label + " local core — dashboard"; }
    document.body.dataset.corePlatform = p.name;
    document.querySelectorAll("[data-platform]").forEach((el) => { el.hidden = el.dataset.platform !== p.name; });
    if (p.name !== "v2") return;

    const d = p.deployment || {};
    replace($("deployment-info"), kv({"Deployment": d.id, "Status": d.status, "Message": d.message || "–"}));
    const devices = d.core_devices || [];
    replace($("core-devices"), devices.length ? table("Deployment status per core device",
      ["Core device", "Deployment status", "Reason", "Health"],
      devices.map((c) => [c.thing, stateBadge(c.status), c.reason || "–",
        h("span", {}, stateBadge(c.health), ...(c.health_reasons || []).length
          ? [h("span", {class: "hint"}, " " + c.health_reasons.join("; "))] : [])]),
      null, (i) => (devices[i].status === "FAILED" || devices[i].health === "UNHEALTHY") ? "row-bad" : null)
      : h("p", {class: "down"}, "No core device has reported this deployment yet."));

    const comps = Array.isArray(p.components) ? p.components : [];
    const bad = comps.filter((c) => c.problem);
    $("components-summary").textContent = comps.length + " component" + (comps.length === 1 ? "" : "s") +
      (bad.length ? ", " + bad.length + " in trouble: " + bad.map((c) => c.name + " " + c.state).join(", ") : ", none in trouble") + ".";
    replace($("components-body"), comps.length ? table("Components of the deployment on this core device",
      ["Component", "Version", "Kind", "Lifecycle state", "Details"],
      comps.map((c) => [c.name, c.version, c.kind, stateBadge(c.state), c.details || "–"]),
      null, (i) => comps[i].problem ? "row-bad" : null)
      : h("p", {class: "down"}, "The deployment has no components."));

    const ipc = p.ipc;
    if (!ipc) {
      replace($("ipc-summary"), h("p", {class: "down"}, "The nucleus IPC server is not running."));
      replace($("ipc-refusals"));
    } else {
      replace($("ipc-summary"), kv({"Socket": ipc.socket, "Connected components": (ipc.connections || []).join(", ") || "none",
        "Allowed": ipc.allowed, "Refused": ipc.refused}), ...(ipc.problems || []).map((w) => h("p", {class: "error"}, w)));
      const ipcRefusals = ipc.recent_refusals || [];
      replace($("ipc-refusals"), ipcRefusals.length ? table("Newest first", ["Time", "Component", "Operation", "Resource", "Reason"],
        ipcRefusals.map((r) => [fmtTime(r.time), r.principal, r.operation, r.resource, r.reason]))
        : h("p", {class: "hint"}, "No refusals."));
    }

    const a = p.client_auth;
    if (!a) {
      replace($("client-auth-decisions"), h("p", {class: "down"}, "No client-device policy (the Auth component is not configured)."));
      replace($("client-auth-refusals")); replace($("client-auth-groups"));
      return;
    }
    const ops = Object.entries(a.decisions || {});
    replace($("client-auth-decisions"), table("Decisions per operation", ["Operation", "Allowed", "Refused"],
      ops.map(([op, c]) => [op, c.allowed, c.refused]), [1, 2], (i) => ops[i][1].refused ? "row-warn" : null));
    const refusals = a.recent_refusals || [];
    replace($("client-auth-refusals"), refusals.length ? table("Newest first", ["Time", "Thing", "Operation", "Resource", "Reason"],
      refusals.map((r) => [fmtTime(r.time), r.thing, r.operation, r.resource, r.reason]))
      : h("p", {class: "hint"}, "No refusals."));
    const groups = Object.entries(a.groups || {});
    replace($("client-auth-groups"), groups.length ? table("Device groups of the Auth configuration",
      ["Device group", "Selection rule", "Policy"], groups.map(([n, g]) => [n, g.selectionRule, g.policyName]))
      : h("p", {class: "hint"}, "No device groups: no client device may connect."),
      ...(a.warnings || []).map((w) => h("p", {class: "error"}, w)));
  }

  // -- status -------------------------------------------------------------------------------------------
  const LIST_SECTIONS = ["functions", "devices", "subscriptions", "streams", "dynamodb_items", "connectors"];
  function onStatus(s) {
    s = Object.assign({}, s);
    s.errors = Object.assign({}, s.errors || {});
    for (const key of LIST_SECTIONS) {   // a section of the wrong shape is reported, not fatal
      if (s[key] !== undefined && !Array.isArray(s[key])) {
        s.errors[key] = "the core reports “" + key + "” as " + typeof s[key] + ", expected a list (see web/facade.py)";
        delete s[key];
      }
    }
    if (!Object.keys(s.errors).length) delete s.errors;
    const safe = (fn) => { try { fn(s); } catch (e) { console.warn("render failed", e); } };
    safe(renderPlatform); safe(renderGroup); safe(renderTraffic); safe(renderWebcam); safe(renderStreams);
    const errs = s.errors ? Object.entries(s.errors) : [];
    document.querySelectorAll(".panel > .error.section").forEach((n) => n.remove());
    for (const [section, msg] of errs) {
      const panel = {group: "group", functions: "group", devices: "group", subscriptions: "group", connectors: "group",
        shadows: "traffic", car_stats: "traffic", dynamodb_items: "traffic", webcam: "webcam", streams: "streams",
        platform: "group"}[section] || "group";
      $(panel).appendChild(h("p", {class: "error section"}, section + ": " + msg));
    }
  }

  // -- MQTT console ---------------------------------------------------------------------------------------
  let clientId = null;
  const consoleSubs = [];   // [{filter, id}]
  function setConnection(text, cls) { const c = $("connection"); c.textContent = text; c.className = "pill " + cls; }
  function renderConsoleSubs() {
    $("console-subscriptions").replaceChildren(...consoleSubs.map((sub) => {
      const btn = h("button", {type: "button", class: "small", "aria-label": "Unsubscribe from " + sub.filter}, "Unsubscribe");
      btn.addEventListener("click", () => unsubscribe(sub));
      return h("li", {}, h("code", {}, sub.filter), btn);
    }));
  }
  async function subscribe(filter) {
    const r = await api("POST", "/api/subscriptions", {client: clientId, filter});
    return r.id;
  }
  async function unsubscribe(sub) {
    consoleSubs.splice(consoleSubs.indexOf(sub), 1);
    renderConsoleSubs();
    if (sub.id && clientId) {
      try { await api("DELETE", "/api/subscriptions/" + encodeURIComponent(sub.id) + "?client=" + encodeURIComponent(clientId)); }
      catch (e) { console.warn("unsubscribe", e.message); }
    }
    $("subscribe-result").textContent = "Unsubscribed from " + sub.filter + ".";
  }
  const orphans = [];       // messages whose subscription id this tab does not know (yet)
  function onMessage(m) {
    // the shared stream carries every tab's console subscriptions: show only this tab's
    const sub = consoleSubs.find((x) => x.id === m.subscription);
    if (!sub) {
      orphans.push(m);      // its subscribe answer may still be on the way
      if (orphans.length > 50) orphans.shift();
      return;
    }
    let body = m.payload;
    if (m.encoding === "utf-8") { try { body = JSON.stringify(JSON.parse(m.payload), null, 2); } catch (e) { /* plain text */ } }
    else body = "(binary, base64) " + m.payload;
    const li = h("li", {},
      h("div", {class: "msg-head"}, h("code", {}, m.topic), " from ", h("code", {}, m.source || "?"),
        " at " + fmtTime(m.time) + " · subscription " + sub.filter),
      h("pre", {}, body));
    const list = $("console-messages");
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_MESSAGES) list.removeChild(list.lastChild);
  }
  function adoptOrphans(sub) {
    for (let i = 0; i < orphans.length;) {
      if (orphans[i].subscription === sub.id) onMessage(orphans.splice(i, 1)[0]); else i++;
    }
  }

  // -- events: one stream per browser, shared by its tabs -------------------------------------------
  // Browsers open at most six HTTP/1.1 connections per host: one EventSource per tab stalls the
  // seventh tab. The tab holding the Web Lock is the leader: it alone opens /api/events and relays
  // each event to the other tabs over a BroadcastChannel (same origin only). When the leader goes,
  // the lock passes to a waiting tab, whose new stream has a new client id: every tab then
  // subscribes its console filters again. Without Web Locks (an insecure context, e.g. another
  // host over plain HTTP) every tab keeps its own stream, as before.
  const SHARED = typeof BroadcastChannel === "function" && !!(navigator.locks && navigator.locks.request);
  let channel = null;
  let leader = false;
  let joined = false;       // a follower fetched the aggregates it missed
  const last = {};          // the leader's latest hello / status, for tabs that join later

  async function onHello(data) {
    if (!data || data.client === clientId) return;   // the same stream announced again
    clientId = data.client;
    setConnection("Live", "pill-ok");
    $("connection").title = SHARED ? (leader ? "This tab holds the event stream shared by this browser's tabs"
      : "Live through the event stream another tab of this browser holds") : "";
    if (!leader && !joined) {
      joined = true;
      try {
        const latest = await api("GET", "/api/aggregates");
        onAggregates({records: Object.values(latest), time: Date.now() / 1000, initial: true});
      } catch (e) { console.warn("aggregates", e.message); }
    }
    for (const sub of consoleSubs) {   // a new stream needs the console's subscriptions again
      try { sub.id = await subscribe(sub.filter); adoptOrphans(sub); } catch (e) { sub.id = null; }
    }
  }
  function onDisconnected() {
    clientId = null;
    setConnection("Disconnected — retrying…", "pill-bad");
  }
  function onRefused(reason) {
    sessionStorage.removeItem("dashboardToken");
    setConnection("Refused", "pill-bad");
    const alert = $("token-missing");
    alert.textContent = "The dashboard refused this page: " + reason + ".";
    alert.hidden = false;
  }
  function dispatch(type, data) {
    if (type === "hello") onHello(data);
    else if (type === "status") onStatus(data);
    else if (type === "aggregates") onAggregates(data);
    else if (type === "message") onMessage(data);
    else if (type === "disconnected") onDisconnected();
    else if (type === "refused") onRefused(data.reason);
  }
  function relay(type, data) {
    if (type === "hello" || type === "status") last[type] = data;
    if (channel) channel.postMessage({type, data});
    dispatch(type, data);
  }

  /** Open the stream in this tab; resolves only when the page was refused (the lock is kept meanwhile). */
  function lead() {
    leader = true;
    return new Promise((resolve) => {
      const es = new EventSource("/api/events?token=" + encodeURIComponent(token));
      for (const type of ["hello", "status", "aggregates", "message"]) {
        es.addEventListener(type, (ev) => relay(type, JSON.parse(ev.data)));
      }
      es.addEventListener("error", async () => {
        last.hello = null;
        relay("disconnected", {});
        // EventSource hides the HTTP status: ask once whether the token is refused (a stale tab
        // from an earlier run) and stop retrying then
        try {
          const resp = await fetch("/api/status", {headers: {"X-Dashboard-Token": token}});
          if (resp.status === 403) {
            const reason = (await resp.json()).reason || "refused";
            es.close();
            relay("refused", {reason});
            resolve();
          }
        } catch (e) { /* the core is down: EventSource keeps retrying */ }
      });
      // free the connection at once (six per host) and let another tab take over
      window.addEventListener("pagehide", () => {
        es.close();
        if (channel) channel.postMessage({type: "disconnected", data: {}});
      });
    });
  }

  function connect() {
    // a page restored from the back/forward cache has closed its stream: start afresh
    window.addEventListener("pageshow", (ev) => { if (ev.persisted) location.reload(); });
    if (!SHARED) { lead(); return; }
    channel = new BroadcastChannel("gg-dashboard-events:" + token);
    channel.addEventListener("message", (ev) => {
      const m = ev.data || {};
      if (m.type === "sync") {           // a tab joined: tell it where the stream stands
        if (leader && last.hello) channel.postMessage({type: "hello", data: last.hello});
        if (leader && last.status) channel.postMessage({type: "status", data: last.status});
        return;
      }
      if (!leader) dispatch(m.type, m.data);
    });
    channel.postMessage({type: "sync"});
    // waits while another tab leads; the lock is released when that tab closes or navigates away
    navigator.locks.request("gg-dashboard-events:" + token, () => lead());
  }

  function init() {
    renderAggregates();
    if (!token) {
      $("token-missing").hidden = false;
      setConnection("No token", "pill-bad");
      return;
    }
    $("snapshot-button").addEventListener("click", takeSnapshot);
    $("webcam-image").addEventListener("load", () => { frameShown = true; });
    $("webcam-image").addEventListener("error", () => {
      $("webcam-image").hidden = true;
      $("webcam-body").appendChild(h("p", {class: "error"}, "The latest frame could not be loaded."));
    });
    $("clear-messages").addEventListener("click", () => $("console-messages").replaceChildren());
    $("subscribe-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const filter = $("subscribe-filter").value.trim();
      const out = $("subscribe-result");
      if (!filter) { out.textContent = "Enter a topic filter."; return; }
      if (!clientId) { out.textContent = "Not connected yet; try again in a moment."; return; }
      try {
        const id = await subscribe(filter);
        const sub = {filter, id};
        consoleSubs.push(sub);
        adoptOrphans(sub);
        renderConsoleSubs();
        out.textContent = "Subscribed to " + filter + ".";
      } catch (e) { out.textContent = "Subscribe failed: " + e.message; }
    });
    $("publish-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const topic = $("publish-topic").value.trim(), text = $("publish-payload").value;
      const out = $("publish-result");
      out.className = "";
      if (!topic) { out.textContent = "Enter a topic."; return; }
      try { JSON.parse(text); } catch (e) { out.className = "error"; out.textContent = "The payload is not valid JSON: " + e.message; return; }
      try {
        const r = await api("POST", "/api/publish", {topic, payload: text});
        const n = r.delivered || 0;
        if (n > 0) out.textContent = "Published on " + topic + ": delivered to " + n + " target" + (n === 1 ? "" : "s") + ".";
        else if (r.matched) out.textContent = "Published on " + topic + ": " + r.matched + " subscription(s) matched but no target was connected: dropped.";
        else out.textContent = "Published on " + topic + ": no subscription matched: dropped.";
        out.dataset.delivered = String(n);
      } catch (e) { out.className = "error"; out.textContent = "Publish failed: " + e.message; }
    });
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
