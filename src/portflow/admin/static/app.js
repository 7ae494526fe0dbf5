// portflow's browser view: draws /ui/api/graph (laid out by the server) and follows /ui/api/events.
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const api = (path, opts = {}) => {
  const token = sessionStorage.getItem("portflow-token");
  const headers = Object.assign({}, opts.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  return fetch("api/" + path, Object.assign({}, opts, { headers }));
};
function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
const view = document.getElementById("view"), svg = document.getElementById("graph");
let box = { x: 0, y: 0, w: 800, h: 600 }, byLabel = {}, byLink = {}, writable = false, opened = null;
function setText(e, text) { if (e.textContent !== text) e.textContent = text; }  // unchanged: no relayout
function showReason(grp, text, why) {  // cut to the box's width (the whole reason is the tooltip)
  why = why || "";
  if (grp.dataset.reason === why) return;
  grp.dataset.reason = why;
  grp.classList.toggle("inactive", !!why);
  const most = Math.max(14, Math.floor(grp.querySelector("rect").getAttribute("width") / 5.6) - 10);
  text.textContent = why ? "inactive: " + (why.length > most ? why.slice(0, most - 1) + "…" : why) : "";
  let title = grp.querySelector("title");
  if (why && !title) grp.prepend(title = el("title", {}));
  if (title) title.textContent = why || "";
}
function setBox() { svg.setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`); }
async function authorized(path, opts) {
  let resp = await api(path, opts);
  if (resp.status === 401) {
    const token = prompt("Token (setting admin.token):");
    if (token) { sessionStorage.setItem("portflow-token", token); resp = await api(path, opts); }
  }
  return resp;
}
function draw(g) {
  document.getElementById("title").textContent = g.title || "";
  view.replaceChildren();
  const defs = el("defs", {}), m = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 8, markerHeight: 8, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
  m.appendChild(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#546e7a" })); defs.appendChild(m);
  view.appendChild(defs);
  byLabel = {};
  for (const n of g.nodes) {
    const cls = n.group ? "group" : n.port ? "node port" : n.missing ? "node missing" : "node";
    const grp = el("g", { class: cls + (n.reason && !n.port ? " inactive" : ""), "data-label": n.label,
      "data-kind": n.kind, id: "node-" + n.key });
    grp.appendChild(el("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: n.port ? n.h / 2 : 6 }));
    if (n.group) {
      grp.appendChild(el("text", { x: n.x + 10, y: n.y + 16 }, `${n.label} (${n.kind})` + (n.reason ? " — inactive" : "")));
    } else {
      grp.appendChild(el("text", { x: n.x + n.w / 2, y: n.y + 17, "text-anchor": "middle" }, n.label));
      if (!n.port) grp.appendChild(el("text", { x: n.x + n.w / 2, y: n.y + 33, "text-anchor": "middle", class: "kind" }, n.kind));
      const reason = el("text", { x: n.x + n.w / 2, y: n.y + 49, "text-anchor": "middle", class: "reason" }, "");
      if (!n.port) { grp.appendChild(reason); showReason(grp, reason, n.reason); }
      const live = el("text", { x: n.x + n.w / 2, y: n.y + n.h + 11, "text-anchor": "middle", class: "live" }, "");
      const dur = el("text", { x: n.x + n.w / 2, y: n.y + n.h + 23, "text-anchor": "middle", class: "live" }, "");
      grp.appendChild(live); grp.appendChild(dur);
      // A reason the picture found stays; one the runtime reports (live_reason) follows the events.
      if (n.top) byLabel[n.label] = [live, dur, grp, reason, n.live_reason ? "" : n.reason];
    }
    grp.addEventListener("click", () => open(n));
    view.appendChild(grp);
  }
  byLink = {};
  for (const e of g.edges) {
    if (e.points.length < 2) continue;
    const cls = "edge" + (e.error ? " error" : "") + (e.broken ? " broken" : "");
    const line = el("polyline", { class: cls, points: e.points.map(p => p.join(",")).join(" "), "data-link": e.link });
    view.appendChild(line);
    const mid = e.points[Math.floor(e.points.length / 2) - (e.points.length % 2 ? 0 : 1)];
    const next = e.points[Math.min(e.points.length - 1, e.points.indexOf(mid) + 1)];
    const text = e.label + (e.broken ? " (ignored)" : "");
    const label = el("text", { class: "label", x: (mid[0] + next[0]) / 2, y: (mid[1] + next[1]) / 2 - 4,
      "text-anchor": "middle" }, text);
    const count = el("text", { class: "count", x: (mid[0] + next[0]) / 2, y: (mid[1] + next[1]) / 2 + 12,
      "text-anchor": "middle" }, "");
    view.appendChild(label); view.appendChild(count);
    byLink[e.link] = { line, count, target: e.target, n: 0 };
  }
  graphSize = { w: Math.max(g.width, 200), h: Math.max(g.height, 150) };
  nodesByLabel = {};
  for (const n of g.nodes) if (n.top) nodesByLabel[n.label] = n;
  fit(READABLE);
}
// The whole graph in view, but never smaller than `least` (1: as laid out) nor larger than 1.25: a big one
// starts readable at its top left, and is panned (drag) and zoomed (wheel); "fit" shows all of it.
const READABLE = 0.8;
let graphSize = { w: 800, h: 600 }, nodesByLabel = {};
function fit(least) {
  const W = svg.clientWidth || 800, H = svg.clientHeight || 600;
  const s = Math.min(Math.max(Math.min(W / graphSize.w, H / graphSize.h), least), 1.25);
  const w = W / s, h = H / s;
  box = { x: w > graphSize.w ? (graphSize.w - w) / 2 : 0, y: h > graphSize.h ? (graphSize.h - h) / 2 : 0, w, h };
  setBox();
}
function find(label) {
  const n = nodesByLabel[label];
  if (!n) return false;
  const W = svg.clientWidth || 800, H = svg.clientHeight || 600, s = Math.max(W / box.w, READABLE);
  box = { x: n.x + n.w / 2 - W / s / 2, y: n.y + n.h / 2 - H / s / 2, w: W / s, h: H / s }; setBox();
  open(n);
  return true;
}
// -- the side panel ----------------------------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), attrs[k]); else e.setAttribute(k, attrs[k]);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
}
const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false });
function errorItem(e, withNode) {
  return h("li", { class: "err" }, h("span", { class: "time" }, clock(e.time)), " ",
    withNode ? h("b", {}, e.node) : "", withNode ? " " : "", e.message);
}
async function open(n) {
  if (n.port || n.missing) return;
  const d = document.getElementById("detail");
  d.dataset.node = n.label;
  const resp = await authorized("specs/" + encodeURIComponent(n.label));
  const s = await resp.json();
  if (d.dataset.node !== n.label) return;
  d.replaceChildren();
  if (!resp.ok) { d.append(h("p", { class: "problem" }, s.error || String(resp.status))); return; }
  opened = s;
  d.append(h("h3", {}, `${s.name} (${s.kind})`),
    h("p", { class: s.state === "active" ? "ok" : "problem", id: "state" },
      s.state === "active" ? "active" : "inactive: " + s.reason),
    h("p", { class: "muted" }, `revision ${s.revision}`));
  for (const line of s.compile || []) d.append(h("p", { class: "problem" }, "warning: " + line));
  const area = h("textarea", { id: "yaml", spellcheck: "false", rows: Math.min(30, s.yaml.split("\n").length + 1) });
  area.value = s.yaml;
  if (!writable) area.readOnly = true;
  const gutter = h("div", { id: "problems" });
  const buttons = h("div", { class: "buttons" });
  if (writable) buttons.append(h("button", { id: "save", onclick: () => save(s.name, area, gutter) }, "Save"));
  buttons.append(h("button", { id: "history", onclick: () => history(s.name) }, "History"));
  d.append(area, gutter, buttons, h("div", { id: "revisions" }));
  const traffic = h("div", { id: "traffic" });
  d.append(traffic);
  showTraffic(traffic, s);
  clearInterval(polling);  // the frames and errors follow while the node is open
  polling = setInterval(async () => {
    if (d.dataset.node !== s.name || !document.body.contains(traffic)) return;
    const r = await authorized("frames?node=" + encodeURIComponent(s.name));
    if (r.ok && d.dataset.node === s.name) showTraffic(traffic, await r.json());
  }, 2000);
}
let polling = null;
function showTraffic(box, t) {
  box.replaceChildren(h("h4", {}, "Its recent errors"));
  box.append(t.errors === null ? h("p", { class: "muted" }, "not kept") :
    t.errors.length ? h("ul", { id: "node-errors" }, ...t.errors.map(e => errorItem(e, false))) :
    h("p", { class: "muted" }, "none"));
  box.append(h("h4", {}, "Last frames"));
  if (t.frames === null) box.append(h("p", { class: "muted" }, "not kept"));
  else if (!t.frames.length) box.append(h("p", { class: "muted" }, "none yet (kept while this page is open)"));
  else box.append(h("ol", { id: "frames" }, ...t.frames.map(f => h("li", { class: f.error ? "frame err" : "frame" },
    h("span", { class: "time" }, `${clock(f.time)} ${f.port} ${ms(f.seconds)}`),
    h("pre", {}, "in:  " + f.input + "\nout: " + f.output)))));
}
async function save(name, area, gutter) {
  gutter.replaceChildren(h("p", { class: "muted" }, "saving…"));
  const resp = await authorized("specs/" + encodeURIComponent(name), { method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ yaml: area.value, revision: opened ? opened.revision : null }) });
  const r = await resp.json();
  gutter.replaceChildren();
  if (r.ok) {  // redrawn and reopened, then said
    await refresh(r.name || name);
    const said = h("p", { class: "ok saved" }, `saved: revision ${r.revision}`);
    for (const w of r.warnings || []) said.append(h("br"), "warning: " + w);
    document.getElementById("problems").replaceChildren(said);
    return;
  }
  for (const p of r.problems || [{ message: r.error || String(resp.status) }]) {
    gutter.append(h("p", { class: "problem inline" }, p.line ? h("b", {}, `line ${p.line}` + (p.field ? ` (${p.field})` : "") + ": ") : "", p.message));
  }
  const first = (r.problems || []).find(p => p.line);
  if (first) {  // put the cursor on the line the problem names
    const lines = area.value.split("\n"), at = lines.slice(0, first.line - 1).join("\n").length + (first.line > 1 ? 1 : 0);
    area.focus(); area.setSelectionRange(at, at + lines[first.line - 1].length);
  }
}
async function history(name) {
  const box = document.getElementById("revisions");
  const resp = await authorized("specs/" + encodeURIComponent(name) + "/history");
  const r = await resp.json();
  box.replaceChildren();
  if (!resp.ok) { box.append(h("p", { class: "problem" }, r.error)); return; }
  const rows = r.history.map((rev, i) => h("tr", { "data-revision": rev.revision },
    h("td", {}, String(rev.revision)), h("td", {}, rev.at.replace("T", " ").slice(0, 19)), h("td", {}, rev.op),
    h("td", {}, i === 0 ? "(current)" : rev.changed),
    h("td", {}, i > 0 && writable ? h("button", { class: "rollback", onclick: () => rollback(name, rev.revision) }, "Roll back") : "")));
  box.append(h("table", { class: "history" }, h("tr", {}, ...["rev", "at", "op", "changed", ""].map(t => h("th", {}, t))), ...rows));
}
async function rollback(name, revision) {
  const resp = await authorized("specs/" + encodeURIComponent(name) + "/rollback", { method: "POST",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ to: revision }) });
  const r = await resp.json();
  await refresh(name);
  document.getElementById("problems").replaceChildren(r.ok ? h("p", { class: "ok rolled" }, r.message) :
    h("p", { class: "problem" }, (r.problems || []).map(p => p.message).join("; ") || r.error));
}
async function refresh(name) {
  const resp = await authorized("graph");
  const g = await resp.json();
  if (resp.ok && !g.error) {
    const keep = { ...box }, size = { ...graphSize };
    draw(g);  // fitted anew when its size changed, else where the user had it
    if (size.w === graphSize.w && size.h === graphSize.h) { box = keep; setBox(); }
    live({ nodes: lastNodes });  // the counters as the last event had them, until the next
    for (const link in byLink) {  // redrawn: the counts as they were, not lit
      const l = byLink[link], n = lastPorts[l.target];
      if (n) { l.n = n; l.line.setAttribute("data-packets", n); l.count.textContent = `${n} packet${n === 1 ? "" : "s"}`; }
    }
  }
  const n = (lastGraph = g).nodes.find(x => x.label === name);
  if (n) await open(n);
}
let lastGraph = null, lastPorts = {};
// -- tests -------------------------------------------------------------------------------------------
async function loadTests() {
  const t = document.getElementById("tests");
  const resp = await authorized("tests");
  const r = await resp.json();
  t.replaceChildren();
  if (!resp.ok) { t.append(h("p", { class: "problem" }, r.error)); return; }
  if (!r.tests.length) { t.append(h("p", { class: "muted" }, "no tests (specs of kind test)")); return; }
  t.append(h("ul", { id: "test-list" }, ...r.tests.map(name => h("li", { "data-test": name }, name))));
  if (writable) t.append(h("button", { id: "run-tests", onclick: runTests }, "Run tests"));
}
async function runTests() {
  const btn = document.getElementById("run-tests");
  btn.disabled = true; btn.textContent = "running…";
  const resp = await authorized("tests/run", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ pattern: "" }) });
  const r = await resp.json();
  btn.disabled = false; btn.textContent = "Run tests";
  const list = document.getElementById("test-list");
  if (!resp.ok) { list.after(h("p", { class: "problem" }, r.error)); return; }
  list.replaceChildren(...r.results.map(x => h("li", { "data-test": x.name, class: x.passed ? "pass" : "fail" },
    h("b", {}, x.passed ? "PASS " : "FAIL "), x.name, " ", h("span", { class: "muted" }, ms(x.seconds)),
    x.message ? h("pre", {}, x.message) : null)));
}
function ms(v) { return v === null || v === undefined ? "-" : (v * 1000).toFixed(2) + "ms"; }
async function follow() {
  const resp = await authorized("events");
  if (!resp.ok || !resp.body) return;
  document.getElementById("status").textContent = "live";
  const reader = resp.body.getReader(), dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!chunk.startsWith("data: ")) continue;
      const data = JSON.parse(chunk.slice(6));
      live(data);
    }
  }
  document.getElementById("status").textContent = "disconnected";
}
let lastNodes = {};
function live(data) {
  if (data.nodes) lastNodes = data.nodes;
  if (data.not_ready) {
    for (const name in byLabel) {
      const [, , grp, reason, fixed] = byLabel[name];
      showReason(grp, reason, fixed || data.not_ready[name] || "");
    }
  }
  for (const name in data.nodes) {
    const t = byLabel[name], s = data.nodes[name];
    if (t) {
      setText(t[0], `${s.packets} · ${s.pps}/s · ${s.eps} err/s`);
      t[0].setAttribute("data-packets", s.packets);
      setText(t[1], `p50 ${ms(s.p50)} p99 ${ms(s.p99)}`);
    }
  }
  if (data.ports) lastPorts = data.ports;
  for (const link in data.ports ? byLink : {}) {  // a link whose in-port got packets since the last event lights up
    const l = byLink[link], n = data.ports[l.target];
    if (!n || n === l.n) continue;
    l.n = n;
    l.line.setAttribute("data-packets", n);
    l.count.textContent = `${n} packet${n === 1 ? "" : "s"}`;
    l.line.classList.add("busy");
    clearTimeout(l.timer);
    l.timer = setTimeout(() => l.line.classList.remove("busy"), 900);
  }
  const list = document.getElementById("errors");
  for (const e of (data.errors || []).slice().reverse()) {
    if (list.firstElementChild && list.firstElementChild.tagName === "P") list.replaceChildren();
    list.prepend(errorItem(e, true));
  }
  while (list.children.length > 50) list.lastElementChild.remove();
}
// Pan (drag) and zoom (wheel) by the viewBox.
let drag = null;
svg.addEventListener("mousedown", (e) => { drag = { x: e.clientX, y: e.clientY, bx: box.x, by: box.y }; });
window.addEventListener("mouseup", () => { drag = null; });
window.addEventListener("mousemove", (e) => {
  if (!drag) return;
  const s = box.w / svg.clientWidth;
  box.x = drag.bx - (e.clientX - drag.x) * s; box.y = drag.by - (e.clientY - drag.y) * s; setBox();
});
svg.addEventListener("wheel", (e) => {
  e.preventDefault();
  const f = e.deltaY > 0 ? 1.15 : 1 / 1.15, r = svg.getBoundingClientRect();
  const px = box.x + (e.clientX - r.left) / r.width * box.w, py = box.y + (e.clientY - r.top) / r.height * box.h;
  box = { x: px - (px - box.x) * f, y: py - (py - box.y) * f, w: box.w * f, h: box.h * f }; setBox();
}, { passive: false });
(async () => {
  const resp = await authorized("graph");
  const g = await resp.json();
  if (!resp.ok || g.error) { document.getElementById("status").textContent = g.error || resp.status; return; }
  writable = g.writable;
  document.getElementById("fit").addEventListener("click", () => fit(0));
  const search = document.getElementById("find");
  search.addEventListener("keydown", (e) => {
    if (e.key === "Enter") search.classList.toggle("notfound", !find(search.value.trim()));
  });
  lastGraph = g;
  draw(g);
  follow();
  loadTests();
})();
