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
let box = { x: 0, y: 0, w: 800, h: 600 }, byLabel = {};
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
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  m.appendChild(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#546e7a" })); defs.appendChild(m);
  view.appendChild(defs);
  byLabel = {};
  for (const n of g.nodes) {
    const cls = n.group ? "group" : n.port ? "node port" : n.missing ? "node missing" : "node";
    const grp = el("g", { class: cls + (n.reason && !n.port ? " inactive" : ""), "data-label": n.label,
      "data-kind": n.kind, id: "node-" + n.key });
    if (n.reason) grp.appendChild(el("title", {}, n.reason));
    grp.appendChild(el("rect", { x: n.x, y: n.y, width: n.w, height: n.h, rx: n.port ? n.h / 2 : 6 }));
    if (n.group) {
      grp.appendChild(el("text", { x: n.x + 10, y: n.y + 16 }, `${n.label} (${n.kind})` + (n.reason ? " — inactive" : "")));
    } else {
      grp.appendChild(el("text", { x: n.x + n.w / 2, y: n.y + 17, "text-anchor": "middle" }, n.label));
      if (!n.port) grp.appendChild(el("text", { x: n.x + n.w / 2, y: n.y + 33, "text-anchor": "middle", class: "kind" }, n.kind));
      if (n.reason && !n.port) grp.appendChild(el("text", { x: n.x + n.w / 2, y: n.y + 49, "text-anchor": "middle",
        class: "reason" }, "inactive: " + (n.reason.length > 48 ? n.reason.slice(0, 47) + "…" : n.reason)));
      const live = el("text", { x: n.x + n.w / 2, y: n.y + n.h + 11, "text-anchor": "middle", class: "live" }, "");
      const dur = el("text", { x: n.x + n.w / 2, y: n.y + n.h + 23, "text-anchor": "middle", class: "live" }, "");
      grp.appendChild(live); grp.appendChild(dur);
      if (n.top) byLabel[n.label] = [live, dur];
    }
    grp.addEventListener("click", () => open(n));
    view.appendChild(grp);
  }
  for (const e of g.edges) {
    if (e.points.length < 2) continue;
    const cls = "edge" + (e.error ? " error" : "") + (e.broken ? " broken" : "");
    view.appendChild(el("polyline", { class: cls, points: e.points.map(p => p.join(",")).join(" ") }));
    const mid = e.points[Math.floor(e.points.length / 2) - (e.points.length % 2 ? 0 : 1)];
    const next = e.points[Math.min(e.points.length - 1, e.points.indexOf(mid) + 1)];
    view.appendChild(el("text", { class: "label", x: (mid[0] + next[0]) / 2, y: (mid[1] + next[1]) / 2 - 4,
      "text-anchor": "middle" }, e.label + (e.broken ? " (ignored)" : "")));
  }
  box = { x: 0, y: 0, w: Math.max(g.width, 200), h: Math.max(g.height, 150) }; setBox();
}
function open(n) {
  const d = document.getElementById("detail");
  d.replaceChildren();
  const add = (t) => { const p = document.createElement("p"); p.textContent = t; d.appendChild(p); };
  add(`${n.label} (${n.kind})`);
  add(n.reason ? "inactive: " + n.reason : "active");
  d.dataset.node = n.label;
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
      for (const name in data.nodes) {
        const t = byLabel[name], s = data.nodes[name];
        if (t) {
          t[0].textContent = `${s.packets} · ${s.pps}/s · ${s.eps} err/s`;
          t[0].setAttribute("data-packets", s.packets);
          t[1].textContent = `p50 ${ms(s.p50)} p99 ${ms(s.p99)}`;
        }
      }
    }
  }
  document.getElementById("status").textContent = "disconnected";
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
  draw(g);
  follow();
})();
