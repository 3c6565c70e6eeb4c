// Tether's dashboard: logs in, then keeps a copy of the fleet rows and
// tasks up to date from the scheduler's event stream (/api/events: a
// snapshot, then only what changed) and redraws at most once a frame.
"use strict";

const $ = (id) => document.getElementById(id);
const nodes = new Map(); // node id → fleet row
const tasks = new Map(); // task id → status
let me = null;           // {user, role}
let events = null;
let summary = { nodes: 0, online: 0, throttled: 0 };
let drawPending = false;

// maxRows bounds the fleet rows drawn: the filter narrows a large fleet.
const maxRows = 200;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function num(v, digits) {
  return v === undefined || v === null ? "–" : Number(v).toFixed(digits);
}

function ago(ts) {
  if (!ts || ts.startsWith("0001")) return "–";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

function status(r) {
  return r.online ? "online" : "offline" + (r.reason ? " (" + r.reason + ")" : "");
}

function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; draw(); });
}

function draw() {
  $("sum-nodes").textContent = summary.nodes;
  $("sum-online").textContent = summary.online;
  $("sum-offline").textContent = summary.nodes - summary.online;
  $("sum-throttled").textContent = summary.throttled;
  $("sum-tasks").textContent = tasks.size;
  drawFleet();
  drawTasks();
}

function drawFleet() {
  const q = $("filter").value.trim().toLowerCase();
  const problems = $("problems").checked;
  const rows = [];
  let matching = 0;
  for (const r of nodes.values()) {
    if (problems && r.online && !r.throttled) continue;
    if (q && ![r.node, r.model, r.version, r.arch, status(r)].some((s) => (s || "").toLowerCase().includes(q))) continue;
    matching++;
    rows.push(r);
  }
  rows.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const body = document.createElement("tbody");
  for (const r of rows.slice(0, maxRows)) {
    const tr = el("tr");
    tr.dataset.node = r.node;
    tr.append(
      el("td", r.node),
      el("td", status(r), "status " + (r.online ? "online" : "offline")),
      el("td", num(r.cpu, 1), "num"),
      el("td", num(r.mem, 1), "num"),
      el("td", num(r.temp_c, 1), "num" + (r.temp_c >= 80 ? " hot" : "")),
      el("td", r.throttled ? "yes" : "no", "throttled" + (r.throttled ? " hot" : "")),
      el("td", r.version || "–"),
      el("td", r.arch || "–"),
      el("td", r.model || "–"),
      el("td", ago(r.last_seen)),
    );
    body.append(tr);
  }
  $("fleet").tBodies[0].replaceWith(body);
  $("fleet-count").textContent = matching > maxRows
    ? "showing " + maxRows + " of " + matching + ": filter to narrow"
    : matching + " shown";
}

function terminal(state) {
  return state === "succeeded" || state === "failed" || state === "cancelled";
}

function drawTasks() {
  const list = [...tasks.values()].sort((a, b) => (a.submitted < b.submitted ? 1 : -1));
  const body = document.createElement("tbody");
  for (const t of list) {
    const tr = el("tr");
    tr.dataset.task = t.task;
    const prog = el("td");
    if (t.total > 0) {
      const p = el("progress");
      p.max = t.total;
      p.value = t.progress || 0;
      prog.append(p, " " + Math.floor((100 * (t.progress || 0)) / t.total) + " %");
    } else {
      prog.textContent = "–";
    }
    const att = el("td");
    const d = el("details");
    d.append(el("summary", (t.attempts || []).length + " attempt(s)"));
    const ol = el("ol");
    for (const a of t.attempts || []) {
      ol.append(el("li", a.node + ": " + a.state + (a.reason ? " (" + a.reason + ")" : "") +
        (a.resumed_from ? ", resumed from " + a.resumed_from : "")));
    }
    d.append(ol);
    att.append(d);
    const act = el("td");
    if (!terminal(t.state)) {
      const b = el("button", "Cancel", "cancel");
      if (me && me.role === "operator") {
        b.addEventListener("click", () => cancel(t.task, b));
      } else {
        b.disabled = true;
        b.title = "monitors cannot cancel tasks";
      }
      act.append(b);
    }
    tr.append(el("td", t.task), el("td", t.state + (t.error ? ": " + t.error : ""), "state"),
      el("td", t.node || "–"), prog, att, el("td", ago(t.updated)), act);
    body.append(tr);
  }
  $("tasks").tBodies[0].replaceWith(body);
}

async function cancel(id, button) {
  button.disabled = true;
  $("cancel-error").textContent = "";
  const r = await fetch("api/tasks/" + encodeURIComponent(id) + "/cancel", { method: "POST" });
  if (!r.ok) {
    const e = await r.json().catch(() => ({ error: r.statusText }));
    $("cancel-error").textContent = "Cancel " + id + ": " + e.error;
    button.disabled = false;
  }
}

function apply(ev) {
  if (ev.full) { nodes.clear(); tasks.clear(); }
  for (const r of ev.nodes || []) nodes.set(r.node, r);
  for (const t of ev.tasks || []) tasks.set(t.task, t);
  for (const id of ev.gone || []) tasks.delete(id);
  summary = ev.summary;
  scheduleDraw();
}

function connect() {
  events = new EventSource("api/events");
  events.onopen = () => { $("live").textContent = "live"; $("live").className = "live"; };
  events.onmessage = (m) => apply(JSON.parse(m.data));
  events.onerror = async () => {
    $("live").textContent = "reconnecting"; $("live").className = "live off";
    // A stream refused for a login that expired does not come back.
    const r = await fetch("api/me");
    if (r.status === 401) { events.close(); showLogin(""); }
  };
}

function showLogin(msg) {
  me = null;
  $("app").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = msg;
}

function showApp(who) {
  me = who;
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = who.user + " (" + who.role + ")";
  document.body.dataset.role = who.role;
  connect();
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await fetch("api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: $("user").value, password: $("password").value }),
  });
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) { showLogin(body.error); return; }
  $("password").value = "";
  showApp(body);
});

$("logout").addEventListener("click", async () => {
  if (events) events.close();
  await fetch("api/logout", { method: "POST" });
  showLogin("");
});

$("filter").addEventListener("input", scheduleDraw);
$("problems").addEventListener("change", scheduleDraw);
setInterval(scheduleDraw, 5000); // "last seen" moves on

(async () => {
  const r = await fetch("api/me");
  if (r.ok) showApp(await r.json()); else showLogin("");
})();
