package paysim

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"seatd/orderflow/payment"
)

func (s *Server) payPageURL(channel, outTradeNo string) string {
	return s.cfg.BaseURL + "/pay/" + channel + "/" + url.PathEscape(outTradeNo)
}

// payPageTmpl is the buyer's page of a trade: what the QR code points at,
// and a button that pays. Plain HTML, no script, no build step.
var payPageTmpl = template.Must(template.New("pay").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>paysim: {{.Subject}}</title>
<style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}
.amount{font-size:2rem;margin:.5rem 0}.state{font-weight:bold}code{word-break:break-all}
button{font-size:1.2rem;padding:.6rem 2rem}</style></head>
<body>
<h1>{{if eq .Channel "alipay"}}Alipay{{else}}WeChat Pay{{end}} (paysim)</h1>
<p>{{.Subject}}</p>
<p class="amount">¥{{.Yuan}}</p>
<p>Trade <code>{{.OutTradeNo}}</code>: <span class="state" id="state">{{.State}}</span></p>
{{if .Expire}}<p>Pay before {{.Expire}}</p>{{end}}
<p>QR code content: <code id="qr">{{.QRCode}}</code></p>
{{if eq .State "WAIT_BUYER_PAY"}}
<form method="post" action="{{.Action}}"><button type="submit" id="pay">Pay ¥{{.Yuan}}</button></form>
{{else if .ReturnURL}}<p><a href="{{.ReturnURL}}">Back to the merchant</a></p>{{end}}
{{if .Message}}<p id="message">{{.Message}}</p>{{end}}
</body></html>
`))

type payPageData struct {
	tradeView
	Yuan, Expire, Action, Message string
}

func (s *Server) renderPay(w http.ResponseWriter, tv tradeView, status int, msg string) {
	d := payPageData{tradeView: tv, Yuan: payment.Yuan(tv.AmountCents), Action: s.payPageURL(tv.Channel, tv.OutTradeNo), Message: msg}
	if !tv.TimeExpire.IsZero() {
		d.Expire = tv.TimeExpire.In(cst).Format(time.DateTime) + " (UTC+8)"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = payPageTmpl.Execute(w, d)
}

func (s *Server) payPage(w http.ResponseWriter, r *http.Request) {
	tv, err := s.lookup(r.PathValue("channel"), r.PathValue("no"))
	if err != nil {
		http.Error(w, "paysim: no such trade", http.StatusNotFound)
		return
	}
	s.renderPay(w, tv, http.StatusOK, "")
}

// payForm is the page's button: it pays, then sends the browser to the
// merchant's return_url (Alipay page mode) or shows the page again.
func (s *Server) payForm(w http.ResponseWriter, r *http.Request) {
	tv, _, err := s.pay(r.PathValue("channel"), r.PathValue("no"))
	switch {
	case errors.Is(err, errNoTrade):
		http.Error(w, "paysim: no such trade", http.StatusNotFound)
	case errors.Is(err, errClosed):
		s.renderPay(w, tv, http.StatusConflict, "This trade is closed: it cannot be paid.")
	case tv.ReturnURL != "":
		q := url.Values{"out_trade_no": {tv.OutTradeNo}, "trade_no": {tv.TradeNo}, "total_amount": {payment.Yuan(tv.AmountCents)}}
		http.Redirect(w, r, tv.ReturnURL+"?"+q.Encode(), http.StatusSeeOther)
	default:
		s.renderPay(w, tv, http.StatusOK, "Paid.")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func controlError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// controlPay: POST /sim/trades/{channel}/{no}/pay pays as a buyer would.
// 200 with the trade (paid now, or already); 404 NO_TRADE; 409
// TRADE_CLOSED (closed, or past time_expire).
func (s *Server) controlPay(w http.ResponseWriter, r *http.Request) {
	tv, _, err := s.pay(r.PathValue("channel"), r.PathValue("no"))
	switch {
	case errors.Is(err, errNoTrade):
		controlError(w, http.StatusNotFound, "NO_TRADE", "no such trade")
	case errors.Is(err, errClosed):
		controlError(w, http.StatusConflict, "TRADE_CLOSED", "the trade is closed (by the merchant, or past time_expire)")
	default:
		writeJSON(w, http.StatusOK, tv)
	}
}

func (s *Server) controlTrade(w http.ResponseWriter, r *http.Request) {
	tv, err := s.lookup(r.PathValue("channel"), r.PathValue("no"))
	if err != nil {
		controlError(w, http.StatusNotFound, "NO_TRADE", "no such trade")
		return
	}
	writeJSON(w, http.StatusOK, tv)
}

// MaxListTrades bounds one GET /sim/trades answer.
const MaxListTrades = 10_000

// controlList: GET /sim/trades?channel=&state=&limit= lists trades, newest
// first, at most limit (default 100, at most MaxListTrades).
func (s *Server) controlList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxListTrades {
			controlError(w, http.StatusBadRequest, "BAD_LIMIT", "limit is 1 to 10000")
			return
		}
		limit = n
	}
	s.mu.Lock()
	views := make([]tradeView, 0, min(len(s.trades), MaxListTrades))
	for _, t := range s.trades {
		if c := q.Get("channel"); c != "" && c != t.channel {
			continue
		}
		v := s.viewLocked(t)
		if st := q.Get("state"); st != "" && st != v.State {
			continue
		}
		views = append(views, v)
	}
	s.mu.Unlock()
	sort.Slice(views, func(i, j int) bool { return views[i].CreatedAt.After(views[j].CreatedAt) })
	total := len(views)
	if len(views) > limit {
		views = views[:limit]
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": total, "trades": views})
}

// controlBill: GET /sim/bill?channel=alipay|wechat&date=YYYY-MM-DD.
func (s *Server) controlBill(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ch := q.Get("channel")
	if ch != Alipay && ch != Wechat {
		controlError(w, http.StatusBadRequest, "BAD_CHANNEL", "channel is alipay or wechat")
		return
	}
	date := q.Get("date")
	if date == "" {
		date = s.cfg.Now().In(cst).Format(time.DateOnly)
	}
	lines, err := s.Bill(ch, date)
	if err != nil {
		controlError(w, http.StatusBadRequest, "BAD_DATE", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": ch, "date": date, "lines": lines})
}

func (s *Server) controlNotifications(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"stats": s.Stats(), "deliveries": s.Deliveries()})
}

func (s *Server) controlStats(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	trades := len(s.trades)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"trades": trades, "notifications": s.Stats()})
}

// faultsJSON is Faults on the wire; durations in milliseconds.
type faultsJSON struct {
	Drop        float64 `json:"drop"`
	Duplicate   int     `json:"duplicate"`
	DelayMS     int64   `json:"delay_ms"`
	ReorderMS   int64   `json:"reorder_ms"`
	Forge       float64 `json:"forge"`
	Tamper      float64 `json:"tamper"`
	WrongApp    float64 `json:"wrong_app"`
	WrongAmount float64 `json:"wrong_amount"`
}

// controlFaults: GET /sim/faults shows, POST /sim/faults replaces the
// notification faults.
func (s *Server) controlFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var fj faultsJSON
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fj); err != nil {
			controlError(w, http.StatusBadRequest, "BAD_FAULTS", err.Error())
			return
		}
		f := Faults{Drop: fj.Drop, Duplicate: fj.Duplicate, Delay: time.Duration(fj.DelayMS) * time.Millisecond,
			Reorder: time.Duration(fj.ReorderMS) * time.Millisecond, Forge: fj.Forge, Tamper: fj.Tamper,
			WrongApp: fj.WrongApp, WrongAmount: fj.WrongAmount}
		if err := s.SetFaults(f); err != nil {
			controlError(w, http.StatusBadRequest, "BAD_FAULTS", err.Error())
			return
		}
	}
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, faultsJSON{Drop: f.Drop, Duplicate: f.Duplicate, DelayMS: f.Delay.Milliseconds(),
		ReorderMS: f.Reorder.Milliseconds(), Forge: f.Forge, Tamper: f.Tamper, WrongApp: f.WrongApp, WrongAmount: f.WrongAmount})
}
