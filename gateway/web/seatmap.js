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

// errorWords says, for the API's error codes a buyer can meet here, what
// happened in a buyer's words; other codes show the API's own message.
const errorWords = {
  UNAUTHENTICATED: "Please sign in again: the buyer token is missing or has expired.",
  RATE_LIMITED: "Too many clicks at once: wait a moment and try again.",
  OVERLOADED: "The box office is very busy: try again in a moment.",
  UNAVAILABLE: "The box office cannot be reached just now: try again in a moment.",
  OUTBOX_FULL: "The box office is very busy: try again in a moment.",
  SALE_NOT_OPEN: "This show is not on sale right now.",
  SEAT_TAKEN: "Someone else has just taken one of those seats: pick others.",
  SEAT_BLOCKED: "One of those seats is not for sale: pick others.",
  SOLD_OUT: "Sold out: no seats are left in that category.",
  NO_ADJACENT_SEATS: "There are not that many free seats side by side: ask for fewer, or pick seats on the map.",
  PRICE_MISMATCH: "The price has changed: reload the page.",
  HOLD_EXPIRED: "Time ran out: the hold has lapsed and the seats are back on sale.",
  ORDER_NOT_PAYABLE: "This order can no longer be paid: its hold lapsed or was given back, or it is paid already.",
  TOO_MANY_ATTEMPTS: "This order has had too many payment attempts: hold the seats again.",
  PROVIDER_UNAVAILABLE: "The payment service is not answering: try again in a moment.",
  ALREADY_REFUNDED: "That seat is refunded already.",
  NOT_CONFIRMED: "Only paid seats can be refunded.",
  NOT_IMPLEMENTED: "This box office does not offer that yet.",
};

// errorText says what an error answer means, in a buyer's words when
// there are some.
function errorText(body) {
  const e = body.error || {code: "ERROR", message: "unexpected answer"};
  return errorWords[e.code] ? errorWords[e.code] + " (" + e.code + ")" : e.code + ": " + e.message;
}

function sayError(body) {
  say(errorText(body), true);
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
  drawOrder();
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

// auth is the buyer's headers, with more; null (and the page says why)
// when there is no token.
function auth(more) {
  const token = $("token").value.trim();
  if (!token) { say("a buyer token is needed: paste one, or get a dev token", true); return null; }
  localStorage.setItem("seatd-token", token);
  return Object.assign({"Authorization": "Bearer " + token}, more);
}

function idempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : String(Math.random());
}

async function hold(req) {
  const headers = auth({"Content-Type": "application/json", "Idempotency-Key": idempotencyKey()});
  if (!headers) return;
  if ($("from").value) req.from = Number($("from").value);
  if ($("to").value) req.to = Number($("to").value);
  const h = holders(req.seats ? req.seats.length : req.count);
  if (h) req.holders = h;
  const r = await fetch("/v1/programs/" + encodeURIComponent(program.id) + "/holds", {method: "POST", headers, body: JSON.stringify(req)});
  const body = await r.json();
  if (!r.ok) { sayError(body); return; }
  selected.clear();
  say("Hold " + body.hold_id + " (order " + body.order_no + "): " + body.seats.map(s => s.id).join(" ") +
      ", " + money(body.total_cents) + ", pay by " + new Date(body.expires_at).toLocaleTimeString());
  startOrder(body);
  refresh();
}

function money(cents) {
  return (cents / 100).toFixed(2);
}

// The buyer's order. order is the page's latest hold: as the hold's
// answer gave it while the order service has not recorded it yet (status
// "": the hold's event is on its way through Kafka), then as
// GET /v1/orders/{order_no} reads it. It is kept in sessionStorage: the
// buyer leaves the page to pay on the provider's page, which sends them
// back here (the pay service's return URL).
let order = JSON.parse(sessionStorage.getItem("seatd-order") || "null");
// refunds are the refunds under way, by seat id: "" until the POST
// answers, then the refund_no.
const refunds = new Map();
let polling = false, paying = false;

const orderWords = {
  "": "being recorded",
  PENDING_PAYMENT: "waiting for payment",
  PAID: "paid: the seats are yours",
  PARTIALLY_REFUNDED: "paid, some seats refunded",
  REFUNDED: "refunded",
  REFUND_DUE: "paid after the hold lapsed: the money is on its way back",
  CANCELLED: "cancelled: the hold was given back",
  EXPIRED: "expired: the hold lapsed before payment",
};
// settled are the statuses that change only when the buyer acts: the
// page stops reading the order until they do.
const settled = new Set(["PAID", "PARTIALLY_REFUNDED", "REFUNDED", "CANCELLED", "EXPIRED"]);

function startOrder(hold) {
  order = {order_no: hold.order_no, program_id: hold.program_id, status: "", seats: hold.seats,
           total_cents: hold.total_cents, expires_at: hold.expires_at};
  refunds.clear();
  sessionStorage.setItem("seatd-order", JSON.stringify(order));
  $("orderError").textContent = "";
  drawOrder();
}

// drawOrder shows the order panel: number, status, seats (each with a
// Refund button once paid), total; drawCountdown does the rest.
function drawOrder() {
  $("order").hidden = !order;
  if (!order) return;
  $("orderNo").textContent = order.order_no;
  $("orderStatus").textContent = "Status: " + (order.status || "…") + " (" + (orderWords[order.status] || "") + ")";
  $("orderStatus").dataset.status = order.status;
  const refunded = new Set(order.refunded_seat_ids || []);
  const paid = order.status === "PAID" || order.status === "PARTIALLY_REFUNDED";
  $("orderSeats").replaceChildren(...order.seats.map(s => {
    const li = el("li", "", s.id + " (" + categoryName(s.category) + ") " + money(s.price_cents) + " ");
    li.dataset.seat = s.id;
    if (refunded.has(s.id)) {
      li.append(el("span", "refunded", "refunded"));
    } else if (refunds.has(s.id)) {
      li.append(el("span", "refunding", "refund under way…"));
    } else if (paid) {
      const b = el("button", "refund", "Refund");
      b.dataset.seat = s.id;
      b.addEventListener("click", () => refund(s.id));
      li.append(b);
    }
    return li;
  }));
  $("orderTotal").textContent = money(order.total_cents) + (order.refunded_cents ? ", " + money(order.refunded_cents) + " refunded" : "");
  drawCountdown();
}

// categoryName is a category's name when the map shows the order's
// program, else its id.
function categoryName(id) {
  const c = program && program.id === order.program_id && program.categories.find(c => c.id === id);
  return (c && c.name) || id;
}

// drawCountdown counts down to the hold's expiry while the order waits
// for payment, and says when it has lapsed (from the clock, then from the
// order, EXPIRED).
function drawCountdown() {
  if (!order) return;
  const waiting = order.status === "" || order.status === "PENDING_PAYMENT";
  const left = Math.ceil((Date.parse(order.expires_at) - Date.now()) / 1000);
  let text = "";
  if (waiting && left > 0) {
    text = "Pay within " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") +
           ": the seats are held for you until " + new Date(order.expires_at).toLocaleTimeString() + ".";
  } else if (waiting || order.status === "EXPIRED") {
    text = "Time is up: the hold has lapsed and the seats are back on sale.";
  }
  $("countdown").textContent = text;
  $("payOrder").hidden = !waiting;
  $("payOrder").disabled = order.status !== "PENDING_PAYMENT" || left <= 0 || paying;
}

// pollOrder reads the order while something is under way: its recording,
// its payment or expiry, a refund. It redraws the panel and the map when
// the order changed. What goes wrong shows in the panel: the status line
// is the buyer's actions'. A gateway without an order service has no
// orders to read, and the panel says so once.
async function pollOrder() {
  if (!order || order.untracked || polling || (settled.has(order.status) && refunds.size === 0)) return;
  const headers = auth();
  if (!headers) return;
  polling = true;
  try {
    const r = await fetch("/v1/orders/" + encodeURIComponent(order.order_no), {headers});
    if (r.status === 404 && order.status === "") return; // not recorded yet
    const body = await r.json();
    if (r.status === 501) {
      order.untracked = true;
      $("orderError").textContent = "This box office keeps no orders, so the hold cannot be paid here: the seats stay held until the countdown ends.";
      return;
    }
    if (!r.ok) { if (r.status !== 429) $("orderError").textContent = errorText(body); return; }
    $("orderError").textContent = "";
    const before = order.status + "/" + (order.refunded_seat_ids || []).join(" ");
    order = body;
    sessionStorage.setItem("seatd-order", JSON.stringify(order));
    for (const id of order.refunded_seat_ids || []) refunds.delete(id);
    for (const [seat, no] of refunds) if (no) await pollRefund(seat, no, headers);
    if (before !== order.status + "/" + (order.refunded_seat_ids || []).join(" ")) {
      if (order.status === "PAID") say("Paid: the seats are yours.");
      drawOrder();
      refresh();
    }
  } catch (e) {
    $("orderError").textContent = "The box office cannot be reached: " + e.message;
  } finally {
    polling = false;
  }
}

// pollRefund reads a refund under way, to say so when it failed: one
// that succeeds shows in the order.
async function pollRefund(seat, no, headers) {
  const r = await fetch("/v1/refunds/" + encodeURIComponent(no), {headers});
  const body = await r.json();
  if (r.ok && body.status === "FAILED") {
    refunds.delete(seat);
    say("The refund of seat " + seat + " failed: ask the box office.", true);
    drawOrder();
  }
}

// pay makes an Alipay payment on the provider's page and goes there; the
// provider sends the buyer back to this page, which reads the order
// until it is paid.
async function pay() {
  const headers = auth({"Content-Type": "application/json"});
  if (!headers) return;
  paying = true;
  drawCountdown();
  try {
    const r = await fetch("/v1/orders/" + encodeURIComponent(order.order_no) + "/pay",
                          {method: "POST", headers, body: JSON.stringify({channel: "alipay", mode: "page"})});
    const body = await r.json();
    if (!r.ok) { sayError(body); return; }
    // Only a web page: a pay_url is the server's word, and this page
    // navigates to it.
    const url = URL.canParse(body.pay_url) ? new URL(body.pay_url) : null;
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) { say("The payment service gave no page to pay on.", true); return; }
    say("On to the payment page…");
    location.assign(url.href);
  } finally {
    paying = false;
  }
}

// refund asks for a refund of one seat of the paid order; pollOrder
// follows it until the order shows the seat refunded.
async function refund(seat) {
  const headers = auth({"Content-Type": "application/json", "Idempotency-Key": idempotencyKey()});
  if (!headers) return;
  refunds.set(seat, "");
  drawOrder();
  const r = await fetch("/v1/orders/" + encodeURIComponent(order.order_no) + "/refunds",
                        {method: "POST", headers, body: JSON.stringify({seat_ids: [seat], reason: "asked for on the live page"})});
  const body = await r.json();
  if (!r.ok) { refunds.delete(seat); drawOrder(); sayError(body); return; }
  refunds.set(seat, body.refund_no);
  say("Refund " + body.refund_no + " of seat " + seat + " (" + money(body.amount_cents) + ") asked for: the money goes back to where it came from.");
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
$("payOrder").addEventListener("click", pay);
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
else if (order) $("program").value = order.program_id;
$("token").value = localStorage.getItem("seatd-token") || "";
// Back from the provider's page, which adds the trade to the address.
if (params.has("out_trade_no")) {
  say(order ? "Back from paying: waiting for the payment to be confirmed…" : "Back from paying.");
  history.replaceState(null, "", "?program=" + encodeURIComponent($("program").value));
}
drawOrder();
loadProgram().then(ok => { if (ok) refresh(); });
setInterval(() => { refresh(); drawCountdown(); pollOrder(); }, 1000);
