// The live seat map. Everything the server sends (names, ids, labels,
// error messages) is operator or buyer input, so it reaches the DOM only
// as text: textContent, attributes that are not URLs, elements built
// here. Never markup: no innerHTML, insertAdjacentHTML or document.write.
// The page's Content-Security-Policy backs this up: it runs no inline
// code, and under Trusted Types Chromium throws on those sinks.
"use strict";
const $ = id => document.getElementById(id);
const colours = 7; // the .cat0 ... .cat6 classes of seatmap.css
let etag = "", program = null;
const selected = new Set();
// The map's elements, found by id rather than by DOM ids built from data:
// each row's seat buttons by "section/row", and seats by seat id. No part
// of a seat id contains "/", so the keys are unambiguous.
const rows = new Map(), seats = new Map();

// el makes an element of class cls whose content is text, as text.
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function option(value, text) {
  const o = el("option", "", text);
  o.value = value;
  return o;
}

function say(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function sayError(body) {
  say(body.error.code + ": " + body.error.message, true);
}

function query() {
  const p = new URLSearchParams();
  if ($("from").value) p.set("from", $("from").value);
  if ($("to").value) p.set("to", $("to").value);
  return p.toString();
}

async function loadProgram() {
  const id = $("program").value.trim();
  const r = await fetch("/v1/programs/" + encodeURIComponent(id));
  const body = await r.json();
  if (!r.ok) { sayError(body); return false; }
  program = body;
  program.colour = new Map(body.categories.map((c, i) => [c.id, "cat" + (i % colours)]));
  $("name").textContent = body.name || body.id;
  $("stops").textContent = body.stops.length > 2 ? "Stops: " + body.stops.map((s, i) => i + " " + s).join(" · ") : "";
  const legend = body.categories.map(c => el("span", program.colour.get(c.id), (c.name || c.id) + " " + (c.price_cents / 100).toFixed(2)));
  for (const status of ["held", "sold", "blocked"]) legend.push(el("span", "seat " + status, status));
  $("legend").replaceChildren(...legend);
  $("category").replaceChildren(option("", "any category"), ...body.categories.map(c => option(c.id, c.name || c.id)));
  etag = "";
  selected.clear(); rows.clear(); seats.clear();
  $("map").replaceChildren();
  drawLayout();
  return true;
}

// drawLayout makes a button for every seat of the program's layout, in
// its seat order; refresh then only sets their statuses. rows maps
// "section/row" to the row's buttons in seat order, as the compact seat
// map lists their statuses.
function drawLayout() {
  for (const s of program.layout.sections) {
    const sec = el("div", "section");
    sec.append(el("h3", "", s.name || "Section " + s.id));
    for (const r of s.rows) {
      const row = el("div", "row");
      row.append(el("span", "name", r.id));
      const buttons = [];
      for (const seat of r.seats) {
        const id = s.id + "/" + r.id + "/" + seat.col;
        const b = el("button", "seat " + (program.colour.get(seat.category) || ""), seat.label || String(seat.col));
        b.dataset.seat = id;
        b.dataset.category = seat.category;
        b.title = id + " (" + seat.category + ")";
        b.addEventListener("click", () => toggle(b));
        seats.set(id, b);
        buttons.push(b);
        row.append(b);
      }
      rows.set(s.id + "/" + r.id, buttons);
      sec.append(row);
    }
    $("map").append(sec);
  }
}

// refresh polls the versioned seat map in the compact format (a status
// character per seat, joined here with the layout): a byte a seat
// whatever the program's size, and an unchanged map costs a 304.
async function refresh() {
  if (!program) return;
  const r = await fetch("/v1/programs/" + encodeURIComponent(program.id) + "/seats?format=compact&" + query(),
                        {headers: etag ? {"If-None-Match": etag} : {}});
  if (r.status === 304) return;
  const body = await r.json();
  if (!r.ok) { sayError(body); return; }
  etag = r.headers.get("ETag") || "";
  $("version").textContent = "version " + body.version;
  for (const s of body.sections) {
    for (const row of s.rows) draw(rows.get(s.id + "/" + row.id) || [], row.statuses);
  }
}

const statusNames = {f: "free", h: "held", s: "sold", b: "blocked"};

// draw sets the statuses of a row's buttons, one character each.
function draw(buttons, statuses) {
  buttons.forEach((b, i) => {
    const status = statusNames[statuses[i]];
    if (!status) return;
    const id = b.dataset.seat;
    b.className = "seat " + (program.colour.get(b.dataset.category) || "") + " " + status + (selected.has(id) ? " selected" : "");
    b.dataset.status = status;
    if (status !== "free") selected.delete(id);
  });
}

function toggle(b) {
  if (b.dataset.status !== "free") return;
  const id = b.dataset.seat;
  if (selected.has(id)) selected.delete(id); else selected.add(id);
  b.classList.toggle("selected", selected.has(id));
}

function holders(n) {
  const text = $("holders").value.trim();
  if (!text) return undefined;
  const list = text.split(",").map(h => { const [name, id] = h.split(":"); return {name: (name || "").trim(), id_number: (id || "").trim()}; });
  return list.slice(0, n);
}

async function hold(req) {
  const token = $("token").value.trim();
  if (!token) { say("a buyer token is needed: paste one, or get a dev token", true); return; }
  localStorage.setItem("seatd-token", token);
  if ($("from").value) req.from = Number($("from").value);
  if ($("to").value) req.to = Number($("to").value);
  const h = holders(req.seats ? req.seats.length : req.count);
  if (h) req.holders = h;
  const r = await fetch("/v1/programs/" + encodeURIComponent(program.id) + "/holds", {
    method: "POST", headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json",
                              "Idempotency-Key": crypto.randomUUID ? crypto.randomUUID() : String(Math.random())},
    body: JSON.stringify(req)});
  const body = await r.json();
  if (!r.ok) { sayError(body); return; }
  selected.clear();
  say("Hold " + body.hold_id + " (order " + body.order_no + "): " + body.seats.map(s => s.id).join(" ") +
      ", " + (body.total_cents / 100).toFixed(2) + ", pay by " + new Date(body.expires_at).toLocaleTimeString());
  refresh();
}

$("holdSelected").addEventListener("click", () => {
  if (selected.size === 0) { say("click free seats first", true); return; }
  hold({seats: [...selected]});
});
$("holdBest").addEventListener("click", () => {
  const req = {count: Number($("count").value)};
  if ($("category").value) req.category = $("category").value;
  hold(req);
});
$("devtoken").addEventListener("click", async () => {
  const user = String(1000 + Math.floor(Math.random() * 1e6));
  const r = await fetch("/v1/dev/tokens", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({user_id: user})});
  const body = await r.json();
  if (!r.ok) { say("dev tokens are off on this gateway (" + (body.error ? body.error.code : r.status) + ")", true); return; }
  $("token").value = body.token;
  localStorage.setItem("seatd-token", body.token);
  say("buyer " + user + " signed in with a dev token");
});
$("load").addEventListener("click", async () => {
  if (await loadProgram()) {
    history.replaceState(null, "", "?program=" + encodeURIComponent(program.id));
    refresh();
  }
});

const params = new URLSearchParams(location.search);
if (params.get("program")) $("program").value = params.get("program");
$("token").value = localStorage.getItem("seatd-token") || "";
loadProgram().then(ok => { if (ok) refresh(); });
setInterval(refresh, 1000);
