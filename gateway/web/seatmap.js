// The live seat map: pick a show or a train, see its seats as the
// inventory has them, hold seats, pay and refund them.
//
// Everything the server sends (names, ids, labels, error messages) is
// operator or buyer input, so it reaches the DOM only as text:
// textContent, attributes that are not URLs, elements built here. Never
// markup: no innerHTML, insertAdjacentHTML or document.write. The page's
// Content-Security-Policy backs this up: it runs no inline code, and
// under Trusted Types Chromium throws on those sinks.
"use strict";
const $ = id => document.getElementById(id);
const colours = 7; // the .cat0 ... .cat6 classes of seatmap.css

// view is what the buyer is looking at. seq grows with every switch of
// program or leg range; an answer for an older seq is dropped, and
// abort cancels its requests, so nothing stale reaches the map. polling
// is the seq of the seat map poll under way, if any.
const view = {seq: 0, abort: new AbortController(), program: null, from: 0, to: 1, etag: "", polling: 0};
// selected are the seats the buyer chose, by seat id.
const selected = new Set();
// The map's buttons: seats by seat id; rowsBy, each row's buttons in
// seat order by "section/row" (no id holds a "/"), as the compact seat
// map lists their statuses; and lines, the rows of every section in
// order, for the arrow keys, where pos is a button's [line, index].
// current is the seat in the tab order.
const seats = new Map(), rowsBy = new Map(), pos = new Map();
let lines = [], current = null;

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

function money(cents) {
  return (cents / 100).toFixed(2);
}

function say(text, code) {
  $("status").textContent = text;
  $("status").className = code ? "error" : "";
  $("status").dataset.code = code || "";
}

// errorWords says, for the API's error codes a buyer can meet here, what
// happened in a buyer's words.
const errorWords = {
  NETWORK: "The box office cannot be reached: check your connection and try again.",
  UNAUTHENTICATED: "Please sign in again: you are not signed in, or your sign-in has expired.",
  FORBIDDEN: "That belongs to another buyer.",
  NOT_FOUND: "That is no longer there: reload the page.",
  RATE_LIMITED: "Too many clicks at once: wait a moment and try again.",
  OVERLOADED: "The box office is very busy: try again in a moment.",
  UNAVAILABLE: "The box office cannot be reached just now: try again in a moment.",
  OUTBOX_FULL: "The box office is very busy: try again in a moment.",
  SALE_NOT_OPEN: "This is not on sale right now.",
  INVALID_ARGUMENT: "Something in that request is not right: check the seats, the number of seats and the travellers.",
  LIMIT_EXCEEDED: "That is more seats than one buyer may have here.",
  TOO_MANY_SEATS: "That is more seats than one hold may take here.",
  HOLDERS_MISMATCH: "Give one traveller (name and ID number) for each seat.",
  UNKNOWN_SEAT: "One of those seats does not exist any more: reload the page.",
  UNKNOWN_CATEGORY: "That price category does not exist any more: reload the page.",
  WRONG_CATEGORY: "One of those seats is not in the category asked for.",
  SEAT_TAKEN: "Someone else has just taken one of those seats: pick others.",
  SEAT_BLOCKED: "One of those seats is not for sale: pick others.",
  SOLD_OUT: "Sold out: no seats are left in that category.",
  NO_ADJACENT_SEATS: "There are not that many free seats side by side: ask for fewer, or pick seats on the map.",
  ORPHAN_SEAT: "That would leave a single empty seat on its own: pick seats next to it, or others.",
  PRICE_MISMATCH: "The price has changed: reload the page.",
  HOLD_EXPIRED: "Time ran out: the hold has lapsed and the seats are back on sale.",
  HOLD_RELEASED: "Those seats have been given back already.",
  HOLD_CONFIRMED: "Those seats are paid for already: ask for a refund instead.",
  ORDER_NOT_PAYABLE: "This order can no longer be paid: its hold lapsed or was given back, or it is paid already.",
  TOO_MANY_ATTEMPTS: "This order has had too many payment attempts: hold the seats again.",
  PROVIDER_UNAVAILABLE: "The payment service is not answering: try again in a moment.",
  SEAT_ALREADY_REFUNDED: "That seat is refunded already, or its refund is under way.",
  ALREADY_REFUNDED: "That seat is refunded already, or its refund is under way.",
  NOTHING_TO_REFUND: "Every seat of this order is refunded already.",
  ORDER_NOT_REFUNDABLE: "Only paid seats can be refunded: if you have just paid, try again in a moment.",
  REFUND_EXCEEDS_PAYMENT: "That refund would return more than was paid.",
  TOO_MANY_REFUNDS: "This order has had as many refunds as allowed: ask the box office.",
  SEAT_NOT_IN_ORDER: "That seat is not part of this order.",
  UNKNOWN_CHANNEL: "That way of paying is not offered here.",
  UNSUPPORTED_MODE: "That way of paying is not offered here.",
  NOT_IMPLEMENTED: "This box office does not offer that.",
};

// errorText says what an error answer means in a buyer's words; a code
// the page does not know gets a general sentence, never the raw answer.
function errorText(body) {
  const e = body.error, field = (e.details && e.details.field) || "";
  // A refusal about one traveller names them: holders[i].name, .id_number
  // or .id_type is that traveller's, holders alone their number.
  const who = /^holders\[(\d+)\]/.exec(field), n = who ? Number(who[1]) + 1 : 0;
  if (e.code === "HOLDERS_MISMATCH" && n) {
    if (field.endsWith(".id_number")) return "Traveller " + n + "'s ID number is not a valid one: check it against the ID card.";
    if (field.endsWith(".name")) return "Traveller " + n + "'s name is missing or not plain text.";
    return "Traveller " + n + " is given twice, or their ID type is not right.";
  }
  if (e.code === "LIMIT_EXCEEDED" && field.startsWith("holders")) {
    return (n ? "Traveller " + n : "One of the travellers") + " already has a seat on this train for part of this journey.";
  }
  return errorWords[e.code] || "Something went wrong at the box office: try again, or ask the box office.";
}

function sayError(body) {
  say(errorText(body), body.error.code);
}

// api makes one request and reads its JSON: {ok, status, body, etag}.
// A failed connection or an answer that is not the API's JSON becomes an
// error body of its own; an aborted request gives null.
async function api(path, opts) {
  let r;
  try {
    r = await fetch(path, opts);
  } catch (e) {
    return e.name === "AbortError" ? null : {ok: false, status: 0, body: {error: {code: "NETWORK"}}};
  }
  let body = null;
  if (r.status !== 304) body = await r.json().catch(() => null);
  if (!r.ok && r.status !== 304 && !(body && body.error && body.error.code)) body = {error: {code: "HTTP_" + r.status}};
  return {ok: r.ok, status: r.status, body, etag: r.headers.get("ETag") || ""};
}

// auth is the buyer's headers, with more; null (and the page says why)
// when nobody is signed in.
function auth(more) {
  const token = $("token").value.trim();
  if (!token) { say("Please sign in first.", "UNAUTHENTICATED"); return null; }
  return Object.assign({"Authorization": "Bearer " + token}, more);
}

function idempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : String(Math.random()) + Date.now();
}

// isTrain: a program with more than one leg is a train, whose sections
// are carriages and whose stops are stations.
function isTrain(p) {
  return p.stops.length > 2;
}

function sectionTitle(s, train) {
  if (train) return /^[0-9]+$/.test(s.id) ? "Carriage " + s.id : s.name || "Carriage " + s.id;
  return s.name || "Section " + s.id;
}

// Programs the buyer has seen, for the picker: {id, name, train}, newest
// first, kept in localStorage.
const maxKnown = 20;
let known = JSON.parse(localStorage.getItem("seatd-programs") || "[]");

function remember(p) {
  known = [{id: p.id, name: p.name, train: isTrain(p)}, ...known.filter(k => k.id !== p.id)].slice(0, maxKnown);
  localStorage.setItem("seatd-programs", JSON.stringify(known));
  drawPicker();
}

// listed is what GET /v1/programs says is there (its first page: up to
// 200), for the picker: those on sale first.
let listed = [];

async function loadPrograms() {
  const r = await api("/v1/programs?limit=200");
  if (!r || !r.ok) return; // the picker still offers what this browser saw, and takes an id typed in
  listed = r.body.programs.filter(p => p.known).map(p => ({id: p.id, name: p.name, sale_open: p.sale_open,
    train: p.stops.length > 2, route: p.stops.length > 2 ? p.stops[0] + " → " + p.stops[p.stops.length - 1] : ""}));
  listed.sort((a, b) => b.sale_open - a.sale_open); // stable: by id within each
  drawPicker();
}

// drawPicker offers the programs listed, each by its name, its route for
// a train, and whether it is on sale, then those this browser saw that
// the list does not have.
function drawPicker() {
  const words = p => (p.name || p.id) + (p.route ? " (" + p.route + ")" : "") + (p.sale_open ? "" : ", not on sale");
  $("programs").replaceChildren(...listed.map(p => option(p.id, words(p))),
    ...known.filter(k => !listed.some(p => p.id === k.id)).map(k => option(k.id, k.name || k.id)));
}

// show switches to a program: everything of the one before goes, and
// the answers still on their way for it are ignored.
async function show(id) {
  const seq = restart();
  view.program = null;
  $("name").textContent = "";
  $("legs").hidden = true;
  $("legend").replaceChildren();
  $("map").replaceChildren(el("p", "loading", "Loading…"));
  const r = await api("/v1/programs/" + encodeURIComponent(id), {signal: view.abort.signal});
  if (!r || seq !== view.seq) return;
  if (!r.ok) {
    $("map").replaceChildren();
    $("map").setAttribute("aria-busy", "false");
    if (r.body.error.code === "NOT_FOUND") say("There is no show or train called “" + id + "”.", "NOT_FOUND");
    else sayError(r.body);
    return;
  }
  const p = r.body;
  p.colour = new Map(p.categories.map((c, i) => [c.id, "cat" + (i % colours)]));
  p.category = new Map(p.categories.map(c => [c.id, c]));
  view.program = p;
  remember(p);
  sessionStorage.setItem("seatd-program", p.id);
  $("program").value = p.id;
  history.replaceState(null, "", "?program=" + encodeURIComponent(p.id));
  $("name").textContent = p.name || p.id;
  drawLegs(p);
  drawLegend(p);
  $("category").replaceChildren(option("", "any category"), ...p.categories.map(c => option(c.id, (c.name || c.id) + " " + money(c.price_cents))));
  $("count").max = p.max_seats_per_hold;
  $("travellers").hidden = !p.real_name;
  drawTravellers();
  drawLayout(p);
  drawOrders();
  refresh();
}

// restart starts a new view: it cancels the old one's requests and
// forgets its seat map and selection.
function restart() {
  view.abort.abort();
  view.abort = new AbortController();
  view.etag = "";
  selected.clear();
  $("map").setAttribute("aria-busy", "true");
  return ++view.seq;
}

// drawLegs offers a train's stations as the leg range, from and to.
function drawLegs(p) {
  const last = p.stops.length - 1;
  view.from = 0;
  view.to = last;
  $("legs").hidden = !isTrain(p);
  $("from").replaceChildren(...p.stops.slice(0, last).map((s, i) => option(i, s)));
  $("to").replaceChildren(...p.stops.slice(1).map((s, i) => option(i + 1, s)));
  $("from").value = "0";
  $("to").value = String(last);
}

function changeLegs() {
  let from = Number($("from").value), to = Number($("to").value);
  if (to <= from) { to = from + 1; $("to").value = String(to); }
  for (const o of $("to").options) o.disabled = Number(o.value) <= from;
  view.from = from;
  view.to = to;
  restart();
  for (const b of seats.values()) setStatus(b, "");
  drawTravellers();
  refresh();
}

// drawLegend shows what the colours mean: each category with its price,
// then the statuses, and accessible seats when the layout has some.
function drawLegend(p) {
  const items = p.categories.map(c => el("span", "key " + p.colour.get(c.id), (c.name || c.id) + " " + money(c.price_cents)));
  items.push(el("span", "key selected", "your choice"), el("span", "key held", "held"), el("span", "key sold", "sold"), el("span", "key blocked", "not for sale"));
  if (p.layout.sections.some(s => s.rows.some(r => r.seats.some(x => x.accessible)))) items.push(el("span", "key accessible", "♿ accessible"));
  if (isTrain(p)) items.unshift(el("p", "route", p.stops.join(" → ")));
  $("legend").replaceChildren(...items);
}

// stage marks where the performance is, or is null (trains): the plan
// of a venue whose sections are placed, else a bar above the first
// section.
function stage(p) {
  if (isTrain(p)) return null;
  return plan(p) || el("div", "stage", "Stage");
}

// The spacing of seats on a plan, in decimetres, as the engine measures
// it (inventory.SeatPitch, RowPitch; docs/inventory.md).
const seatPitch = 5, rowPitch = 9;

// plan draws a venue from above when its sections have places (x and y
// in decimetres): each section a box the size of its seats, named, that
// takes the buyer to the section's seats, and the stage at the program's
// focal point, where best-available measures from. Null without places.
function plan(p) {
  const secs = p.layout.sections;
  if (!secs.length || secs.some(s => typeof s.x !== "number" || typeof s.y !== "number")) return null;
  // Each seat is a cell around its point (the engine measures from the
  // point): loops, not Math.min(...cols), which a section of 125,000
  // seats overflows.
  const boxes = secs.map(s => {
    let lo = Infinity, hi = -Infinity;
    for (const r of s.rows) for (const x of r.seats) { lo = Math.min(lo, x.col); hi = Math.max(hi, x.col); }
    return {s, x0: s.x + (lo - 0.5) * seatPitch, x1: s.x + (hi + 0.5) * seatPitch,
            y0: s.y - rowPitch / 2, y1: s.y + (Math.max(1, s.rows.length) - 0.5) * rowPitch};
  });
  let bx0 = Infinity, bx1 = -Infinity, by0 = Infinity, by1 = -Infinity;
  for (const b of boxes) { bx0 = Math.min(bx0, b.x0); bx1 = Math.max(bx1, b.x1); by0 = Math.min(by0, b.y0); by1 = Math.max(by1, b.y1); }
  // A focal point far from the seats is drawn at the plan's edge, in its
  // direction, so that the sections stay big enough to read and click.
  const reach = Math.max(20, (bx1 - bx0) / 2, (by1 - by0) / 2);
  const f = p.focal_point && {x: Math.min(Math.max(p.focal_point.x, bx0 - reach), bx1 + reach),
                              y: Math.min(Math.max(p.focal_point.y, by0 - reach), by1 + reach)};
  const pad = Math.max(20, reach / 4); // the stage's half-width, and the margin
  const minX = Math.min(bx0, f ? f.x - pad : bx0) - pad, maxX = Math.max(bx1, f ? f.x + pad : bx1) + pad;
  const minY = Math.min(by0, f ? f.y - pad : by0) - pad, maxY = Math.max(by1, f ? f.y + pad / 2 : by1) + pad;
  const w = maxX - minX, h = maxY - minY;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "plan");
  svg.setAttribute("viewBox", [minX, minY, w, h].join(" "));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Plan of the venue: " + secs.map(s => s.name || "section " + s.id).join(", ") + (f ? ", and the stage" : ""));
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  const size = Math.max(8, Math.min(w, h) / 12);
  for (const b of boxes) {
    const r = add("rect", {x: b.x0, y: b.y0, width: b.x1 - b.x0, height: b.y1 - b.y0, class: "plan-section"});
    r.addEventListener("click", () => document.querySelector(`[data-section="${CSS.escape(b.s.id)}"]`)?.scrollIntoView({block: "nearest"}));
    // The section's id fits its box; the plan's aria-label has the names.
    add("text", {x: (b.x0 + b.x1) / 2, y: (b.y0 + b.y1) / 2, "font-size": Math.min(size, (b.x1 - b.x0) / 2), class: "plan-label"}, b.s.id);
  }
  if (f) {
    add("rect", {x: f.x - pad, y: f.y - pad / 4, width: 2 * pad, height: pad / 2, class: "plan-stage"});
    add("text", {x: f.x, y: f.y - pad / 2, "font-size": size, class: "plan-label"}, "Stage");
  }
  return svg;
}

// drawLayout makes a focusable button for every seat of the layout, each
// section a grid whose columns are the seats' column numbers, so a gap
// in the numbers (an aisle) shows as one. Statuses come from refresh.
function drawLayout(p) {
  const train = isTrain(p);
  seats.clear();
  rowsBy.clear();
  pos.clear();
  lines = [];
  const parts = [];
  const st = stage(p);
  if (st) parts.push(st);
  for (const s of p.layout.sections) {
    const title = sectionTitle(s, train);
    const sec = el("section", "section");
    sec.dataset.section = s.id;
    sec.append(el("h3", "", title));
    const grid = el("div", "grid");
    const first = s.rows.reduce((min, r) => r.seats.reduce((m, x) => Math.min(m, x.col), min), Infinity);
    s.rows.forEach((r, ri) => {
      const name = el("span", "rowname", r.id);
      name.style.gridRow = String(ri + 1);
      grid.append(name);
      const line = [];
      r.seats.forEach((x, i) => {
        // Where a traveller sits, as seat_preference asks for it: a
        // train's row ends are its windows; the layout marks the aisle.
        const at = train && (i === 0 || i === r.seats.length - 1) ? " (window)" : x.aisle ? " (aisle)" : "";
        const b = seatButton(p, s.id + "/" + r.id + "/" + x.col, title + ", row " + r.id + ", seat " + (x.label || x.col) + at, x);
        b.style.gridRow = String(ri + 1);
        b.style.gridColumn = String(x.col - first + 2);
        pos.set(b, [lines.length, line.length]);
        line.push(b);
        grid.append(b);
      });
      lines.push(line);
      rowsBy.set(s.id + "/" + r.id, line);
    });
    sec.append(grid);
    parts.push(sec);
  }
  $("map").replaceChildren(...parts);
  current = lines.length ? lines[0][0] : null;
  if (current) current.tabIndex = 0;
}

// seatButton makes the button of a seat x of layout p, whose place in
// words is where. The map's listeners (at the end) serve every seat.
function seatButton(p, id, where, x) {
  const b = el("button", "seat", x.label || String(x.col));
  b.type = "button";
  b.tabIndex = -1;
  b.dataset.seat = id;
  b.dataset.category = x.category;
  b.dataset.col = x.col;
  b.where = where;
  b.cat = p.category.get(x.category);
  b.accessible = !!x.accessible;
  setStatus(b, "");
  seats.set(id, b);
  return b;
}

// focusSeat makes b the seat in the tab order (a roving tabindex).
function focusSeat(b) {
  if (current && current !== b) current.tabIndex = -1;
  current = b;
  b.tabIndex = 0;
  describe(b);
}

const statusWords = {"": "loading", free: "available", held: "held", sold: "sold", blocked: "not for sale"};

// setStatus gives a seat its status ("" while unknown), its class and
// its words for assistive technology and for describe.
function setStatus(b, status) {
  if (status !== "free" && selected.delete(b.dataset.seat)) drawTravellers();
  const mine = selected.has(b.dataset.seat);
  b.dataset.status = status;
  b.className = "seat " + (view.program.colour.get(b.dataset.category) || "") + (status ? " " + status : " unknown") +
    (mine ? " selected" : "") + (b.accessible ? " accessible" : "");
  b.setAttribute("aria-pressed", String(mine));
  b.setAttribute("aria-disabled", String(status !== "free"));
  b.words = b.where + ": " + (b.cat ? (b.cat.name || b.cat.id) + ", " + money(b.cat.price_cents) : b.dataset.category) + ", " +
    (mine ? "your choice" : statusWords[status]) + (b.accessible ? ", accessible" : "");
  b.setAttribute("aria-label", b.words);
  if (document.activeElement === b || $("seatInfo").seat === b) describe(b);
}

function describe(b) {
  $("seatInfo").seat = b;
  $("seatInfo").textContent = b.words;
}

// move takes the arrow keys, Home and End from seat to seat: left and
// right along the row, up and down to the nearest seat of the row before
// or after, over sections.
function move(b, e) {
  const [li, i] = pos.get(b);
  const line = lines[li];
  let next;
  switch (e.key) {
  case "ArrowLeft": next = line[i - 1]; break;
  case "ArrowRight": next = line[i + 1]; break;
  case "Home": next = line[0]; break;
  case "End": next = line[line.length - 1]; break;
  case "ArrowUp": case "ArrowDown": {
    const other = lines[li + (e.key === "ArrowUp" ? -1 : 1)];
    const col = Number(b.dataset.col);
    if (other) next = other.reduce((best, o) => Math.abs(o.dataset.col - col) < Math.abs(best.dataset.col - col) ? o : best);
    break;
  }
  default: return;
  }
  e.preventDefault();
  if (next) next.focus();
}

function toggle(b) {
  if (b.dataset.status !== "free") {
    say(b.dataset.status ? "That seat is " + statusWords[b.dataset.status] + ": pick an available one." : "The seat map is still loading.");
    return;
  }
  const id = b.dataset.seat;
  if (selected.has(id)) selected.delete(id); else selected.add(id);
  setStatus(b, "free");
  drawTravellers();
}

// refresh polls the versioned seat map of the view in the compact format
// (a status character a seat, in the layout's order): an unchanged map
// costs a 304.
async function refresh() {
  const p = view.program, seq = view.seq;
  if (!p || view.polling === seq) return;
  view.polling = seq;
  try {
    const r = await api("/v1/programs/" + encodeURIComponent(p.id) + "/seats?format=compact&from=" + view.from + "&to=" + view.to,
                        {headers: view.etag ? {"If-None-Match": view.etag} : {}, signal: view.abort.signal});
    if (!r || seq !== view.seq || r.status === 304) return;
    if (!r.ok) { sayError(r.body); return; }
    view.etag = r.etag;
    for (const s of r.body.sections) {
      for (const row of s.rows) {
        const line = rowsBy.get(s.id + "/" + row.id) || [];
        [...row.statuses].forEach((c, i) => {
          const status = statusNames[c] || "";
          if (line[i] && line[i].dataset.status !== status) setStatus(line[i], status);
        });
      }
    }
    $("map").setAttribute("aria-busy", "false");
  } finally {
    if (view.polling === seq) view.polling = 0;
  }
}

const statusNames = {f: "free", h: "held", s: "sold", b: "blocked"};

// drawTravellers gives a real-name program's hold a name and an ID
// number field for each seat: the chosen seats, or else the count asked
// for. What was typed stays when the number changes.
function drawTravellers() {
  if (!view.program || !view.program.real_name) return;
  const n = Math.min(selected.size || Number($("count").value) || 1, view.program.max_seats_per_hold);
  const rows = $("travellerRows");
  while (rows.children.length > n) rows.lastChild.remove();
  while (rows.children.length < n) {
    const li = el("li");
    const name = el("label", "", "Name "), id = el("label", "", "ID number "), type = el("label", "", "ID ");
    name.append(el("input", "name"));
    id.append(el("input", "id-number"));
    const kind = el("select", "id-type");
    kind.append(option("resident_id", "resident ID card"), option("passport", "passport"));
    type.append(kind);
    li.append(name, " ", type, " ", id);
    rows.append(li);
  }
}

// holders are the travellers typed for a hold of n seats, or null (and
// the page says so) when one is missing.
function holders(n) {
  const list = [...$("travellerRows").children].slice(0, n).map(li =>
    ({name: li.querySelector(".name").value.trim(), id_type: li.querySelector(".id-type").value,
      id_number: li.querySelector(".id-number").value.trim()}));
  if (list.length < n || list.some(h => !h.name || !h.id_number)) {
    say("Give a name and an ID number for each traveller.", "HOLDERS_MISSING");
    return null;
  }
  return list;
}

async function hold(req) {
  const p = view.program;
  const headers = auth({"Content-Type": "application/json", "Idempotency-Key": idempotencyKey()});
  if (!p || !headers) return;
  req.from = view.from;
  req.to = view.to;
  if (p.real_name) {
    req.holders = holders(req.seats ? req.seats.length : req.count);
    if (!req.holders) return;
  }
  say("Holding…");
  const r = await api("/v1/programs/" + encodeURIComponent(p.id) + "/holds", {method: "POST", headers, body: JSON.stringify(req)});
  if (!r) return;
  if (!r.ok) { sayError(r.body); return; }
  const h = r.body;
  for (const id of req.seats || []) selected.delete(id);
  drawTravellers();
  say("Held for you: " + h.seats.map(s => seatWords(h, s)).join("; ") + ". Total " + money(h.total_cents) + ": pay within the time shown under My holds and orders.");
  mine.pending.set(h.order_no, {order_no: h.order_no, hold_id: h.hold_id, program_id: h.program_id, status: "", seats: h.seats,
    from: h.from, to: h.to, total_cents: h.total_cents, expires_at: h.expires_at});
  savePending();
  drawOrders();
  refresh();
  loadOrders();
}

// seatWords names a seat of a hold or order o the way the map does when
// the map shows its program, else by its section (carriage), row and
// label.
function seatWords(o, s) {
  const b = view.program && view.program.id === o.program_id && seats.get(s.id);
  if (b) return b.where;
  const [section, row] = s.id.split("/"), k = known.find(k => k.id === o.program_id) || listed.find(p => p.id === o.program_id);
  return (k && k.train ? "Carriage " : "Section ") + section + ", row " + row + ", seat " + s.label;
}

// mine is the signed-in buyer's holds and orders: orders as
// GET /v1/orders lists them (newest first), and pending, the holds the
// order service has not listed yet (their event is on its way through
// Kafka), kept in sessionStorage across the trip to the payment page.
// untracked: the gateway keeps no orders (501), so only pending shows.
// backFromPaying: the provider has just sent the buyer back, so an order
// already PAID in the first list is news.
// refunds are the refunds under way, by "order_no seat": "" until the
// POST answers, then the refund_no.
const mine = {orders: [], pending: new Map(JSON.parse(sessionStorage.getItem("seatd-pending") || "[]")),
              untracked: false, backFromPaying: false, loading: false, drawn: "", refunds: new Map()};

let paying = false; // a payment is being made: its buttons wait

function savePending() {
  sessionStorage.setItem("seatd-pending", JSON.stringify([...mine.pending]));
}

function forgetOrders() {
  mine.orders = [];
  mine.pending.clear();
  mine.refunds.clear();
  mine.untracked = false;
  savePending();
  $("orderError").textContent = "";
  drawOrders();
}

async function loadOrders() {
  const token = $("token").value.trim();
  if (!token || mine.untracked || mine.loading) return;
  mine.loading = true;
  try {
    const r = await api("/v1/orders?limit=20", {headers: {"Authorization": "Bearer " + token}});
    if (token !== $("token").value.trim()) return; // another buyer signed in meanwhile
    if (r.status === 501) {
      mine.untracked = true;
      $("orderError").textContent = "This box office keeps no orders, so holds cannot be paid here: the seats stay held until their time is up, or until you give them back.";
      return;
    }
    if (!r.ok) { if (r.status !== 429) $("orderError").textContent = errorText(r.body); return; }
    $("orderError").textContent = "";
    const was = new Map(mine.orders.map(o => [o.order_no, o.status]));
    mine.orders = r.body.orders;
    if (mine.orders.some(o => o.status === "PAID" && (was.has(o.order_no) ? was.get(o.order_no) !== "PAID" : mine.backFromPaying))) {
      say("Paid: the seats are yours.");
    }
    mine.backFromPaying = false;
    for (const o of mine.orders) {
      mine.pending.delete(o.order_no);
      for (const id of o.refunded_seat_ids || []) mine.refunds.delete(o.order_no + " " + id);
    }
    savePending();
    for (const [key, no] of mine.refunds) if (no) await checkRefund(key, no, token);
    drawOrders();
  } finally {
    mine.loading = false;
  }
}

// checkRefund reads a refund under way, to say so when it failed: one
// that succeeds shows in its order.
async function checkRefund(key, no, token) {
  const r = await api("/v1/refunds/" + encodeURIComponent(no), {headers: {"Authorization": "Bearer " + token}});
  if (r.ok && r.body.status === "FAILED") {
    mine.refunds.delete(key);
    say("The refund of " + key.split(" ")[1] + " failed: ask the box office.", "REFUND_FAILED");
  }
}

const orderWords = {
  "": "held for you",
  PENDING_PAYMENT: "waiting for payment",
  PAID: "paid: the seats are yours",
  PARTIALLY_REFUNDED: "paid, some seats refunded",
  REFUNDED: "refunded",
  REFUND_DUE: "paid after the hold lapsed: the money is on its way back",
  CANCELLED: "given back",
  EXPIRED: "expired: the time to pay ran out",
};

function waiting(o) {
  return o.status === "" || o.status === "PENDING_PAYMENT";
}

// drawOrders shows the buyer's holds and orders, redrawing only when
// they changed, so that a focused button keeps its focus; countdown
// then runs their clocks.
function drawOrders() {
  // A hold the order service never lists (it keeps none, or the hold was
  // refused on its way) goes a minute after its time is up.
  for (const [no, o] of mine.pending) if (Date.parse(o.expires_at) < Date.now() - 60000) { mine.pending.delete(no); savePending(); }
  const list = [...mine.pending.values(), ...mine.orders];
  const drawn = JSON.stringify([list, [...mine.refunds], paying, view.program && view.program.id]);
  $("noOrders").hidden = list.length > 0;
  if (drawn === mine.drawn) { countdown(); return; }
  mine.drawn = drawn;
  $("orders").replaceChildren(...list.map(orderItem));
  countdown();
}

function orderItem(o) {
  const li = el("li", "order");
  li.dataset.order = o.order_no;
  li.dataset.status = o.status;
  const k = known.find(k => k.id === o.program_id) || listed.find(p => p.id === o.program_id);
  const head = el("p", "head");
  head.append(el("strong", "", k ? k.name || k.id : o.program_id), " ", el("span", "state", orderWords[o.status] || o.status));
  li.append(head);
  const shown = view.program && view.program.id === o.program_id ? view.program : null;
  const route = o.from_stop ? [o.from_stop, o.to_stop] : shown && [shown.stops[o.from], shown.stops[o.to]];
  if (route && k && k.train) li.append(el("p", "legs", route.join(" → ")));
  const refunded = new Set(o.refunded_seat_ids || []);
  const paid = o.status === "PAID" || o.status === "PARTIALLY_REFUNDED";
  const ul = el("ul", "seats");
  for (const s of o.seats) {
    const item = el("li", "", seatWords(o, s) + ", " + money(s.price_cents) + " ");
    item.dataset.seat = s.id;
    if (refunded.has(s.id)) item.append(el("span", "refunded", "refunded"));
    else if (mine.refunds.has(o.order_no + " " + s.id)) item.append(el("span", "refunding", "refund under way…"));
    else if (paid) item.append(button("refund", "Refund this seat", () => refund(o, s.id), s.id));
    ul.append(item);
  }
  li.append(ul);
  li.append(el("p", "total", "Total " + money(o.total_cents) + (o.refunded_cents ? ", " + money(o.refunded_cents) + " refunded" : "")));
  if (waiting(o)) {
    li.append(el("p", "countdown"));
    const acts = el("p", "acts");
    if (!mine.untracked) acts.append(button("pay", "Pay with Alipay", () => pay(o)));
    acts.append(button("release", "Give the seats back", () => release(o)));
    li.append(acts);
  }
  li.append(el("p", "no", "Order " + o.order_no));
  return li;
}

function button(cls, text, onclick, seat) {
  const b = el("button", cls, text);
  b.type = "button";
  if (seat) b.dataset.seat = seat;
  b.addEventListener("click", onclick);
  return b;
}

// countdown counts down to each waiting hold's expiry, and says when it
// has lapsed; at zero its buttons go.
function countdown() {
  for (const li of $("orders").children) {
    const o = mine.pending.get(li.dataset.order) || mine.orders.find(x => x.order_no === li.dataset.order);
    const c = li.querySelector(".countdown");
    if (!o || !c) continue;
    const left = Math.ceil((Date.parse(o.expires_at) - Date.now()) / 1000);
    c.textContent = left > 0 ? "Pay within " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") +
      ": the seats are held for you until " + new Date(o.expires_at).toLocaleTimeString() + "." :
      "Time is up: the hold has lapsed and the seats are back on sale.";
    for (const b of li.querySelectorAll(".acts button")) {
      b.hidden = left <= 0;
      b.disabled = paying || (b.classList.contains("pay") && o.status !== "PENDING_PAYMENT");
    }
  }
}

// pay makes an Alipay payment on the provider's page and goes there; the
// provider sends the buyer back to this page, which lists the order
// until it is paid.
async function pay(o) {
  const headers = auth({"Content-Type": "application/json"});
  if (!headers) return;
  paying = true;
  drawOrders();
  try {
    const r = await api("/v1/orders/" + encodeURIComponent(o.order_no) + "/pay",
                        {method: "POST", headers, body: JSON.stringify({channel: "alipay", mode: "page"})});
    if (!r.ok) { sayError(r.body); return; }
    // Only a web page: a pay_url is the server's word, and this page
    // navigates to it.
    const url = URL.canParse(r.body.pay_url) ? new URL(r.body.pay_url) : null;
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) { say("The payment service gave no page to pay on.", "NO_PAY_URL"); return; }
    say("On to the payment page…");
    location.assign(url.href);
  } finally {
    paying = false;
    drawOrders();
  }
}

// release gives a hold's seats back before its time is up.
async function release(o) {
  const headers = auth();
  if (!headers) return;
  const r = await api("/v1/holds/" + encodeURIComponent(o.hold_id), {method: "DELETE", headers});
  if (!r.ok) { sayError(r.body); return; }
  say("The seats are given back: " + o.seats.map(s => seatWords(o, s)).join("; ") + ".");
  mine.pending.delete(o.order_no);
  savePending();
  drawOrders();
  refresh();
  loadOrders();
}

// refund asks for a refund of one seat of a paid order; the order list
// shows the seat refunded when the refund went through.
async function refund(o, seat) {
  const headers = auth({"Content-Type": "application/json", "Idempotency-Key": idempotencyKey()});
  if (!headers) return;
  const key = o.order_no + " " + seat;
  mine.refunds.set(key, "");
  drawOrders();
  const r = await api("/v1/orders/" + encodeURIComponent(o.order_no) + "/refunds",
                      {method: "POST", headers, body: JSON.stringify({seat_ids: [seat], reason: "asked for on the live page"})});
  if (!r.ok) { mine.refunds.delete(key); drawOrders(); sayError(r.body); return; }
  mine.refunds.set(key, r.body.refund_no);
  say("Refund of " + money(r.body.amount_cents) + " asked for: the money goes back the way it was paid.");
}

async function signIn() {
  const user = String(1000 + Math.floor(Math.random() * 1e6));
  const r = await api("/v1/dev/tokens", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({user_id: user})});
  if (!r.ok) { say("Test buyers are not offered by this box office.", r.body.error.code); return; }
  $("token").value = r.body.token;
  localStorage.setItem("seatd-token", r.body.token);
  forgetOrders();
  say("Signed in as test buyer " + user + ".");
  loadOrders();
}

$("holdSelected").addEventListener("click", () => {
  if (selected.size === 0) { say("Pick available seats on the map first.", "NOTHING_SELECTED"); return; }
  hold({seats: [...selected]});
});
$("holdBest").addEventListener("click", () => {
  const req = {count: Number($("count").value)};
  if ($("category").value) req.category = $("category").value;
  if ($("position").value) req.seat_preference = $("position").value;
  if ($("apart").checked) req.together = false;
  hold(req);
});
$("devtoken").addEventListener("click", signIn);
// A token pasted by hand is another buyer.
$("token").addEventListener("change", () => {
  localStorage.setItem("seatd-token", $("token").value.trim());
  forgetOrders();
  loadOrders();
});
$("program").addEventListener("change", () => show($("program").value.trim()));
$("load").addEventListener("click", () => show($("program").value.trim()));
// The seats' listeners, on the map for them all.
const seatOf = e => e.target.closest && e.target.closest("button.seat");
$("map").addEventListener("click", e => { const b = seatOf(e); if (b) toggle(b); });
$("map").addEventListener("focusin", e => { const b = seatOf(e); if (b) focusSeat(b); });
$("map").addEventListener("mouseover", e => { const b = seatOf(e); if (b) describe(b); });
$("map").addEventListener("keydown", e => { const b = seatOf(e); if (b) move(b, e); });
$("from").addEventListener("change", changeLegs);
$("count").addEventListener("input", drawTravellers);
$("to").addEventListener("change", changeLegs);

const params = new URLSearchParams(location.search);
$("token").value = localStorage.getItem("seatd-token") || "";
drawPicker();
loadPrograms();
// Back from the provider's page, which adds the trade to the address.
if (params.has("out_trade_no")) {
  mine.backFromPaying = true;
  say("Back from paying: waiting for the payment to be confirmed…");
}
// The program shown last, so that coming back from the provider's page
// (or a reload) shows the program the buyer was buying, not the default.
show(params.get("program") || sessionStorage.getItem("seatd-program") || $("program").value);
loadOrders();
setInterval(() => { refresh(); countdown(); }, 1000);
setInterval(loadOrders, 2000);
